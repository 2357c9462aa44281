"""Shared set-up of the image-model runs: datasets of one regime, rest-pose joints, mirror permutation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch.utils.data import Subset

from vqhps.data.augment import vertex_mirror_permutation
from vqhps.data.crop_config import Augment, CropConfig
from vqhps.data.image_dataset import ImageCropDataset
from vqhps.data.image_splits import load_image_split
from vqhps.data.mixture import SourceMixture
from vqhps.io.shards import MeshTopology
from vqhps.training.image_trainer import ImageTrainSettings


def rest_joints(topology: MeshTopology) -> np.ndarray:
    """Constant rest-pose joints of the rotation branch: (17, 3) float32, regressor @ template, metres."""
    if topology.joint_regressor is None:
        raise ValueError(
            f"topology {topology.topology_id!r} has no joint regressor (template.npz); re-run the "
            "stage that wrote the mesh shards"
        )
    return (
        np.asarray(topology.joint_regressor, np.float64) @ np.asarray(topology.vertices, np.float64)
    ).astype(np.float32)


def mirror_permutation(topology: MeshTopology, flip_prob: float) -> np.ndarray | None:
    """Left/right vertex partners for flipped crops, or None when nothing is flipped.

    Raises:
        ValueError: flipping is on but the template is not left/right symmetric (set flip_prob to 0).
    """
    if flip_prob <= 0:
        return None
    try:
        return vertex_mirror_permutation(np.asarray(topology.vertices))
    except ValueError as err:
        raise ValueError(
            f"flip augmentation needs a symmetric template ({topology.topology_id}): {err}; "
            "set image_training.augment.flip_prob to 0"
        ) from None


def crop_configs(crop_size: int, bbox_rescale: float, aug: Augment) -> tuple[CropConfig, CropConfig]:
    """(train config with augmentation, validation config without) for ``crop_size`` px crops."""
    train = CropConfig(size=crop_size, bbox_rescale=bbox_rescale, augment=aug)
    return train, CropConfig(size=crop_size, bbox_rescale=bbox_rescale)


@dataclass
class RegimeData:
    """The datasets of one training regime: ``train`` (augmented, restricted to the regime's images; a
    :class:`~vqhps.data.mixture.SourceMixture` over its sources when it has several) and ``val`` (all val
    images of the same sources, no augmentation). ``n_train`` counts images, ``len(train)`` is an epoch."""

    train: ImageCropDataset | SourceMixture
    val: ImageCropDataset | Subset
    n_train: int
    n_val: int
    rows_per_source: dict[str, int] = field(default_factory=dict)


def regime_datasets(
    images_dir: str | Path,
    meshes_dir: str | Path,
    sources: Sequence[str],
    fraction: float,
    subset_seed: int,
    data_seed: int,
    crop: tuple[int, float],
    aug: Augment,
    permutation: np.ndarray | None,
    max_val_images: int | None = None,
    val_sources: Sequence[str] | None = None,
    weights: dict[str, float] | None = None,
) -> RegimeData:
    """Datasets of one regime.

    Args:
        images_dir, meshes_dir: the image set and its canonical GT meshes.
        sources: image sources used for training (and validation unless ``val_sources`` is given).
        fraction: seeded fraction of the train images (scarce regime < 1).
        subset_seed: seed of that subset (share it between models so they train on the same images).
        data_seed: seed of the augmentation draws.
        crop: (crop side in px, bbox_rescale) of every crop; ``aug``: the train crops' augmentation.
        permutation: vertex mirror permutation (None: no flips).
        max_val_images: keep the first this many val images (None = all).
        val_sources: image sources of the val images (the paper validates every regime on 3DPW).
        weights: per-source sampling weights of a several-source regime (None = equal, the original's).

    Raises:
        ValueError: no train or no val image is left.
    """
    train_cfg, val_cfg = crop_configs(*crop, aug)
    train = load_image_split(str(images_dir), str(meshes_dir), "train", sources, fraction, subset_seed)
    val_sources = sources if val_sources is None else val_sources
    val = load_image_split(str(images_dir), str(meshes_dir), "val", val_sources, max_images=max_val_images)
    if not len(train) or not len(val):
        raise ValueError(
            f"{images_dir}: need train images from {list(sources)} and val images from {list(val_sources)}; "
            f"have {len(train)} and {len(val)}"
        )
    train_ds = ImageCropDataset(train.samples, train_cfg, vertex_permutation=permutation, seed=data_seed)
    val_ds = ImageCropDataset(val.samples, val_cfg, seed=data_seed)
    row_sources = [s["source"] for s in train.samples]
    counts = {src: row_sources.count(src) for src in sources}
    mixed: ImageCropDataset | SourceMixture = train_ds
    if len(sources) > 1:  # the original's MixedDataset: each source drawn with its weight, epoch = largest
        mixed = SourceMixture(train_ds, row_sources, list(sources), weights, seed=data_seed)
    return RegimeData(train=mixed, val=val_ds, n_train=len(train), n_val=len(val), rows_per_source=counts)


def regime_data(
    image_set: tuple[Path, Path],
    topology: MeshTopology,
    p,
    regime,
    name: str,
    seed: int,
) -> RegimeData:
    """:func:`regime_datasets` of one regime as both image stages build it (same images, same seeds).

    Args:
        image_set: the ``images/`` and ``meshes/`` shard-set folders.
        topology: the meshes' topology (for the flip permutation).
        p: the ``image_training`` section (``crop_size``, ``bbox_rescale``, ``augment``, ``max_val_images``).
        regime: its ``RegimeParams`` (sources, fraction, val_sources); ``name`` its key.
        seed: the experiment's master seed.
    """
    from vqhps.infra.seeding import stage_seed

    return regime_datasets(
        image_set[0],
        image_set[1],
        regime.sources,
        regime.fraction,
        stage_seed(seed, "image_subset", name),
        stage_seed(seed, "image_augment", name) % 2**31,
        (p.crop_size, p.bbox_rescale),
        p.augment,
        mirror_permutation(topology, p.augment.flip_prob),
        None if p.max_val_images < 0 else p.max_val_images,
        regime.val_sources,
        None if regime.weights is None else dict(regime.weights),
    )


@dataclass(frozen=True)
class RunLength:
    """Optimiser steps of a run and how they were found (the original counts epochs)."""

    steps: int
    lr_step: int
    steps_per_epoch: int  # len(train) // batch_size: the original's DataLoader with drop_last
    epoch_rows: int  # items per epoch: the largest source's rows (MixedDataset) or the regime's rows
    from_epochs: bool = True  # steps came from ``epochs`` (else a regime's or image_training's ``steps``)

    def describe(self, p) -> str:
        if not self.from_epochs:
            return f"{self.steps} steps (params), StepLR every {self.lr_step}"
        return (
            f"{p.epochs:g} epochs x {self.steps_per_epoch} steps ({self.epoch_rows} items per epoch / batch "
            f"{p.batch_size}) = {self.steps} steps; StepLR every {self.lr_step} steps"
        )


def run_length(p, regime, data: RegimeData) -> RunLength:
    """Steps of one regime's run: the regime's ``steps``, else image_training's ``steps``, else ``epochs``.

    Args:
        p: the ``image_training`` section (steps/epochs, lr_step/lr_step_epochs, batch_size).
        regime: its ``RegimeParams`` (``steps`` overrides).
        data: the regime's datasets (``len(data.train)`` is an epoch).
    """
    per_epoch = max(1, len(data.train) // p.batch_size)
    steps = regime.steps or p.steps or max(1, round(p.epochs * per_epoch))
    lr_step = p.lr_step or max(1, round(p.lr_step_epochs * per_epoch))
    explicit = bool(regime.steps or p.steps)
    return RunLength(int(steps), int(lr_step), per_epoch, len(data.train), not explicit)


def train_settings(p, steps: int, seed: int, workers: int, lr_step: int | None = None) -> ImageTrainSettings:
    """``ImageTrainSettings`` from the ``image_training`` section (``ImageTrainingParams``).

    Args:
        p: the params section (batch_size, lr, weight_decay, lr_step, lr_gamma, val_every, ckpt_every,
            max_val_images, precision).
        steps: the regime's step count.
        lr_step: StepLR period in steps (None: ``p.lr_step``).
        seed: training seed (batch order, dropout).
        workers: DataLoader worker processes.
    """
    return ImageTrainSettings(
        steps=steps,
        batch_size=p.batch_size,
        lr=p.lr,
        weight_decay=p.weight_decay,
        lr_step=lr_step or p.lr_step,
        lr_gamma=p.lr_gamma,
        val_every=min(p.val_every, steps),
        ckpt_every=p.ckpt_every,
        seed=seed % 2**31,
        num_workers=workers,
        eval_batch_size=max(p.batch_size, 32),
        max_val_images=None if p.max_val_images < 0 else p.max_val_images,
        precision=p.precision,
        keep_best="pve_mm" if p.checkpoint == "best" else None,
    )
