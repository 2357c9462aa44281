"""Parquet shard sets: round trip, schema checks on write and read, zero-copy tensors, atomicity."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vqhps.io.schemas import IMAGES, MESHES, SchemaError, image_schema
from vqhps.io.shards import (
    MeshTopology,
    ShardSet,
    ShardWriter,
    fixed_list_tensor,
    load_vertices,
    read_template,
    write_template,
)


def _rows(n, v=4, split="train", start=0, rng=None):
    rng = rng or np.random.default_rng(0)
    return {
        "id": [f"m{start + i:04d}" for i in range(n)],
        "source": ["test"] * n,
        "split": [split] * n,
        "vertices": rng.standard_normal((n, v, 3)).astype(np.float32),
        "pose": [np.arange(i % 3 + 1, dtype=np.float32) for i in range(n)],
        "shape": [np.ones(6, np.float32)] * n,
        "gender": ["neutral"] * n,
    }


def test_round_trip_and_sharding(tmp_path):
    rows = _rows(7)
    writer = ShardWriter(tmp_path / "s", MESHES, 4, shard_size=3, row_group_size=2)
    writer.add(rows)
    meta = writer.close()
    assert meta["splits"]["train"]["rows"] == 7
    assert len(meta["splits"]["train"]["files"]) == 3, "7 rows at 3 per shard -> 3 files"
    shards = ShardSet(tmp_path / "s", "meshes")
    verts = load_vertices(shards, "train")
    np.testing.assert_array_equal(verts.numpy(), rows["vertices"])
    table = shards.read("train")
    assert table.column("id").to_pylist() == rows["id"], "row order must be the order written"
    assert [len(p) for p in table.column("pose").to_pylist()] == [1, 2, 3, 1, 2, 3, 1]


def test_zero_copy_single_chunk(tmp_path):
    writer = ShardWriter(tmp_path / "s", MESHES, 4, shard_size=10, row_group_size=10)
    writer.add(_rows(5))
    writer.close()
    table = ShardSet(tmp_path / "s", "meshes").read("train", ["vertices"])
    column = table.column("vertices")
    assert column.num_chunks == 1
    tensor = fixed_list_tensor(column, (4, 3))
    buffer = column.chunks[0].flatten().buffers()[1]
    assert tensor.data_ptr() == buffer.address, "one chunk must be viewed, not copied"


def test_write_rejects_wrong_width_and_dtype(tmp_path):
    writer = ShardWriter(tmp_path / "s", MESHES, 5, shard_size=10)
    with pytest.raises(SchemaError, match="vertices"):
        writer.add(_rows(2, v=4))
    rows = _rows(2, v=5)
    rows["vertices"] = rows["vertices"].astype(np.float64)
    with pytest.raises(SchemaError, match="float32"):
        writer.add(rows)


def test_write_rejects_unknown_split_missing_column_and_duplicates(tmp_path):
    writer = ShardWriter(tmp_path / "s", MESHES, 4, shard_size=10)
    with pytest.raises(SchemaError, match="split"):
        writer.add(_rows(2, split="dev"))
    rows = _rows(2)
    del rows["gender"]
    with pytest.raises(SchemaError, match="gender"):
        writer.add(rows)
    writer.add(_rows(2))
    with pytest.raises(SchemaError, match="duplicate"):
        writer.add(_rows(2))


def test_read_rejects_foreign_file(tmp_path):
    writer = ShardWriter(tmp_path / "s", MESHES, 4, shard_size=10)
    writer.add(_rows(3))
    writer.close()
    path = tmp_path / "s" / "train" / "part-000000.parquet"
    table = pq.read_table(path).drop_columns(["gender"])
    pq.write_table(table, path)
    with pytest.raises(SchemaError, match="gender"):
        ShardSet(tmp_path / "s", "meshes").read("train")


def test_read_rejects_wrong_kind_and_missing_meta(tmp_path):
    writer = ShardWriter(tmp_path / "s", MESHES, 4, shard_size=10)
    writer.add(_rows(1))
    writer.close()
    with pytest.raises(SchemaError, match="holds 'meshes'"):
        ShardSet(tmp_path / "s", IMAGES)
    (tmp_path / "s" / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match="meta.json"):
        ShardSet(tmp_path / "s", MESHES)


def test_meta_written_last_and_no_temp_files(tmp_path):
    writer = ShardWriter(tmp_path / "s", MESHES, 4, shard_size=2)
    writer.add(_rows(5))
    assert not (tmp_path / "s" / "meta.json").exists(), "meta.json marks completion; not before close()"
    writer.close()
    leftovers = [p.name for p in (tmp_path / "s").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert json.loads((tmp_path / "s" / "meta.json").read_text())["n_vertices"] == 4


def test_image_schema_round_trip(tmp_path):
    n, j = 3, 17
    cols = {
        "id": ["a", "b", "c"],
        "mesh_id": ["m0", "m1", "m2"],
        "source": ["anny"] * n,
        "split": ["val"] * n,
        "image": [b"\xff\xd8x", b"\xff\xd8y", b"\xff\xd8z"],
        "height": [8] * n,
        "width": [8] * n,
        "keypoints2d": np.zeros((n, j, 3), np.float32),
        "bbox": np.zeros((n, 4), np.float32),
        "global_rot": np.tile(np.eye(3, dtype=np.float32), (n, 1, 1)),
        "cam_K": np.zeros((n, 3, 3), np.float32),
        "cam_R": np.zeros((n, 3, 3), np.float32),
        "cam_t": np.zeros((n, 3), np.float32),
    }
    writer = ShardWriter(tmp_path / "i", IMAGES, j, shard_size=10)
    writer.add(cols)
    writer.close()
    table = ShardSet(tmp_path / "i", "images").read("val")
    assert table.schema == image_schema(j)
    assert table.column("image").to_pylist()[1] == b"\xff\xd8y"
    rot = fixed_list_tensor(table.column("global_rot"), (3, 3))
    assert np.allclose(rot.numpy(), np.eye(3))


def test_template_round_trip(tmp_path):
    verts = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    faces = np.array([[0, 1, 2], [2, 3, 4]])
    reg = np.full((17, 5), 0.2, np.float32)
    write_template(tmp_path, MeshTopology(verts, faces, "topo-x", reg))
    topo = read_template(tmp_path)
    np.testing.assert_array_equal(topo.vertices, verts)
    np.testing.assert_array_equal(topo.faces, faces)
    np.testing.assert_array_equal(topo.joint_regressor, reg)
    assert topo.topology_id == "topo-x" and topo.faces.dtype == np.int64
    write_template(tmp_path, MeshTopology(verts, faces, "topo-y"))
    assert read_template(tmp_path).joint_regressor is None
    with pytest.raises(ValueError, match="regressor"):
        write_template(tmp_path, MeshTopology(verts, faces, "t", np.zeros((17, 4), np.float32)))


def test_fsspec_url(tmp_path):
    writer = ShardWriter(tmp_path / "s", MESHES, 4, shard_size=10)
    rows = _rows(2)
    writer.add(rows)
    writer.close()
    shards = ShardSet(f"file://{tmp_path / 's'}", "meshes")
    np.testing.assert_array_equal(load_vertices(shards, "train").numpy(), rows["vertices"])
    assert isinstance(shards.read("val"), pa.Table) and shards.read("val").num_rows == 0
