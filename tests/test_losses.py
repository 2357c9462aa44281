"""Tests of the VQ-HPS and baseline losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from vqhps import losses
from vqhps.geometry import regress_joints


def test_token_cross_entropy_matches_hand_value() -> None:
    logits = torch.zeros(1, 2, 4)
    logits[0, 0, 1] = math.log(3.0)  # token 0: p(class 1) = 3 / 6, argmax 1 (right)
    logits[0, 1, 2] = 1.0  # token 1: p(class 0) = 1 / (3 + e), argmax 2 (wrong)
    targets = torch.tensor([[1, 0]])
    expected = (-math.log(0.5) - math.log(1 / (3 + math.e))) / 2
    assert losses.token_cross_entropy(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    assert losses.token_accuracy(logits, targets).item() == 0.5


def test_rotation_mse() -> None:
    eye = torch.eye(3).expand(2, 3, 3)
    flipped = torch.diag(torch.tensor([1.0, -1.0, -1.0])).expand(2, 3, 3)
    assert losses.rotation_mse(eye, flipped).item() == pytest.approx(8.0 / 9.0, rel=1e-6)


def test_weak_perspective_projection() -> None:
    points = torch.tensor([[[0.5, -0.25, 3.0]]])
    cam = torch.tensor([[2.0, 0.1, 0.2]])
    torch.testing.assert_close(losses.weak_perspective_project(points, cam), torch.tensor([[[1.2, -0.1]]]))


def test_reprojection_is_confidence_weighted() -> None:
    pred = torch.zeros(1, 2, 2)
    target = torch.tensor([[[1.0, 3.0, 1.0], [10.0, 10.0, 0.0]]])
    # joint 0: mean |d| = 2, weight 1; joint 1 invisible; mean over the 2 joints -> 1.0
    assert losses.reprojection_l1(pred, target).item() == 1.0
    assert losses.reprojection_l1(pred, target[..., :2]).item() == (2.0 + 10.0) / 2


def test_vertex_and_joint_losses() -> None:
    pred = torch.zeros(1, 3, 3)
    target = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    assert losses.vertex_l2(pred, target).item() == pytest.approx(5.0 / 3, rel=1e-6)
    assert losses.vertex_l1(pred, target).item() == pytest.approx(7.0 / 9, rel=1e-6)
    regressor = torch.tensor([[0.5, 0.5, 0.0]])
    torch.testing.assert_close(regress_joints(target, regressor), torch.tensor([[[1.5, 2.0, 0.0]]]))
    assert losses.joint_l1(pred, target, regressor).item() == pytest.approx(3.5 / 3, rel=1e-6)
