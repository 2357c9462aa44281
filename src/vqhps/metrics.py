"""Pure mesh/joint error metrics (PVE, MPJPE, PA-MPJPE in mm) and codebook usage statistics."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vqhps.geometry import project_to_rotation

ArrayLike = np.ndarray | Tensor

MM_PER_M = 1000.0


def as_points(x: ArrayLike, name: str = "points") -> Tensor:
    """Convert a (B, N, 3) or (N, 3) numpy array / torch tensor to a float64 (B, N, 3) tensor.

    Torch inputs keep their device (so GPU evaluation stays on the GPU) and are detached.

    Args:
        x: (B, N, 3) or (N, 3) point sets, metres.
        name: argument name used in error messages.

    Returns:
        (B, N, 3) float64 tensor.
    """
    t = x.detach() if isinstance(x, Tensor) else torch.from_numpy(np.asarray(x))
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim != 3 or t.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (B, N, 3) or (N, 3), got {tuple(t.shape)}")
    return t.to(torch.float64)


def _pair(pred: ArrayLike, gt: ArrayLike) -> tuple[Tensor, Tensor]:
    p, g = as_points(pred, "pred"), as_points(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt shapes differ: {tuple(p.shape)} vs {tuple(g.shape)}")
    return p, g.to(p.device)


def _like_input(aligned: Tensor, template: ArrayLike) -> ArrayLike:
    """Return ``aligned`` in the container type, dtype and rank of ``template``."""
    if isinstance(template, Tensor):
        out = aligned.to(template.dtype if template.is_floating_point() else torch.float64)
        return out.reshape(template.shape)
    arr = aligned.cpu().numpy()
    dtype = template.dtype if np.issubdtype(np.asarray(template).dtype, np.floating) else np.float64
    return arr.astype(dtype).reshape(np.shape(template))


def _reduce(per_sample_mm: Tensor, reduce: bool) -> float | np.ndarray:
    values = per_sample_mm.cpu().numpy()
    return float(values.mean()) if reduce else values


def similarity_transform(pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Batched least-squares similarity transform taking ``pred`` onto ``gt`` (Umeyama / Kabsch + scale).

    Args:
        pred: (B, N, 3) float tensor, source points.
        gt: (B, N, 3) float tensor, target points.

    Returns:
        scale (B,), rotation (B, 3, 3) with det +1 acting on column vectors, translation (B, 3), such that
        ``scale * pred @ R.T + t`` is the best fit to ``gt``.
    """
    # 1. Centre both point sets.
    mu_p, mu_g = pred.mean(dim=1, keepdim=True), gt.mean(dim=1, keepdim=True)
    xp, xg = pred - mu_p, gt - mu_g
    # 2-3. Cross-covariance K = Xp^T Xg (3x3); R is the rotation nearest K^T (from its SVD, the last
    #      singular direction flipped when the nearest orthogonal matrix is a reflection).
    k = xp.transpose(1, 2) @ xg
    rot = project_to_rotation(k.transpose(1, 2))
    # 4. Scale = trace(R K) / ||Xp||^2; guard a degenerate (all points equal) source.
    var_p = (xp**2).sum(dim=(1, 2)).clamp_min(torch.finfo(pred.dtype).tiny)
    scale = torch.diagonal(rot @ k, dim1=1, dim2=2).sum(-1) / var_p
    # 5. Translation maps the scaled, rotated source centroid onto the target centroid.
    trans = mu_g[:, 0] - scale[:, None] * (rot @ mu_p[:, 0, :, None])[..., 0]
    return scale, rot, trans


def similarity_procrustes(pred: ArrayLike, gt: ArrayLike) -> ArrayLike:
    """Align ``pred`` to ``gt`` with the best similarity transform (scale, rotation, translation).

    Reflections are excluded (the rotation always has det +1), as in SPIN / VQ-HPS
    ``compute_similarity_transform``.

    Args:
        pred: (B, N, 3) or (N, 3) numpy array or torch tensor, metres.
        gt: same shape as ``pred``, metres.

    Returns:
        Aligned ``pred``, same shape and container type (numpy / torch) as ``pred``, metres.
    """
    p, g = _pair(pred, gt)
    scale, rot, trans = similarity_transform(p, g)
    aligned = scale[:, None, None] * (p @ rot.transpose(1, 2)) + trans[:, None, :]
    return _like_input(aligned, pred)


