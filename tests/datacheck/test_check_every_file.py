"""check_data opens every file through the stages' readers; --quick samples; download folders explained."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from helpers.body_fixtures import write_smpl_pkl, write_smplh_npz
from helpers.realdata_fixtures import (
    write_amass_motion,
    write_bad_file,
    write_threedpw_sequence,
)
from vqhps.datacheck import check_datasets

N_SEQ = 5  # per split: more than the 2 that --quick opens


def _threedpw(root):
    for split in ("train", "validation", "test"):
        for j in range(N_SEQ):
            name = f"{split}{j}"
            write_threedpw_sequence(root / "3dpw" / "sequenceFiles" / split / f"{name}.pkl", seed=j)
            for t in range(4):
                path = root / "3dpw" / "imageFiles" / name / f"image_{t:05d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"\xff\xd8")
    return {"3dpw": {"n_train": N_SEQ, "n_validation": N_SEQ, "n_test": N_SEQ}}


def _problems(report):
    return "\n".join(f"{p.path}: {p.problem}" for p in report.problems)


def test_a_bad_pickle_the_sample_skips_is_found(tmp_path):
    options = _threedpw(tmp_path)
    marker = tmp_path / "pwned"
    bad = tmp_path / "3dpw" / "sequenceFiles" / "test" / "test1.pkl"  # --quick opens test0 and test4 only
    write_bad_file(bad, "hostile_pickle", marker)
    assert check_datasets(["3dpw"], tmp_path, options, quick=True).ok  # today's sampling, kept for --quick
    report = check_datasets(["3dpw"], tmp_path, options)
    assert (
        not report.ok
        and "sequenceFiles/test/test1.pkl: 3DPW test sequences: pickle contents" in _problems(report)
    )
    assert "code-execution payload" in _problems(report) and not marker.exists()


@pytest.mark.parametrize(
    "kind", ["poses2d_short", "cam_poses_short", "campose_valid_long", "truncated", "empty"]
)
def test_every_3dpw_defect_the_stages_reject_fails_the_check(tmp_path, kind):
    options = _threedpw(tmp_path)
    write_bad_file(
        tmp_path / "3dpw" / "sequenceFiles" / "validation" / "validation2.pkl", kind, tmp_path / "m"
    )
    text = _problems(check_datasets(["3dpw"], tmp_path, options))
    assert "sequenceFiles/validation/validation2.pkl: 3DPW validation sequences: " in text
    assert "expected" in text and "found" in text


def test_a_missing_frame_image_fails_the_check(tmp_path):
    options = _threedpw(tmp_path)
    (tmp_path / "3dpw" / "imageFiles" / "train3" / "image_00002.jpg").unlink()
    text = _problems(check_datasets(["3dpw"], tmp_path, options))
    assert "sequenceFiles/train/train3.pkl: 3DPW train sequences: 1 of 4 frame images missing" in text
    assert "image_00002.jpg" in text


@pytest.fixture
def body_root(tmp_path):
    for i, g in enumerate(("neutral", "male", "female")):
        write_smpl_pkl(tmp_path / "body_models" / "smpl" / f"SMPL_{g.upper()}.pkl", seed=i)
        write_smplh_npz(tmp_path / "body_models" / "smplh" / g / "model.npz", seed=i)
    return tmp_path


@pytest.mark.parametrize(
    "rel, kind, text",
    [
        ("smpl/SMPL_MALE.pkl", "vertices_6000", "v_template: expected shape (6890, 3)"),
        ("smpl/SMPL_FEMALE.pkl", "transposed_regressor", "found shape (6890, 24), the transpose"),
        ("smplh/neutral/model.npz", "betas_8", "shapedirs: expected at least 10 shape components"),
        ("smplh/male/model.npz", "hostile_npz", "pickle contents: expected only numpy/scipy array data"),
        ("smplh/female/model.npz", "empty", "file: expected a complete npz archive, found an empty file"),
    ],
)
def test_body_models_are_read_as_the_stages_read_them(body_root, rel, kind, text):
    marker = body_root / "pwned"
    assert check_datasets(["smpl", "smplh"], body_root).ok
    write_bad_file(body_root / "body_models" / rel, kind, marker)
    report = check_datasets(["smpl", "smplh"], body_root)
    assert not report.ok and text in _problems(report) and not marker.exists()
    assert rel.split("/", 1)[1] in _problems(report)


def test_smplh_betas_follow_the_param(body_root):
    assert check_datasets(["smplh"], body_root, {"smplh": {"num_betas": 16}}).ok
    report = check_datasets(["smplh"], body_root, {"smplh": {"num_betas": 17}})
    assert "at least 17 shape components" in _problems(report)


@pytest.mark.parametrize("command", ["mv", "ln -s"])
def test_download_folder_name_explained_and_the_command_works(tmp_path, command):
    options = _threedpw(tmp_path)
    (tmp_path / "3dpw").rename(tmp_path / "3DPW")  # as the archives unpack
    report = check_datasets(["3dpw"], tmp_path, options)
    first = report.problems[0].problem
    assert all("`" not in p.problem for p in report.problems[1:])  # said once
    run = re.search(rf"`({command} [^`]+)`", first).group(1)
    assert run == (
        f"mv {tmp_path / '3DPW'} {tmp_path / '3dpw'}"
        if command == "mv"
        else f"ln -s 3DPW {tmp_path / '3dpw'}"
    )
    subprocess.run(run, shell=True, check=True, cwd=tmp_path)
    assert check_datasets(["3dpw"], tmp_path, options).ok


def test_readers_name_the_lookalike_folder(tmp_path):
    from vqhps.ingest import threedpw

    (tmp_path / "3DPW").mkdir()
    with pytest.raises(FileNotFoundError, match=rf"but {tmp_path / '3DPW'} is beside it: run `mv "):
        threedpw.read_split(tmp_path / "3dpw", "test")


def test_amass_any_subset_when_none_listed(tmp_path):
    write_amass_motion(tmp_path / "amass" / "CMU" / "01" / "01_01_poses.npz")
    assert check_datasets(["amass"], tmp_path, {"amass": {"subsets": []}}).ok
    assert not check_datasets(["amass"], tmp_path).ok  # the default still lists the 15 subsets
    np.savez(tmp_path / "amass" / "CMU" / "01" / "01_02_poses.npz", poses=np.zeros((3, 150)))
    report = check_datasets(["amass"], tmp_path, {"amass": {"subsets": []}})
    assert "01_02_poses.npz: AMASS motions (any subset): keys" in _problems(report)
