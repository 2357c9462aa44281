"""make_tables on the paper's regimes: the EMDB scarce-data run (scarce_emdb) sits in the scarce table on
EMDB-1, the 3DPW-trained scarce run on 3DPW test only, the full run on both (as the paper's tables)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers.fake_metrics import PAPER_LABELS, fake_evaluate_metrics, make_tables_on
from vqhps.eval.measured_rows import METHOD_NAMES
from vqhps.eval.protocols import PROTOCOLS
from vqhps.eval.tables import read_table_csv
from vqhps.stages import make_tables

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tables(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(params["paper"]["regimes"]) == {"full", "scarce", "scarce_emdb"}
    return make_tables_on(tmp_path, fake_evaluate_metrics(), params)


def test_scarce_emdb_rows_sit_beside_the_papers_emdb_scarce_rows(tables):
    out = tables / "tables"
    assert sorted(p.name for p in out.glob("*.csv")) == ["main_table.csv", "scarce_table.csv"]
    scarce = read_table_csv(out / "scarce_table.csv")
    measured = [r for r in scarce if r["origin"] == "measured"]
    by = {(r["dataset"], r["method"], r["protocol"]): r for r in measured}
    vq = METHOD_NAMES["vqhps"]
    # EMDB-1 rows come from the EMDB-2-trained run, 3DPW rows from the 3DPW-trained one (label numbers 2, 1)
    assert by[("emdb", vq, "vqhps")]["pve_mm"] == 200.0 + 10 * PAPER_LABELS.index("vqhps_scarce_emdb")
    assert by[("3dpw", vq, "vqhps")]["pve_mm"] == 100.0 + 10 * PAPER_LABELS.index("vqhps_scarce")
    assert by[("emdb", METHOD_NAMES["baseline"], "standard")]["mpjpe_mm"] == 201.0 + 10 * 5
    # one VQ-HPS, one baseline and one oracle row per (test set, protocol): no 3DPW-trained EMDB row;
    # the emdb protocol only on EMDB-1
    assert len(measured) == 3 * (2 * len(PROTOCOLS) - 1)
    assert {r["protocol"] for r in measured if r["dataset"] == "3dpw"} == {"vqhps", "standard"}
    assert {r["training_data"] for r in measured if r["dataset"] == "emdb" and r["method"] == vq} == {
        yaml.safe_load((REPO / "params.yaml").read_text())["paper"]["regimes"]["scarce_emdb"]["label"]
    }
    paper = {(r["dataset"], r["method"]) for r in scarce if r["origin"] == "paper"}
    assert ("emdb", "VQ-HPS") in paper and ("3dpw", "VQ-HPS") in paper
    main = [r for r in read_table_csv(out / "main_table.csv") if r["origin"] == "measured"]
    assert {r["dataset"] for r in main} == {"3dpw", "emdb"} and len(main) == 3 * (2 * len(PROTOCOLS) - 1)


def test_headline_differences_per_test_set_and_regime(tables):
    head = json.loads((tables / "metrics.json").read_text())
    gap = 10.0 * (PAPER_LABELS.index("vqhps_scarce_emdb") - PAPER_LABELS.index("baseline_scarce_emdb"))
    assert head["emdb/scarce_emdb/standard/vqhps_minus_baseline_pve_mm"] == pytest.approx(gap)
    assert "3dpw/scarce_emdb/standard/vqhps_minus_baseline_pve_mm" not in head
    assert "emdb/scarce/standard/vqhps_minus_baseline_pve_mm" not in head
    assert "3dpw/full/vqhps/vqhps_minus_oracle_pve_mm" in head


def test_verdict_needs_an_interval_that_excludes_zero():
    key = "emdb/scarce_emdb/standard/vqhps_minus_baseline_pve_mm"
    assert "VQ-HPS beats" in make_tables._verdict(key, -3.0, -5.0, -1.0)
    assert "is not distinguishable from" in make_tables._verdict(key, -3.0, -6.0, 0.5)
    assert "does NOT beat" in make_tables._verdict(key, 2.0, 0.5, 3.5)
    assert "VQ-HPS beats" in make_tables._verdict(key, -3.0, None, None), "no interval: the sign alone"
    assert make_tables._verdict(key, -3.0, -5.0, -1.0).startswith("emdb test, scarce_emdb regime")
