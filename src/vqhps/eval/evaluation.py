"""Test-set evaluation of trained mesh predictors: per-sample errors under both protocols, means, table rows.

A *predictor* turns a batch of ``ImageCropDataset`` items into a posed mesh (canonical mesh rotated into the
camera frame, centred, metres). The ground truth is the canonical GT mesh rotated by the GT global rotation,
so every method is compared on the same posed meshes under :func:`vqhps.eval.scoring.evaluate_protocol`; the
protocols that prescribe the full-pose SMPL GT (``standard``, ``emdb``) use that mesh, rotated the same way,
where the image set has it (:func:`full_pose_ground_truth`).
Methods: VQ-HPS (tokens -> frozen Mesh-VQ-VAE decoder), the regression baseline, and the oracle
(Mesh-VQ-VAE encode -> decode of the GT canonical mesh posed by the GT rotation: the floor of VQ-HPS).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import Tensor
from tqdm import tqdm

from vqhps.eval.methods import MethodSpec
from vqhps.eval.protocols import DEFAULT_PROTOCOLS, METRIC_KEYS, PROTOCOLS, get_protocol
from vqhps.eval.scoring import evaluate_protocol
from vqhps.io.atomic import atomic_path
from vqhps.models.vqhps import pose_canonical
from vqhps.training.image_tasks import rotation_error_deg

EXTRA_KEYS: tuple[str, ...] = ("rotation_error_deg", "token_accuracy")  # per-frame extras (NaN if none)
PER_SAMPLE_COLUMNS: tuple[str, ...] = (
    "id", "source", "sequence", "frame", "person", "method", "regime", "protocol", *METRIC_KEYS, *EXTRA_KEYS,
)  # fmt: skip


@dataclass
class Prediction:
    """Predicted meshes of a batch of B samples.

    Attributes:
        verts: (B, V, 3) float posed mesh (canonical @ R^T), camera-frame orientation, metres.
        rotmat: (B, 3, 3) float predicted global rotation (canonical -> camera).
        cam: (B, 3) float weak-perspective camera (s, tx, ty) in the [-1, 1] crop frame, or None.
        extras: per-sample extra metrics, name -> (B,) float64 (e.g. ``token_accuracy``).
    """

    verts: Tensor
    rotmat: Tensor
    cam: Tensor | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)


Predictor = Callable[[dict[str, Tensor]], Prediction]


@dataclass
class MethodResult:
    """Per-sample results of one method over a test set of N samples.

    Attributes:
        spec: method and regime.
        index: (N,) int64 dataset indices, in loader order.
        errors: ``"<protocol>/<metric>"`` -> (N,) float64 mm.
        extras: extra per-sample metrics -> (N,) float64 (``rotation_error_deg``, ``token_accuracy``, ...).
        kept_verts: (k, V, 3) float32 posed meshes of the first ``keep`` samples (for overlays), metres.
        kept_cam: (k, 3) float32 their weak-perspective cameras, or None when the method has none.
    """

    spec: MethodSpec
    index: np.ndarray
    errors: dict[str, np.ndarray]
    extras: dict[str, np.ndarray]
    kept_verts: np.ndarray
    kept_cam: np.ndarray | None


def ground_truth(batch: Mapping[str, Tensor]) -> Tensor:
    """Posed GT mesh: canonical GT (B, V, 3) rotated by the GT global rotation (B, 3, 3) -> (B, V, 3)."""
    return pose_canonical(batch["canonical_verts"].float(), batch["global_rot"].float())


def full_pose_ground_truth(batch: Mapping[str, Tensor], full_pose_gt: Sequence[np.ndarray]) -> Tensor:
    """Posed full-pose SMPL GT of a batch: ``full_pose_gt[index]`` (V, 3) rotated by the GT rotation.

    Args:
        batch: with ``index`` (B,) dataset indices and ``global_rot`` (B, 3, 3).
        full_pose_gt: per dataset index, the canonical centred full-pose SMPL GT mesh (V, 3), metres.

    Returns:
        (B, V, 3) float32 metres, on the batch's device.
    """
    rot = batch["global_rot"].float()
    canonical = np.stack([full_pose_gt[int(i)] for i in batch["index"].cpu()])
    return pose_canonical(torch.from_numpy(canonical).to(device=rot.device, dtype=rot.dtype), rot)


def vqhps_predictor(trained) -> Predictor:
    """Predictor of a :class:`vqhps.models.pretrained.TrainedVQHPS` (argmax tokens -> frozen decoder).

    Extras: ``token_accuracy`` against the tokens of the GT canonical mesh under the same tokenizer.
    """

    def predict(batch: dict[str, Tensor]) -> Prediction:
        pred = trained.predict(batch["image"])
        with torch.no_grad():
            gt_tokens = trained.mesh_vqvae.encode_indices(batch["canonical_verts"].float())
        accuracy = (pred.output.indices == gt_tokens).float().mean(1).cpu().numpy().astype(np.float64)
        return Prediction(pred.verts, pred.output.rotmat, pred.output.cam, {"token_accuracy": accuracy})

    return predict


def baseline_predictor(trained) -> Predictor:
    """Predictor of a :class:`vqhps.models.pretrained.TrainedBaseline` (direct vertex regression)."""

    def predict(batch: dict[str, Tensor]) -> Prediction:
        out = trained.predict(batch["image"])
        return Prediction(out.verts, out.rotmat, out.cam)

    return predict


def oracle_predictor(mesh_vqvae) -> Predictor:
    """The oracle: GT canonical mesh -> Mesh-VQ-VAE tokens -> decoded mesh, posed by the GT rotation.

    It sees no image: its error is the quantisation floor that a perfect token classifier would reach.
    """

    @torch.no_grad()
    def predict(batch: dict[str, Tensor]) -> Prediction:
        canonical = mesh_vqvae.decode_indices(mesh_vqvae.encode_indices(batch["canonical_verts"].float()))
        rot = batch["global_rot"].float()
        return Prediction(pose_canonical(canonical.float(), rot), rot)

    return predict


def _to_device(batch: Mapping[str, Tensor], device: str | torch.device) -> dict[str, Tensor]:
    return {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in batch.items()}


@torch.no_grad()
def evaluate_method(
    spec: MethodSpec,
    predict: Predictor,
    batches: Iterable[Mapping[str, Tensor]],
    regressor: np.ndarray | Tensor | Mapping[str, np.ndarray],
    protocols: Sequence[str] = DEFAULT_PROTOCOLS,
    device: str | torch.device = "cpu",
    keep: int = 0,
    full_pose_gt: Sequence[np.ndarray] | None = None,
) -> MethodResult:
    """Run one predictor over a test loader and compute per-sample errors under every protocol.

    A protocol whose GT is the SMPL model with the full pose (``Protocol.gt_full_pose``: ``standard``,
    ``emdb``) is scored against ``full_pose_gt`` when given; every other protocol, and every protocol without
    it (the demo's Anny image set has no SMPL GT), against the batch's ``canonical_verts``.

    Args:
        spec: method and regime of the predictor.
        predict: batch -> :class:`Prediction`.
        batches: ``ImageCropDataset`` batches (``image``, ``canonical_verts``, ``global_rot``, ``index``),
            without augmentation, in a fixed order.
        regressor: (17, V) native-H36M-order joint regressor of the topology, or
            ``{"h36m": ..., "smpl24": ...}``
            (see :func:`vqhps.eval.scoring.evaluate_protocol`).
        protocols: names of :data:`vqhps.eval.protocols.PROTOCOLS`.
        device: where the predictor runs.
        keep: keep the posed meshes (and cameras) of the first ``keep`` samples, for overlays.
        full_pose_gt: per dataset index, the canonical full-pose SMPL GT mesh (V, 3), metres
            (:meth:`vqhps.data.image_splits.ImageSplit.full_pose_gt`), or None.

    Returns:
        A :class:`MethodResult`; errors in mm.
    """
    n_verts = int(np.shape(regressor["h36m"] if isinstance(regressor, Mapping) else regressor)[1])
    errors: dict[str, list[np.ndarray]] = {}
    extras: dict[str, list[np.ndarray]] = {}
    index, kept_v, kept_c = [], [], []
    n_kept = 0
    for batch in tqdm(batches, desc=spec.label, disable=not sys.stderr.isatty(), leave=False):
        batch = _to_device(batch, device)
        pred = predict(batch)
        gt = ground_truth(batch)
        gt_full = None if full_pose_gt is None else full_pose_ground_truth(batch, full_pose_gt)
        for name in protocols:
            target = gt_full if gt_full is not None and get_protocol(name).gt_full_pose else gt
            for key, values in evaluate_protocol(pred.verts.float(), target, regressor, name).items():
                errors.setdefault(f"{name}/{key}", []).append(values)
        rot_err = rotation_error_deg(pred.rotmat.float(), batch["global_rot"].float())
        for key, values in {"rotation_error_deg": rot_err.cpu().numpy(), **pred.extras}.items():
            extras.setdefault(key, []).append(np.asarray(values, np.float64))
        index.append(batch["index"].cpu().numpy())
        if n_kept < keep:
            take = min(keep - n_kept, len(gt))
            kept_v.append(pred.verts[:take].float().cpu().numpy())
            if pred.cam is not None:
                kept_c.append(pred.cam[:take].float().cpu().numpy())
            n_kept += take
    if not index:
        raise ValueError(f"{spec.label}: the test loader yielded no batch")
    return MethodResult(
        spec=spec,
        index=np.concatenate(index).astype(np.int64),
        errors={k: np.concatenate(v) for k, v in errors.items()},
        extras={k: np.concatenate(v) for k, v in extras.items()},
        kept_verts=np.concatenate(kept_v) if kept_v else np.zeros((0, n_verts, 3), np.float32),
        kept_cam=np.concatenate(kept_c) if kept_c else None,
    )


def check_every_frame_once(res: MethodResult, n: int) -> None:
    """Raise unless the loader gave every one of the ``n`` test rows exactly once (no drop_last, no shuffle
    duplicates): the original drops up to 31 frames with ``drop_last=True``."""
    if len(res.index) != n or not np.array_equal(np.sort(res.index), np.arange(n)):
        raise ValueError(
            f"{res.spec.label}: evaluated {len(res.index)} rows "
            f"({len(np.unique(res.index))} distinct) of {n}; "
            "the test loader must yield every row once (shuffle=False, drop_last=False)"
        )


def per_sample_frame(
    results: Sequence[MethodResult],
    ids: Sequence[str],
    sources: Sequence[str],
    frames: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long table with one row per (test frame, method, regime, protocol): every metric of every protocol.

    Args:
        results: one :class:`MethodResult` per method, over the same test set.
        ids, sources: per dataset index, the sample id and its source (``MethodResult.index`` indexes them).
        frames: per dataset index, ``sequence``, ``frame``, ``person``
            (:func:`vqhps.eval.test_sets.evaluated_frame_ids`);
            None: each sample its own sequence, frame 0, person 0.

    Returns:
        DataFrame with columns :data:`PER_SAMPLE_COLUMNS` (a protocol tied to test sources, ``emdb``, only on
        their frames): errors in mm, ``rotation_error_deg`` in degrees,
        ``token_accuracy`` a fraction (NaN for methods without tokens).
    """
    ids_arr, src_arr = np.asarray(ids, dtype=object), np.asarray(sources, dtype=object)
    if frames is None:
        frames = pd.DataFrame({"sequence": ids_arr, "frame": 0, "person": 0})
    seq = frames["sequence"].to_numpy(dtype=object)
    frame_no, person = frames["frame"].to_numpy(np.int64), frames["person"].to_numpy(np.int64)
    parts = []
    for res in results:
        idx = res.index
        extras = {k: res.extras.get(k, np.full(len(idx), np.nan)) for k in EXTRA_KEYS}
        for protocol in dict.fromkeys(k.split("/", 1)[0] for k in res.errors):
            only = PROTOCOLS[protocol].test_sources  # e.g. emdb: its rows on EMDB-1 frames only
            keep = np.isin(src_arr[idx], list(only)) if only else np.ones(len(idx), dtype=bool)
            part = {
                "id": ids_arr[idx], "source": src_arr[idx], "sequence": seq[idx], "frame": frame_no[idx],
                "person": person[idx], "method": res.spec.method, "regime": res.spec.regime,
                "protocol": protocol,
            }  # fmt: skip
            part |= {m: res.errors[f"{protocol}/{m}"] for m in METRIC_KEYS} | extras
            parts.append(pd.DataFrame(part, columns=list(PER_SAMPLE_COLUMNS))[keep])
    if not parts:
        return pd.DataFrame(columns=list(PER_SAMPLE_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def write_per_sample(frame: pd.DataFrame, path) -> None:
    """Write the per-sample table as Parquet (pyarrow, atomic rename)."""
    table = pa.Table.from_pandas(frame[list(PER_SAMPLE_COLUMNS)], preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def per_protocol_series(results: Sequence[MethodResult], protocol: str) -> dict[str, np.ndarray]:
    """Input of :func:`vqhps.eval.plots.plot_error_histograms`, a protocol: ``"<label>/<metric>"`` -> (N,)."""
    return {
        f"{res.spec.label}/{m}": res.errors[f"{protocol}/{m}"]
        for res in results
        for m in METRIC_KEYS
        if f"{protocol}/{m}" in res.errors
    }
