"""Loss terms and validation metrics of VQ-HPS and of the regression baseline, for the image trainer.

Batches are dicts from ``ImageCropDataset``: ``image`` (B, 3, S, S), ``keypoints2d`` (B, 17, 3) in the
[-1, 1] crop frame with visibility, ``global_rot`` (B, 3, 3) camera frame, ``canonical_verts`` (B, V, 3)
metres (mirrored for flipped crops). Ground-truth tokens are computed on the fly by the frozen
Mesh-VQ-VAE from ``canonical_verts``, as the original does, so flipped crops get the mirrored body's tokens.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqhps import losses
from vqhps.eval.scoring import evaluate_protocol
from vqhps.geometry import regress_joints
from vqhps.models.mesh_vqvae import MeshVQVAE
from vqhps.models.regression import RegressionOutput, regression_losses
from vqhps.models.vqhps import pose_canonical
from vqhps.training.loss_weights import RegressionLossWeights, VQHPSLossWeights

EVAL_PROTOCOL = "vqhps"


def rotation_error_deg(pred: Tensor, target: Tensor) -> Tensor:
    """Geodesic angle between rotations: (B, 3, 3) x2 -> (B,) degrees."""
    cos = ((pred.transpose(-1, -2) @ target).diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0
    return torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))


def _mesh_metrics(
    posed_pred: Tensor, canonical_pred: Tensor, batch: dict[str, Tensor], rotmat: Tensor, regressor: Tensor
) -> dict[str, np.ndarray]:
    """Posed-mesh errors under the ``vqhps`` protocol, canonical-mesh PVE and rotation error, per sample."""
    gt_canonical = batch["canonical_verts"].float()
    posed_gt = pose_canonical(gt_canonical, batch["global_rot"].float())
    out = evaluate_protocol(posed_pred.float(), posed_gt, regressor, EVAL_PROTOCOL)
    out["canonical_pve_mm"] = evaluate_protocol(
        canonical_pred.float(), gt_canonical, regressor, EVAL_PROTOCOL
    )["pve_mm"]
    out["rotation_error_deg"] = rotation_error_deg(rotmat.float(), batch["global_rot"].float()).cpu().numpy()
    return out


class VQHPSTask:
    """VQ-HPS: token cross-entropy + rotation-matrix MSE + L1 reprojection of the decoded, posed mesh.

    The mesh is decoded from the argmax tokens under ``no_grad`` (as the paper), so the cross-entropy alone
    trains the token branch and rotation + reprojection train the rotation/camera branch.

    Args:
        mesh_vqvae: the trained tokenizer; frozen here (eval mode, no gradients).
        joint_regressor: (17, V) float32 native-H36M-order regressor (reprojection and metrics).
        weights: loss weights.
    """

    def __init__(
        self, mesh_vqvae: MeshVQVAE, joint_regressor: Tensor, weights: VQHPSLossWeights | None = None
    ) -> None:
        self.vqvae = mesh_vqvae.eval().requires_grad_(False)
        self.regressor = torch.as_tensor(joint_regressor, dtype=torch.float32)
        self.weights = weights or VQHPSLossWeights()

    def to(self, device: torch.device) -> VQHPSTask:
        self.vqvae.to(device)
        self.regressor = self.regressor.to(device)
        return self

    @torch.no_grad()
    def _tokens_and_decode(self, canonical: Tensor, indices: Tensor) -> tuple[Tensor, Tensor]:
        """GT tokens (B, T) of ``canonical`` and the meshes (B, V, 3) of ``indices``, fp32."""
        with torch.autocast(canonical.device.type, enabled=False):
            return self.vqvae.encode_indices(canonical.float()), self.vqvae.decode_indices(indices).float()

    def losses(self, model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Terms ``tokens_ce``, ``rotation``, ``reprojection``, ``total``; ``token_accuracy`` (untrained)."""
        out = model(batch["image"])
        gt_tokens, canonical = self._tokens_and_decode(batch["canonical_verts"], out.indices)
        logits, rotmat, cam = out.logits.float(), out.rotmat.float(), out.cam.float()
        joints = regress_joints(pose_canonical(canonical, rotmat), self.regressor)
        terms = {
            "tokens_ce": losses.token_cross_entropy(logits, gt_tokens),
            "rotation": losses.rotation_mse(out.rot_fit.float(), batch["global_rot"].float()),
            "reprojection": losses.reprojection_l1(
                losses.weak_perspective_project(joints, cam), batch["keypoints2d"].float()
            ),
        }
        w = self.weights
        terms["total"] = (
            w.tokens * terms["tokens_ce"]
            + w.rotation * terms["rotation"]
            + w.reprojection * terms["reprojection"]
        )
        terms["token_accuracy"] = losses.token_accuracy(logits, gt_tokens)
        return terms

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batch: dict[str, Tensor]) -> dict[str, np.ndarray]:
        """Per sample: token_accuracy, tokens_ce, pve_mm / mpjpe_mm / pa_mpjpe_mm (``vqhps`` protocol, posed
        meshes), canonical_pve_mm (decoded tokens vs GT canonical mesh), rotation_error_deg."""
        out = model(batch["image"])
        gt_tokens, canonical = self._tokens_and_decode(batch["canonical_verts"], out.indices)
        logits, rotmat = out.logits.float(), out.rotmat.float()
        metrics = _mesh_metrics(pose_canonical(canonical, rotmat), canonical, batch, rotmat, self.regressor)
        metrics["token_accuracy"] = (out.indices == gt_tokens).float().mean(1).cpu().numpy()
        ce = F.cross_entropy(logits.transpose(1, 2), gt_tokens, reduction="none").mean(1)
        metrics["tokens_ce"] = ce.cpu().numpy()
        return metrics


class BaselineTask:
    """The regression baseline: ``regression_losses`` (vertex + joint + rotation + reprojection).

    Args:
        joint_regressor: (17, V) float32 native-H36M-order regressor.
        weights: loss weights.
    """

    def __init__(self, joint_regressor: Tensor, weights: RegressionLossWeights | None = None) -> None:
        self.regressor = torch.as_tensor(joint_regressor, dtype=torch.float32)
        self.weights = weights or RegressionLossWeights()

    def to(self, device: torch.device) -> BaselineTask:
        self.regressor = self.regressor.to(device)
        return self

    @staticmethod
    def _float(out: RegressionOutput) -> RegressionOutput:
        return RegressionOutput(
            out.canonical.float(), out.verts.float(), out.rotmat.float(), out.cam.float(), out.rot_fit.float()
        )

    def losses(self, model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Terms ``vertex``, ``joint``, ``rotation``, ``reprojection`` and ``total``."""
        out = self._float(model(batch["image"]))
        return regression_losses(
            out,
            batch["canonical_verts"].float(),
            batch["global_rot"].float(),
            batch["keypoints2d"].float(),
            self.regressor,
            self.weights,
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batch: dict[str, Tensor]) -> dict[str, np.ndarray]:
        """Per sample: pve_mm / mpjpe_mm / pa_mpjpe_mm (posed, ``vqhps`` protocol), canonical_pve_mm,
        rotation_error_deg."""
        out = self._float(model(batch["image"]))
        return _mesh_metrics(out.verts, out.canonical, batch, out.rotmat, self.regressor)
