"""Params that used to pass the validator and break later: each kind refused at load, naming the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from vqhps.config import ANNY_TOPOLOGIES, parse_params
from vqhps.infra.configtools import ConfigError


@pytest.fixture
def raw(repo):
    return yaml.safe_load((repo / "params.yaml").read_text())


def _refused(raw, section_path: str, value, experiment: str = "demo") -> str:
    bad = copy.deepcopy(raw)
    *keys, last = section_path.split(".")
    node = bad[experiment]
    for k in keys:
        node = node[k]
    node[last] = value
    with pytest.raises(ConfigError) as info:
        parse_params(bad)
    return str(info.value)


@pytest.mark.parametrize(
    "key, value, text",
    [
        ("render_images.max_meshes", {"tran": 200}, "max_meshes: unknown split(s) ['tran']"),
        ("render_images.max_meshes", {"train": -7}, "max_meshes.train: -7 is not a count"),
        ("make_synthetic.topology", "nosuch", "topology: 'nosuch' is not an Anny topology"),
        ("train_vqhps.model.dropout", 1.5, "dropout: 1.5 is outside [0, 1)"),
        ("train_baseline.model.dropout", -0.1, "dropout: -0.1 is outside [0, 1)"),
        ("image_training.augment.flip_prob", 1.5, "flip_prob: 1.5 is outside [0, 1]"),
        ("image_training.augment.rot_std_deg", -3.0, "rot_std_deg: -3.0 is outside [0, inf]"),
        ("image_training.bbox_rescale", 0.0, "bbox_rescale: must be > 0"),
        ("image_training.rotcam_dropout", 1.0, "rotcam_dropout: 1.0 is outside [0, 1)"),
        ("train_mesh_vqvae.model.decay", 1.5, "decay: 1.5 is outside [0, 1)"),
        ("train_mesh_vqvae.max_val_meshes", -2, "max_val_meshes: -2 is not a count"),
        ("image_training.max_val_images", -5, "max_val_images: -5 is not a count"),
        ("image_training.lr", "1e-3", "YAML reads 1e-3 as text, write 1.0e-3"),
        ("train_mesh_vqvae.lr", "5E4", "write 5.0e+4"),
    ],
)
def test_each_kind_refused_at_load(raw, key, value, text):
    message = _refused(raw, key, value)
    assert text in message and f"demo.{key.split('.')[0]}" in message


@pytest.mark.parametrize(
    "key, where",
    [
        ("train_vqhps.lr", "demo.image_training.lr"),
        ("train_baseline.augment", "demo.image_training.augment"),
        ("train_vqhps.d_model", "demo.train_vqhps.model.d_model"),
        ("train_baseline.rank", "demo.train_baseline.model.rank"),
    ],
)
def test_a_key_of_the_flat_image_stage_layout_says_where_it_lives_now(raw, key, where):
    message = _refused(raw, key, 1)
    assert f"demo.{key}: moved; write it as {where}" in message and "\n" not in message


def test_image_stages_without_the_shared_section_are_refused_naming_it(raw):
    bad = copy.deepcopy(raw)
    del bad["paper"]["image_training"]
    with pytest.raises(
        ConfigError, match=r"paper: image_training: missing section; train_vqhps and train_base"
    ):
        parse_params(bad)
    for stage in ("train_vqhps", "train_baseline"):  # the data stages alone need no image_training
        del bad["paper"][stage]
    assert parse_params(bad).experiment("paper").image_training is None


def test_paper_max_rows_negative_refused(raw):
    assert "max_rows.coco: -3 is not a count" in _refused(
        raw, "prepare_images.max_rows", {"coco": -3}, "paper"
    )


def test_the_yaml_spelling_the_hint_gives_is_read_as_a_float(raw):
    assert yaml.safe_load("lr: 1.0e-3")["lr"] == 1e-3 and yaml.safe_load("lr: 5.0e+4")["lr"] == 5e4


def test_topology_names_match_the_body_model():
    from vqhps.body.anny_body import TOPOLOGIES

    assert set(ANNY_TOPOLOGIES) == set(TOPOLOGIES)
