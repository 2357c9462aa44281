"""The Mesh-VQ-VAE's architecture as data (torch-free): its pooling hierarchy and its layers.

These two dataclasses are the one definition of each concept: ``params.yaml``'s
``<experiment>.train_mesh_vqvae.hierarchy`` is validated as a :class:`HierarchySettings` and its ``model``
as a :class:`MeshVQVAEConfig` (:mod:`vqhps.config`); :mod:`vqhps.models.mesh_hierarchy` builds the
hierarchy from the first and :class:`vqhps.models.mesh_vqvae.MeshVQVAE` its layers from the second. The
defaults are the paper's; ``PARAMS_REQUIRED`` lists the fields a params file must still state
(:func:`vqhps.infra.configtools.build`), so that no architecture number comes from a silent default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar, Literal


@dataclass(frozen=True)
class HierarchySettings:
    """How to sample the pooling hierarchy of a template mesh (reference §2.2).

    Attributes:
        levels: one (stride, pool_radius, unpool_radius) per level; stride 1 = conv level (all points kept).
        forced_centers: template vertex ids that must stay centres at every level (tried first by the BFS).
        builder: ``meshconv`` walks the mesh in MeshConvolution's order (``meshconv_pooler``: on SMPL it
            gives the original's dfaust2 tables exactly); ``sorted`` walks sorted neighbour lists (this
            project's own builder; other centres, e.g. 56 instead of 54 SMPL tokens).
    """

    levels: tuple[tuple[int, int, int], ...]
    forced_centers: tuple[int, ...] = field(default_factory=tuple)
    builder: Literal["meshconv", "sorted"] = "sorted"

    PARAMS_REQUIRED: ClassVar[tuple[str, ...]] = ("levels",)

    def __post_init__(self) -> None:
        if self.builder not in ("meshconv", "sorted"):
            raise ValueError(f"hierarchy builder '{self.builder}' is unknown; use meshconv or sorted")
        for stride, r_pool, r_unpool in self.levels:
            if stride < 1 or r_pool < stride - 1 or r_unpool < stride - 1:
                raise ValueError(
                    f"level (stride, pool radius, unpool radius) = {(stride, r_pool, r_unpool)}: need"
                    " stride >= 1 and both radii >= stride - 1,"
                    " so that every vertex is pooled and unpooled"
                )


@dataclass(frozen=True)
class MeshVQVAEConfig:
    """Architecture of the Mesh-VQ-VAE (paper "medium" values by default: channels 32-64-128-9, 9 basis
    kernels, 512 codes).

    Attributes:
        channels: output channels of the encoder's vc-conv layers; the last one is the code size.
        n_basis: basis kernels M of every vc-conv layer.
        codebook_size: number of codes K.
        beta: commitment weight.
        decay: EMA decay of the codebook, in [0, 1).
        dead_code_restart: re-seed codes whose EMA count drops below ``DEAD_CODE_THRESHOLD`` (paper: off).
        data_init: start the codes on the first training batch's latents (not in the paper; see quantizer).
    """

    channels: tuple[int, ...] = (32, 64, 128, 9)
    n_basis: int = 9
    codebook_size: int = 512
    beta: float = 0.25
    decay: float = 0.99
    dead_code_restart: bool = False
    data_init: bool = False

    PARAMS_REQUIRED: ClassVar[tuple[str, ...]] = (
        "channels",
        "n_basis",
        "codebook_size",
        "beta",
        "decay",
        "dead_code_restart",
    )
    # Constants of the quantiser, not settings: Laplace smoothing of the EMA counts (the original's) and the
    # EMA count under which a code counts as dead. Checkpoints store them (to_dict) as they always did.
    EPS: ClassVar[float] = 1e-5
    DEAD_CODE_THRESHOLD: ClassVar[float] = 1e-3

    def __post_init__(self) -> None:
        for name in ("n_basis", "codebook_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if not self.channels or min(self.channels) <= 0:
            raise ValueError(f"channels: list positive channel counts, got {list(self.channels)}")
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"decay: {self.decay} is outside [0, 1)")
        if self.beta < 0:
            raise ValueError(f"beta: {self.beta} is outside [0, inf]")

    @property
    def code_dim(self) -> int:
        """Size of one code (= last encoder channel count)."""
        return self.channels[-1]

    def to_dict(self) -> dict:
        """Plain dict (lists, numbers) for checkpoints, with the quantiser constants ``eps`` and
        ``dead_code_threshold`` (the checkpoint format)."""
        return {  # the key order of the checkpoints written before the move (a pickled dict keeps it)
            "channels": list(self.channels),
            "n_basis": self.n_basis,
            "codebook_size": self.codebook_size,
            "beta": self.beta,
            "decay": self.decay,
            "eps": self.EPS,
            "dead_code_restart": self.dead_code_restart,
            "dead_code_threshold": self.DEAD_CODE_THRESHOLD,
            "data_init": self.data_init,
        }

    @classmethod
    def from_dict(cls, d: dict) -> MeshVQVAEConfig:
        """Inverse of :meth:`to_dict` (missing keys: the paper's values); rejects unknown keys by name and
        quantiser constants other than this version's."""
        d = dict(d)
        constants = {"eps": cls.EPS, "dead_code_threshold": cls.DEAD_CODE_THRESHOLD}
        for key, value in constants.items():
            if key in d and float(d.pop(key)) != value:
                raise ValueError(f"model config {key}: this version's quantiser uses {value} only")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown MeshVQVAEConfig keys {sorted(unknown)}; known: {sorted(known)}")
        if "channels" in d:
            d["channels"] = tuple(int(c) for c in d["channels"])
        return cls(**d)
