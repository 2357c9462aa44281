"""MeshConvolution's pooling-hierarchy builder, ported for its ordering (``code/GraphSampling/meshPooler.h``).

The hierarchy depends on the order in which vertices are visited, so this builder keeps the original's
orders everywhere:

- the vertex graph lists each vertex's neighbours in the order the triangles introduce them (file order;
  per triangle the edges a-b, b-c, c-a);
- centres are chosen by one breadth-first walk that starts from the forced centres (ascending vertex id,
  as the C++ reads them from the red template vertices) or, without any, from vertex 0 (not itself marked);
  a vertex is judged when the walk first reaches it: it becomes a centre iff no centre lies within
  ``stride - 1`` hops;
- a pool row lists the input points within ``radius_pool`` hops of its centre in BFS order (centre first);
- an unpool row lists, in ascending centre order, the centres whose ``radius_unpool`` ball holds the point;
- the next level's graph links each centre to the centres within ``2 * stride - 1`` hops of it, in BFS
  order and including itself (a self-loop that changes no walk).

On the SMPL topology (MeshConvolution's ``template.obj`` faces) with the paper's levels and red vertices
this gives the original's ``dfaust2`` tables (6890 -> 1925 -> 400 -> 54). One extension: the C++ walk
never reaches vertices outside the forced centres' connected components (their unpool rows would be
empty); here such a component is walked next, starting at its lowest vertex, which is judged first.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from vqhps.models.mesh_hierarchy import HierarchyLevel, padded_table

Graph = list[list[int]]


def insertion_graph(faces: np.ndarray, n_vertices: int) -> Graph:
    """Vertex adjacency with neighbours in the order the faces introduce them.

    Args:
        faces: (F, P) int polygon vertex ids, P >= 3, walked in row order; a polygon's edges join
            consecutive corners (for triangles a-b, b-c, c-a, as MeshConvolution does).
        n_vertices: number of vertices.

    Returns:
        Per vertex, its distinct neighbours (never itself) in first-seen order.
    """
    faces = np.asarray(faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] < 3:
        raise ValueError(f"faces must be (F, P>=3) polygon ids, got shape {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= n_vertices):
        raise ValueError(f"face ids outside [0, {n_vertices})")
    graph: Graph = [[] for _ in range(n_vertices)]
    seen: list[set[int]] = [set() for _ in range(n_vertices)]
    corners = faces.tolist()
    for face in corners:
        for a, b in zip(face, face[1:] + face[:1], strict=True):
            if a != b and b not in seen[a]:
                seen[a].add(b)
                seen[b].add(a)
                graph[a].append(b)
                graph[b].append(a)
    return graph


def ball(graph: Graph, source: int, radius: int) -> tuple[list[int], list[int]]:
    """Vertices within ``radius`` hops of ``source`` in BFS order (source first), with their hop counts."""
    order, dist = [source], [0]
    visited = {source}
    frontier = [source]
    for d in range(1, radius + 1):
        ring = []
        for v in frontier:
            for u in graph[v]:
                if u not in visited:
                    visited.add(u)
                    ring.append(u)
        order.extend(ring)
        dist.extend([d] * len(ring))
        frontier = ring
    return order, dist


def _no_centre_near(graph: Graph, p: int, radius: int, state: list[int]) -> bool:
    """True iff no vertex within ``radius`` hops of ``p`` (other than ``p``) is a centre (state 1)."""
    if radius == 0:
        return True
    ids, _ = ball(graph, p, radius)
    return not any(state[u] == 1 for u in ids[1:])


def select_centers(graph: Graph, stride: int, forced: list[int]) -> list[int]:
    """Centres of one level by the original's walk (see the module docstring).

    Args:
        graph: the level's input graph (neighbour lists in the original's order).
        stride: centres lie at least ``stride`` hops apart (1 keeps every vertex).
        forced: vertex ids that are centres from the start (walked in this order).

    Returns:
        Centre ids, ascending.
    """
    n = len(graph)
    radius = stride - 1
    state = [-1] * n  # -1 not reached, 0 covered, 1 centre
    queue: deque[int] = deque()
    for s in forced:
        state[s] = 1
        queue.append(s)
    if not forced and n:
        queue.append(0)  # the C++ starts here without judging vertex 0 first
    lowest = 0
    while True:
        while queue:
            s = queue.popleft()
            for p in graph[s]:
                if state[p] < 0:
                    state[p] = 1 if _no_centre_near(graph, p, radius, state) else 0
                    queue.append(p)
        while lowest < n and state[lowest] >= 0:
            lowest += 1
        if lowest == n:
            break
        # A component the walk did not reach (an extension of the original, see the module docstring).
        state[lowest] = 1 if _no_centre_near(graph, lowest, radius, state) else 0
        queue.append(lowest)
    return [v for v in range(n) if state[v] == 1]


def build_level(
    graph: Graph, level: tuple[int, int, int], forced: list[int]
) -> tuple[HierarchyLevel, list[int], Graph]:
    """One level: centres, pool/unpool tables and the coarse graph, in the original's orders.

    Args:
        graph: input graph of the level (n points).
        level: (stride, pool radius, unpool radius).
        forced: forced centre ids in the level's input numbering.

    Returns:
        The level, its centre ids (C,) in input numbering, and the coarse graph over the C centres.
    """
    stride, r_pool, r_unpool = level
    n = len(graph)
    centers = select_centers(graph, stride, forced)
    slot = [-1] * n
    for i, c in enumerate(centers):
        slot[c] = i
    pool = padded_table([ball(graph, c, r_pool) for c in centers], pad_id=n)
    unpool_rows: list[tuple[list[int], list[int]]] = [([], []) for _ in range(n)]
    for i, c in enumerate(centers):
        for v, d in zip(*ball(graph, c, r_unpool), strict=True):
            unpool_rows[v][0].append(i)
            unpool_rows[v][1].append(d)
    unpool = padded_table(unpool_rows, pad_id=len(centers))
    coarse = [[slot[u] for u in ball(graph, c, 2 * stride - 1)[0] if slot[u] >= 0] for c in centers]
    return HierarchyLevel(pool, unpool, resamples=stride > 1), centers, coarse


def build_meshconv_levels(
    faces: np.ndarray, n_vertices: int, levels: tuple[tuple[int, int, int], ...], forced: list[int]
) -> tuple[HierarchyLevel, ...]:
    """All levels of the hierarchy, as MeshConvolution's ``MeshCNN.add_pool_layer`` chain builds them.

    Args:
        faces: (F, P) int polygon vertex ids in file order (the order matters).
        n_vertices: template vertex count.
        levels: one (stride, pool radius, unpool radius) per level.
        forced: template vertex ids kept as centres at every level (order ignored: walked ascending).

    Returns:
        One HierarchyLevel per entry of ``levels``.
    """
    graph = insertion_graph(faces, n_vertices)
    forced = sorted(set(forced))
    out = []
    for level in levels:
        lv, centers, graph = build_level(graph, level, forced)
        slot = {c: i for i, c in enumerate(centers)}
        forced = [slot[v] for v in forced]
        out.append(lv)
    return tuple(out)
