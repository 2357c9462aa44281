"""Rebuild trained models from their self-describing checkpoints (no params.yaml needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vqhps.io.checkpoint import load_checkpoint
from vqhps.models.mesh_hierarchy import MeshHierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig
from vqhps.models.regression import MeshRegressor, RegressionConfig, RegressionOutput
from vqhps.models.vqhps import VQHPS, MeshPrediction, VQHPSConfig


def mesh_vqvae_extra(model: MeshVQVAE) -> dict:
    """The ``extra`` entry of a Mesh-VQ-VAE checkpoint: its pooling hierarchy as tensors.

    With it, :func:`load_mesh_vqvae` rebuilds the model from the file alone.
    """
    return {"hierarchy": {k: torch.from_numpy(v) for k, v in model.hierarchy.to_arrays().items()}}


def load_mesh_vqvae(path: str | Path, device: str | torch.device = "cpu") -> MeshVQVAE:
    """The trained Mesh-VQ-VAE of ``model.pt``, in eval mode (its codebook frozen).

    The checkpoint carries the architecture and the pooling hierarchy, so the token count
    (``model.n_tokens``) and codebook size (``model.codebook_size``) are read from it, never
    duplicated in params.
    """
    ck = load_checkpoint(Path(path))
    if "hierarchy" not in ck.get("extra", {}):
        raise ValueError(f"{path}: no mesh hierarchy stored; it was not written by train_mesh_vqvae")
    record = {
        "hierarchy": ck["extra"]["hierarchy"],
        "model_config": ck["model_config"],
        "model_state": ck["model_state"],
    }
    return _mesh_vqvae_from_record(record, source=str(path)).to(device)


def _mesh_vqvae_from_record(record: dict, source: str) -> MeshVQVAE:
    arrays = {k: v.numpy() for k, v in record["hierarchy"].items()}
    hierarchy = MeshHierarchy.from_arrays(arrays, source=source)
    model = MeshVQVAE(hierarchy, MeshVQVAEConfig.from_dict(record["model_config"]))
    model.load_state_dict(record["model_state"])
    return model.eval()


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
    vqvae = _mesh_vqvae_from_record(extra["mesh_vqvae"], str(path))
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
