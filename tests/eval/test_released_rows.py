"""The "VQ-HPS (released weights)" rows: release files under data_root become one more evaluated model, and
make_tables puts its rows in the main table beside the trained ones; without the files nothing changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.fake_metrics import PAPER_LABELS, fake_evaluate_metrics, make_tables_on
from helpers.realdata_fixtures import write_connection_files
from helpers.release_fixtures import write_release_files
from vqhps.cli import UserError
from vqhps.eval.methods import MethodSpec
from vqhps.eval.protocols import PROTOCOLS
from vqhps.eval.released_models import release_paths, released_models, released_subset
from vqhps.eval.released_rows import METHOD_NAME, SPEC
from vqhps.eval.tables import read_table_csv
from vqhps.stages import make_tables

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_root(tmp_path_factory):
    """A data root with the release files (random weights, release format), connections and regressor."""
    root = tmp_path_factory.mktemp("data")
    conn = write_connection_files(root / "mesh_connections" / "ConnectionMatrices")
    write_release_files(root / "released", conn, seed=1)
    reg = np.random.default_rng(0).random((17, 6890))
    (root / "body_models").mkdir()
    np.save(root / "body_models" / "J_regressor_h36m.npy", reg / reg.sum(1, keepdims=True))
    return root


@pytest.mark.slow  # two random-weight HRNet-W48 backbones built and run once on CPU
def test_release_under_data_root_is_one_more_vqhps_model(data_root):
    logged: list[str] = []
    models = released_models(data_root, 6890, 1.0, "cpu", logged.append)
    assert len(models) == 1
    spec, predict, crop, trained = models[0]
    assert spec == SPEC and spec.label == "vqhps_released" and crop == (224, 1.0)
    assert trained.regime == "released" and trained.mesh_vqvae.n_tokens == 54
    g = torch.Generator().manual_seed(0)
    batch = {"image": torch.randn(1, 3, 224, 224, generator=g), "canonical_verts": torch.randn(1, 6890, 3)}
    with torch.no_grad():
        pred = predict(batch)
    assert pred.verts.shape == (1, 6890, 3) and torch.isfinite(pred.verts).all()
    assert pred.rotmat.shape == (1, 3, 3) and pred.cam.shape == (1, 3)
    assert 0.0 <= pred.extras["token_accuracy"][0] <= 1.0
    assert any(METHOD_NAME in line for line in logged)


def _stub_root(root: Path) -> Path:
    """Every file the conversion needs, the release files as empty release-shaped dicts (cheap to make)."""
    paths = release_paths(root)
    write_connection_files(paths["connections"])
    paths["j_regressor"].parent.mkdir(parents=True)
    np.save(paths["j_regressor"], np.full((17, 6890), 1 / 6890))
    paths["vqhps_hrnet"].parent.mkdir(parents=True)
    for name in ("mesh_vqvae_54", "vqhps_hrnet"):
        torch.save({"model": {}, "epoch": 0, "loss": 0.0}, paths[name])
    np.save(paths["tpose.npy"], np.zeros((1, 6890, 3)))
    return root


def test_no_release_no_rows_and_a_partial_one_is_named(tmp_path):
    assert released_models(tmp_path, 6890, 1.0, "cpu", print) == []  # nothing there: silent, no rows
    partial = _stub_root(tmp_path / "partial")
    release_paths(partial)["tpose.npy"].unlink()
    logged: list[str] = []
    assert released_models(partial, 6890, 1.0, "cpu", logged.append) == []
    assert len(logged) == 1 and "tpose.npy" in logged[0] and "missing" in logged[0]
    logged.clear()
    whole = _stub_root(tmp_path / "whole")
    assert released_models(whole, 1229, 1.0, "cpu", logged.append) == []  # the demo's Anny meshes
    assert "1229 vertices" in logged[0]


def test_a_wrong_release_file_stops_with_one_line_naming_it(tmp_path):
    wrong = _stub_root(tmp_path)  # release-shaped dicts without the weights: the converter refuses them
    with pytest.raises(UserError) as err:
        released_models(wrong, 6890, 1.0, "cpu", print)
    text = str(err.value)
    assert "\n" not in text and str(release_paths(wrong)["mesh_vqvae_54"]) in text and "wrong key set" in text


def test_make_tables_puts_the_released_rows_in_the_main_table(tmp_path):
    labels = (*PAPER_LABELS, "vqhps_released")
    tables = make_tables_on(tmp_path, fake_evaluate_metrics(labels)) / "tables"
    main = [r for r in read_table_csv(tables / "main_table.csv") if r["method"] == METHOD_NAME]
    assert sorted((r["dataset"], r["protocol"]) for r in main) == sorted(
        (d, p)
        for d, src in (("3dpw", "3dpw"), ("emdb", "emdb1"))
        for p in make_tables.shown_protocols(tuple(PROTOCOLS), src)
    ), "one released row per test set and protocol shown on it (emdb: EMDB-1 only)"
    for r in main:
        s = 1 if r["dataset"] == "3dpw" else 2
        assert r["pve_mm"] == 100.0 * s + 10.0 * labels.index("vqhps_released")
        assert r["origin"] == "measured" and r["backbone"] == "HRNet-W48"
    assert METHOD_NAME in (tables / "main_table.md").read_text()
    scarce = read_table_csv(tables / "scarce_table.csv")
    assert not any(r["method"] == METHOD_NAME for r in scarce), "the release was trained on the full mixture"


def test_release_subset_takes_the_first_images_of_each_source_and_only_for_the_release():
    samples = [{"source": s} for s in ("3dpw", "3dpw", "emdb1", "3dpw", "emdb1", "emdb1")]
    assert released_subset(SPEC, samples, 2) == [0, 1, 2, 4]
    assert released_subset(SPEC, samples, -1) is None
    assert released_subset(MethodSpec("vqhps", "full"), samples, 1) is None
