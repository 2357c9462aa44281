"""params.yaml: the paper data sections validate, and bad image-set or mesh-source keys are named."""

import copy

import pytest
import yaml

from vqhps.config import parse_params
from vqhps.infra.configtools import ConfigError


@pytest.fixture
def raw(repo):
    return yaml.safe_load((repo / "params.yaml").read_text())


def test_repository_params_have_the_paper_data_sections(raw):
    paper = parse_params(raw).experiment("paper")
    assert paper.prepare_images.crop_size == 224
    assert set(paper.prepare_images.splits["test"]) == {"3dpw_test", "emdb1"}
    assert paper.prepare_meshes.source == "bedlam_animations" and paper.prepare_meshes.eval_meshes == "3dpw"
    assert parse_params(raw).experiment("demo").prepare_meshes.source == "synthetic"  # demo keeps its default


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("prepare_images", "splits", {"train": ["coco", "lsp"]}, "unknown image set"),
        ("prepare_images", "splits", {"train": ["coco"], "test": ["coco"]}, "more than once"),
        ("prepare_images", "splits", {"trian": ["coco"]}, "unknown split"),
        ("prepare_images", "max_rows", {"cocoa": 3}, "unknown image set"),
        ("prepare_images", "emdb2_val_fraction", 1.0, "emdb2_val_fraction"),
        ("prepare_meshes", "source", "smpl", "source"),
        ("prepare_meshes", "num_betas", 17, "num_betas"),
    ],
)
def test_bad_values_are_named(raw, section, key, value, message):
    bad = copy.deepcopy(raw)
    bad["paper"][section][key] = value
    with pytest.raises(ConfigError, match=message):
        parse_params(bad)


def test_demo_cannot_ask_for_3dpw_eval_meshes(raw):
    bad = copy.deepcopy(raw)
    bad["demo"]["prepare_meshes"]["eval_meshes"] = "3dpw"
    with pytest.raises(ConfigError, match="motion sources only"):
        parse_params(bad)
