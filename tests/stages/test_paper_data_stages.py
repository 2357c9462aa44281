"""The paper's data stages in-process on the good mini data root (tests/stages/conftest.py ``project``):
prepare_meshes's motion and 3DPW meshes, prepare_images's crops with the GT mesh of each row. Each test reads
the outputs back and checks what the training and evaluation stages rely on."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest
import yaml
from PIL import Image

from helpers.mini_root import link_tree, paper_argv
from vqhps.io.schemas import IMAGES, MESHES, SPLITS
from vqhps.io.shards import ShardSet, load_vertices, read_template
from vqhps.stages import prepare_images

# helpers.mini_root.build_mini_root: 3 BEDLAM animations of 6 frames; 3DPW: 1 sequence per split, 2 people
MOTIONS, FRAMES = 3, 6


def test_prepare_meshes_stores_every_frame_of_every_motion_and_the_3dpw_people(project):
    _, _, params, results = project
    p = yaml.safe_load(params.read_text())["paper"]["prepare_meshes"]
    assert p["frame_stride"] == 1 and p["split_fractions"]["train"] == 1.0 and p["eval_meshes"] == "3dpw"
    shards = ShardSet(results / "paper/prepare_meshes/shards", MESHES)
    rows = {s: shards.read(s, ["id", "source"]).to_pylist() for s in SPLITS}
    assert [r["id"] for r in rows["train"]] == [
        f"bedlam_animations-{m:06d}-f{t:06d}" for m in range(MOTIONS) for t in range(FRAMES)
    ], "file-then-frame ids, every stored frame once"
    for split, name in (("val", "validation"), ("test", "test")):
        assert rows[split] and all(r["source"] == "3dpw" for r in rows[split])
        assert all(r["id"].startswith(f"3dpw-{name}-{name}_seq_00-p") for r in rows[split])
        assert {r["id"].split("-p")[1][0] for r in rows[split]} == {"0", "1"}, "both people of the sequence"
    topology = read_template(results / "paper/prepare_meshes/shards")
    assert topology.vertices.shape == (6890, 3) and topology.joint_regressor.shape == (17, 6890)
    for split in SPLITS:
        verts = load_vertices(shards, split).numpy()
        assert verts.shape == (len(rows[split]), 6890, 3) and np.isfinite(verts).all()
        assert np.abs(verts.mean(1)).max() < 1e-5, f"{split}: canonical meshes are centred"
    assert len({v.tobytes() for v in load_vertices(shards, "train").numpy()}) == MOTIONS * FRAMES


@pytest.fixture(scope="module")
def images(project, tmp_path_factory):
    """prepare_images run on the good root into a copy of the shared results: (params section, folder)."""
    base, data, params, shared = project
    link_tree(base, data)  # undo any broken file a bad-file test left
    top = tmp_path_factory.mktemp("paper_images")
    shutil.copytree(shared, top / "results", symlinks=True)
    raw = yaml.safe_load(params.read_text())
    q = raw["paper"]["prepare_images"]
    q["max_rows"] = {name: 3 for names in q["splits"].values() for name in names}  # a seeded 3 rows per set
    (top / "params.yaml").write_text(yaml.safe_dump(raw))
    assert prepare_images.main(paper_argv(top / "params.yaml", top / "results")) == 0
    return q, top / "results/paper/prepare_images"


def test_prepare_images_crops_every_listed_set_with_the_gt_mesh_of_each_row(images):
    q, out = images
    shards = ShardSet(out / "images", IMAGES)
    meshes = ShardSet(out / "meshes", MESHES)
    for split in SPLITS:
        table = shards.read(split).to_pylist()
        wanted = {name.split("_")[0] for name in q["splits"][split]}  # 3dpw_test -> 3dpw, emdb2_val -> emdb2
        assert table and {r["source"] for r in table} <= wanted, (split, {r["source"] for r in table})
        assert len(table) <= 3 * len(q["splits"][split]), "max_rows per image set"
        assert [r["mesh_id"] for r in table] == meshes.read(split, ["id"]).column("id").to_pylist()
        for row in table:
            crop = np.asarray(Image.open(io.BytesIO(row["image"])))
            assert crop.shape == (row["height"], row["width"], 3) and row["width"] > q["crop_size"]
            x0, y0, x1, y1 = np.asarray(row["bbox"], np.float64)[:4]
            assert x1 - x0 == pytest.approx(q["crop_size"], abs=0.5), "the crop box is crop_size px wide"
            kp = np.asarray(row["keypoints2d"], np.float32).reshape(17, 3)
            assert np.isfinite(kp).all()
    test_ids = meshes.read("test", ["id"]).column("id").to_pylist()
    with (out / "images/test_frames.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(test_ids), "one frame record per test row"
    full_pose = ShardSet(out / "meshes/smpl_full_pose", MESHES)
    assert full_pose.read("test", ["id"]).column("id").to_pylist() == test_ids, "full-pose GT: the test rows"
    verts = load_vertices(meshes, "train").numpy()
    assert verts.shape[1:] == (6890, 3) and np.abs(verts.mean(1)).max() < 1e-5
