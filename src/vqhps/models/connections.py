"""Read and write MeshConvolution connection files (``_poolN.npy`` / ``_unpoolN.npy``) as a MeshHierarchy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vqhps.io.atomic import atomic_path
from vqhps.models.mesh_hierarchy import HierarchyLevel, MeshHierarchy, NeighbourTable

# The SMPL "medium" Mesh-VQ-VAE uses levels 0..6 of the dfaust2 folder (level 7 exists but is unused).
MEDIUM_N_LEVELS = 7


def table_from_rows(
    rows: np.ndarray, n_in: int | None = None, name: str = "connection array"
) -> NeighbourTable:
    """Parse the int32 connection format into a NeighbourTable.

    Args:
        rows: (N_out, 1 + 2K) int; row = [n, id0, d0, id1, d1, ..., pad_id, -1, ...], pad_id = N_in.
        n_in: number of input points; inferred from the padding id (or max id + 1) when None.
        name: used in error messages (e.g. the file name).

    Returns:
        The table with the K padded entries, re-padded with ``n_in``.
    """
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] < 3 or rows.shape[1] % 2 != 1:
        raise ValueError(f"{name}: expected an (N_out, 1 + 2K) int array, got shape {rows.shape}")
    counts = rows[:, 0].astype(np.int64)
    k = (rows.shape[1] - 1) // 2
    ids = rows[:, 1::2].astype(np.int64)
    dist = rows[:, 2::2].astype(np.int32)
    if counts.min() < 1 or counts.max() > k:
        raise ValueError(
            f"{name}: neighbour counts must lie in [1, {k}], got [{counts.min()}, {counts.max()}]"
        )
    real = np.arange(k)[None, :] < counts[:, None]
    if n_in is None:
        n_in = int(ids[~real].max()) if (~real).any() else int(ids[real].max()) + 1
    if ids[real].min() < 0 or ids[real].max() >= n_in:
        raise ValueError(f"{name}: neighbour ids must lie in [0, {n_in}), the padding id being {n_in}")
    return NeighbourTable(np.where(real, ids, n_in), np.where(real, dist, -1).astype(np.int32), n_in)


def table_to_rows(table: NeighbourTable) -> np.ndarray:
    """Inverse of :func:`table_from_rows`: (N_out, 1 + 2K) int32 rows."""
    rows = np.empty((table.n_out, 1 + 2 * table.max_neighbours), dtype=np.int32)
    rows[:, 0] = table.mask.sum(1)
    rows[:, 1::2] = table.index
    rows[:, 2::2] = np.where(table.mask, table.distance, -1)
    return rows


def load_connections(folder: Path, n_vertices: int, n_levels: int = MEDIUM_N_LEVELS) -> MeshHierarchy:
    """Load ``_pool{i}.npy`` / ``_unpool{i}.npy``, i < n_levels (e.g. MeshConvolution's ``dfaust2``).

    A level resamples (learned pooling) iff its output point count differs from its input count.

    Args:
        folder: folder holding the files.
        n_vertices: template vertex count (6890 for SMPL).
        n_levels: number of levels the network uses (7 for the medium, 54-token model).

    Returns:
        The hierarchy.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"connection folder {folder} does not exist (MeshConvolution dfaust2 files)")
    levels = []
    n_in = n_vertices
    for i in range(n_levels):
        pool_file, unpool_file = folder / f"_pool{i}.npy", folder / f"_unpool{i}.npy"
        for f in (pool_file, unpool_file):
            if not f.is_file():
                raise FileNotFoundError(
                    f"missing connection file {f}; copy MeshConvolution's "
                    "train/0223_GraphAE27_compare/connections/dfaust2/ folder there, or lower n_levels"
                )
        pool = table_from_rows(np.load(pool_file), n_in=n_in, name=str(pool_file))
        unpool = table_from_rows(np.load(unpool_file), n_in=pool.n_out, name=str(unpool_file))
        if unpool.n_out != n_in:
            raise ValueError(
                f"{unpool_file}: has {unpool.n_out} rows, expected {n_in} (input points of level {i})"
            )
        levels.append(HierarchyLevel(pool, unpool, resamples=pool.n_out != n_in))
        n_in = pool.n_out
    return MeshHierarchy(n_vertices, tuple(levels), source=f"connections {folder}")


def save_connections(hierarchy: MeshHierarchy, folder: Path) -> None:
    """Write each level as ``_pool{i}.npy`` / ``_unpool{i}.npy`` in the MeshConvolution format, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, lv in enumerate(hierarchy.levels):
        for name, table in (("pool", lv.pool), ("unpool", lv.unpool)):
            with atomic_path(folder / f"_{name}{i}.npy") as tmp, open(tmp, "wb") as fh:
                np.save(fh, table_to_rows(table))


def random_table(
    n_out: int, n_in: int, max_neighbours: int, rng: np.random.Generator, mean_neighbours: float | None = None
) -> NeighbourTable:
    """Random neighbour table of a given shape (benchmarks/tests: costs the same as a real one).

    Row p starts with point p (mod n_in) at distance 0; one row has exactly ``max_neighbours`` entries; row
    lengths are uniform with mean ``mean_neighbours`` (default: 2/3 of ``max_neighbours``).
    """
    k = max_neighbours
    low = max(1, k // 3) if mean_neighbours is None else max(1, round(2 * mean_neighbours - k))
    counts = rng.integers(low, k + 1, size=n_out)
    counts[0] = k
    index = np.full((n_out, k), n_in, dtype=np.int64)
    distance = np.full((n_out, k), -1, dtype=np.int32)
    for p, c in enumerate(counts):
        others = rng.choice(n_in, size=min(c, n_in), replace=False)
        row = np.concatenate([[p % n_in], others[others != p % n_in]])[:c]
        index[p, : len(row)] = row
        distance[p, : len(row)] = np.minimum(np.arange(len(row)), 1)
    return NeighbourTable(index, distance, n_in)


# (out points, max neighbours, mean neighbours) of the dfaust2 files, levels 0..6 (reference §2.3),
# (pool, unpool) per level.
DFAUST2_SHAPES: tuple[tuple[tuple[int, int, float], tuple[int, int, float]], ...] = (
    ((6890, 10, 7.0), (6890, 10, 7.0)),
    ((1925, 32, 19.3), (6890, 11, 5.4)),
    ((1925, 21, 10.6), (1925, 21, 10.6)),
    ((400, 56, 33.0), (1925, 14, 6.9)),
    ((400, 26, 14.0), (400, 26, 14.0)),
    ((54, 66, 41.3), (400, 11, 5.6)),
    ((54, 19, 10.3), (54, 19, 10.3)),
)


def random_dfaust2_like(seed: int = 0) -> MeshHierarchy:
    """Hierarchy with the dfaust2 point and (max, mean) neighbour counts, random connectivity (6890 -> 54)."""
    rng = np.random.default_rng(seed)
    levels = []
    n_in = 6890
    for (p_out, p_k, p_mean), (u_out, u_k, u_mean) in DFAUST2_SHAPES:
        pool = random_table(p_out, n_in, p_k, rng, p_mean)
        unpool = random_table(u_out, p_out, u_k, rng, u_mean)
        levels.append(HierarchyLevel(pool, unpool, resamples=p_out != n_in))
        n_in = p_out
    return MeshHierarchy(6890, tuple(levels), source=f"random dfaust2-like seed {seed}")
