"""A tiny project for the image-training stages: params sections, a written image set and tokenizer, argv.

Shared by the train_vqhps/train_baseline, NaN-stop and evaluate/make_tables stage tests.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from helpers import image_fixtures as fx
from vqhps.io.checkpoint import save_checkpoint
from vqhps.models.pretrained import mesh_vqvae_extra

COMMON = {  # params image_training: what both image stages share
    "backbone": "small_cnn", "backbone_width": 4, "pretrained": None, "shared_backbone": True,
    "crop_size": 32, "bbox_rescale": 1.2, "rotcam_hidden": 16, "batch_size": 4, "steps": 4, "lr": 1e-3,
    "weight_decay": 1e-3, "lr_step": 2, "lr_gamma": 0.5, "val_every": 2, "ckpt_every": 2, "max_val_images": 2,
    "augment": {"flip_prob": 0.5, "rot_prob": 0.4, "rot_std_deg": 30.0, "rot_max_deg": 60.0,
                "scale_std": 0.25, "photometric_prob": 0.3},
}  # fmt: skip
VQHPS = {"model": {"d_model": 16, "heads": 2, "ffn": 32, "dropout": 0.1},
         "loss_weights": {"tokens": 1.0, "rotation": 1.0, "reprojection": 1.0}}  # fmt: skip
BASELINE = {"model": {"hidden": 16, "rank": 4, "dropout": 0.1},
            "loss_weights": {"vertex": 1.0, "joint": 1.0, "rotation": 1.0, "reprojection": 1.0}}  # fmt: skip
REGIMES = {"full": {"sources": ["anny"], "fraction": 1.0},
           "scarce": {"sources": ["anny"], "fraction": 0.5, "steps": 3}}  # fmt: skip


def write_tokenizer(results: Path) -> None:
    """A tiny trained-looking Mesh-VQ-VAE checkpoint at ``results/demo/train_mesh_vqvae/model.pt``."""
    vq = fx.tiny_vqvae()
    path = results / "demo/train_mesh_vqvae/model.pt"
    save_checkpoint(path, vq.state_dict(), vq.config.to_dict(), {}, 1, extra=mesh_vqvae_extra(vq))


def write_project(root: Path) -> Path:
    """A 6 anny + 2 coco train image set (2 val), the tokenizer and params.yaml under ``root``; returns it."""
    results = root / "results"
    fx.write_image_set(results / "demo/render_images", {"anny": 6, "coco": 2}, n_val=2)
    write_tokenizer(results)
    params = {"demo": {
        "seed": 0, "data_root": "data", "check_data": {"datasets": ["anny"]}, "regimes": REGIMES,
        "image_training": COMMON, "train_vqhps": VQHPS, "train_baseline": BASELINE,
    }}  # fmt: skip
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def stage_argv(project: Path, regime: str | None = None, results: Path | None = None) -> list[str]:
    """The command line of a demo stage run on ``project`` (CPU, one worker, no MLflow)."""
    return [
        *("--params", str(project / "params.yaml"), "--experiment", "demo"),
        *("--results", str(results or project / "results"), "--no-track", "--workers", "1"),
        *("--device", "cpu"),
        *(["--regime", regime] if regime else []),
    ]
