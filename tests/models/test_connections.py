"""MeshConvolution connection files: format round trip, errors, and the layer shapes they imply."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.meshes import icosphere
from vqhps.models.connections import load_connections, save_connections, table_from_rows, table_to_rows
from vqhps.models.mesh_hierarchy import HierarchySettings, build_hierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig

LEVELS = ((1, 1, 1), (2, 2, 2), (1, 1, 1))


def test_row_format_is_the_original_one():
    rows = np.array([[2, 5, 0, 1, 1, 9, -1], [3, 3, 0, 0, 1, 4, 2]], dtype=np.int32)
    table = table_from_rows(rows, n_in=9)
    assert table.index.tolist() == [[5, 1, 9], [3, 0, 4]]
    assert table.mask.tolist() == [[True, True, False], [True, True, True]]
    assert np.array_equal(table_to_rows(table), rows)
    assert table_from_rows(rows).n_in == 9  # inferred from the padding id


def test_bad_rows_are_rejected():
    with pytest.raises(ValueError, match="counts"):
        table_from_rows(np.array([[4, 1, 0, 2, 1]]), n_in=5)
    with pytest.raises(ValueError, match="neighbour ids"):
        table_from_rows(np.array([[2, 1, 0, 7, 1]]), n_in=5)


def test_save_load_round_trip_and_model_shapes(tmp_path):
    _, faces = icosphere(2)
    h = build_hierarchy(faces, 162, HierarchySettings(LEVELS))
    save_connections(h, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"_{k}{i}.npy" for k in ("pool", "unpool") for i in range(3)
    ]
    raw = np.load(tmp_path / "_pool1.npy")
    assert raw.dtype == np.int32 and raw.shape == (
        h.levels[1].pool.n_out,
        1 + 2 * h.levels[1].pool.max_neighbours,
    )
    loaded = load_connections(tmp_path, 162, n_levels=3)
    assert loaded.point_counts == h.point_counts
    assert [lv.resamples for lv in loaded.levels] == [False, True, False]
    for a, b in zip(h.levels, loaded.levels, strict=True):
        assert np.array_equal(a.pool.index, b.pool.index) and np.array_equal(a.unpool.index, b.unpool.index)
    model = MeshVQVAE(loaded, MeshVQVAEConfig(channels=(8, 4), codebook_size=16))
    n_mid = h.point_counts[2]
    enc = model.encoder
    assert (enc[0].n_in, enc[0].n_out, enc[0].coeff.shape) == (162, 162, (162, enc[0].k, 9))
    assert enc[0].k == h.levels[0].pool.max_neighbours
    assert enc[1].weight.shape == (n_mid, h.levels[1].pool.max_neighbours)
    assert model.decoder[1].weight.shape == (162, h.levels[1].unpool.max_neighbours)
    assert model.n_tokens == n_mid


def test_missing_file_is_named(tmp_path):
    _, faces = icosphere(1)
    save_connections(build_hierarchy(faces, 42, HierarchySettings(LEVELS)), tmp_path)
    (tmp_path / "_unpool1.npy").unlink()
    with pytest.raises(FileNotFoundError, match="_unpool1.npy"):
        load_connections(tmp_path, 42, n_levels=3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_connections(tmp_path / "nope", 42)
