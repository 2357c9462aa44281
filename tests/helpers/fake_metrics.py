"""Hand-made ``evaluate/metrics.json`` files, and ``make_tables`` run on one (paper params, no models).

Every value codes where it comes from, so a table cell shows which key it was read from:
``100 * source number (from 1) + 10 * label index + metric index``.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from vqhps.eval.protocols import PROTOCOLS
from vqhps.stages import make_tables

REPO = Path(__file__).resolve().parents[2]
# The paper's evaluated labels: both models in each regime, then the oracle.
PAPER_LABELS = ("vqhps_full", "vqhps_scarce", "vqhps_scarce_emdb", "baseline_full", "baseline_scarce")
PAPER_LABELS += ("baseline_scarce_emdb", "oracle")
TEST_SOURCES = ("3dpw", "emdb1")
METRICS = ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm")


def coded_value(source: str, label: str, metric: str, labels: tuple[str, ...] = PAPER_LABELS) -> float:
    """The value :func:`fake_evaluate_metrics` gives ``<source>:<label>/<protocol>/<metric>`` (mm)."""
    return 100.0 * (TEST_SOURCES.index(source) + 1) + 10.0 * labels.index(label) + METRICS.index(metric)


def fake_evaluate_metrics(labels: tuple[str, ...] = PAPER_LABELS, n_test: int = 9) -> dict[str, float]:
    """Every ``<source>:<label>/<protocol>/<metric>`` key the paper's evaluate writes, value coded."""
    out: dict[str, float] = {"n_test": n_test}
    for source in TEST_SOURCES:
        for label in labels:
            for protocol in PROTOCOLS:
                for metric in METRICS:
                    out[f"{source}:{label}/{protocol}/{metric}"] = coded_value(source, label, metric, labels)
    return out


def make_tables_on(tmp_path: Path, metrics: dict[str, float], params: dict | None = None) -> Path:
    """Write ``metrics`` as the paper's evaluate output under ``tmp_path/results`` and run ``make_tables``
    there (the repository's params unless given); returns ``results/paper/make_tables``."""
    params = params or yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    results = tmp_path / "results"
    (results / "paper/evaluate").mkdir(parents=True)
    (results / "paper/evaluate/metrics.json").write_text(json.dumps(metrics))
    argv = ["--params", str(tmp_path / "params.yaml"), "--experiment", "paper", "--results", str(results)]
    code = make_tables.main([*argv, "--no-track", "--workers", "1", "--device", "cpu"])
    assert code == 0, f"make_tables exited {code}"
    return results / "paper/make_tables"
