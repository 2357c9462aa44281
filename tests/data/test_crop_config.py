"""One dataclass per concept: the params' augmentation is the crop dataset's, validated once."""

from __future__ import annotations

import copy
import typing
from dataclasses import replace

import pytest
import yaml

from vqhps.config import ImageTrainingParams, parse_params
from vqhps.data.augment import FLIP_PERMUTATIONS
from vqhps.data.crop_config import PAPER_AUGMENT, SKELETONS, Augment, CropConfig
from vqhps.infra.configtools import ConfigError
from vqhps.training.image_setup import crop_configs


def test_skeleton_names_match_the_flip_permutations():
    assert set(SKELETONS) == set(FLIP_PERMUTATIONS)
    with pytest.raises(ValueError, match="unknown skeleton 'coco17'"):
        CropConfig(skeleton="coco17")


def test_the_params_augment_is_the_crop_configs_augment(repo):
    assert typing.get_type_hints(ImageTrainingParams)["augment"] is Augment
    shared = (
        parse_params(yaml.safe_load((repo / "params.yaml").read_text())).experiment("paper").image_training
    )
    train, val = crop_configs(shared.crop_size, shared.bbox_rescale, shared.augment)
    assert train.augment is shared.augment and val.augment is None, "validation crops are not augmented"
    assert train.bbox_rescale == val.bbox_rescale == shared.bbox_rescale == 1.0
    assert shared.augment == PAPER_AUGMENT, "the paper experiment's augmentation is the paper's (§3.4)"


def test_an_augment_key_left_out_is_named_not_defaulted(repo):
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    bad = copy.deepcopy(raw)
    del bad["demo"]["image_training"]["augment"]["rot_prob"]
    with pytest.raises(ConfigError, match=r"demo\.image_training\.augment\.rot_prob: missing required key"):
        parse_params(bad)


def test_probabilities_outside_0_1_are_refused():
    with pytest.raises(ValueError, match=r"photometric_prob: 1\.2 is outside \[0, 1\]"):
        replace(PAPER_AUGMENT, photometric_prob=1.2)
