"""Anny body model wrapper: random anatomical poses and phenotypes -> canonical, centred meshes.

Canonical frame (SMPL-like): +Y up, the body faces +Z, +X is the body's left. Anny's world is
+Z up, facing -Y, +X left; the change of frame is ``(x, y, z) -> (x, z, -y)``, a proper rotation
(det = +1, a +90 degree turn about X).

Pose parameters are joint angles in RADIANS, one (3,) row per entry of :data:`POSE_JOINTS`:
- ``"euler"`` joints: angles (ax, ay, az) about Anny's world-aligned rest axes, composed as
  ``Rz(az) @ Ry(ay) @ Rx(ax)`` (X first). Left side: +X about a downward bone swings it backward,
  so knee flexion is +X and hip flexion is -X; -Y abducts. The right side mirrors the left
  (same X range, Y and Z ranges negated).
- ``"hinge"`` joints (elbows): component 0 is the flexion angle about the rest elbow axis
  ``normalize(cross(upper arm, forearm))`` (positive flexes); components 1, 2 are zero.
- ``"twist"`` joints (upper-arm twist): component 0 is the angle about the rest upper-arm
  direction; components 1, 2 are zero.
Every other bone, including the root (global orientation), keeps its rest transform.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from vqhps.geometry import axis_angle_to_matrix

#: Our topology names -> Anny's topology specifiers.
TOPOLOGIES = {
    "default": "anny",  # 13,718 vertices
    "notoes": "notoes",  # 12,272
    "notoes_collapse10pc": "notoes_collapse10pc",  # 1,229
    "notoes_collapse5pc": "notoes_collapse5pc",  # 615
    "notoes_collapse3pc": "notoes_collapse3pc",  # 369
}
#: Phenotype columns of :attr:`AnnyParams.phenotype`, in [0, 1] (age 0.5..1 = adults).
PHENOTYPE_LABELS = ("gender", "age", "muscle", "weight", "height", "proportions")
PHENOTYPE_RANGES = {"age": (0.5, 1.0)}

_D = math.radians
# Left-side (or central) ranges in degrees: (kind, (x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi)).
_LEFT_RANGES: dict[str, tuple[str, tuple, tuple, tuple]] = {
    "spine05": ("euler", (-6, 10), (-6, 6), (-10, 10)),
    "spine04": ("euler", (-6, 10), (-6, 6), (-10, 10)),
    "spine03": ("euler", (-6, 10), (-6, 6), (-10, 10)),
    "spine02": ("euler", (-5, 10), (-5, 5), (-8, 8)),
    "spine01": ("euler", (-5, 10), (-5, 5), (-8, 8)),
    "neck01": ("euler", (-10, 15), (-8, 8), (-12, 12)),
    "neck02": ("euler", (-10, 15), (-8, 8), (-12, 12)),
    "head": ("euler", (-20, 25), (-15, 15), (-30, 30)),
    "clavicle.L": ("euler", (0, 0), (-10, 5), (-10, 10)),
    "upperarm01.L": ("euler", (-90, 30), (-80, 35), (-30, 30)),
    "upperarm02.L": ("twist", (-40, 40), (0, 0), (0, 0)),
    "lowerarm01.L": ("hinge", (-30, 100), (0, 0), (0, 0)),
    "wrist.L": ("euler", (-25, 25), (-25, 25), (-25, 25)),
    "upperleg01.L": ("euler", (-80, 25), (-35, 10), (-20, 20)),
    "lowerleg01.L": ("euler", (0, 100), (0, 0), (0, 0)),
    "foot.L": ("euler", (-20, 25), (-10, 10), (0, 0)),
}


def _joint_table() -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """Names, kinds and (J, 3, 2) radian limits of the sampled joints (right side mirrored)."""
    names, kinds, limits = [], [], []
    for name, (kind, *ranges) in _LEFT_RANGES.items():
        sides = [(name, ranges)]
        if name.endswith(".L"):
            mirrored = list(ranges)
            if kind == "euler":  # mirror about the x = 0 plane: keep X, negate Y and Z
                mirrored = [ranges[0], (-ranges[1][1], -ranges[1][0]), (-ranges[2][1], -ranges[2][0])]
            sides.append((name[:-2] + ".R", mirrored))
        for label, rng in sides:
            names.append(label)
            kinds.append(kind)
            limits.append([[_D(lo), _D(hi)] for lo, hi in rng])
    return tuple(names), tuple(kinds), np.asarray(limits, dtype=np.float32)


POSE_JOINTS, POSE_KINDS, POSE_LIMITS = _joint_table()


@dataclass
class AnnyParams:
    """A batch of Anny body parameters.

    Attributes:
        pose: (n, J, 3) float32 joint angles, radians, J = len(POSE_JOINTS) (see module docstring).
        phenotype: (n, 6) float32 in [0, 1], columns :data:`PHENOTYPE_LABELS`.
    """

    pose: Tensor
    phenotype: Tensor

    def __len__(self) -> int:
        return int(self.pose.shape[0])

    def slice(self, start: int, stop: int) -> AnnyParams:
        """Rows ``start:stop`` of the batch."""
        return AnnyParams(self.pose[start:stop], self.phenotype[start:stop])


def _euler_xyz(angles: Tensor) -> Tensor:
    """(..., 3) radians -> (..., 3, 3) ``Rz @ Ry @ Rx`` about fixed axes."""
    eye = torch.eye(3, dtype=angles.dtype)
    rx, ry, rz = (axis_angle_to_matrix(angles[..., i : i + 1] * eye[i]) for i in range(3))
    return rz @ ry @ rx


class AnnyBody:
    """Anny with a chosen topology, producing canonical centred meshes.

    Args:
        topology: a key of :data:`TOPOLOGIES` (``"default"`` is the full 13,718-vertex mesh).
        cache_dir: Anny's cache folder (default: ``$ANNY_CACHE_DIR`` or Anny's own default).
        device: torch device of the model.
    """

    def __init__(self, topology: str = "default", cache_dir: str | None = None, device: str = "cpu") -> None:
        if topology not in TOPOLOGIES:
            raise ValueError(f"unknown Anny topology {topology!r}; choose one of {sorted(TOPOLOGIES)}")
        _quiet_warp()
        import anny
        import anny.paths

        cache_dir = cache_dir or os.environ.get("ANNY_CACHE_DIR")
        if cache_dir:
            anny.paths.set_anny_cache_path(cache_dir)
        self.cache_dir = str(anny.paths.get_anny_cache_path())
        self.topology = topology
        self.device = torch.device(device)
        self.model = anny.Anny(topology=TOPOLOGIES[topology]).to(device=self.device, dtype=torch.float32)
        self.model.eval()
        if list(self.model.phenotype_labels) != list(PHENOTYPE_LABELS):
            raise ValueError(f"Anny phenotypes {self.model.phenotype_labels} differ from {PHENOTYPE_LABELS}")
        self.faces = self.model.faces.detach().cpu().to(torch.int64).numpy()
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"Anny topology {topology!r} is not triangulated: faces {self.faces.shape}")
        self.bone_labels: list[str] = list(self.model.bone_labels)
        self._bone_index = torch.tensor([self.bone_labels.index(n) for n in POSE_JOINTS])
        with torch.no_grad():
            rest = self.model()
        rest_heads = rest["bone_poses"][0, :, :3, 3].cpu().double()
        self._axes = self._joint_axes(rest_heads)
        verts = to_canonical(rest["vertices"][0].cpu().float())
        self.template = (verts - verts.mean(dim=0)).numpy()
        self.n_vertices = int(self.template.shape[0])
        digest = hashlib.sha1(self.faces.tobytes()).hexdigest()[:10]
        self.topology_id = (
            f"anny-{anny.__version__}:{topology}:V{self.n_vertices}:F{len(self.faces)}:{digest}"
        )

    def _joint_axes(self, heads: Tensor) -> Tensor:
        """(J, 3) float32 unit axes of the hinge and twist joints (zeros for Euler joints), Anny world."""
        axes = torch.zeros(len(POSE_JOINTS), 3, dtype=torch.float64)
        for j, (name, kind) in enumerate(zip(POSE_JOINTS, POSE_KINDS, strict=True)):
            if kind == "euler":
                continue
            side = name[-2:]
            shoulder, elbow, wrist = (
                heads[self.bone_labels.index(b + side)] for b in ("upperarm01", "lowerarm01", "wrist")
            )
            upper, fore = elbow - shoulder, wrist - elbow
            axis = torch.linalg.cross(upper, fore) if kind == "hinge" else upper
            axes[j] = axis / axis.norm()
        return axes.float()

    def sample_parameters(self, n: int, generator: torch.Generator) -> AnnyParams:
        """Uniform poses within :data:`POSE_LIMITS` and phenotypes within their ranges.

        Args:
            n: number of bodies.
            generator: the only source of randomness (same state -> same parameters).
        """
        limits = torch.from_numpy(POSE_LIMITS)
        u = torch.rand(n, len(POSE_JOINTS), 3, generator=generator)
        pose = limits[..., 0] + u * (limits[..., 1] - limits[..., 0])
        lo = torch.tensor([PHENOTYPE_RANGES.get(k, (0.0, 1.0))[0] for k in PHENOTYPE_LABELS])
        hi = torch.tensor([PHENOTYPE_RANGES.get(k, (0.0, 1.0))[1] for k in PHENOTYPE_LABELS])
        phenotype = lo + torch.rand(n, len(PHENOTYPE_LABELS), generator=generator) * (hi - lo)
        return AnnyParams(pose=pose.float(), phenotype=phenotype.float())

    def joint_rotations(self, pose: Tensor) -> Tensor:
        """(n, J, 3) radians -> (n, J, 3, 3) float32 delta rotations in Anny's world-aligned rest axes."""
        euler = _euler_xyz(pose)
        about_axis = axis_angle_to_matrix(pose[..., :1] * self._axes.to(pose.dtype))
        is_euler = torch.tensor([k == "euler" for k in POSE_KINDS])[None, :, None, None]
        return torch.where(is_euler, euler, about_axis)

    @torch.no_grad()
    def forward(self, params: AnnyParams, batch_size: int = 128) -> tuple[Tensor, Tensor]:
        """Posed canonical vertices and bone heads, centred on the mean vertex.

        Args:
            params: n bodies.
            batch_size: bodies per Anny forward call (64-256 is fastest on one CPU thread).

        Returns:
            vertices (n, V, 3) float32 and bone heads (n, 104, 3) float32, metres, canonical frame.
        """
        verts_out, heads_out = [], []
        for start in range(0, len(params), batch_size):
            chunk = params.slice(start, start + batch_size)
            b = len(chunk)
            delta = torch.eye(4).repeat(b, len(self.bone_labels), 1, 1)
            delta[:, self._bone_index, :3, :3] = self.joint_rotations(chunk.pose.float())
            out = self.model(
                pose_parameters=delta.to(self.device), phenotype_kwargs=chunk.phenotype.to(self.device)
            )
            verts = to_canonical(out["vertices"].float().cpu())
            heads = to_canonical(out["bone_poses"][..., :3, 3].float().cpu())
            centre = verts.mean(dim=1, keepdim=True)
            verts_out.append(verts - centre)
            heads_out.append(heads - centre)
        return torch.cat(verts_out), torch.cat(heads_out)

    def vertices(self, params: AnnyParams, batch_size: int = 128) -> Tensor:
        """(n, V, 3) float32 canonical (no global rotation), centred (mean vertex 0) vertices, metres."""
        return self.forward(params, batch_size)[0]

    @staticmethod
    def flat_pose_vector(params: AnnyParams) -> Tensor:
        """(n, 3 * J) float32 joint angles, radians, for storage (row-major over POSE_JOINTS)."""
        return params.pose.reshape(len(params), -1).float()

    @staticmethod
    def flat_shape_vector(params: AnnyParams) -> Tensor:
        """(n, 6) float32 phenotype values, columns :data:`PHENOTYPE_LABELS`."""
        return params.phenotype.float()


