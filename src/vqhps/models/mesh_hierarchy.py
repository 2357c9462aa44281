"""Graph pooling hierarchy of a template mesh (centre sampling, pool/unpool neighbour tables), disk-cached.

Two builders share the data types here: ``meshconv`` (``meshconv_pooler``, MeshConvolution's visiting
order, the paper's hierarchy) and ``sorted`` (below: the same rules over ascending neighbour lists).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vqhps.io.atomic import atomic_path
from vqhps.models.mesh_vqvae_config import HierarchySettings

# Bump when the algorithm changes so stale cache files are never reused.
_ALGORITHM_VERSION = "1"


@dataclass(frozen=True)
class NeighbourTable:
    """Padded neighbour lists of one network layer.

    Attributes:
        index: (n_out, K) int64; row p lists the input points feeding output point p; padded with ``n_in``.
        distance: (n_out, K) int32 graph hops of each entry (informative only); -1 on padding.
        n_in: number of input points.
    """

    index: np.ndarray
    distance: np.ndarray
    n_in: int

    def __post_init__(self) -> None:
        if self.index.ndim != 2 or self.index.shape != self.distance.shape:
            raise ValueError(f"neighbour index {self.index.shape} and distance {self.distance.shape} differ")
        if self.index.size and (self.index.min() < 0 or self.index.max() > self.n_in):
            raise ValueError(f"neighbour index outside [0, {self.n_in}] (n_in is the padding id)")

    @property
    def n_out(self) -> int:
        """Number of output points."""
        return int(self.index.shape[0])

    @property
    def max_neighbours(self) -> int:
        """K, the padded row length."""
        return int(self.index.shape[1])

    @property
    def mask(self) -> np.ndarray:
        """(n_out, K) bool, True on real (non-padding) entries."""
        return self.index != self.n_in

    @property
    def mean_neighbours(self) -> float:
        """Average number of real neighbours per output point (used by the original initialisation)."""
        return float(self.mask.sum()) / max(self.n_out, 1)


@dataclass(frozen=True)
class HierarchyLevel:
    """One level: ``pool`` maps its input points to its output points, ``unpool`` maps back.

    ``resamples`` is False for stride-1 levels (vc-conv layers) and True for stride > 1 (learned pooling).
    """

    pool: NeighbourTable
    unpool: NeighbourTable
    resamples: bool


@dataclass(frozen=True)
class MeshHierarchy:
    """All levels of a mesh hierarchy, whatever its source (template mesh or connection files)."""

    n_vertices: int
    levels: tuple[HierarchyLevel, ...]
    source: str = ""

    @property
    def point_counts(self) -> list[int]:
        """Points before level 0 and after every level, e.g. [6890, 6890, 1925, 1925, 400, 400, 54, 54]."""
        return [self.n_vertices] + [lv.pool.n_out for lv in self.levels]

    @property
    def n_tokens(self) -> int:
        """Number of coarsest points (= tokens per mesh)."""
        return self.point_counts[-1]

    def token_vertex_ids(self) -> np.ndarray:
        """(T,) int64 template vertex id of each coarsest point (a pool row's centre is its first entry)."""
        ids = np.arange(self.n_vertices)
        for lv in self.levels:
            ids = ids[lv.pool.index[:, 0]]
        return ids

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dict of numpy arrays (for npz caches and checkpoints); inverse of :meth:`from_arrays`."""
        out: dict[str, np.ndarray] = {
            "n_vertices": np.asarray(self.n_vertices, np.int64),
            "n_levels": np.asarray(len(self.levels), np.int64),
        }
        for i, lv in enumerate(self.levels):
            for name, table in (("pool", lv.pool), ("unpool", lv.unpool)):
                out[f"{name}{i}_index"] = table.index.astype(np.int64)
                out[f"{name}{i}_distance"] = table.distance.astype(np.int32)
                out[f"{name}{i}_n_in"] = np.asarray(table.n_in, np.int64)
            out[f"level{i}_resamples"] = np.asarray(lv.resamples, np.bool_)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict, source: str = "") -> MeshHierarchy:
        """Rebuild from :meth:`to_arrays` output (numpy arrays or CPU tensors)."""
        a = {k: np.asarray(v) for k, v in arrays.items()}
        levels = []
        for i in range(int(a["n_levels"])):
            tables = [
                NeighbourTable(a[f"{n}{i}_index"], a[f"{n}{i}_distance"], int(a[f"{n}{i}_n_in"]))
                for n in ("pool", "unpool")
            ]
            levels.append(HierarchyLevel(tables[0], tables[1], bool(a[f"level{i}_resamples"])))
        return cls(int(a["n_vertices"]), tuple(levels), source)


def mesh_graph(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex adjacency (CSR, neighbours sorted ascending) from polygon faces.

    Args:
        faces: (F, P) int polygon vertex ids, P >= 3 (triangles or quads); consecutive corners form edges.
        n_vertices: number of vertices.

    Returns:
        indptr (V+1,) int64 and indices (E,) int64.
    """
    faces = np.asarray(faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] < 3:
        raise ValueError(f"faces must be (F, P>=3) polygon ids, got shape {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= n_vertices):
        raise ValueError(f"face ids outside [0, {n_vertices})")
    a = faces.reshape(-1)
    b = np.roll(faces, -1, axis=1).reshape(-1)
    return _csr_from_edges(np.concatenate([a, b]), np.concatenate([b, a]), n_vertices)


def _csr_from_edges(src: np.ndarray, dst: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    keep = src != dst
    pairs = np.unique(np.stack([src[keep], dst[keep]], axis=1), axis=0)  # sorted by (src, dst)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, pairs[:, 0] + 1, 1)
    return np.cumsum(indptr), pairs[:, 1].copy()


def _ball(indptr: np.ndarray, indices: np.ndarray, source: int, radius: int) -> tuple[list[int], list[int]]:
    """Vertices within ``radius`` hops of ``source`` in BFS order (source first), with their distances."""
    order, dist = [source], [0]
    seen = {source}
    frontier = [source]
    for d in range(1, radius + 1):
        nxt = []
        for v in frontier:
            for u in indices[indptr[v] : indptr[v + 1]].tolist():
                if u not in seen:
                    seen.add(u)
                    nxt.append(u)
        order.extend(nxt)
        dist.extend([d] * len(nxt))
        frontier = nxt
    return order, dist


def _bfs_order(indptr: np.ndarray, indices: np.ndarray, starts: list[int]) -> list[int]:
    """All vertices in BFS order from ``starts``; further components start at their lowest vertex."""
    n = len(indptr) - 1
    seen = np.zeros(n, dtype=bool)
    order: list[int] = []
    pending = deque()
    for s in [*starts, *range(n)]:
        if seen[s]:
            continue
        seen[s] = True
        pending.append(s)
        while pending:
            v = pending.popleft()
            order.append(v)
            for u in indices[indptr[v] : indptr[v + 1]].tolist():
                if not seen[u]:
                    seen[u] = True
                    pending.append(u)
    return order


def select_centers(indptr: np.ndarray, indices: np.ndarray, stride: int, forced: list[int]) -> np.ndarray:
    """Centres for one level: a BFS-visited vertex is a centre iff no centre lies within ``stride-1`` hops.

    Returns:
        (C,) int64 centre ids sorted ascending; forced vertices are always included.
    """
    n = len(indptr) - 1
    if stride == 1:
        return np.arange(n, dtype=np.int64)
    is_center = np.zeros(n, dtype=bool)
    is_center[forced] = True
    for v in _bfs_order(indptr, indices, list(forced)):
        if not is_center[v]:
            near, _ = _ball(indptr, indices, v, stride - 1)
            if not is_center[near].any():
                is_center[v] = True
    return np.flatnonzero(is_center).astype(np.int64)


def padded_table(rows: list[tuple[list[int], list[int]]], pad_id: int) -> NeighbourTable:
    """NeighbourTable of ragged rows ``(ids, hops)``, padded to the longest row with ``pad_id`` / -1."""
    k = max(len(r[0]) for r in rows)
    index = np.full((len(rows), k), pad_id, dtype=np.int64)
    distance = np.full((len(rows), k), -1, dtype=np.int32)
    for p, (ids, ds) in enumerate(rows):
        index[p, : len(ids)] = ids
        distance[p, : len(ds)] = ds
    return NeighbourTable(index, distance, pad_id)


def build_level(
    indptr: np.ndarray, indices: np.ndarray, level: tuple[int, int, int], forced: list[int]
) -> tuple[HierarchyLevel, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """One level: centres, pool/unpool tables, and the coarse graph (centres within 2*stride-1 hops).

    Returns:
        the level, its centre ids (C,) in the level's input numbering, and the coarse graph (indptr, indices).
    """
    stride, r_pool, r_unpool = level
    n = len(indptr) - 1
    centers = select_centers(indptr, indices, stride, forced)
    slot = np.full(n, -1, dtype=np.int64)
    slot[centers] = np.arange(len(centers))
    pool = padded_table([_ball(indptr, indices, int(c), r_pool) for c in centers], pad_id=n)
    unpool_rows = []
    for v in range(n):
        ids, ds = _ball(indptr, indices, v, r_unpool)
        keep = [(int(slot[u]), d) for u, d in zip(ids, ds, strict=True) if slot[u] >= 0]
        unpool_rows.append(([k[0] for k in keep], [k[1] for k in keep]))
    unpool = padded_table(unpool_rows, pad_id=len(centers))
    src, dst = [], []
    for p, c in enumerate(centers):
        ids, _ = _ball(indptr, indices, int(c), 2 * stride - 1)
        near = slot[np.asarray(ids)]
        near = near[near >= 0]
        src.append(np.full(len(near), p))
        dst.append(near)
    coarse = _csr_from_edges(np.concatenate(src), np.concatenate(dst), len(centers))
    return HierarchyLevel(pool, unpool, resamples=stride > 1), centers, coarse


def _build_sorted_levels(
    faces: np.ndarray, n_vertices: int, levels: tuple[tuple[int, int, int], ...], forced: list[int]
) -> tuple[HierarchyLevel, ...]:
    """The ``sorted`` builder: every walk over ascending neighbour lists, coarse graphs without self-loops."""
    indptr, indices = mesh_graph(faces, n_vertices)
    out = []
    for level in levels:
        lv, centers, (indptr, indices) = build_level(indptr, indices, level, forced)
        slot = {int(c): i for i, c in enumerate(centers)}
        forced = [slot[v] for v in forced]
        out.append(lv)
    return tuple(out)


def hierarchy_key(faces: np.ndarray, n_vertices: int, settings: HierarchySettings) -> str:
    """sha256 hex digest of the template faces, vertex count, settings and algorithm version."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(faces, dtype=np.int64)).tobytes())
    h.update(json.dumps([n_vertices, asdict(settings), _ALGORITHM_VERSION]).encode())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """Where hierarchies are cached: ``$VQHPS_CACHE_DIR``, else ``.cache/vqhps`` under the working dir."""
    return Path(os.environ.get("VQHPS_CACHE_DIR", ".cache/vqhps"))


def build_hierarchy(
    faces: np.ndarray, n_vertices: int, settings: HierarchySettings, cache_dir: Path | None = None
) -> MeshHierarchy:
    """Build (or load from ``cache_dir``) the pooling hierarchy of a template mesh.

    Args:
        faces: (F, 3) or (F, 4) int polygon vertex ids of the template.
        n_vertices: number of template vertices.
        settings: levels, forced centres and builder.
        cache_dir: folder for ``hierarchy-<sha256>.npz``; None disables caching.

    Returns:
        The hierarchy; deterministic for given inputs.
    """
    forced = [int(v) for v in settings.forced_centers]
    if any(v < 0 or v >= n_vertices for v in forced):
        raise ValueError(f"forced_centers {forced} must be vertex ids in [0, {n_vertices})")
    key = hierarchy_key(faces, n_vertices, settings)
    cache = Path(cache_dir) / f"hierarchy-{key[:32]}.npz" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            return MeshHierarchy.from_arrays(dict(data), source=f"cache {cache.name}")
    if settings.builder == "meshconv":
        from vqhps.models.meshconv_pooler import build_meshconv_levels

        levels = build_meshconv_levels(faces, n_vertices, settings.levels, forced)
    else:
        levels = _build_sorted_levels(faces, n_vertices, settings.levels, forced)
    hierarchy = MeshHierarchy(n_vertices, levels, source=f"{settings.builder} template sha256 {key[:12]}")
    if cache is not None:
        with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **hierarchy.to_arrays())
    return hierarchy
