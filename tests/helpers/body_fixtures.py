"""Tiny random body models in the official SMPL / SMPL-H file layouts (no licensed data involved)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from helpers.py2_pickle import FakeChumpyCh, dump_py2

__all__ = ["SMPL_PARENTS", "SMPLH_PARENTS", "random_body_arrays", "write_smpl_pkl", "write_smplh_npz"]

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
# SMPL-H: the 22 body joints of SMPL, then 15 finger joints per hand (5 chains of 3) on wrists 20 and 21.
SMPLH_PARENTS = SMPL_PARENTS[:22] + [
    p
    for wrist, first in ((20, 22), (21, 37))
    for f in range(5)
    for p in (wrist, first + 3 * f, first + 3 * f + 1)
]
NUM_VERTS = 6890
NUM_FACES = 13776


def random_body_arrays(
    parents: list[int], num_betas: int, num_verts: int = NUM_VERTS, seed: int = 0, pose_fraction: float = 0.1
) -> dict[str, np.ndarray]:
    """A random but well-formed body model: vertices clustered around a random skeleton.

    Pose correctives are non-zero on a random ``pose_fraction`` of the vertices only and stored as float32,
    which keeps the files small (the official ones are 40-85 MB) while still exercising the pose blend.

    Returns:
        dict with v_template (V, 3), shapedirs (V, 3, num_betas), posedirs (V, 3, 9(J-1)),
        J_regressor (J, V) dense rows summing to 1, weights (V, J) rows summing to 1,
        kintree_table (2, J) uint32 with root 2**32-1, f (F, 3) uint32; float64 except posedirs; metres.
    """
    rng = np.random.default_rng(seed)
    num_joints = len(parents)
    joints = np.zeros((num_joints, 3))
    for j in range(1, num_joints):
        joints[j] = joints[parents[j]] + rng.normal(0.0, 0.12, 3)
    owner = np.concatenate([np.arange(num_joints), rng.integers(0, num_joints, num_verts - num_joints)])
    v_template = joints[owner] + rng.normal(0.0, 0.03, (num_verts, 3))
    weights = np.zeros((num_verts, num_joints))
    weights[np.arange(num_verts), owner] = 0.7
    parent_of_owner = np.maximum(np.asarray(parents)[owner], 0)
    weights[np.arange(num_verts), parent_of_owner] += 0.3
    regressor = np.zeros((num_joints, num_verts))
    for j in range(num_joints):
        members = np.flatnonzero(owner == j)[:8]
        regressor[j, members] = 1.0 / len(members)
    posedirs = np.zeros((num_verts, 3, 9 * (num_joints - 1)), dtype=np.float32)
    active = rng.random(num_verts) < pose_fraction
    posedirs[active] = rng.normal(0.0, 0.002, (int(active.sum()), 3, posedirs.shape[-1]))
    kintree = np.stack([np.asarray(parents, dtype=np.int64) % 2**32, np.arange(num_joints)]).astype(np.uint32)
    return {
        "v_template": v_template,
        "shapedirs": rng.normal(0.0, 0.01, (num_verts, 3, num_betas)),
        "posedirs": posedirs,
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": rng.integers(0, num_verts, (NUM_FACES, 3)).astype(np.uint32),
    }


def write_smpl_pkl(path: str | os.PathLike, seed: int = 0, num_betas: int = 10) -> Path:
    """Write a random SMPL model as the official ``SMPL_*.pkl`` is stored.

    Python-2 protocol-2 pickle, ``shapedirs`` as a chumpy ``Ch`` object, ``J_regressor`` as a scipy
    ``csc_matrix``, plus the unused official keys (``bs_style``, ``bs_type``, ``J``).
    """
    arrays = random_body_arrays(SMPL_PARENTS, num_betas, seed=seed)
    payload = dict(arrays)
    payload["shapedirs"] = FakeChumpyCh(arrays["shapedirs"])
    payload["J_regressor"] = sp.csc_matrix(arrays["J_regressor"])
    payload["J"] = arrays["J_regressor"] @ arrays["v_template"]
    payload["bs_style"] = "lbs"
    payload["bs_type"] = "lrotmin"
    return dump_py2(payload, path)


def write_smplh_npz(path: str | os.PathLike, seed: int = 0, num_betas: int = 16) -> Path:
    """Write a random SMPL-H model in the AMASS "Extended SMPL+H" ``model.npz`` layout (no hand PCA).

    Stored compressed to keep fixture roots small; readers see the same arrays.
    """
    arrays = random_body_arrays(SMPLH_PARENTS, num_betas, seed=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays, bs_style=np.array("lbs"), bs_type=np.array("lrotmin"))
    return path
