"""`snakemake demo --report report.html` as the README types it (no --cores), on a tiny finished demo run
with MLflow on: the report holds the tables, plots and training curves with their per-rule captions, and
the MLflow runs of that one invocation are grouped and closed. Several minutes on a loaded 2-core machine."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import yaml

from helpers.e2e import BIN, run
from vqhps.pipeline import Pipeline

pytestmark = pytest.mark.slow
SNAKEMAKE = str(BIN / "snakemake")

# Report item -> the rule that made it and words of that rule's caption (workflow/report/<rule>.rst).
CAPTION_WORDS = {
    "check_data": "found under",
    "train_mesh_vqvae": "Mesh-VQ-VAE (the tokenizer)",
    "train_vqhps": "Training curve of VQ-HPS",
    "train_baseline": "regression baseline",
    "evaluate": "Test-split evaluation",
    "make_tables": "published ones",
}


def _report_items(html: str) -> dict[str, dict]:
    """The `results` table Snakemake's HTML report embeds: path -> entry (caption, rule, data URI)."""
    found = re.search(r'<script id="results">\s*var results = (\{.*?\});\s*</script>', html, re.S)
    assert found, "no results table in the report"
    return json.loads(found.group(1))


def _expected_items(res: Path) -> dict[str, str]:
    """Paths the report must hold (relative to the work dir) -> the rule that wrote them."""
    items = {"results/demo/check_data/record.json": "check_data"}
    items["results/demo/train_mesh_vqvae/curves.csv"] = "train_mesh_vqvae"
    for stage in ("train_vqhps", "train_baseline"):
        for regime in ("full", "scarce"):
            items[f"results/demo/{stage}/{regime}/curves.csv"] = stage
    for png in sorted((res / "evaluate/plots").glob("*.png")):
        items[f"results/demo/evaluate/plots/{png.name}"] = "evaluate"
    for csv in sorted((res / "make_tables/tables").glob("*.csv")):
        items[f"results/demo/make_tables/tables/{csv.name}"] = "make_tables"
    return items


def _check_mlflow(uri: str, work: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["vqhps/demo"])
    jobs = Pipeline.load(work / "params.yaml").jobs("demo")
    assert sorted(runs["tags.mlflow.runName"]) == sorted(f"{s}.{r}" if r else s for s, r in jobs)
    assert set(runs["status"]) == {"FINISHED"}
    assert runs["tags.vqhps.pipeline_run"].nunique() == 1, "one invocation, one pipeline_run tag"
    assert runs["tags.vqhps.pipeline_run"].iloc[0].startswith("snakemake-")
    tokenizer = runs[runs["tags.mlflow.runName"] == "train_mesh_vqvae"].iloc[0]
    sha = hashlib.sha256((work / "results/demo/train_mesh_vqvae/model.pt").read_bytes()).hexdigest()
    for regime in ("full", "scarce"):
        train = runs[runs["tags.mlflow.runName"] == f"train_vqhps.{regime}"].iloc[0]
        assert train["tags.vqhps.tokenizer_sha256"] == sha
        assert train["tags.vqhps.tokenizer_run_id"] == tokenizer["run_id"]
        history = mlflow.tracking.MlflowClient().get_metric_history(train["run_id"], "val_pve_mm")
        p = yaml.safe_load((work / "params.yaml").read_text())["demo"]["image_training"]
        steps = list(range(p["val_every"], p["steps"] + 1, p["val_every"]))
        assert [m.step for m in history] == steps, "the curve holds its validation steps only"
        assert train["metrics.final/val_pve_mm"] == history[-1].value


def test_snakemake_report_as_typed_holds_tables_plots_and_captions(tiny_demo_run):
    work, uri = tiny_demo_run  # `snakemake demo --cores 2` with MLflow on
    _check_mlflow(uri, work)

    run([SNAKEMAKE, "demo", "--report", "report.html"], work)
    html = (work / "report.html").read_text()
    items = _report_items(html)
    expected = _expected_items(work / "results/demo")
    assert len([p for p in expected if p.endswith(".png")]) >= 4 and any("tables" in p for p in expected)
    assert set(expected) <= set(items), sorted(set(expected) - set(items))
    for path, rule in expected.items():
        item = items[path]
        assert item["job_properties"]["rule"] == rule, path
        assert CAPTION_WORDS[rule] in item["caption"], f"{path}: caption of {rule} missing"
        assert "{{" not in item["caption"], f"{path}: caption template not filled in"
        data = base64.b64decode(item["data_uri"].split("base64,", 1)[1])
        assert data == (work / path).read_bytes(), f"{path}: the report holds other bytes"
    assert "VQ-HPS (ECCV 2024) reproduced" in html  # workflow/report/workflow.rst

    run([SNAKEMAKE, "demo", "--report", "report.zip"], work)
    with zipfile.ZipFile(work / "report.zip") as archive:
        held = Counter(Path(name).name for name in archive.namelist())
    wanted = Counter(Path(path).name for path in expected)  # five curves.csv, each table and plot
    assert all(held[name] >= n for name, n in wanted.items()), (wanted, held)
    assert held["report.html"] == 1
