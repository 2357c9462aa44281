"""SMPL / SMPL-H body models read without chumpy, posed by the project's own linear blend skinning."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from vqhps.geometry import axis_angle_to_matrix
from vqhps.io.atomic import atomic_path
from vqhps.io.errors import DataFileError, MissingFieldError, check_shape
from vqhps.io.safe_pickle import load_npz, load_pickle

__all__ = [
    "MODEL_KEYS",
    "BodyOutput",
    "BodyModel",
    "SMPL_NUM_VERTICES",
    "normalize_gender",
    "check_gender",
    "read_model_arrays",
    "validate_model_arrays",
    "convert_smpl_pkl_to_npz",
    "load_body_model",
    "smpl_model_path",
    "smplh_model_path",
]

# The arrays LBS needs; every other key of the official files (bs_style, J_regressor_prior, ...) is ignored.
MODEL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
SMPLH_NUM_BODY_JOINTS = 21  # joints 1..21; AMASS `poses[:, 3:66]`
SMPL_NUM_VERTICES = 6890  # SMPL and SMPL-H share the mesh

_GENDERS = {
    "m": "male",
    "male": "male",
    "f": "female",
    "female": "female",
    "n": "neutral",
    "neutral": "neutral",
}


def normalize_gender(gender: object) -> str:
    """Map a gender label from any dataset to ``'male'``, ``'female'`` or ``'neutral'``.

    Fix of the original code (reference §1.4): VQ-HPS/Mesh-VQ-VAE map every label other than ``"m"`` to the
    female model, so ``"male"`` (EMDB) and ``"neutral"`` (BEDLAM) became female. Here each label maps to
    its own model and anything unknown is an error.

    Args:
        gender: str, bytes, or 0-d/1-element numpy array holding one of m/male/f/female/n/neutral
            (case-insensitive).

    Raises:
        ValueError: the label is not recognised.
    """
    value = gender
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size == 1 else value
    if isinstance(value, bytes | np.bytes_):
        value = value.decode("latin1")
    key = str(value).strip().lower()
    if key not in _GENDERS:
        raise ValueError(f"unknown gender label {gender!r}; expected one of {sorted(_GENDERS)}")
    return _GENDERS[key]


def check_gender(path: str | os.PathLike, field: str, gender: object) -> str:
    """:func:`normalize_gender` for a label read from ``path``; a bad label is a :class:`DataFileError`."""
    try:
        return normalize_gender(gender)
    except ValueError:
        shown = gender.item() if isinstance(gender, np.ndarray) and gender.size == 1 else gender
        raise DataFileError(
            path, field, f"a gender label ({'/'.join(sorted(_GENDERS))})", repr(shown)
        ) from None


def smpl_model_path(models_root: str | os.PathLike, gender: str) -> Path:
    """``<models_root>/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl`` (the smplx folder convention)."""
    return Path(models_root) / "smpl" / f"SMPL_{normalize_gender(gender).upper()}.pkl"


def smplh_model_path(models_root: str | os.PathLike, gender: str) -> Path:
    """``<models_root>/smplh/{male,female,neutral}/model.npz`` (AMASS "Extended SMPL+H" layout)."""
    return Path(models_root) / "smplh" / normalize_gender(gender) / "model.npz"


def _dense(value: object) -> np.ndarray:
    """scipy.sparse or array-like -> dense ndarray."""
    return np.asarray(value.toarray() if hasattr(value, "toarray") else value)


def read_model_arrays(
    path: str | os.PathLike, num_vertices: int | None = None, min_betas: int | None = None
) -> dict[str, np.ndarray]:
    """Read the LBS arrays of an SMPL-family file without chumpy, checked by :func:`validate_model_arrays`.

    Accepts the official SMPL ``.pkl`` (chumpy arrays, sparse ``J_regressor``; read through the restricted
    unpickler), a converted ``.npz`` and the SMPL-H ``model.npz``.

    Args:
        num_vertices: required vertex count (6,890 for SMPL and SMPL-H); None = any.
        min_betas: shape components the caller will use; None = any.

    Returns:
        dict with :data:`MODEL_KEYS`: v_template (V, 3), shapedirs (V, 3, B), posedirs (V, 3, 9(J-1)),
        J_regressor (J, V) dense, weights (V, J), kintree_table (2, J) int64, f (F, 3) int64.

    Raises:
        FileNotFoundError; MissingFieldError (a KeyError: a required array is missing); DataFileError (an
        array has the wrong shape); each names the file.
    """
    path = Path(path)
    raw = load_pickle(path) if path.suffix == ".pkl" else load_npz(path)
    if not isinstance(raw, dict):
        raise DataFileError(path, "file", "a dict of body-model arrays", f"a {type(raw).__name__}")
    missing = [k for k in MODEL_KEYS if k not in raw]
    if missing:
        raise MissingFieldError(path, "keys", f"all of {list(MODEL_KEYS)}", f"no {missing}")
    try:
        out = {k: _dense(raw[k]) for k in MODEL_KEYS}
        out["kintree_table"] = out["kintree_table"].astype(np.int64)
        out["f"] = out["f"].astype(np.int64)
    except (TypeError, ValueError) as err:  # e.g. a chumpy expression without a stored value
        raise DataFileError(path, "arrays", "numeric arrays", f"{type(err).__name__}: {err}") from None
    if out["posedirs"].ndim == 2 and out["v_template"].ndim == 2:  # some converters flatten to (V*3, P)
        v3 = 3 * out["v_template"].shape[0]
        if out["posedirs"].shape[0] == v3:
            out["posedirs"] = out["posedirs"].reshape(v3 // 3, 3, -1)
    validate_model_arrays(path, out, num_vertices, min_betas)
    return out


def validate_model_arrays(
    path: str | os.PathLike,
    arrays: dict[str, np.ndarray],
    num_vertices: int | None = None,
    min_betas: int | None = None,
) -> None:
    """Check that the LBS arrays agree: V vertices, J joints, B betas (see :func:`read_model_arrays`).

    Raises:
        DataFileError: naming the file, the array, the expected and the found shape (a transposed
            ``J_regressor`` is named as such).
    """
    v = len(check_shape(path, "v_template", arrays["v_template"], (num_vertices, 3), "vertices x xyz"))
    joints = check_shape(path, "kintree_table", arrays["kintree_table"], (2, None), "parent, child x J")
    j = joints.shape[1]
    reg = np.shape(arrays["J_regressor"])
    if reg == (v, j) and v != j:
        raise DataFileError(
            path, "J_regressor", f"shape ({j}, {v}) (joints x vertices)", f"shape {reg}, the transpose"
        )
    check_shape(path, "J_regressor", arrays["J_regressor"], (j, v), "joints x vertices")
    check_shape(path, "weights", arrays["weights"], (v, j), "vertices x joints")
    betas = check_shape(path, "shapedirs", arrays["shapedirs"], (v, 3, None), "vertices x xyz x betas")
    if min_betas is not None and betas.shape[-1] < min_betas:
        raise DataFileError(
            path,
            "shapedirs",
            f"at least {min_betas} shape components (num_betas in params.yaml)",
            f"{betas.shape[-1]}",
            "use a model file with more components or lower num_betas",
        )
    check_shape(path, "posedirs", arrays["posedirs"], (v, 3, 9 * (j - 1)), "vertices x xyz x 9(J-1)")
    faces = check_shape(path, "f", arrays["f"], (None, 3), "triangles")
    if faces.size and (faces.min() < 0 or faces.max() >= v):
        raise DataFileError(path, "f", f"vertex ids in 0..{v - 1}", f"ids {faces.min()}..{faces.max()}")


def convert_smpl_pkl_to_npz(pkl_path: str | os.PathLike, npz_path: str | os.PathLike) -> Path:
    """Convert an official (chumpy) SMPL ``.pkl`` once to a plain ``.npz`` (atomic write)."""
    arrays = read_model_arrays(pkl_path)
    npz_path = Path(npz_path)
    with atomic_path(npz_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return npz_path


@dataclass(frozen=True)
class BodyOutput:
    """Posed body.

    Attributes:
        vertices: (B, V, 3) float32, metres.
        joints: (B, J, 3) float32, metres (posed kinematic joints, J = 24 SMPL / 52 SMPL-H).
    """

    vertices: Tensor
    joints: Tensor


class BodyModel(nn.Module):
    """Linear blend skinning over SMPL-family arrays (own implementation; smplx is only a test oracle).

    Unlike smplx 0.1.28, which silently keeps only 10 betas when a file has fewer than 300 shape components,
    every shape component present in the file is usable (16 for SMPL-H).
    """

    def __init__(self, arrays: dict[str, np.ndarray], gender: str = "neutral", dtype=torch.float32):
        super().__init__()
        self.gender = normalize_gender(gender)
        parents = arrays["kintree_table"][0].astype(np.int64).copy()
        parents[0] = -1  # the files store 2**32-1 for the root
        if np.any(parents[1:] >= np.arange(1, len(parents))):
            raise ValueError("kintree_table: every parent must precede its child")
        self.parents = parents.tolist()
        self.register_buffer("v_template", torch.as_tensor(arrays["v_template"], dtype=dtype))
        self.register_buffer("shapedirs", torch.as_tensor(arrays["shapedirs"], dtype=dtype))
        posedirs = np.asarray(arrays["posedirs"]).reshape(arrays["v_template"].shape[0], 3, -1)
        self.register_buffer("posedirs", torch.as_tensor(posedirs, dtype=dtype))
        self.register_buffer("J_regressor", torch.as_tensor(arrays["J_regressor"], dtype=dtype))
        self.register_buffer("lbs_weights", torch.as_tensor(arrays["weights"], dtype=dtype))
        self.register_buffer("faces", torch.as_tensor(arrays["f"], dtype=torch.int64))
        if self.posedirs.shape[-1] != 9 * (self.num_joints - 1):
            raise ValueError(f"posedirs has {self.posedirs.shape[-1]} columns, expected 9*(J-1)")

    @property
    def num_joints(self) -> int:
        """Number of kinematic joints (24 SMPL, 52 SMPL-H)."""
        return len(self.parents)

    @property
    def num_betas(self) -> int:
        """Shape components available in the file (10 SMPL v1.0, 16 SMPL-H, 300 SMPL v1.1)."""
        return int(self.shapedirs.shape[-1])

    def forward(self, betas: Tensor, pose: Tensor, transl: Tensor | None = None) -> BodyOutput:
        """Pose the body.

        Args:
            betas: (B, L) shape coefficients, L <= num_betas (missing components count as zero).
            pose: (B, J, 3) or (B, 3J) axis-angle per joint, radians, joint 0 = global orientation.
            transl: optional (B, 3) translation, metres.

        Returns:
            :class:`BodyOutput` with vertices (B, V, 3) and joints (B, J, 3).
        """
        batch = pose.shape[0]
        pose = pose.reshape(batch, -1, 3).to(self.v_template.dtype)
        if pose.shape[1] != self.num_joints:
            raise ValueError(f"pose has {pose.shape[1]} joints, model has {self.num_joints}")
        if betas.shape[-1] > self.num_betas:
            raise ValueError(f"{betas.shape[-1]} betas given, the model file has only {self.num_betas}")
        betas = betas.to(self.v_template.dtype).expand(batch, -1)
        v_shaped = self.v_template + torch.einsum(
            "bl,vcl->bvc", betas, self.shapedirs[..., : betas.shape[-1]]
        )
        rest_joints = torch.einsum("jv,bvc->bjc", self.J_regressor, v_shaped)
        rot = axis_angle_to_matrix(pose)  # (B, J, 3, 3)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        pose_feature = (rot[:, 1:] - eye).reshape(batch, -1)  # (B, 9(J-1)), row-major like the files
        v_posed = v_shaped + torch.einsum("bp,vcp->bvc", pose_feature, self.posedirs)
        world = self._kinematic_chain(rot, rest_joints)  # (B, J, 4, 4)
        # Skinning transforms map rest-pose points: subtract the rotated rest joint from the translation.
        offset = world[:, :, :3, 3] - torch.einsum("bjrc,bjc->bjr", world[:, :, :3, :3], rest_joints)
        rot_v = torch.einsum("vj,bjrc->bvrc", self.lbs_weights, world[:, :, :3, :3])
        off_v = torch.einsum("vj,bjr->bvr", self.lbs_weights, offset)
        verts = torch.einsum("bvrc,bvc->bvr", rot_v, v_posed) + off_v
        joints = world[:, :, :3, 3]
        if transl is not None:
            verts = verts + transl[:, None, :]
            joints = joints + transl[:, None, :]
        return BodyOutput(vertices=verts, joints=joints)

    def _kinematic_chain(self, rot: Tensor, rest_joints: Tensor) -> Tensor:
        """World transforms (B, J, 4, 4) of each joint from local rotations and rest-pose joints."""
        batch = rot.shape[0]
        bottom = rot.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(batch, 1, 4)
        world: list[Tensor] = []
        for j, parent in enumerate(self.parents):
            offset = rest_joints[:, j] if parent < 0 else rest_joints[:, j] - rest_joints[:, parent]
            local = torch.cat([torch.cat([rot[:, j], offset[:, :, None]], dim=2), bottom], dim=1)
            world.append(local if parent < 0 else world[parent] @ local)
        return torch.stack(world, dim=1)

    def smplh_body(
        self, betas: Tensor, pose_body: Tensor, root_orient: Tensor | None = None, center: bool = False
    ) -> BodyOutput:
        """SMPL-H (or SMPL) mesh from root + 21 body joints, hands flat (zero), as Mesh-VQ-VAE builds it.

        With an SMPL model, ``pose_body`` may also be the full (B, 69) pose of joints 1..23 (SMPL's two hand
        joints 22, 23 included), the ground truth the ``standard`` and ``emdb`` protocols prescribe.

        Args:
            betas: (B, L) shape coefficients.
            pose_body: (B, 3k) axis-angle of joints 1..k, radians: k = 21 (63 values, the body joints, later
                joints zero) or k = J - 1 (every joint but the root: 69 values for SMPL).
            root_orient: (B, 3) global orientation; None = identity (canonical mesh).
            center: subtract the mean vertex from vertices and joints (reference §1.4).

        Returns:
            :class:`BodyOutput`, vertices (B, V, 3) metres.
        """
        batch = pose_body.shape[0]
        values = pose_body.reshape(batch, -1).shape[1]
        k = values // 3
        if values != 3 * k or k not in (SMPLH_NUM_BODY_JOINTS, self.num_joints - 1):
            raise ValueError(
                f"pose_body has {values} values; expected 63 (the 21 body "
                f"joints) or {3 * (self.num_joints - 1)} (every joint of this {self.num_joints}-joint model)"
            )
        pose = pose_body.new_zeros(batch, self.num_joints, 3)
        pose[:, 1 : k + 1] = pose_body.reshape(batch, k, 3)
        if root_orient is not None:
            pose[:, 0] = root_orient
        out = self.forward(betas, pose)
        if not center:
            return out
        mean = out.vertices.mean(dim=1, keepdim=True)
        return BodyOutput(vertices=out.vertices - mean, joints=out.joints - mean)


def load_body_model(
    path: str | os.PathLike,
    gender: str | None = None,
    dtype=torch.float32,
    num_vertices: int | None = None,
    min_betas: int | None = None,
) -> BodyModel:
    """Build a :class:`BodyModel` from an SMPL ``.pkl``/``.npz`` or SMPL-H ``model.npz``.

    Args:
        path: model file.
        gender: label stored on the model; inferred from the path (male/female/neutral) when None.
        num_vertices, min_betas: checked on load (see :func:`read_model_arrays`).
    """
    path = Path(path)
    if gender is None:
        lowered = str(path).lower()
        gender = next((g for g in ("female", "male", "neutral") if g in lowered), "neutral")
    arrays = read_model_arrays(path, num_vertices=num_vertices, min_betas=min_betas)
    try:
        return BodyModel(arrays, gender=gender, dtype=dtype)
    except ValueError as err:  # kintree order: the shapes were checked above
        raise DataFileError(path, "kintree_table", "every parent before its child", str(err)) from None
