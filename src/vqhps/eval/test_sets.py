"""The (sequence, frame, person) identity of every evaluated test row, and the test-set artifact.

Two users evaluated the same frames when their ``evaluate/test_set.csv`` files have the same sha256.
Each row of an image set's test split is one person in one frame:

- paper image sets: ``prepare_images`` writes ``images/test_frames.csv`` (columns :data:`FRAME_COLUMNS`)
  beside the shards, from the readers' records after their filtering (3DPW: ``campose_valid`` and a
  keypoint box; EMDB-1: ``good_frames_mask`` and not in ``bboxes.invalid_idxs``). Sequence = 3DPW sequence
  name / EMDB ``P<subject>/<sequence>`` folder, frame = index in the sequence, person = index in the
  3DPW pickle (0 for EMDB, one person per sequence). Rows of a non-video set are each their own sequence.
- the synthetic demo has no video: the ``views_per_mesh`` renderings of one synthetic mesh (image ids
  ``<mesh id>-v<view>``) form one sequence, frame = view index, person = 0. Views of one body share its
  shape and pose, so they are resampled together, as frames of one video are.

The bootstrap of :mod:`vqhps.eval.bootstrap` resamples these sequences.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vqhps.io.atomic import write_text_atomic
from vqhps.io.digest import file_sha256

FRAME_COLUMNS: tuple[str, ...] = ("id", "source", "sequence", "frame", "person")
TEST_FRAMES_FILE = "test_frames.csv"  # in a paper image set's images/ folder, written by prepare_images
_DEMO_VIEW = re.compile(r"^(?P<mesh>.+)-v(?P<view>\d+)$")


def record_frame_ids(
    ids: Sequence[str], source: str, sequence: np.ndarray, frame: np.ndarray, person: np.ndarray
) -> dict[str, list]:
    """Frame-id columns of image rows read from a dataset's records (``FrameRecords`` fields).

    A row whose record has no sequence (a label set: ``sequence == ""``) becomes its own sequence
    (its row id) with frame -1.

    Args:
        ids: (n,) image row ids.
        source: the rows' ``source``.
        sequence, frame, person: (n,) the records' fields for those rows.

    Returns:
        Columns :data:`FRAME_COLUMNS` -> lists of length n.
    """
    seq = [str(s) if str(s) else str(i) for s, i in zip(sequence, ids, strict=True)]
    return {
        "id": list(ids),
        "source": [source] * len(ids),
        "sequence": seq,
        "frame": [int(f) for f in frame],
        "person": [int(p) for p in person],
    }


def write_frames_file(frames: Sequence[dict[str, list]], path: str | os.PathLike) -> int:
    """Concatenate frame-id column dicts and write them as CSV (atomic). Returns the row count."""
    table = pd.concat([pd.DataFrame(f, columns=list(FRAME_COLUMNS)) for f in frames], ignore_index=True)
    write_text_atomic(path, table.to_csv(index=False, lineterminator="\n"))
    return len(table)


def demo_frame_ids(ids: Sequence[str], sources: Sequence[str]) -> pd.DataFrame:
    """Frame ids of synthetic demo rows: the views of one mesh are one sequence (see module doc).

    An id not of the form ``<mesh id>-v<view>`` is its own sequence, frame 0.
    """
    rows = []
    for row_id, source in zip(ids, sources, strict=True):
        match = _DEMO_VIEW.match(row_id)
        seq, frame = (match["mesh"], int(match["view"])) if match else (row_id, 0)
        rows.append((row_id, source, seq, frame, 0))
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))


def evaluated_frame_ids(
    images_dir: str | os.PathLike, ids: Sequence[str], sources: Sequence[str]
) -> pd.DataFrame:
    """Frame ids of the evaluated test rows, in the order of ``ids``.

    Reads ``<images_dir>/test_frames.csv`` when the image set has one (paper), else the demo grouping.

    Raises:
        ValueError: the file lacks a column or an evaluated id (one line naming the file and the fix).
    """
    path = Path(images_dir) / TEST_FRAMES_FILE
    if not path.is_file():
        return demo_frame_ids(ids, sources)
    table = pd.read_csv(path, dtype={"id": str, "source": str, "sequence": str})
    missing = [c for c in FRAME_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: no column {missing}; re-run prepare_images")
    table = table.set_index("id")
    absent = [i for i in ids if i not in table.index]
    if absent:
        raise ValueError(f"{path}: no row for test image {absent[0]!r} (and {len(absent) - 1} more); "
                         "re-run prepare_images")  # fmt: skip
    out = table.loc[list(ids)].reset_index()
    return out[list(FRAME_COLUMNS)]


def write_test_set(frames: pd.DataFrame, path: str | os.PathLike) -> dict[str, float | str]:
    """Write the evaluated test rows (``FRAME_COLUMNS``, sorted) and return their hash and counts.

    Returns:
        ``test_set_sha256``, ``n_frames`` and ``n_sequences`` (a sequence counted per (source, sequence));
        per-source counts come with every summary (:mod:`vqhps.eval.summaries`).
    """
    table = frames[list(FRAME_COLUMNS)].sort_values(["source", "sequence", "frame", "person", "id"])
    write_text_atomic(path, table.to_csv(index=False, lineterminator="\n"))
    out: dict[str, float | str] = {
        "test_set_sha256": file_sha256(path),
        "n_frames": len(table),
        "n_sequences": int(table.groupby(["source", "sequence"]).ngroups),
    }
    return out
