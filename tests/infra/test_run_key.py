"""Which run owns work/: the key changes with params, code and inputs; stale temporaries are removed."""

from __future__ import annotations

import os
import shutil

from vqhps.cli import remove_stale_temporaries
from vqhps.infra import code_deps, run_key
from vqhps.infra.run_key import claim_work_dir, code_digests, job_key


def test_key_changes_with_params_and_with_a_rewritten_input(tmp_path):
    model = tmp_path / "train_mesh_vqvae/model.pt"
    model.parent.mkdir()
    model.write_bytes(b"weights-1")
    images = tmp_path / "images"
    (images / "train").mkdir(parents=True)
    (images / "train/part-0.parquet").write_bytes(b"rows")
    key = job_key({"lr": 1e-3}, "train_vqhps", [model, images])
    assert key == job_key({"lr": 1e-3}, "train_vqhps", [model, images]), "same run, same key"
    assert key != job_key({"lr": 2e-3}, "train_vqhps", [model, images]), "params"
    st = model.stat()
    model.write_bytes(b"weights-2")  # a retrained tokenizer, same size
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert key != job_key({"lr": 1e-3}, "train_vqhps", [model, images]), "a rewritten tokenizer"
    key2 = job_key({"lr": 1e-3}, "train_vqhps", [model, images])
    (images / "train/part-1.parquet").write_bytes(b"more")
    assert key2 != job_key({"lr": 1e-3}, "train_vqhps", [model, images]), "a new image shard"


def test_code_digest_changes_when_an_indirectly_imported_module_changes(tmp_path, monkeypatch):
    copy = tmp_path / "vqhps"
    shutil.copytree(code_deps.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(run_key, "PACKAGE_DIR", copy)
    before = code_digests("train_mesh_vqvae")
    assert "src/vqhps/models/bag_sum.py" in before  # imported by vcconv, not by the stage
    with open(copy / "models/bag_sum.py", "a") as fh:
        fh.write("\n# an edit\n")
    after = code_digests("train_mesh_vqvae")
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"src/vqhps/models/bag_sum.py"}


def test_work_dir_of_another_run_is_discarded_and_its_own_is_kept(tmp_path):
    work = tmp_path / "work"
    assert claim_work_dir(work, "A") is False
    (work / "last.pt").write_bytes(b"step 3 of run A")
    assert claim_work_dir(work, "A") is False and (work / "last.pt").is_file(), "a killed run resumes"
    assert claim_work_dir(work, "B") is True, "another run's checkpoint is discarded"
    assert not (work / "last.pt").exists() and (work / "run_key").read_text().strip() == "B"
    (work / "run_key").unlink()
    (work / "last.pt").write_bytes(b"written before keys existed")
    assert claim_work_dir(work, "B") is True and not (work / "last.pt").exists()


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path):
    out = tmp_path / "render_images"
    (out / ".images.ab12.tmp/train").mkdir(parents=True)
    (out / ".images.ab12.tmp/train/part-0.parquet").write_bytes(b"x")
    (out / "work").mkdir()
    (out / "work/.last.pt.cd34.tmp").write_bytes(b"half a checkpoint")
    (out / "images").mkdir()
    (out / "images/part-0.parquet").write_bytes(b"kept")
    remove_stale_temporaries(out)
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert left == ["images", "images/part-0.parquet", "work"]
    remove_stale_temporaries(tmp_path / "absent")  # nothing to do, no error
