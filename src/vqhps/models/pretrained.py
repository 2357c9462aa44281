"""The image models' self-describing checkpoints: the ``extra`` entries the training stages write, beside
the loaders that rebuild the models from them (no params.yaml needed).

``load_mesh_vqvae`` and ``mesh_vqvae_extra`` live in :mod:`vqhps.models.mesh_vqvae_io` (the tokenizer's
trainer needs them without the image models) and are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vqhps.io.checkpoint import load_checkpoint
from vqhps.io.shards import MeshTopology
from vqhps.models.mesh_vqvae import MeshVQVAE
from vqhps.models.mesh_vqvae_io import (
    load_mesh_vqvae,
    mesh_vqvae_extra,
    mesh_vqvae_from_record,
    mesh_vqvae_record,
)
from vqhps.models.regression import MeshRegressor, RegressionConfig, RegressionOutput
from vqhps.models.vqhps import VQHPS, MeshPrediction, VQHPSConfig

__all__ = [
    "TrainedBaseline",
    "TrainedVQHPS",
    "baseline_extra",
    "load_baseline",
    "load_mesh_vqvae",
    "load_vqhps",
    "mesh_vqvae_extra",
    "topology_record",
    "vqhps_extra",
]


def topology_record(topology: MeshTopology) -> dict:
    """The template, faces and joint regressor as tensors (an image checkpoint's ``template``)."""
    return {
        "vertices": torch.from_numpy(np.asarray(topology.vertices, np.float32)),
        "faces": torch.from_numpy(np.asarray(topology.faces, np.int64)),
        "joint_regressor": torch.from_numpy(np.asarray(topology.joint_regressor, np.float32)),
        "topology_id": topology.topology_id,
    }


def baseline_extra(regime: str, rest_joints: torch.Tensor, topology: MeshTopology) -> dict:
    """The ``extra`` entry of a train_baseline ``model.pt`` (read by :func:`load_baseline`).

    Args:
        regime: the training regime; rest_joints: (17, 3) float32 rest-pose joints, metres.
        topology: the meshes' template, faces and joint regressor.
    """
    return {
        "kind": "baseline",
        "regime": regime,
        "rest_joints": rest_joints,
        "template": topology_record(topology),
    }


def vqhps_extra(
    regime: str, rest_joints: torch.Tensor, topology: MeshTopology, tokenizer: str | Path
) -> dict:
    """The ``extra`` entry of a train_vqhps ``model.pt`` (read by :func:`load_vqhps`): as the baseline's,
    plus the frozen tokenizer's record (``tokenizer``: its train_mesh_vqvae ``model.pt``)."""
    return {
        "kind": "vqhps",
        "regime": regime,
        "rest_joints": rest_joints,
        "template": topology_record(topology),
        "mesh_vqvae": mesh_vqvae_record(tokenizer),
    }


@dataclass
class TrainedVQHPS:
    """A trained VQ-HPS with everything needed to predict and evaluate meshes.

    Attributes:
        model: the network (eval mode).
        mesh_vqvae: its frozen tokenizer (eval mode): ``decode_indices`` turns tokens into canonical meshes.
        joint_regressor: (17, V) float32 native-H36M-order regressor of the topology.
        template: (V, 3) float32 template vertices, metres; ``faces``: (F, 3) int64.
        regime: training regime ("full", "scarce"); ``params``: the run's params; ``step``: steps trained.
    """

    model: VQHPS
    mesh_vqvae: MeshVQVAE
    joint_regressor: torch.Tensor
    template: torch.Tensor
    faces: torch.Tensor
    regime: str
    params: dict
    step: int

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> MeshPrediction:
        """images (B, 3, S, S) ImageNet-normalised crops -> posed (B, V, 3) and canonical meshes, metres."""
        return self.model.predict_mesh(images, self.mesh_vqvae.decode_indices)


@dataclass
class TrainedBaseline:
    """A trained regression baseline (same attributes as :class:`TrainedVQHPS`, no tokenizer)."""

    model: MeshRegressor
    joint_regressor: torch.Tensor
    template: torch.Tensor
    faces: torch.Tensor
    regime: str
    params: dict
    step: int

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> RegressionOutput:
        """images (B, 3, S, S) ImageNet-normalised crops -> ``RegressionOutput`` (posed ``verts``, metres)."""
        return self.model(images)


def _image_checkpoint(path: str | Path, kind: str) -> dict:
    ck = load_checkpoint(Path(path))
    found = ck["extra"].get("kind")
    if found != kind:
        raise ValueError(f"{path}: holds a {found!r} model, expected {kind!r} (train_{kind} writes it)")
    return ck


def load_vqhps(path: str | Path, device: str | torch.device = "cpu") -> TrainedVQHPS:
    """The VQ-HPS of a ``train_vqhps`` ``model.pt``, with its embedded tokenizer, in eval mode."""
    ck = _image_checkpoint(path, "vqhps")
    extra = ck["extra"]
    # pretrained=None: the trained weights replace the backbone initialisation, which need not exist here.
    model = VQHPS(VQHPSConfig(**{**ck["model_config"], "pretrained": None}), extra["rest_joints"])
    model.load_state_dict(ck["model_state"])
    vqvae = mesh_vqvae_from_record(extra["mesh_vqvae"], str(path))
    t = extra["template"]
    return TrainedVQHPS(
        model.to(device).eval(),
        vqvae.to(device),
        t["joint_regressor"],
        t["vertices"],
        t["faces"],
        extra["regime"],
        ck["params"],
        ck["step"],
    )


def load_baseline(path: str | Path, device: str | torch.device = "cpu") -> TrainedBaseline:
    """The regression baseline of a ``train_baseline`` ``model.pt``, in eval mode."""
    ck = _image_checkpoint(path, "baseline")
    extra = ck["extra"]
    t = extra["template"]
    config = RegressionConfig(**{**ck["model_config"], "pretrained": None})
    model = MeshRegressor(config, torch.zeros_like(t["vertices"]), extra["rest_joints"])
    model.load_state_dict(ck["model_state"])  # the state holds the centred template buffer
    return TrainedBaseline(
        model.to(device).eval(),
        t["joint_regressor"],
        t["vertices"],
        t["faces"],
        extra["regime"],
        ck["params"],
        ck["step"],
    )
