"""Tests for vqhps.eval.summaries: the evaluate metrics (means, intervals, counts, paired differences)."""

from __future__ import annotations

import numpy as np
import pytest

from vqhps.eval.evaluation import MethodResult
from vqhps.eval.methods import MethodSpec
from vqhps.eval.summaries import summarize_all

N = 12
SOURCES = ["3dpw"] * 8 + ["emdb1"] * 4
# 3DPW: 4 sequences of 2 frames; EMDB: sequence "s0" again (another dataset's s0) and "e1"
GROUPS = ["s0", "s0", "s1", "s1", "s2", "s2", "s3", "s3", "s0", "s0", "e1", "e1"]


def _result(method: str, regime: str, pve: np.ndarray, token: bool = False) -> MethodResult:
    errors = {f"{p}/{m}": pve + k for p in ("vqhps", "emdb") for k, m in enumerate(("pve_mm", "mpjpe_mm"))}
    extras = {"token_accuracy": np.linspace(0.1, 0.9, N)} if token else {}
    return MethodResult(MethodSpec(method, regime), np.arange(N), errors, extras, np.zeros((0, 1, 3)), None)


def _results() -> list[MethodResult]:
    pve = np.arange(N, dtype=float) * 10.0
    return [_result("vqhps", "full", pve, token=True), _result("baseline", "full", pve + 5.0)]


def test_every_mean_has_an_interval_and_counts_and_sources_stay_apart():
    out = summarize_all(_results(), [("vqhps_full", "baseline_full")], GROUPS, SOURCES, n_boot=200, seed=0)
    pve = np.arange(N) * 10.0
    assert out["vqhps_full/vqhps/pve_mm"] == pytest.approx(pve.mean())
    assert (
        out["vqhps_full/vqhps/pve_mm_lo"] < out["vqhps_full/vqhps/pve_mm"] < out["vqhps_full/vqhps/pve_mm_hi"]
    )
    # s0 of 3DPW and s0 of EMDB are different sequences: 4 + 2
    assert (out["vqhps_full/n_frames"], out["vqhps_full/n_sequences"]) == (N, 6)
    assert out["3dpw:vqhps_full/vqhps/pve_mm"] == pytest.approx(pve[:8].mean())
    assert (out["emdb1:vqhps_full/n_frames"], out["emdb1:vqhps_full/n_sequences"]) == (4, 2)
    assert out["vqhps_full/token_accuracy"] == pytest.approx(0.5)


def test_emdb_protocol_is_summarised_on_emdb_frames_only():
    out = summarize_all(_results(), [], GROUPS, SOURCES, n_boot=50, seed=0)
    assert out["vqhps_full/emdb/pve_mm"] == pytest.approx((np.arange(8, N) * 10.0).mean())
    assert "3dpw:vqhps_full/emdb/pve_mm" not in out and "emdb1:vqhps_full/emdb/pve_mm" in out


def test_paired_difference_is_its_own_number_with_a_tight_interval():
    out = summarize_all(_results(), [("vqhps_full", "baseline_full")], GROUPS, SOURCES, n_boot=200, seed=0)
    key = "vqhps_full-baseline_full/vqhps/pve_mm"
    assert out[key] == pytest.approx(-5.0) and out[key + "_lo"] == pytest.approx(-5.0)
    assert out[key + "_hi"] == pytest.approx(-5.0), "a constant per-frame gap has no sampling spread"
    assert out["vqhps_full-baseline_full/n_frames"] == N
    assert out["emdb1:" + key] == pytest.approx(-5.0)
    none = summarize_all(_results(), [("vqhps_full", "missing")], GROUPS, SOURCES, n_boot=10, seed=0)
    assert not any("-" in k.split("/")[0] for k in none), "a pair with an absent label is skipped"
