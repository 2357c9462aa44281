"""The scarce-data study: params expanded into regimes, their jobs in the DAG, the interval's counting."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from vqhps.cli import job_params
from vqhps.config import parse_params
from vqhps.eval.study import parse_study_name, study_regime_name
from vqhps.eval.study_stats import bootstrap_interval, markdown_table, plot_study, summary_frame
from vqhps.infra.configtools import ConfigError
from vqhps.pipeline import Pipeline


@pytest.fixture
def raw(repo):
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    study = {"sources": ["anny"], "fractions": [0.025, 0.5], "seeds": [0, 3], "steps": 7}
    raw["demo"]["scarce_study"] = study
    return raw


def test_each_fraction_and_seed_is_one_regime_with_the_study_params(raw):
    exp = parse_params(raw).experiment("demo")
    regimes = exp.study_regimes()
    assert list(regimes) == ["study_f0025_s0", "study_f0025_s3", "study_f0500_s0", "study_f0500_s3"]
    assert regimes["study_f0025_s3"].fraction == 0.025 and regimes["study_f0500_s0"].steps == 7
    assert all(r.sources == ("anny",) for r in regimes.values())
    assert exp.regime_entry("study_f0500_s3") == regimes["study_f0500_s3"]
    assert exp.regime_entry("full") == exp.regimes["full"]
    with pytest.raises(ConfigError, match="study_f0100_s0"):
        exp.regime_entry("study_f0100_s0")
    assert job_params(exp, "train_vqhps", "study_f0025_s0")["regime_params"]["fraction"] == 0.025


def test_names_round_trip():
    for fraction, seed in ((0.025, 0), (0.1, 12), (1.0, 2)):
        assert parse_study_name(study_regime_name(fraction, seed)) == (fraction, seed)
    with pytest.raises(ValueError):
        parse_study_name("scarce")


@pytest.mark.parametrize(
    "change, match",
    [({"fractions": [0.0125]}, "multiple of 0.001"), ({"fractions": [1.5]}, "in \\(0, 1\\]"),
     ({"seeds": [1, 1]}, "each value once"), ({"seeds": []}, "at least one")],
)  # fmt: skip
def test_bad_study_params_are_named(raw, change, match):
    raw["demo"]["scarce_study"] |= change
    with pytest.raises(ConfigError, match=match):
        parse_params(raw)


def test_a_regime_may_not_take_a_study_name(raw):
    raw["demo"]["regimes"]["study_x"] = {"sources": ["anny"], "fraction": 0.5}
    with pytest.raises(ConfigError, match="study_x"):
        parse_params(raw)


def test_study_jobs_stay_out_of_the_demo_dag_and_read_the_study_params(raw):
    pipe = Pipeline.from_params(parse_params(raw))
    assert not [j for j in pipe.jobs("demo") if j[1] and j[1].startswith("study_")]
    jobs = pipe.study_jobs("demo")
    assert jobs[-1] == ("scarce_study", None) and len(jobs) == 2 * 4 + 1
    assert pipe.param_keys("demo", "train_vqhps", "study_f0025_s0")[-1] == "demo.scarce_study"
    assert pipe.param_keys("demo", "train_vqhps", "full")[-1] == "demo.regimes.full"
    deps = pipe.declared_deps("demo", "scarce_study")
    assert "train_baseline/study_f0500_s3/model.pt" in deps and "render_images/images/" in deps
    assert not any("/full/" in d for d in deps)
    no_study = copy.deepcopy(raw)
    del no_study["demo"]["scarce_study"]
    assert Pipeline.from_params(parse_params(no_study)).study_jobs("demo") == []


def test_interval_counts_seeds_and_test_images():
    rng = np.random.default_rng(0)
    images = rng.normal(100, 10, size=400)
    same_seeds = np.stack([images, images, images])  # seeds agree: only the test images vary
    spread_seeds = same_seeds + np.array([[-20.0], [0.0], [20.0]])  # seeds disagree by a lot
    mean, lo, hi = bootstrap_interval(same_seeds, 1000)
    assert lo < mean < hi and mean == pytest.approx(images.mean())
    assert (hi - lo) == pytest.approx(2 * 1.96 * images.std() / np.sqrt(400), rel=0.25)
    mean2, lo2, hi2 = bootstrap_interval(spread_seeds, 1000)
    assert mean2 == pytest.approx(mean) and hi2 - lo2 > 5 * (hi - lo), "the seed spread must widen it"
    one_image = np.array([[1.0], [2.0], [3.0]])
    assert bootstrap_interval(one_image, 500)[1:] != (2.0, 2.0), "one image: still the seed spread"


def test_summary_table_and_plot(tmp_path):
    rng = np.random.default_rng(1)
    errors = {
        (m, f): {"pve_mm": rng.normal(base / f**0.2, 5, (3, 20)), "pa_mpjpe_mm": rng.normal(50, 5, (3, 20)),
                 "edge_distortion": rng.uniform(0.05, 0.1, (3, 20))}
        for m, base in (("vqhps", 90.0), ("baseline", 100.0)) for f in (0.1, 1.0)
    }  # fmt: skip
    errors[("constant", 1.0)] = {k: v[:1] for k, v in errors[("vqhps", 1.0)].items()}
    summary = summary_frame(errors, {0.1: 200, 1.0: 2000}, draws=200)
    assert len(summary) == 5 and set(summary["n_seeds"]) == {3, 1}
    row = summary[(summary.method == "vqhps") & (summary.fraction == 0.1)].iloc[0]
    assert row["pve_mm"] == pytest.approx(errors[("vqhps", 0.1)]["pve_mm"].mean())
    assert row["pve_mm_lo"] < row["pve_mm"] < row["pve_mm_hi"] and row["n_train"] == 200
    md = markdown_table(summary)
    assert "VQ-HPS" in md and "Regression baseline" in md and f"{row['pve_mm']:.1f} [" in md
    path = plot_study(summary, tmp_path / "study.png")
    assert path.stat().st_size > 10_000
