"""Properties of the template pooling hierarchy (reference §2.2) on icospheres, for both builders."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.meshes import icosphere
from vqhps.models.mesh_hierarchy import (
    HierarchySettings,
    build_hierarchy,
    hierarchy_key,
    mesh_graph,
)

LEVELS = ((1, 1, 1), (2, 2, 2), (1, 1, 1), (2, 2, 2), (1, 1, 1))


@pytest.fixture(scope="module")
def sphere():
    return icosphere(3)  # 642 vertices


@pytest.fixture(scope="module", params=["sorted", "meshconv"])
def hierarchy(sphere, request):
    _, faces = sphere
    settings = HierarchySettings(LEVELS, forced_centers=(7, 300, 641), builder=request.param)
    return build_hierarchy(faces, 642, settings)


def test_every_vertex_is_pooled_and_unpooled(hierarchy):
    for lv in hierarchy.levels:
        covered = np.unique(lv.pool.index[lv.pool.mask])
        assert np.array_equal(covered, np.arange(lv.pool.n_in))
        assert lv.unpool.mask[:, 0].all()  # every fine point gets at least one coarse point
        assert lv.unpool.n_out == lv.pool.n_in and lv.unpool.n_in == lv.pool.n_out


def test_counts_shrink_only_at_stride_two(hierarchy):
    counts = hierarchy.point_counts
    assert counts[0] == 642
    for (stride, _, _), before, after in zip(LEVELS, counts[:-1], counts[1:], strict=True):
        assert (after < before) if stride > 1 else (after == before)
    assert hierarchy.n_tokens == counts[-1]


def test_forced_centres_survive_to_the_coarsest_level(hierarchy):
    assert {7, 300, 641} <= set(hierarchy.token_vertex_ids().tolist())


def test_pool_rows_start_with_their_centre_and_centres_are_spread(sphere, hierarchy):
    _, faces = sphere
    indptr, indices = mesh_graph(faces, 642)
    lv = hierarchy.levels[1]  # first stride-2 level, on the mesh graph itself
    centres = lv.pool.index[:, 0]
    assert (lv.pool.distance[:, 0] == 0).all()
    assert np.all(np.diff(centres) > 0)
    is_centre = np.zeros(642, bool)
    is_centre[centres] = True
    forced = {7, 300, 641}
    for c in centres:
        if c not in forced:
            nbrs = [u for u in indices[indptr[c] : indptr[c + 1]] if u not in forced]
            assert not is_centre[nbrs].any(), "two centres closer than the stride"
    # stride-1 levels are the 1-ring plus the vertex itself
    ring = lv_rows = hierarchy.levels[0].pool
    assert (ring.mask.sum(1) == np.diff(indptr) + 1).all()
    assert (lv_rows.index[:, 0] == np.arange(642)).all()


def test_deterministic_and_cached(tmp_path, sphere):
    _, faces = sphere
    settings = HierarchySettings(LEVELS, forced_centers=(5,))
    a = build_hierarchy(faces, 642, settings, cache_dir=tmp_path)
    files = list(tmp_path.glob("hierarchy-*.npz"))
    assert len(files) == 1
    b = build_hierarchy(faces, 642, settings, cache_dir=tmp_path)
    c = build_hierarchy(faces, 642, settings, cache_dir=None)
    assert b.source.startswith("cache") and not c.source.startswith("cache")
    for x, y in ((a, b), (a, c)):
        ax, ay = x.to_arrays(), y.to_arrays()
        assert ax.keys() == ay.keys()
        assert all(np.array_equal(ax[k], ay[k]) for k in ax)
    other = HierarchySettings(LEVELS, forced_centers=(6,))
    assert hierarchy_key(faces, 642, other) != hierarchy_key(faces, 642, settings)
    faithful = HierarchySettings(LEVELS, forced_centers=(5,), builder="meshconv")
    assert hierarchy_key(faces, 642, faithful) != hierarchy_key(faces, 642, settings)


def test_quads_and_bad_settings():
    quads = np.array([[0, 1, 2, 3], [1, 4, 5, 2]])
    indptr, indices = mesh_graph(quads, 6)
    assert sorted(indices[indptr[1] : indptr[2]].tolist()) == [0, 2, 4]  # no diagonal 1-3
    with pytest.raises(ValueError, match="radii"):
        HierarchySettings(((3, 1, 1),))
    with pytest.raises(ValueError, match="forced_centers"):
        build_hierarchy(quads, 6, HierarchySettings(((1, 1, 1),), forced_centers=(9,)))
    with pytest.raises(ValueError, match="builder 'cpp' is unknown"):
        HierarchySettings(((1, 1, 1),), builder="cpp")
