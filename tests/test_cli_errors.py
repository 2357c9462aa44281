"""stage_main: a bad data file, a damaged pickle or a diverging run: one line, exit 1, results as before."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from vqhps.cli import stage_main
from vqhps.io.atomic import write_text_atomic
from vqhps.io.errors import DataFileError

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def _run(tmp_path, error: BaseException, regime: str | None = None) -> int:
    def run(ctx):
        write_text_atomic(ctx.out_dir / "work" / "partial.txt", "half")  # creates the stage folder
        raise error

    argv = [
        "--params",
        str(PARAMS),
        "--experiment",
        "demo",
        "--results",
        str(tmp_path / "results"),
        "--no-track",
    ]
    return stage_main("check_data", run, argv + (["--regime", regime] if regime else []))


@pytest.mark.parametrize(
    "error, line",
    [
        (
            DataFileError("d/x.pkl", "poses[0]", "shape (4, 72)", "shape (3, 72)"),
            "d/x.pkl: poses[0]: expected",
        ),
        (pickle.UnpicklingError("invalid load key"), "UnpicklingError: invalid load key"),
        (EOFError("Ran out of input"), "EOFError: Ran out of input"),
        (
            FloatingPointError("loss term 'tokens_ce' is nan at step 2; lower the learning rate"),
            "is nan at step 2",
        ),
    ],
)
def test_one_line_exit_1_and_no_stage_folder_left(tmp_path, capfd, error, line):
    (tmp_path / "results" / "demo" / "make_synthetic").mkdir(parents=True)  # an earlier stage's output
    before = _tree(tmp_path / "results")
    assert _run(tmp_path, error) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and line in err[0] and "Traceback" not in err[0]
    assert _tree(tmp_path / "results") == before


def test_created_parents_removed_too_and_regime_folder(tmp_path, capfd):
    assert _run(tmp_path, DataFileError("a.npz", "file", "a complete npz", "0 bytes"), regime="full") == 1
    assert not (tmp_path / "results").exists()


def test_an_existing_stage_folder_is_kept(tmp_path):
    out = tmp_path / "results" / "demo" / "check_data"
    out.mkdir(parents=True)
    (out / "record.json").write_text("{}")
    assert _run(tmp_path, DataFileError("a.npz", "file", "x", "y")) == 1
    assert (out / "record.json").read_text() == "{}"


def test_a_bug_keeps_its_traceback_but_leaves_no_folder(tmp_path):
    with pytest.raises(ZeroDivisionError):
        _run(tmp_path, ZeroDivisionError("bug"))
    assert not (tmp_path / "results").exists()
