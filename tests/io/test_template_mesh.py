"""Template faces from .obj / .ply / SMPL model files: file order kept, every id form read, errors named."""

from __future__ import annotations

import numpy as np
import pytest

from vqhps.io.template_mesh import read_template_faces

FACES = np.array([[0, 1, 2], [2, 1, 3], [3, 1, 4]])  # deliberately not sorted
N = 5


def _ply(path, fmt: str, faces: np.ndarray = FACES, n: int = N) -> None:
    """A PLY with float xyz + uchar colour per vertex and a uchar-count int-id face list."""
    header = [
        "ply", f"format {fmt} 1.0", "comment made by the test", f"element vertex {n}",
        "property float x", "property float y", "property float z",
        "property uchar red", "property uchar green", "property uchar blue",
        f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header",
    ]  # fmt: skip
    head = ("\n".join(header) + "\n").encode()
    if fmt == "ascii":
        verts = "".join(f"{i}.5 0 1 255 0 0\n" for i in range(n))
        body = (verts + "".join(f"3 {a} {b} {c}\n" for a, b, c in faces.tolist())).encode()
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        vdt = np.dtype([("xyz", f"{order}f4", 3), ("rgb", "u1", 3)])
        body = np.zeros(n, vdt).tobytes()
        fdt = np.dtype([("k", "u1"), ("ids", f"{order}i4", 3)])
        rows = np.zeros(len(faces), fdt)
        rows["k"], rows["ids"] = 3, faces
        body += rows.tobytes()
    path.write_bytes(head + body)


def test_obj_faces_in_file_order_with_all_id_forms(tmp_path):
    obj = tmp_path / "m.obj"
    lines = ["# comment", *(f"v {i} 0 0" for i in range(N)), "vt 0 0", "vn 0 0 1"]
    lines += ["f 1/1/1 2/1/1 3/1/1", "f 3//1 2//1 4//1", "f -2 2 -1"]  # -2, -1: the 4th and 5th vertex
    obj.write_text("\n".join(lines) + "\n")
    faces, n = read_template_faces(obj)
    assert n == N and faces.dtype == np.int64
    assert faces.tolist() == FACES.tolist()


def test_obj_quads_kept_and_mixed_polygons_refused(tmp_path):
    quads = tmp_path / "q.obj"
    quads.write_text("v 0 0 0\n" * 6 + "f 1 2 3 4\nf 2 5 6 3\n")
    faces, n = read_template_faces(quads)
    assert n == 6 and faces.tolist() == [[0, 1, 2, 3], [1, 4, 5, 2]]
    mixed = tmp_path / "mixed.obj"
    mixed.write_text("v 0 0 0\n" * 4 + "f 1 2 3 4\nf 1 2 3\n")
    with pytest.raises(ValueError, match="triangulate"):
        read_template_faces(mixed)


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_faces_read_in_every_encoding(tmp_path, fmt):
    path = tmp_path / "m.ply"
    _ply(path, fmt)
    faces, n = read_template_faces(path)
    assert n == N and faces.tolist() == FACES.tolist()


def test_ply_errors_name_the_problem(tmp_path):
    path = tmp_path / "m.ply"
    _ply(path, "binary_little_endian")
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_template_faces(path)
    path.write_bytes(b"not a ply\n")
    with pytest.raises(ValueError, match="magic"):
        read_template_faces(path)
    _ply(path, "ascii", faces=np.array([[0, 1, 7]]))
    with pytest.raises(ValueError, match=r"outside \[0, 5\)"):
        read_template_faces(path)


def test_smpl_pkl_faces_come_from_the_model(tmp_path):
    from helpers.body_fixtures import SMPL_PARENTS, random_body_arrays, write_smpl_pkl

    path = write_smpl_pkl(tmp_path / "SMPL_NEUTRAL.pkl", seed=4)
    faces, n = read_template_faces(path)
    assert n == 6890
    assert np.array_equal(faces, random_body_arrays(SMPL_PARENTS, 10, seed=4)["f"].astype(np.int64))
    (tmp_path / "other.npz").write_bytes(b"PK-but-not-a-zip")
    with pytest.raises(ValueError, match="not a readable SMPL"):
        read_template_faces(tmp_path / "other.npz")
