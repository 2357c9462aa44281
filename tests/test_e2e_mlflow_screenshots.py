"""The MLflow UI in a real browser: ``tools/screenshots.py`` starts the README's ``mlflow ui`` on the tiny
demo's store, renders each view in headless Chromium and finds every stage run, its git commit and hardware
tags in the rendered pages; each screenshot is a full-size, non-blank image."""

from __future__ import annotations

import shutil

import pytest

from helpers.e2e import BIN
from helpers.readme import README
from helpers.tools import load_tool
from vqhps.pipeline import Pipeline


def test_the_tool_starts_the_ui_with_the_readmes_command():
    env, words = load_tool("screenshots").readme_ui_command()
    line = next(ln for ln in README.read_text().splitlines() if " mlflow ui " in f" {ln} ")
    assert words[:2] == ["mlflow", "ui"] and " ".join(words) in line
    assert env == {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


@pytest.mark.slow
def test_mlflow_ui_screenshots_show_every_stage_run_with_commit_and_hardware(tiny_demo_run, tmp_path):
    from PIL import Image

    tool = load_tool("screenshots")
    chromium = tool.find_chromium()
    if chromium is None:
        pytest.skip(
            f"no Chromium on PATH ({', '.join(tool.CHROMIUM_NAMES)}): apt-get install chromium-headless-shell"
        )
    work, uri = tiny_demo_run
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(uri.removeprefix("sqlite:///"), store / "mlflow.db")  # the README's store: ./mlflow.db
    texts = tool.screenshot_ui(chromium, store, tmp_path / "png", str(BIN / "mlflow"))

    expected = {f"{s}.{r}" if r else s for s, r in Pipeline.load(work / "params.yaml").jobs("demo")}
    for view in ("runs", "compare_all"):
        assert all(name in texts[view] for name in expected), (view, texts[view][:2000])
    for key in ("git_commit", "cpu", "cpu_count"):  # the compare table has one row per tag
        assert key in texts["compare_all"] and key in texts["training_run"]
    assert "val_pve_mm" in texts["val_pve_curves"] and "Step" in texts["val_pve_curves"]
    shots = sorted((tmp_path / "png").glob("*.png"))
    assert {p.stem for p in shots} == {
        "experiments",
        "runs",
        "training_run",
        "val_pve_curves",
        "compare_full_scarce",
    }
    for png in shots:
        with Image.open(png) as image:
            assert image.size == tool.WINDOW, png.name
            colours = image.convert("RGB").getcolors(maxcolors=1 << 16) or []
            assert len(colours) > 8, f"{png.name} is blank"
