"""The README's `mlflow ui` command, as written (plus a free port), on the tiny demo's store: the server
answers and lists every stage run of the demo by its stage name, with its params, git commit and hardware.

The server is started by ``tools/screenshots.py``'s ``mlflow_ui`` (one implementation of reading the README's
line and waiting for the UI), which the screenshot test uses too."""

from __future__ import annotations

import shutil

import pytest

from helpers.e2e import BIN
from helpers.tools import load_tool
from vqhps.pipeline import Pipeline

pytestmark = pytest.mark.slow


def test_mlflow_ui_as_the_readme_writes_it_serves_the_demo_runs(tiny_demo_run, tmp_path):
    work, uri = tiny_demo_run
    shutil.copy(uri.removeprefix("sqlite:///"), tmp_path / "mlflow.db")  # the README's store: ./mlflow.db
    tool = load_tool("screenshots")
    with tool.mlflow_ui(tmp_path, str(BIN / "mlflow")) as base:
        _, names = tool.demo_runs(base)
    expected = {f"{s}.{r}" if r else s for s, r in Pipeline.load(work / "params.yaml").jobs("demo")}
    assert expected <= set(names), f"runs missing from the UI: {expected - set(names)}"
    for name in expected:
        tags = tool.tags_of(names[name])
        assert tags["stage"] == name and tags["experiment"] == "demo"
        assert tags.get("git_commit") and tags.get("cpu") and tags.get("cpu_count"), (name, tags)  # "unknown"
        # commit here: the fixture's work dir is a git repository without a commit
        assert names[name]["data"].get("params"), f"{name} logged no params"
        assert names[name]["info"]["status"] == "FINISHED"
