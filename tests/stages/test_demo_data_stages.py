"""The demo's data and tokenizer stages in-process on the tiny demo params (helpers.e2e.TINY_DEMO):
make_synthetic -> prepare_meshes -> render_images, and train_mesh_vqvae on the shards. Each test reads
its stage's outputs back and checks what the next stage relies on (shapes, splits, ids, seeds)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from helpers.e2e import tiny_params
from vqhps.io.schemas import IMAGES, MESHES, SPLITS
from vqhps.io.shards import ShardSet, load_vertices, read_template
from vqhps.stages import make_synthetic, prepare_meshes, render_images, train_mesh_vqvae

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _argv(top: Path) -> list[str]:
    return [
        *("--params", str(top / "params.yaml"), "--experiment", "demo", "--results", str(top / "results")),
        *("--no-track", "--workers", "1", "--device", "cpu"),
    ]


def _metrics(top: Path, stage: str) -> dict:
    return json.loads((top / f"results/demo/{stage}/metrics.json").read_text())


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A project folder holding make_synthetic's output (the tiny demo at half size: 12 Anny meshes)."""
    top = tmp_path_factory.mktemp("demo")
    params = tiny_params(REPO)
    demo = params["demo"]
    demo["make_synthetic"].update(n_meshes=12, batch_size=12)
    demo["render_images"]["max_meshes"] = {"train": 3, "val": 1, "test": 1}
    demo["train_mesh_vqvae"].update(steps=4, val_every=2, ckpt_every=2, max_val_meshes=2)
    (top / "params.yaml").write_text(yaml.safe_dump(params))
    assert make_synthetic.main(_argv(top)) == 0
    return top


@pytest.fixture(scope="module")
def shards(synthetic) -> Path:
    assert prepare_meshes.main(_argv(synthetic)) == 0
    return synthetic


@pytest.fixture(scope="module")
def rendered(shards) -> Path:
    assert render_images.main(_argv(shards)) == 0
    return shards


def _section(top: Path, stage: str) -> dict:
    return yaml.safe_load((top / "params.yaml").read_text())["demo"][stage]


def test_make_synthetic_writes_centred_distinct_meshes_and_a_regressor(synthetic):
    out = synthetic / "results/demo/make_synthetic/meshes"
    n = _section(synthetic, "make_synthetic")["n_meshes"]
    verts = np.load(out / "vertices.npy")
    meta = json.loads((out / "meta.json").read_text())
    assert verts.dtype == np.float32 and verts.shape == (n, meta["n_vertices"], 3)
    assert np.abs(verts.mean(axis=1)).max() < 1e-5, "every mesh has its mean vertex at the origin"
    height = verts[..., 1].max(1) - verts[..., 1].min(1)
    assert ((height > 0.5) & (height < 2.5)).all(), f"human-sized meshes (m), got {height}"
    assert len({v.tobytes() for v in verts}) == n, "each mesh has its own pose and shape"
    pose, shape = np.load(out / "pose.npy"), np.load(out / "shape.npy")
    assert len(pose) == len(shape) == n and shape.shape[1] == 6
    topology = read_template(out)
    assert topology.vertices.shape == (meta["n_vertices"], 3) and topology.faces.max() < meta["n_vertices"]
    reg = topology.joint_regressor
    assert reg.shape == (17, meta["n_vertices"]) and np.allclose(reg.sum(1), 1.0, atol=1e-5)
    assert _metrics(synthetic, "make_synthetic")["n_meshes"] == n


def test_prepare_meshes_splits_every_generated_mesh_once_with_its_vertices(shards):
    src = np.load(shards / "results/demo/make_synthetic/meshes/vertices.npy")
    out = ShardSet(shards / "results/demo/prepare_meshes/shards", MESHES)
    fractions = _section(shards, "prepare_meshes")["split_fractions"]
    ids = {s: out.read(s, ["id"]).column("id").to_pylist() for s in SPLITS}
    assert sorted(i for s in SPLITS for i in ids[s]) == [f"anny-{i:07d}" for i in range(len(src))]
    for split in SPLITS:
        assert abs(len(ids[split]) - fractions[split] * len(src)) <= 1, (split, len(ids[split]))
        rows = [int(i.split("-")[1]) for i in ids[split]]
        assert rows == sorted(rows), "ascending ids within a split (deterministic order)"
        np.testing.assert_array_equal(load_vertices(out, split).numpy(), src[rows])
    metrics = _metrics(shards, "prepare_meshes")
    assert {s: metrics[f"n_{s}"] for s in SPLITS} == {s: len(ids[s]) for s in SPLITS}
    template = read_template(shards / "results/demo/prepare_meshes/shards")
    assert template.joint_regressor is not None and template.vertices.shape[0] == src.shape[1]


def test_render_images_draws_the_first_meshes_of_each_split_with_their_labels(rendered):
    p = _section(rendered, "render_images")
    meshes = ShardSet(rendered / "results/demo/prepare_meshes/shards", MESHES)
    images = ShardSet(rendered / "results/demo/render_images/images", IMAGES)
    gt = ShardSet(rendered / "results/demo/render_images/meshes", MESHES)
    for split in SPLITS:
        first = meshes.read(split, ["id"]).column("id").to_pylist()[: p["max_meshes"][split]]
        table = images.read(split).to_pylist()
        assert [r["mesh_id"] for r in table] == np.repeat(first, p["views_per_mesh"]).tolist()
        assert gt.read(split, ["id"]).column("id").to_pylist() == first, "one GT mesh per drawn mesh"
        for row in table:
            image = np.asarray(Image.open(io.BytesIO(row["image"])))
            assert image.shape == (p["image_size"], p["image_size"], 3) and image.std() > 1.0
            kp = np.asarray(row["keypoints2d"], np.float32).reshape(17, 3)
            seen = kp[kp[:, 2] > 0]
            assert len(seen) and (seen[:, :2] >= 0).all() and (seen[:, :2] < p["image_size"]).all()
            rot = np.asarray(row["global_rot"], np.float64).reshape(3, 3)
            np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-4)
    metrics = _metrics(rendered, "render_images")
    assert (
        metrics["n_train"] == len(images.read("train", ["id"])) and 0 < metrics["keypoint_visible_frac"] <= 1
    )


def test_train_mesh_vqvae_writes_a_loadable_tokenizer_its_curves_and_metrics(shards):
    from vqhps.models.pretrained import load_mesh_vqvae

    assert train_mesh_vqvae.main(_argv(shards)) == 0
    out = shards / "results/demo/train_mesh_vqvae"
    p = _section(shards, "train_mesh_vqvae")
    metrics = _metrics(shards, "train_mesh_vqvae")
    model = load_mesh_vqvae(out / "model.pt")
    assert metrics["n_tokens"] == model.n_tokens and metrics["codebook_size"] == model.codebook_size
    assert metrics["steps"] == p["steps"] and np.isfinite(metrics["val_pve_mm"]) and metrics["val_pve_mm"] > 0
    steps = [int(r["step"]) for r in csv.DictReader((out / "curves.csv").open())]
    assert steps == list(range(p["val_every"], p["steps"] + 1, p["val_every"]))
    assert not (out / "work").exists(), "a finished run leaves nothing a later run could resume"
    val = load_vertices(ShardSet(shards / "results/demo/prepare_meshes/shards", MESHES), "val")
    tokens = model.encode_indices(val)
    assert tokens.shape == (len(val), model.n_tokens) and int(tokens.max()) < model.codebook_size
