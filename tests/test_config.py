"""params.yaml validation: the committed file loads; typos and wrong types name the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from vqhps.config import EXPERIMENTS, load_params, parse_params
from vqhps.infra.configtools import ConfigError


@pytest.fixture
def raw(repo):
    return yaml.safe_load((repo / "params.yaml").read_text())


def test_committed_params_load(repo):
    params = load_params(repo / "params.yaml")
    assert set(params.experiments) <= set(EXPERIMENTS)
    assert params.experiment("demo").prepare_meshes.shard_size > 0


def test_params_are_frozen(repo):
    section = load_params(repo / "params.yaml").experiment("demo").make_synthetic
    with pytest.raises(AttributeError):
        section.n_meshes = 3  # type: ignore[misc]


def test_unknown_key_is_named_with_suggestion(raw):
    bad = copy.deepcopy(raw)
    bad["demo"]["prepare_meshes"]["shard_sise"] = bad["demo"]["prepare_meshes"].pop("shard_size")
    with pytest.raises(ConfigError) as err:
        parse_params(bad)
    assert "demo.prepare_meshes.shard_sise" in str(err.value)
    assert "shard_size" in str(err.value), "the message should suggest the allowed key"


def test_wrong_type_is_named(raw):
    bad = copy.deepcopy(raw)
    bad["demo"]["make_synthetic"]["n_meshes"] = "many"
    with pytest.raises(ConfigError, match=r"demo\.make_synthetic\.n_meshes: expected int"):
        parse_params(bad)


def test_bool_is_not_an_int(raw):
    bad = copy.deepcopy(raw)
    bad["demo"]["make_synthetic"]["batch_size"] = True
    with pytest.raises(ConfigError, match="batch_size"):
        parse_params(bad)


def test_missing_key_is_named(raw):
    bad = copy.deepcopy(raw)
    del bad["demo"]["render_images"]["image_size"]
    with pytest.raises(ConfigError, match=r"demo\.render_images\.image_size: missing"):
        parse_params(bad)


def test_unknown_experiment_rejected(raw):
    bad = copy.deepcopy(raw)
    bad["demoo"] = bad.pop("demo")
    with pytest.raises(ConfigError, match="demoo"):
        parse_params(bad)


def test_literal_choices_listed(raw):
    bad = copy.deepcopy(raw)
    bad["demo"]["prepare_meshes"]["compression"] = "gzip"
    with pytest.raises(ConfigError, match="'none', 'zstd'"):
        parse_params(bad)


def test_split_fractions_must_sum_to_one(raw):
    bad = copy.deepcopy(raw)
    bad["demo"]["prepare_meshes"]["split_fractions"]["train"] = 0.9
    with pytest.raises(ConfigError, match=r"demo\.prepare_meshes: split_fractions"):
        parse_params(bad)


def test_missing_stage_section_is_clear(repo):
    params = load_params(repo / "params.yaml").experiment("paper")
    with pytest.raises(ConfigError, match="no 'make_synthetic' section"):
        params.section("make_synthetic")


@pytest.mark.parametrize(
    "section, key",
    [
        ("train_mesh_vqvae.model", "n_basis"),
        ("train_mesh_vqvae.hierarchy", "levels"),
        ("train_vqhps.loss_weights", "tokens"),
        ("train_baseline.loss_weights", "vertex"),
    ],
)
def test_core_defaults_are_not_params_defaults(raw, section, key):
    """The model sections are typed with the core dataclasses, whose fields have the paper's defaults for
    code and tests; a params file must state them all the same (PARAMS_REQUIRED)."""
    bad = copy.deepcopy(raw)
    first, second = section.split(".")
    del bad["demo"][first][second][key]
    with pytest.raises(ConfigError, match=rf"demo\.{first}\.{second}\.{key}: missing required key"):
        parse_params(bad)


def test_optional_core_fields_keep_their_default(raw):
    trimmed = copy.deepcopy(raw)
    del trimmed["demo"]["train_mesh_vqvae"]["hierarchy"]["forced_centers"]
    del trimmed["demo"]["train_mesh_vqvae"]["model"]["data_init"]
    section = parse_params(trimmed).experiment("demo").train_mesh_vqvae
    assert section.hierarchy.forced_centers == () and section.model.data_init is False


def test_core_validation_names_the_key(raw):
    bad = copy.deepcopy(raw)
    bad["demo"]["train_vqhps"]["loss_weights"]["rotation"] = -1.0
    with pytest.raises(ConfigError, match=r"demo\.train_vqhps\.loss_weights: rotation: .* >= 0"):
        parse_params(bad)
    bad = copy.deepcopy(raw)
    bad["demo"]["train_mesh_vqvae"]["model"]["decay"] = 1.0
    with pytest.raises(ConfigError, match=r"demo\.train_mesh_vqvae\.model: decay: 1\.0 is outside"):
        parse_params(bad)
