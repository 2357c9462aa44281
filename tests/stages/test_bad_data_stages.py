"""Every stage that reads the downloads, on every hostile or broken file kind: one line naming the file,
exit 1, no traceback, the results tree as it was, and no payload run."""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vqhps.stages import check_data, prepare_images, prepare_meshes
from vqhps.testing.realdata_fixtures import write_bad_file

REPO = Path(__file__).resolve().parents[2]
STAGES = {"check_data": check_data, "prepare_meshes": prepare_meshes, "prepare_images": prepare_images}

T3 = "3dpw/sequenceFiles/test/test_seq_00.pkl"
V3 = "3dpw/sequenceFiles/validation/validation_seq_00.pkl"
TR3 = "3dpw/sequenceFiles/train/train_seq_00.pkl"
EMDB = "emdb/P0/00_walk/P0_00_walk_data.pkl"
MOTION = "bedlam_animations/seq0/motion.npz"
LABELS = "bedlam_real/coco/coco.npz"
SMPL = "body_models/smpl/SMPL_MALE.pkl"
SMPLH = "body_models/smplh/female/model.npz"
REG = "body_models/J_regressor_h36m.npy"
IMG = "3dpw/imageFiles/train_seq_00/image_00001.jpg"

# (stage, file, kind): each stage on the files it reads, each bad kind at least once per stage.
CASES = [
    *[
        ("check_data", T3, k)
        for k in ("hostile_pickle", "truncated", "empty", "poses2d_short", "cam_poses_short")
    ],
    *[("check_data", T3, k) for k in ("campose_valid_long",)],
    *[("check_data", EMDB, k) for k in ("hostile_pickle", "truncated", "empty")],
    *[("check_data", MOTION, k) for k in ("hostile_npz", "truncated", "empty")],
    *[("check_data", LABELS, k) for k in ("hostile_npz", "truncated")],
    *[("check_data", SMPL, k) for k in ("hostile_pickle", "vertices_6000", "transposed_regressor")],
    *[("check_data", SMPLH, k) for k in ("hostile_npz", "betas_8", "vertices_6000", "empty")],
    ("check_data", REG, "truncated"),
    ("check_data", IMG, "missing"),
    *[("prepare_meshes", V3, k) for k in ("hostile_pickle", "truncated", "empty", "poses2d_short")],
    *[("prepare_meshes", T3, k) for k in ("cam_poses_short", "campose_valid_long")],
    *[("prepare_meshes", MOTION, k) for k in ("hostile_npz", "truncated", "empty")],
    *[
        ("prepare_meshes", SMPLH, k)
        for k in ("hostile_npz", "betas_8", "vertices_6000", "transposed_regressor")
    ],
    ("prepare_meshes", REG, "empty"),
    *[("prepare_images", TR3, k) for k in ("hostile_pickle", "truncated", "cam_poses_short")],
    *[("prepare_images", EMDB, k) for k in ("hostile_pickle", "empty")],
    *[("prepare_images", LABELS, k) for k in ("hostile_npz", "truncated")],
    *[("prepare_images", SMPL, k) for k in ("hostile_pickle", "vertices_6000", "transposed_regressor")],
    *[("prepare_images", SMPLH, k) for k in ("truncated", "betas_8")],
    *[("prepare_images", IMG, k) for k in ("missing", "truncated")],
]


# One case per stage runs in the fast suite; the whole matrix with the slow checks (make test-slow, CI).
FAST = {
    ("check_data", T3, "hostile_pickle"),
    ("prepare_meshes", V3, "truncated"),
    ("prepare_images", SMPL, "vertices_6000"),
}
PARAMS = [
    pytest.param(
        *case, id=f"{case[0]}-{Path(case[1]).name}-{case[2]}", marks=() if case in FAST else pytest.mark.slow
    )
    for case in CASES
]


def _load_mini_root_builder():
    path = REPO / "tests" / "ingest" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_mini_root_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_mini_root