def chunk_generator(seed: int, chunk_index: int) -> torch.Generator:
    """The torch generator of chunk ``chunk_index`` of a data set seeded with ``seed``.

    Seeding each fixed-size chunk from (seed, chunk) makes a data set independent of how chunks
    are spread over worker processes.
    """
    state = np.random.SeedSequence([int(seed), int(chunk_index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def synthesize_chunk(
    body: AnnyBody, seed: int, chunk_index: int, chunk_size: int, batch_size: int = 128
) -> tuple[AnnyParams, Tensor]:
    """Random parameters and canonical centred vertices of one chunk (deterministic per seed and chunk).

    Returns:
        the chunk's :class:`AnnyParams` and its (chunk_size, V, 3) float32 vertices, metres.
    """
    params = body.sample_parameters(chunk_size, chunk_generator(seed, chunk_index))
    return params, body.vertices(params, batch_size=batch_size)


def _quiet_warp() -> None:
    """Silence Warp's start-up banner (Anny uses Warp; the banner would fill every worker's log)."""
    try:
        import warp
    except ImportError:
        return
    warp.config.quiet = True
    warp.config.log_level = warp.LOG_WARNING


def to_canonical(points: Tensor) -> Tensor:
    """Anny world (+Z up, facing -Y) -> canonical (+Y up, facing +Z): (x, y, z) -> (x, z, -y)."""
    return torch.stack([points[..., 0], points[..., 2], -points[..., 1]], dim=-1)
