"""The Parquet schemas of the project's shards, defined once and checked on write and on read.

* mesh shards: one canonical, centred mesh per row (Mesh-VQ-VAE input);
* image shards: one rendered or real image per row, encoded bytes plus its labels;
* token shards: one token sequence per mesh, ids shared with the mesh shards.

Per-dataset sizes (vertex count, token count, joint count) live in the shard set's ``meta.json``
and are checked against the fixed-size list widths.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SPLITS = ("train", "val", "test")
SCHEMA_VERSION = 1


def mesh_schema(n_vertices: int) -> pa.Schema:
    """Mesh rows: ``vertices`` is (V*3,) float32 metres, canonical (no global rotation), centred."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("source", pa.string(), nullable=False),  # e.g. "anny", "amass/CMU", "3dpw"
            pa.field("split", pa.string(), nullable=False),
            pa.field("vertices", pa.list_(pa.float32(), 3 * n_vertices), nullable=False),
            pa.field("pose", pa.list_(pa.float32()), nullable=False),  # body-model pose parameters
            pa.field("shape", pa.list_(pa.float32()), nullable=False),  # betas / phenotypes
            pa.field("gender", pa.string(), nullable=False),  # "male", "female", "neutral"
        ]
    )


def image_schema(n_joints: int) -> pa.Schema:
    """Image rows: encoded image bytes and labels in pixels of the stored image.

    ``keypoints2d`` are the 17 H36M joints in the row order of SPIN's ``J_regressor_h36m`` (0 pelvis,
    1-3 left leg, 4-6 right leg, 7 spine, 8 thorax, 9 neck/nose, 10 head, 11-13 left arm, 14-16 right
    arm), the order of the project's Anny regressor too, with a third column of visibility/confidence
    in [0, 1]. Camera fields that a dataset does not provide are NaN.
    """
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("mesh_id", pa.string(), nullable=False),  # row id in the image set's mesh shards
            pa.field("source", pa.string(), nullable=False),  # e.g. "anny", "coco", "3dpw", "emdb1"
            pa.field("split", pa.string(), nullable=False),
            pa.field("image", pa.binary(), nullable=False),  # encoded JPEG or PNG
            pa.field("height", pa.int32(), nullable=False),
            pa.field("width", pa.int32(), nullable=False),
            pa.field(
                "keypoints2d", pa.list_(pa.float32(), 3 * n_joints), nullable=False
            ),  # (J, 3): u px, v px, visible
            pa.field("bbox", pa.list_(pa.float32(), 4), nullable=False),  # x0, y0, x1, y1 px
            pa.field(
                "global_rot", pa.list_(pa.float32(), 9), nullable=False
            ),  # (3, 3) body rotation, camera frame
            pa.field("cam_K", pa.list_(pa.float32(), 9), nullable=False),  # (3, 3) intrinsics, px
            pa.field("cam_R", pa.list_(pa.float32(), 9), nullable=False),  # (3, 3) world -> camera
            pa.field("cam_t", pa.list_(pa.float32(), 3), nullable=False),  # world -> camera, metres
        ]
    )


def token_schema(n_tokens: int) -> pa.Schema:
    """Token rows: int16 codebook indices of a mesh and its reconstruction error."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("tokens", pa.list_(pa.int16(), n_tokens), nullable=False),
            pa.field("pve_mm", pa.float32(), nullable=False),
        ]
    )


@dataclass(frozen=True)
class ShardKind:
    """A named schema family and the ``meta.json`` key holding its width parameter."""

    name: str
    size_key: str

    def schema(self, size: int) -> pa.Schema:
        return {"meshes": mesh_schema, "images": image_schema, "tokens": token_schema}[self.name](size)


MESHES = ShardKind("meshes", "n_vertices")
IMAGES = ShardKind("images", "n_joints")
TOKENS = ShardKind("tokens", "n_tokens")
KINDS = {k.name: k for k in (MESHES, IMAGES, TOKENS)}


class SchemaError(ValueError):
    """A shard does not have the project's schema (named file, column and expected type)."""


def check_table(table: pa.Table, expected: pa.Schema, where: str) -> None:
    """Raise :class:`SchemaError` unless ``table`` has exactly the ``expected`` columns and types."""
    got = {f.name: f.type for f in table.schema}
    want = {f.name: f.type for f in expected}
    missing = [n for n in want if n not in got]
    extra = [n for n in got if n not in want]
    if missing or extra:
        raise SchemaError(f"{where}: columns differ from the schema; missing {missing}, unexpected {extra}")
    for name, tp in want.items():
        if got[name] != tp:
            raise SchemaError(f"{where}: column '{name}' has type {got[name]}, expected {tp}")
    if "split" in got:
        bad = set(table.column("split").unique().to_pylist()) - set(SPLITS)
        if bad:
            raise SchemaError(f"{where}: unknown split values {sorted(bad)}; allowed: {', '.join(SPLITS)}")
    for name in want:
        if table.column(name).null_count:
            raise SchemaError(f"{where}: column '{name}' has null values")
