"""How an image becomes a model crop: the crop box and the train-time augmentation (torch-free).

These two dataclasses are the one definition of each concept: ``params.yaml``'s
``<experiment>.image_training.augment`` is validated as an :class:`Augment` (:mod:`vqhps.config`), and
the crop dataset (:class:`vqhps.data.image_dataset.ImageCropDataset`) reads a :class:`CropConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Keypoint layouts with a left/right permutation (the keys of vqhps.data.augment.FLIP_PERMUTATIONS, not
# imported here: it needs OpenCV; a test keeps the two in step).
SKELETONS = ("h36m17", "smpl24")


def _check_range(name: str, value: float, high: float) -> None:
    if not 0.0 <= value <= high:
        upper = "inf" if high == float("inf") else f"{high:g}"
        raise ValueError(f"{name}: {value} is outside [0, {upper}]")


@dataclass(frozen=True)
class Augment:
    """Train-time crop augmentation (reference §3.4): flip, in-plane rotation, box scale, photometric.

    Every field is required (no silent defaults in a params file); :data:`PAPER_AUGMENT` holds the paper's.
    """

    flip_prob: float  # left/right flip probability (paper: 0.5); flipped samples use the mirrored mesh
    rot_prob: float  # probability of an in-plane rotation (paper: 0.4)
    rot_std_deg: float  # rotation ~ clip(N(0, std), +-max) degrees (paper: 30)
    rot_max_deg: float  # (paper: 60)
    scale_std: float  # box scale ~ clip(N(1, std), 0.75..1.25) (paper: 0.25)
    photometric_prob: float  # probability of each photometric group (paper: 0.3)

    def __post_init__(self) -> None:
        for name in ("flip_prob", "rot_prob", "photometric_prob"):
            _check_range(name, getattr(self, name), 1.0)
        for name in ("rot_std_deg", "rot_max_deg", "scale_std"):
            _check_range(name, getattr(self, name), float("inf"))


PAPER_AUGMENT = Augment(
    flip_prob=0.5, rot_prob=0.4, rot_std_deg=30.0, rot_max_deg=60.0, scale_std=0.25, photometric_prob=0.3
)


@dataclass(frozen=True)
class CropConfig:
    """One crop of a person image.

    ``size``: crop side in px (224 in the paper; smaller for the CPU demo). ``bbox_rescale``: square box
    side = rescale * max(bbox w, h). ``augment``: the train-time augmentation, or None for the fixed crops of
    validation and test. ``skeleton``: left/right permutation of the keypoints ("h36m17" or "smpl24").
    ``lateral_axis``: the canonical body's left/right axis (x for SMPL and Anny).
    """

    size: int = 224
    bbox_rescale: float = 1.2
    augment: Augment | None = None
    skeleton: str = "h36m17"
    lateral_axis: int = 0

    def __post_init__(self) -> None:
        if self.skeleton not in SKELETONS:
            raise ValueError(f"unknown skeleton {self.skeleton!r}; use one of {sorted(SKELETONS)}")
        if self.size < 8:
            raise ValueError(f"crop size must be >= 8 px, got {self.size}")
        if self.bbox_rescale <= 0:
            raise ValueError(f"bbox_rescale: must be > 0, got {self.bbox_rescale}")
