"""MeshConvolution's pooler, ported: the dfaust2 tables rebuilt from the SMPL faces, and the walk's rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.meshes import icosphere
from vqhps.models.connections import load_connections, table_to_rows
from vqhps.models.mesh_hierarchy import build_hierarchy, mesh_graph
from vqhps.models.mesh_hierarchy import select_centers as sorted_select_centers
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig, main
from vqhps.models.mesh_vqvae_cli import experiment_settings
from vqhps.models.meshconv_pooler import build_level, build_meshconv_levels, insertion_graph, select_centers

REPO = Path(__file__).resolve().parents[2]


def _reference_dir() -> Path | None:
    """``shared/reference/meshconv`` next to the repository (or any folder above it)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference" / "meshconv"
        if (candidate / "template_faces.npy").is_file():
            return candidate
    return None


REFERENCE = _reference_dir()
needs_reference = pytest.mark.skipif(
    REFERENCE is None, reason="no shared/reference/meshconv (MeshConvolution dfaust2 files) above the repo"
)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.load(REFERENCE / "template_faces.npy")


@pytest.fixture(scope="module")
def reference():
    return load_connections(REFERENCE, 6890)


@pytest.fixture(scope="module")
def paper():
    """The paper experiment's hierarchy settings and model config, as params.yaml gives them."""
    return experiment_settings(REPO / "params.yaml", "paper")


@pytest.fixture(scope="module")
def built(faces, paper):
    return build_hierarchy(faces, 6890, paper[0])


def _write_obj(path: Path, faces: np.ndarray, n_vertices: int) -> Path:
    """An .obj of the faces; vertex positions are irrelevant to the hierarchy, so all at the origin."""
    with open(path, "w") as fh:
        fh.write("v 0 0 0\n" * n_vertices)
        fh.writelines(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces.tolist())
    return path


@needs_reference
def test_paper_settings_rebuild_the_dfaust2_point_counts(built, reference, paper):
    assert paper[0].builder == "meshconv"
    assert built.point_counts == reference.point_counts
    assert reference.point_counts == [6890, 6890, 1925, 1925, 400, 400, 54, 54]


@needs_reference
def test_every_row_has_the_reference_neighbour_set(built, reference):
    for i, (ours, theirs) in enumerate(zip(built.levels, reference.levels, strict=True)):
        for name in ("pool", "unpool"):
            a, b = getattr(ours, name), getattr(theirs, name)
            assert (a.n_in, a.n_out, a.max_neighbours) == (b.n_in, b.n_out, b.max_neighbours), (name, i)
            # rows are duplicate-free and padded with n_in (the largest id): sorted rows equal <=> sets equal
            assert np.array_equal(np.sort(a.index, axis=1), np.sort(b.index, axis=1)), (name, i)


@needs_reference
def test_rows_keep_the_original_slot_order_and_hop_counts(built):
    # Stronger than sets: per-slot coefficients of the original weights line up with these tables.
    for i, lv in enumerate(built.levels):
        for name in ("pool", "unpool"):
            assert np.array_equal(table_to_rows(getattr(lv, name)), np.load(REFERENCE / f"_{name}{i}.npy"))


@needs_reference
def test_paper_model_has_the_original_size_and_tokens(built, reference, paper):
    model = MeshVQVAE(built, MeshVQVAEConfig.from_dict(paper[1]))
    assert sum(p.numel() for p in model.parameters()) == 2_584_682
    assert model.n_tokens == 54
    assert np.array_equal(built.token_vertex_ids(), reference.token_vertex_ids())
    assert set(paper[0].forced_centers) <= set(built.token_vertex_ids().tolist())


@needs_reference
def test_cli_builds_and_saves_the_paper_hierarchy_from_an_obj(tmp_path, faces, reference):
    template = _write_obj(tmp_path / "template.obj", faces, 6890)
    out = tmp_path / "connections"
    cmd = [sys.executable, "-m", "vqhps.models.mesh_vqvae", "--template", str(template)]
    cmd += ["--experiment", "paper", "--summary", "--save-connections", str(out)]
    cmd += ["--params", str(REPO / "params.yaml")]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert sum(line.startswith("level ") for line in lines) == 7
    assert "points: 6890 -> 1925 -> 400 -> 54" in lines
    assert lines[-1] == "parameters: 2584682"
    assert len(list(out.glob("_*pool*.npy"))) == 14
    saved = load_connections(out, 6890)
    for ours, theirs in zip(saved.levels, reference.levels, strict=True):
        assert np.array_equal(ours.pool.index, theirs.pool.index)
        assert np.array_equal(ours.unpool.index, theirs.unpool.index)