def _mean_dist_mm(p: Tensor, g: Tensor) -> Tensor:
    """(B, N, 3) x2 -> (B,) mean Euclidean (not squared) distance, mm."""
    return (p - g).norm(dim=-1).mean(dim=-1) * MM_PER_M


def mpjpe_mm(pred: ArrayLike, gt: ArrayLike, reduce: bool = True) -> float | np.ndarray:
    """Mean per-joint position error: mean Euclidean joint distance, no alignment (align before calling).

    Args:
        pred: (B, J, 3) or (J, 3) joints, metres (numpy or torch).
        gt: same shape, metres.
        reduce: True -> mean over the batch (float); False -> per-sample errors.

    Returns:
        float mm, or (B,) float64 numpy array in mm when ``reduce`` is False.
    """
    p, g = _pair(pred, gt)
    return _reduce(_mean_dist_mm(p, g), reduce)


def pve_mm(pred: ArrayLike, gt: ArrayLike, reduce: bool = True) -> float | np.ndarray:
    """Per-vertex error (V2V): mean Euclidean vertex distance, no alignment (align before calling).

    Args:
        pred: (B, V, 3) or (V, 3) vertices, metres (numpy or torch).
        gt: same shape, metres.
        reduce: True -> mean over the batch (float); False -> per-sample errors.

    Returns:
        float mm, or (B,) float64 numpy array in mm when ``reduce`` is False.
    """
    return mpjpe_mm(pred, gt, reduce)  # the same mean distance, taken over vertices instead of joints


def pa_mpjpe_mm(pred: ArrayLike, gt: ArrayLike, reduce: bool = True) -> float | np.ndarray:
    """Procrustes-aligned MPJPE: similarity Procrustes per sample, then MPJPE.

    Args:
        pred: (B, J, 3) or (J, 3) joints, metres (numpy or torch).
        gt: same shape, metres.
        reduce: True -> mean over the batch (float); False -> per-sample errors.

    Returns:
        float mm, or (B,) float64 numpy array in mm when ``reduce`` is False.
    """
    p, g = _pair(pred, gt)
    return _reduce(_mean_dist_mm(similarity_procrustes(p, g), g), reduce)


def pa_pve_mm(pred: ArrayLike, gt: ArrayLike, reduce: bool = True) -> float | np.ndarray:
    """Procrustes-aligned PVE: similarity Procrustes on all vertices per sample, then PVE.

    Args:
        pred: (B, V, 3) or (V, 3) vertices, metres (numpy or torch).
        gt: same shape, metres.
        reduce: True -> mean over the batch (float); False -> per-sample errors.

    Returns:
        float mm, or (B,) float64 numpy array in mm when ``reduce`` is False.
    """
    return pa_mpjpe_mm(pred, gt, reduce)


def _code_counts(indices: ArrayLike, num_codes: int) -> np.ndarray:
    if num_codes <= 0:
        raise ValueError(f"num_codes must be a positive codebook size, got {num_codes}")
    idx = indices.detach().cpu().numpy() if isinstance(indices, Tensor) else np.asarray(indices)
    idx = idx.reshape(-1)
    if idx.size == 0:
        raise ValueError("indices is empty: need at least one token to compute codebook statistics")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be integer token ids, got dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() >= num_codes:
        raise ValueError(f"indices must lie in [0, {num_codes}), got range [{idx.min()}, {idx.max()}]")
    return np.bincount(idx, minlength=num_codes)


def codebook_perplexity(indices: ArrayLike, num_codes: int) -> float:
    """Perplexity exp(H) of the empirical code distribution (1 = one code used, K = uniform use).

    Args:
        indices: integer token ids of any shape (e.g. (B, T)), numpy or torch, values in [0, K).
        num_codes: codebook size K.

    Returns:
        Perplexity, a float in [1, K].
    """
    counts = _code_counts(indices, num_codes)
    probs = counts[counts > 0] / counts.sum()
    return float(np.exp(-(probs * np.log(probs)).sum()))


def codebook_usage(indices: ArrayLike, num_codes: int) -> float:
    """Fraction of the K codes that occur at least once in ``indices`` (active-code fraction).

    Args:
        indices: integer token ids of any shape, numpy or torch, values in [0, K).
        num_codes: codebook size K.

    Returns:
        A float in (0, 1].
    """
    return float((_code_counts(indices, num_codes) > 0).mean())