def _params(data_root: Path) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    paper = copy.deepcopy(params["paper"])
    paper["data_root"] = str(data_root)
    paper["check_data"] = {
        "datasets": ["smplh", "smpl", "j_regressor_h36m", "bedlam_animations", "3dpw", "emdb", "bedlam_real"],
        "options": {
            "3dpw": {"n_train": 1, "n_validation": 1, "n_test": 1},
            "emdb": {"n_subjects": 2, "n_sequences": 5},
            "bedlam_real": {"label_sets": ["coco", "mpii"]},
        },
    }
    paper["prepare_meshes"].update({"shard_size": 40, "row_group_size": 20})
    paper["prepare_images"].update(
        {
            "splits": {
                "train": ["coco", "mpii", "3dpw_train", "emdb2_train"],
                "val": ["3dpw_validation", "emdb2_val"],
                "test": ["3dpw_test", "emdb1"],
            },
            "crop_size": 32,
            "shard_size": 16,
            "row_group_size": 8,
            "chunk_size": 8,
        }
    )
    return {"paper": paper}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A good mini data root, params pointing at a linked copy of it, and results holding prepare_meshes."""
    base = _load_mini_root_builder()(tmp_path_factory.mktemp("mini_root"))
    top = tmp_path_factory.mktemp("project")
    data = top / "data"
    params = top / "params.yaml"
    params.write_text(yaml.safe_dump(_params(data)))
    _link_tree(base, data)
    results = top / "results"
    for stage in ("check_data", "prepare_meshes"):  # what prepare_images needs, made from the good root
        assert STAGES[stage].main(_argv(params, results)) == 0
    return base, data, params, results


def _argv(params: Path, results: Path) -> list[str]:
    return ["--params", str(params), "--experiment", "paper", "--results", str(results), "--no-track"] + [
        "--workers",
        "1",
        "--device",
        "cpu",
    ]


def _link_tree(src: Path, dst: Path) -> None:
    """``dst`` = real folders, files linked to ``src`` (a bad file replaces one link, never the base)."""
    if dst.exists():
        shutil.rmtree(dst)
    for dirpath, _, files in os.walk(src):
        out = dst / Path(dirpath).relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for f in files:
            (out / f).symlink_to(Path(dirpath) / f)


def _tree(root: Path) -> dict[str, tuple[int, int] | str]:
    """Every path under ``root``: files with size and mtime, folders by name (their mtime tells nothing)."""
    return {
        str(p.relative_to(root)): "dir" if p.is_dir() else (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
    }


@pytest.mark.parametrize("stage, rel, kind", PARAMS)
def test_stage_on_bad_file(project, capfd, stage, rel, kind):
    base, data, params, results = project
    _link_tree(base, data)
    marker = data.parent / "payload-ran"
    target = data / rel
    if kind == "missing":
        target.unlink()
    else:
        write_bad_file(target, kind, marker)
    before = _tree(results)
    capfd.readouterr()
    status = STAGES[stage].main(_argv(params, results))  # a traceback would raise here
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert status == 1 and "Traceback" not in err
    named = rel.rsplit("/", 1)[-1] if stage != "check_data" else Path(rel).name
    if kind == "missing" and stage == "check_data":
        named = Path(rel).parent.name  # check_data names the sequence whose frame image is absent
    assert named in err, err
    if stage != "check_data":
        assert len(errors) == 1 and named in errors[0], err  # one line
    assert _tree(results) == before and not marker.exists()


def test_download_folder_name_explained(project, capfd):
    base, data, params, results = project
    _link_tree(base, data)
    (data / "3dpw").rename(data / "3DPW")
    before = _tree(results)
    assert check_data.main(_argv(params, results)) == 1
    err = capfd.readouterr().err
    assert f"`mv {data / '3DPW'} {data / '3dpw'}`" in err and _tree(results) == before
    assert prepare_meshes.main(_argv(params, results)) == 1  # the stage says it too, in one line
    errors = [line for line in capfd.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"`ln -s 3DPW {data / '3dpw'}`" in errors[0] and _tree(results) == before


def test_check_data_follows_the_motion_source(project, tmp_path, capfd):
    base, data, params, results = project
    _link_tree(base, data)
    raw = yaml.safe_load(params.read_text())
    raw["paper"]["prepare_meshes"].update({"source": "amass", "amass_subsets": ["CMU"]})
    other = tmp_path / "params.yaml"
    other.write_text(yaml.safe_dump(raw))
    shutil.rmtree(data / "bedlam_animations")  # not needed any more
    assert check_data.main(_argv(other, tmp_path / "results")) == 0
    shutil.rmtree(data / "amass" / "CMU")
    assert check_data.main(_argv(other, tmp_path / "results")) == 1
    assert "AMASS subset CMU: missing" in capfd.readouterr().err


def test_process_exit_has_no_traceback(project):
    """The real entry point as Snakemake runs it: stderr is one ERROR line, status 1."""
    base, data, params, results = project
    _link_tree(base, data)
    marker = data.parent / "payload-ran"
    write_bad_file(data / V3, "hostile_pickle", marker)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "VQHPS_NO_TRACK": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "vqhps.stages.prepare_meshes", *_argv(params, results)],
        capture_output=True,
        text=True,
        env=env,
        cwd=data.parent,
        timeout=300,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and not marker.exists()
    assert len(lines) == 1 and "validation_seq_00.pkl" in lines[0] and "code-execution payload" in lines[0]
