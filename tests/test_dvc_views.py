"""What DVC's metrics, experiment and plots views read: cached metrics and curves, charts with axes and
titles drawn from files the stages write, and the offline page's installer (errors in one line)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vqhps import pipeline
from vqhps.infra import dvc_html

PIPE = pipeline.Pipeline.load(Path(__file__).resolve().parents[1] / "params.yaml")


def _dvc_file(repo: Path, experiment: str) -> dict:
    return yaml.safe_load((repo / pipeline.DVC_FILES[experiment]).read_text())


@pytest.mark.parametrize("experiment", pipeline.EXPERIMENTS)
def test_metrics_and_curves_are_cached_outputs(repo, experiment):
    """Cached (not `cache: false` under the git-ignored results/), so DVC reads them for any revision."""
    text = (repo / pipeline.DVC_FILES[experiment]).read_text()
    assert "cache: false" not in text
    stages = yaml.safe_load(text)["stages"]
    for name, regime in PIPE.jobs(experiment):
        entry = stages[pipeline.job_name(experiment, name, regime)]
        assert entry["metrics"] == [PIPE.outputs(experiment, name, regime)[-1]]
        curves = [o for o in PIPE.outputs(experiment, name, regime) if o.endswith("curves.csv")]
        assert set(curves) <= set(entry["outs"]), f"{name}: curves not an output"


@pytest.mark.parametrize("experiment", pipeline.EXPERIMENTS)
def test_every_chart_has_axes_a_title_and_reads_stage_outputs(repo, experiment):
    dvcfile = _dvc_file(repo, experiment)
    base = (repo / pipeline.DVC_FILES[experiment]).parent
    outs = {(repo / o).resolve() for s in dvcfile["stages"].values() for o in s["outs"]}
    charts = [p for p in dvcfile["plots"] if isinstance(p, dict)]
    assert len(charts) == len(pipeline.CURVE_PLOTS)
    for chart in charts:
        ((pid, props),) = chart.items()
        assert props["x"] == "step" and props["x_label"] and props["y_label"], pid
        assert pid.startswith(f"{experiment}_") and props["title"].startswith(f"{experiment}: "), pid
        for path, columns in props["y"].items():
            assert (base / path).resolve() in outs, f"{pid}: {path} is no stage's output"
            assert columns, pid
    val_pve = next(c[f"{experiment}_val_pve"] for c in charts if f"{experiment}_val_pve" in c)
    for regime in PIPE.regimes[experiment]:  # every regime of both image models is a line
        for stage in ("train_vqhps", "train_baseline"):
            assert any(f"/{stage}/{regime}/curves.csv" in p for p in val_pve["y"]), (stage, regime)
    images = [p for p in dvcfile["plots"] if isinstance(p, str)]
    assert [(base / p).resolve() for p in images] == [
        (repo / pipeline.out_path(experiment, "evaluate/plots")).resolve()
    ]


def test_offline_page_outside_a_dvc_project_is_one_line(tmp_path, capsys):
    assert dvc_html.main(["--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a DVC project" in err and str(tmp_path) in err
    assert not (tmp_path / dvc_html.TEMPLATE).exists()
