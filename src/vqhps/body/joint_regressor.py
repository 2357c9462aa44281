"""A fixed linear vertex -> H36M-17 joint regressor for any Anny topology, and the left/right vertex flip.

The regressor plays the role of SMPL's ``J_regressor_h36m``: rows are non-negative and sum to one,
so the joints move with any rigid motion of the mesh. Each row is fitted once per topology on
random Anny bodies, over the vertices nearest the joint's rest position, to Anny's own bone heads
(hips, knees, ankles, shoulders, elbows, wrists, spine, thorax), and cached as ``.npy``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from vqhps.io.atomic import write_bytes_atomic

# Row order of SPIN's J_regressor_h36m.npy (the file VQ-HPS, SPIN and CLIFF use), so that Anny and SMPL
# data share one joint layout: SPIN's H36M_TO_J17 reads rows 1-3 as the LEFT leg and rows 4-6 as the right.
H36M_JOINT_NAMES = (
    "pelvis",
    "lhip",
    "lknee",
    "lankle",
    "rhip",
    "rknee",
    "rankle",
    "spine",
    "thorax",
    "neck_nose",
    "head_top",
    "lshoulder",
    "lelbow",
    "lwrist",
    "rshoulder",
    "relbow",
    "rwrist",
)
#: Joint index of each joint's mirror image (left <-> right), for flip augmentation.
H36M_FLIP_PERM = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)
#: H36M joints that are an Anny bone head.
_BONE_TARGETS = {
    1: "upperleg01.L",
    2: "lowerleg01.L",
    3: "foot.L",
    4: "upperleg01.R",
    5: "lowerleg01.R",
    6: "foot.R",
    7: "spine02",
    8: "neck01",
    11: "upperarm01.L",
    12: "lowerarm01.L",
    13: "wrist.L",
    14: "upperarm01.R",
    15: "lowerarm01.R",
    16: "wrist.R",
}
#: Bump when the targets or the fit change, so that stale cached regressors are not reused.
REGRESSOR_VERSION = 2
#: The head-top row averages the rest vertices this close to the top of the head, metres.
HEAD_TOP_CAP_M = 0.012


def joint_targets(heads: torch.Tensor, labels: list[str]) -> torch.Tensor:
    """H36M targets (except pelvis and head top, set to NaN) from bone heads.

    Args:
        heads: (n, B, 3) bone heads, metres.
        labels: the B bone labels.

    Returns:
        (n, 17, 3) float32; the neck/nose joint is halfway between the head bone's head (top of the
        neck) and the midpoint of the eyes.
    """
    out = torch.full((heads.shape[0], 17, 3), float("nan"))
    for j, bone in _BONE_TARGETS.items():
        out[:, j] = heads[:, labels.index(bone)]
    eyes = 0.5 * (heads[:, labels.index("eye.L")] + heads[:, labels.index("eye.R")])
    out[:, 9] = 0.5 * (heads[:, labels.index("head")] + eyes)
    return out


def _project_simplex(w: np.ndarray) -> np.ndarray:
    """Euclidean projection of (k,) onto {w >= 0, sum w = 1} (sort-based, Duchi et al. 2008)."""
    u = np.sort(w)[::-1]
    css = np.cumsum(u) - 1.0
    rho = np.nonzero(u - css / np.arange(1, len(w) + 1) > 0)[0][-1]
    return np.maximum(w - css[rho] / (rho + 1.0), 0.0)


def fit_simplex_weights(A: np.ndarray, b: np.ndarray, iters: int = 3000, ridge: float = 1e-4) -> np.ndarray:
    """argmin ||A w - b||^2 + ridge' ||w||^2 over the probability simplex (FISTA; deterministic).

    Args:
        A: (m, k) design matrix (each column: one vertex's coordinates over all samples).
        b: (m,) targets.
        iters: accelerated projected-gradient steps.
        ridge: ridge weight relative to the mean diagonal of ``A^T A`` (spreads weight over
            near-collinear vertices instead of picking one arbitrarily).

    Returns:
        (k,) float64 weights, non-negative, summing to one.
    """
    G = A.T @ A
    G = G + ridge * np.trace(G) / len(G) * np.eye(len(G))
    c = A.T @ b
    step = 1.0 / np.linalg.eigvalsh(G)[-1]
    w = y = np.full(len(G), 1.0 / len(G))
    t = 1.0
    for _ in range(iters):
        w_next = _project_simplex(y - step * (G @ y - c))
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = w_next + (t - 1.0) / t_next * (w_next - w)
        w, t = w_next, t_next
    return w


def default_neighbourhood(n_vertices: int) -> int:
    """Candidate vertices per joint: about a 10 cm patch of surface whatever the mesh density."""
    return int(np.clip(round(n_vertices / 100), 24, 160))


def fit_h36m_regressor(
    body,
    n_fit: int = 300,
    n_holdout: int = 100,
    seed: int = 0,
    k: int | None = None,
    margin_m: float | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Fit the (17, V) regressor of ``body``'s topology on random bodies and report held-out errors.

    Args:
        body: a :class:`~vqhps.body.anny_body.AnnyBody`.
        n_fit, n_holdout: numbers of random bodies to fit on and to evaluate on.
        seed: seed of the random bodies (fit: ``seed``, held out: ``seed + 1``).
        k: candidate vertices per joint (default :func:`default_neighbourhood`).
        margin_m: if set, candidates are instead all vertices within ``margin_m`` metres of the
            joint's closest vertex. 0.12 m brings the deep spine joint from ~19 to ~13 mm but makes
            the full-topology fit 30x slower and its rows dense (~2k vertices), so it is off.

    Returns:
        regressor (17, V) float32, and metrics ``fit_mpjpe_mm``, ``holdout_mpjpe_mm``,
        ``holdout_max_mm`` and ``holdout_<joint>_mm`` (errors to the bone-head targets; pelvis and
        head top have no independent target and are excluded).
    """
    k = k or default_neighbourhood(body.n_vertices)
    fit_v, fit_h = body.forward(body.sample_parameters(n_fit, torch.Generator().manual_seed(seed)))
    targets = joint_targets(fit_h, body.bone_labels).double().numpy()
    verts = fit_v.double().numpy()  # (n, V, 3)
    template = body.template.astype(np.float64)
    rest_targets = joint_targets(body.forward(_rest_params(body))[1], body.bone_labels)[0].double().numpy()
    reg = np.zeros((17, body.n_vertices))
    for j in range(17):
        if np.isnan(rest_targets[j, 0]):
            continue
        dist = np.linalg.norm(template - rest_targets[j], axis=1)
        nearest = np.argsort(dist, kind="stable")[:k]
        if margin_m is not None:  # every vertex within `margin_m` of the closest one (both sides of a limb)
            nearest = np.nonzero(dist <= dist.min() + margin_m)[0]
        k = len(nearest)
        A = verts[:, nearest, :].transpose(0, 2, 1).reshape(-1, k)  # rows: (sample, coordinate)
        reg[j, nearest] = fit_simplex_weights(A, targets[:, j, :].reshape(-1))
    reg[0] = 0.5 * (reg[1] + reg[4])  # pelvis: midpoint of the hips, exactly
    top = np.nonzero(template[:, 1] >= template[:, 1].max() - HEAD_TOP_CAP_M)[0]
    reg[10, top] = 1.0 / len(top)
    metrics = {"fit_mpjpe_mm": _mpjpe_mm(reg, verts, targets)}
    hold_v, hold_h = body.forward(body.sample_parameters(n_holdout, torch.Generator().manual_seed(seed + 1)))
    hold_err = _errors_mm(
        reg, hold_v.double().numpy(), joint_targets(hold_h, body.bone_labels).double().numpy()
    )
    metrics.update(holdout_mpjpe_mm=float(hold_err.mean()), holdout_max_mm=float(hold_err.max()))
    fitted_joints = [n for j, n in enumerate(H36M_JOINT_NAMES) if j not in (0, 10)]
    metrics.update(
        {f"holdout_{n}_mm": float(e) for n, e in zip(fitted_joints, hold_err.mean(axis=0), strict=True)}
    )
    return reg.astype(np.float32), metrics


def _rest_params(body):
    from vqhps.body.anny_body import PHENOTYPE_LABELS, POSE_JOINTS, AnnyParams

    return AnnyParams(torch.zeros(1, len(POSE_JOINTS), 3), torch.full((1, len(PHENOTYPE_LABELS)), 0.5))


def _errors_mm(reg: np.ndarray, verts: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(n, joints with a target) Euclidean errors, mm."""
    has = ~np.isnan(targets[0, :, 0])
    pred = np.einsum("jv,nvd->njd", reg, verts)
    return 1000.0 * np.linalg.norm(pred[:, has] - targets[:, has], axis=-1)


def _mpjpe_mm(reg: np.ndarray, verts: np.ndarray, targets: np.ndarray) -> float:
    return float(_errors_mm(reg, verts, targets).mean())


def regressor_cache_path(cache_dir: str | Path, topology_id: str) -> Path:
    """Where the regressor of ``topology_id`` is cached (a file name safe on every OS)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", topology_id)
    return Path(cache_dir) / "vqhps" / f"h36m_regressor_v{REGRESSOR_VERSION}_{safe}.npy"


def h36m_regressor(body, cache_dir: str | Path | None = None) -> np.ndarray:
    """The (17, V) float32 H36M regressor of ``body``'s topology, fitted once and cached.

    Args:
        body: a :class:`~vqhps.body.anny_body.AnnyBody`.
        cache_dir: folder of the cache (default: ``body.cache_dir``).
    """
    path = regressor_cache_path(cache_dir or body.cache_dir, body.topology_id)
    if path.exists():
        reg = np.load(path)
        if reg.shape == (17, body.n_vertices):
            return reg
    reg, _ = fit_h36m_regressor(body)
    import io

    buf = io.BytesIO()
    np.save(buf, reg)
    write_bytes_atomic(path, buf.getvalue())  # several workers may fit at once: last rename wins
    return reg
