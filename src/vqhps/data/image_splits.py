"""Image + mesh shard sets -> the sample dicts of ``ImageCropDataset`` (images kept encoded in memory)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vqhps.io.schemas import IMAGES, MESHES
from vqhps.io.shards import ShardSet, load_vertices

# Mesh shard set inside a mesh shard set: the same rows' GT from the SMPL model with the full 23-joint pose
# (``prepare_images`` writes it for the test split; the ``standard`` and ``emdb`` protocols score against it).
FULL_POSE_GT_DIR = "smpl_full_pose"


@dataclass
class ImageSplit:
    """One split of an image set, ready for ``ImageCropDataset``.

    Attributes:
        samples: one dict per image: ``image`` (encoded bytes), ``bbox`` (4,) xyxy px, ``keypoints2d``
            (17, 3) px + visibility, ``global_rot`` (3, 3), ``mesh_id`` (int, row of ``meshes``),
            ``canonical_verts`` (V, 3) float32 metres (a view of ``meshes``), plus ``id`` and ``source``,
            and ``full_pose_verts`` (V, 3) float32 metres when the mesh set has a full-pose GT set
            (:data:`FULL_POSE_GT_DIR`) for the split.
        meshes: (M, V, 3) float32 metres, the canonical centred GT meshes of the split.
        has_full_pose_gt: every sample has ``full_pose_verts``.
    """

    samples: list[dict]
    meshes: np.ndarray
    has_full_pose_gt: bool = False

    def full_pose_gt(self) -> list[np.ndarray] | None:
        """Per sample, its full-pose SMPL canonical GT mesh (V, 3) (None without that GT set)."""
        return [s["full_pose_verts"] for s in self.samples] if self.has_full_pose_gt else None

    def __len__(self) -> int:
        return len(self.samples)


def subset_indices(n: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset of ``round(fraction * n)`` (at least 1 when n > 0) of ``n`` items.

    The same (n, fraction, seed) always gives the same subset; a smaller fraction under the same seed gives
    a subset of the larger fraction's subset (a prefix of one permutation).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, int(round(fraction * n)))
    return np.sort(np.random.default_rng(seed).permutation(n)[:k]).astype(np.int64)


def load_image_split(
    images_dir: str,
    meshes_dir: str,
    split: str,
    sources: Sequence[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
    max_images: int | None = None,
) -> ImageSplit:
    """Read one split of an image set and join every image with its canonical GT mesh.

    Args:
        images_dir: image shard set (``render_images/images`` or a real image set).
        meshes_dir: mesh shard set whose ids are the images' ``mesh_id`` (same split).
        split: "train", "val" or "test".
        sources: keep only images whose ``source`` is listed (None = all).
        fraction: keep a seeded subset of this fraction of the kept images (see :func:`subset_indices`).
        seed: subset seed.
        max_images: then keep at most the first this many (None = all).

    Raises:
        ValueError: an image names a mesh id absent from the mesh shards, or ``sources`` match no image.
    """
    images = ShardSet(images_dir, IMAGES)
    table = images.read(split, ["id", "mesh_id", "source", "image", "keypoints2d", "bbox", "global_rot"])
    source = np.asarray(table.column("source").to_pylist(), dtype=object)
    keep = np.arange(table.num_rows)
    if sources is not None:
        keep = keep[np.isin(source, list(sources))]
        if table.num_rows and not len(keep):
            raise ValueError(
                f"{images_dir} ({split}): no image has a source in {list(sources)}; "
                f"present: {sorted(set(source))}"
            )
    keep = keep[subset_indices(len(keep), fraction, seed)] if fraction < 1.0 else keep
    if max_images is not None:
        keep = keep[:max_images]
    mesh_set = ShardSet(meshes_dir, MESHES)
    meshes = load_vertices(mesh_set, split).numpy()
    mesh_row = {mid: i for i, mid in enumerate(mesh_set.read(split, ["id"]).column("id").to_pylist())}
    full = _full_pose_set(meshes_dir, split)
    table = table.take(keep)
    keypoints = _fixed(table.column("keypoints2d"), (17, 3))
    bbox = _fixed(table.column("bbox"), (4,))
    rot = _fixed(table.column("global_rot"), (3, 3))
    samples = []
    for i, (img_id, mesh_id, src, data) in enumerate(
        zip(*(table.column(c).to_pylist() for c in ("id", "mesh_id", "source", "image")), strict=True)
    ):
        if mesh_id not in mesh_row:
            raise ValueError(
                f"{images_dir} ({split}): image {img_id} names mesh {mesh_id!r}, absent from "
                f"{meshes_dir}; re-run the stage that wrote both"
            )
        row = mesh_row[mesh_id]
        sample = {
            "id": img_id,
            "source": src,
            "image": data,
            "bbox": bbox[i],
            "keypoints2d": keypoints[i],
            "global_rot": rot[i],
            "mesh_id": row,
            "canonical_verts": meshes[row],
        }
        if full is not None:
            if mesh_id not in full[1]:
                raise ValueError(
                    f"{meshes_dir}/{FULL_POSE_GT_DIR} ({split}): no full-pose GT for mesh {mesh_id!r}; "
                    "re-run the stage that wrote both"
                )
            sample["full_pose_verts"] = full[0][full[1][mesh_id]]
        samples.append(sample)
    return ImageSplit(samples=samples, meshes=meshes, has_full_pose_gt=full is not None)


def _full_pose_set(meshes_dir: str, split: str) -> tuple[np.ndarray, dict[str, int]] | None:
    """(vertices (M, V, 3), mesh id -> row) of the full-pose GT set's ``split``; None if absent or empty."""
    folder = f"{meshes_dir}/{FULL_POSE_GT_DIR}"
    try:
        shards = ShardSet(folder, MESHES)
    except FileNotFoundError:
        return None
    if not shards.num_rows(split):
        return None
    ids = shards.read(split, ["id"]).column("id").to_pylist()
    return load_vertices(shards, split).numpy(), {mid: i for i, mid in enumerate(ids)}


def _fixed(column, shape: tuple[int, ...]) -> np.ndarray:
    """Fixed-size list column -> (N, *shape) float32 numpy (a writable copy)."""
    flat = np.asarray(column.combine_chunks().flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    return flat.reshape(len(column), *shape).copy()