@needs_reference
def test_cli_reads_the_faces_of_an_smplh_model_file(tmp_path, faces, capsys):
    from helpers.body_fixtures import SMPLH_PARENTS, random_body_arrays

    arrays = random_body_arrays(SMPLH_PARENTS, 16, pose_fraction=0.0)
    arrays["f"] = faces.astype(np.uint32)
    np.savez_compressed(tmp_path / "model.npz", **arrays)
    argv = ["--template", str(tmp_path / "model.npz"), "--params", str(REPO / "params.yaml")]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["points: 6890 -> 1925 -> 400 -> 54", "parameters: 2584682"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    params = ["--params", str(REPO / "params.yaml")]
    (tmp_path / "mesh.txt").write_text("v 0 0 0\n")
    (tmp_path / "empty.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    cases = [
        (tmp_path / "missing.obj", "missing.obj not found"),
        (tmp_path / "mesh.txt", "unknown format '.txt'"),
        (tmp_path / "empty.obj", "no faces"),
    ]
    for path, message in cases:
        assert main(["--template", str(path), *params]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and err.startswith("error:")
    _write_obj(tmp_path / "tri.obj", np.array([[0, 1, 2]]), 3)
    assert main(["--template", str(tmp_path / "tri.obj"), "--experiment", "nope", *params]) == 2
    assert "not in params.yaml" in capsys.readouterr().err
    assert main(["--template", str(tmp_path / "tri.obj"), *params]) == 2  # forced centres beyond 3 vertices
    assert "forced_centers" in capsys.readouterr().err


# ---------------------------------------------------------------- the walk's rules, on tiny meshes

STRIP = np.array([[0, 1, 2], [1, 3, 2]])  # two triangles sharing edge 1-2


def test_neighbours_are_listed_in_face_order():
    assert insertion_graph(STRIP, 4) == [[1, 2], [0, 2, 3], [1, 0, 3], [1, 2]]
    assert insertion_graph(STRIP[::-1], 4) == [[1, 2], [3, 2, 0], [3, 1, 0], [1, 2]]


def test_walk_from_vertex_zero_judges_its_neighbours_first():
    graph = insertion_graph(STRIP, 4)
    # Without forced centres the C++ queues vertex 0 unjudged: its first neighbour 1 becomes the centre,
    # and 1 then covers every other vertex. The sorted builder judges 0 first and needs two centres.
    assert select_centers(graph, 2, []) == [1]
    assert select_centers(graph, 2, [3]) == [0, 3]
    assert sorted_select_centers(*mesh_graph(STRIP, 4), 2, []).tolist() == [0, 3]


def _hops(graph: list[list[int]]) -> np.ndarray:
    """All-pairs hop counts by repeated frontier expansion (independent of the builder's BFS)."""
    n = len(graph)
    adj = np.zeros((n, n), dtype=bool)
    for v, nbrs in enumerate(graph):
        adj[v, nbrs] = True
    dist = np.where(np.eye(n, dtype=bool), 0, -1)
    reach = np.eye(n, dtype=bool)
    for d in range(1, n):
        new = (reach.astype(np.int64) @ adj.astype(np.int64) > 0) & ~reach
        if not new.any():
            break
        dist[new] = d
        reach |= new
    return dist


@pytest.mark.parametrize("level", [(2, 2, 2), (2, 1, 3), (3, 3, 2)])
def test_one_level_follows_the_original_rules(level):
    _, sphere_faces = icosphere(2)
    graph = insertion_graph(sphere_faces, 162)
    stride, r_pool, r_unpool = level
    lv, centers, coarse = build_level(graph, level, [5, 100])
    d = _hops(graph)
    c = np.asarray(centers)
    assert {5, 100} <= set(centers) and np.all(np.diff(c) > 0)
    between = d[np.ix_(c, c)] + np.eye(len(c), dtype=int) * stride
    assert between.min() >= stride  # centres at least a stride apart (the forced ones are too, here)
    assert (d[:, c].min(axis=1) <= stride - 1).all()  # and no vertex could have become another centre
    for i, ci in enumerate(centers):
        ids = lv.pool.index[i][lv.pool.mask[i]]
        assert ids[0] == ci and set(ids.tolist()) == set(np.flatnonzero(d[ci] <= r_pool).tolist())
        assert np.array_equal(lv.pool.distance[i][lv.pool.mask[i]], d[ci, ids])
        assert coarse[i][0] == i and set(coarse[i]) == set(np.flatnonzero(d[ci, c] <= 2 * stride - 1))
    for v in range(162):
        row = lv.unpool.index[v][lv.unpool.mask[v]]
        assert row.tolist() == np.flatnonzero(d[c, v] <= r_unpool).tolist()  # ascending centre order


def test_components_the_walk_misses_are_walked_too():
    two = np.array([[0, 1, 2], [1, 3, 2], [4, 5, 6], [5, 7, 6]])  # two strips, no shared vertex
    levels = build_meshconv_levels(two, 8, ((2, 1, 1), (1, 1, 1)), forced=[3])
    pool, unpool = levels[0].pool, levels[0].unpool
    assert pool.index[:, 0].tolist() == [0, 3, 4, 7]
    assert np.array_equal(np.unique(pool.index[pool.mask]), np.arange(8))
    assert unpool.mask[:, 0].all()  # every vertex of either strip is unpooled from some centre
