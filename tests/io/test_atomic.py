"""Atomic writes leave either the old content or the new, never a partial file or folder."""

from __future__ import annotations

import pytest

from vqhps.io.atomic import atomic_path, write_text_atomic


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"], "the temporary file must be removed"


def test_folder_replaced_whole(tmp_path):
    target = tmp_path / "shards"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("1")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"], "the old folder content must be gone"


def test_failed_folder_write_leaves_nothing(tmp_path):
    target = tmp_path / "shards"
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("1")
        raise ValueError
    assert not target.exists() and list(tmp_path.iterdir()) == []
