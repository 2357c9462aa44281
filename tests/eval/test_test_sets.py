"""Tests for vqhps.eval.test_sets: (sequence, frame, person) ids of evaluated rows and the test-set file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vqhps.eval.test_sets import (
    TEST_FRAMES_FILE,
    demo_frame_ids,
    evaluated_frame_ids,
    record_frame_ids,
    write_frames_file,
    write_test_set,
)


def test_demo_views_of_one_mesh_are_one_sequence():
    frames = demo_frame_ids(["m7-v0", "m7-v1", "m9-v0", "loose"], ["anny"] * 4)
    assert frames["sequence"].tolist() == ["m7", "m7", "m9", "loose"]
    assert frames["frame"].tolist() == [0, 1, 0, 0] and set(frames["person"]) == {0}


def test_paper_frames_file_is_read_in_the_order_asked(tmp_path):
    cols = record_frame_ids(
        ["3dpw_test-0000000", "3dpw_test-0000001", "3dpw_test-0000002"],
        "3dpw",
        np.array(["courtyard", "courtyard", "downtown"]),
        np.array([4, 4, 0]),
        np.array([0, 1, 0]),
    )
    labels = record_frame_ids(["coco-0000003"], "coco", np.array([""]), np.array([-1]), np.array([0]))
    assert write_frames_file([cols, labels], tmp_path / TEST_FRAMES_FILE) == 4
    got = evaluated_frame_ids(
        tmp_path, ["3dpw_test-0000002", "coco-0000003", "3dpw_test-0000001"], ["3dpw"] * 3
    )
    assert got["sequence"].tolist() == ["downtown", "coco-0000003", "courtyard"], "a label row: own sequence"
    assert got["person"].tolist() == [0, 0, 1] and got["frame"].tolist() == [0, -1, 4]
    with pytest.raises(ValueError, match=rf"{TEST_FRAMES_FILE}: no row for test image 'x'.*prepare_images"):
        evaluated_frame_ids(tmp_path, ["x"], ["3dpw"])


def test_test_set_file_hash_ignores_row_order_and_sees_a_dropped_frame(tmp_path):
    frames = demo_frame_ids(["a-v0", "a-v1", "b-v0"], ["anny"] * 3)
    first = write_test_set(frames, tmp_path / "one.csv")
    shuffled = write_test_set(frames.iloc[[2, 0, 1]], tmp_path / "two.csv")
    assert first["test_set_sha256"] == shuffled["test_set_sha256"]
    assert (first["n_frames"], first["n_sequences"]) == (3, 2)
    dropped = write_test_set(frames.iloc[:2], tmp_path / "three.csv")
    assert dropped["test_set_sha256"] != first["test_set_sha256"]
    assert pd.read_csv(tmp_path / "one.csv").columns.tolist() == [
        "id",
        "source",
        "sequence",
        "frame",
        "person",
    ]
