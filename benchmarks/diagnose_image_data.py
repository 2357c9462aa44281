"""Is the image models' training data right? Two checks on a finished render_images output (issue 12).

``join``: for every image of a split, the joints of the GT mesh that ``load_image_split`` pairs with it,
placed with the image's stored camera, must land on its stored 2D keypoints (0 px: the renderer computed
both from that mesh); the next image's mesh gives the error of a wrong pairing, for scale.

``overfit``: the regression baseline (demo sizes) trained through the pipeline's own datasets
(``regime_datasets``) on the first ``--n`` train images, with or without the train-time augmentation;
prints the training vertex L1 (metres) and the PVE on those same images (no augmentation).

    python benchmarks/diagnose_image_data.py join results/demo/render_images train
    python benchmarks/diagnose_image_data.py overfit results/demo/render_images --n 48 --no-augment
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

from vqhps.data import augment
from vqhps.data.crop_config import Augment
from vqhps.data.image_dataset import ImageCropDataset
from vqhps.data.image_splits import load_image_split
from vqhps.eval.overlay import camera_frame_vertices, perspective_px
from vqhps.io.schemas import IMAGES
from vqhps.io.shards import ShardSet, read_template
from vqhps.models.regression import MeshRegressor, RegressionConfig
from vqhps.training.image_setup import mirror_permutation, regime_datasets, rest_joints
from vqhps.training.image_tasks import BaselineTask
from vqhps.training.image_trainer import ImageTrainSettings, train_image_model

# The demo's train-time augmentation (params.yaml demo.image_training.augment).
DEMO_AUGMENT = Augment(
    flip_prob=0.5, rot_prob=0.2, rot_std_deg=15.0, rot_max_deg=30.0, scale_std=0.1, photometric_prob=0.3
)


def joint_errors_px(root: Path, split: str, crop: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(own mesh, next image's mesh) mean joint-to-keypoint distances, (N,) crop px each."""
    split_data = load_image_split(str(root / "images"), str(root / "meshes"), split)
    table = ShardSet(root / "images", IMAGES).read(split, ["id", "cam_K", "cam_R", "cam_t"])
    if table.column("id").to_pylist() != [s["id"] for s in split_data.samples]:
        raise SystemExit(f"{root}/images ({split}): load_image_split changed the row order")
    n = table.num_rows
    K, R, t = (np.asarray(table.column(c).to_pylist(), np.float64) for c in ("cam_K", "cam_R", "cam_t"))
    K, R = K.reshape(n, 3, 3), R.reshape(n, 3, 3)
    reg = np.asarray(read_template(root / "meshes").joint_regressor, np.float64)

    def error(i: int, mesh_of: int) -> float:
        s = split_data.samples[i]
        center, box = augment.bbox_to_box(s["bbox"], 1.2)
        affine = augment.crop_affine(center, box, crop)
        mesh = split_data.samples[mesh_of]["canonical_verts"]
        verts = camera_frame_vertices(mesh, s["global_rot"], R[i], t[i])
        joints, _ = perspective_px(reg @ verts, K[i], affine)
        kp = s["keypoints2d"][:, :2] @ affine[:, :2].T + affine[:, 2]
        return float(np.linalg.norm(joints - kp, axis=1).mean())

    own = np.array([error(i, i) for i in range(n)])
    other = np.array([error(i, (i + 1) % n) for i in range(n)])
    return own, other


def overfit(root: Path, n: int, steps: int, use_augment: bool, crop: int = 128, seed: int = 0) -> list[dict]:
    """Curve of the baseline on the first ``n`` train images: dicts of step, train_vertex (m), val_pve_mm."""
    topology = read_template(root / "meshes")
    data = regime_datasets(
        root / "images", root / "meshes", ["anny"], 1.0, 1, 2, (crop, 1.2), DEMO_AUGMENT,
        mirror_permutation(topology, DEMO_AUGMENT.flip_prob),
    )  # fmt: skip
    full = data.train
    if not use_augment:
        full.config = data.val.config
    train = Subset(full, range(n))
    train.set_epoch = full.set_epoch  # the trainer draws each epoch's augmentation through it
    same = ImageCropDataset(full.samples[:n], data.val.config)
    config = RegressionConfig(
        backbone="small_cnn", backbone_width=16, shared_backbone=True, image_size=crop,
        hidden=256, rank=64, dropout=0.1, rotcam_hidden=256, rotcam_dropout=0.0,
    )  # fmt: skip
    torch.manual_seed(seed)
    template = torch.from_numpy(topology.vertices - topology.vertices.mean(0))
    model = MeshRegressor(config, template, torch.from_numpy(rest_joints(topology)))
    settings = ImageTrainSettings(
        steps=steps, batch_size=16, lr=1e-3, weight_decay=1e-3, lr_step=10**9, val_every=max(1, steps // 6),
        ckpt_every=10**9, seed=seed, eval_batch_size=64, precision="fp32",
    )  # fmt: skip
    task = BaselineTask(torch.from_numpy(topology.joint_regressor))
    with tempfile.TemporaryDirectory() as tmp:
        result = train_image_model(model, task, train, same, settings, Path(tmp) / "ckpt.pt")
    keys = ("step", "train_vertex", "train_rotation", "val_pve_mm", "val_rotation_error_deg")
    return [{k: h[k] for k in keys} for h in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="check", required=True)
    j = sub.add_parser("join")
    j.add_argument("root", type=Path, help="a render_images output folder (images/, meshes/)")
    j.add_argument("split", default="train", nargs="?")
    o = sub.add_parser("overfit")
    o.add_argument("root", type=Path)
    o.add_argument("--n", type=int, default=48)
    o.add_argument("--steps", type=int, default=400)
    o.add_argument("--no-augment", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.check == "join":
        own, other = joint_errors_px(args.root, args.split)
        print(
            f"{args.split}: {len(own)} images; joint-to-keypoint px (128 px crop): own mesh median "
            f"{np.median(own):.3f} max {own.max():.3f}; next image's mesh median {np.median(other):.2f}"
        )
        return
    for row in overfit(args.root, args.n, args.steps, not args.no_augment):
        print({k: round(float(v), 4) for k, v in row.items()})


if __name__ == "__main__":
    main()
