"""Stage train_vqhps: VQ-HPS on the image set, once per regime (``--regime full|scarce``).

Reads the images and canonical GT meshes of ``render_images`` and the frozen tokenizer of
``train_mesh_vqvae`` (token count and codebook size come from it). GT tokens are computed on the fly
from each crop's (mirrored, when flipped) canonical mesh. Losses: token cross-entropy + rotation MSE +
L1 reprojection (weights in params). The scarce regime is the same run on a seeded fraction of the
train images (the same images as the baseline's scarce run). Outputs in ``train_vqhps/<regime>/``:
``model.pt`` (self-describing: weights, config, tokenizer, template, regressor, rest joints, params),
``curves.csv`` and the metrics (final validation, train images, seconds). Resumes from ``work/last.pt``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.infra.configtools import to_plain
from vqhps.infra.seeding import stage_seed

STAGE = "train_vqhps"


def run(ctx: StageContext) -> dict[str, float]:
    import torch

    from vqhps.io.checkpoint import load_checkpoint, save_checkpoint
    from vqhps.io.shards import read_template
    from vqhps.models.pretrained import load_mesh_vqvae
    from vqhps.models.vqhps import VQHPS, VQHPSConfig
    from vqhps.training.curves import write_curves_csv
    from vqhps.training.image_setup import (
        AugmentSettings,
        regime_data,
        rest_joints,
        run_length,
        topology_record,
        train_settings,
    )
    from vqhps.training.image_tasks import VQHPSLossWeights, VQHPSTask
    from vqhps.training.image_trainer import is_main_process, train_image_model

    p = ctx.section
    name, regime = ctx.regime()
    images, meshes = ctx.input("{images}/images"), ctx.input("{images}/meshes")
    vq_path = ctx.input("train_mesh_vqvae/model.pt")
    topology = read_template(meshes)
    vqvae = load_mesh_vqvae(vq_path)
    ctx.tracker.tag_upstream_model("tokenizer", vq_path)  # its sha256 and the run that trained it
    if vqvae.n_vertices != len(topology.vertices):
        raise UserError(
            f"{vq_path} was trained on {vqvae.n_vertices} vertices, the image set's meshes have "
            f"{len(topology.vertices)}; re-run train_mesh_vqvae"
        )
    aug = AugmentSettings(**to_plain(p.augment))
    try:
        data = regime_data((images, meshes), topology, p, aug, regime, name, ctx.params.seed)
    except ValueError as err:
        raise UserError(str(err)) from None
    config = VQHPSConfig(
        num_tokens=vqvae.n_tokens,
        codebook_size=vqvae.codebook_size,
        backbone=p.backbone,
        backbone_width=p.backbone_width,
        pretrained=p.pretrained,
        shared_backbone=p.shared_backbone,
        image_size=p.crop_size,
        d_model=p.d_model,
        heads=p.heads,
        ffn=p.ffn,
        dropout=p.dropout,
        rotcam_hidden=p.rotcam_hidden,
        rotcam_dropout=p.rotcam_dropout,
    )
    seed = stage_seed(ctx.params.seed, "image_training", name)
    torch.manual_seed(seed % 2**31)
    rest = torch.from_numpy(rest_joints(topology))
    model = VQHPS(config, rest)
    task = VQHPSTask(
        vqvae, torch.from_numpy(topology.joint_regressor), VQHPSLossWeights(**to_plain(p.loss_weights))
    )
    length = run_length(p, regime, data)
    steps = length.steps
    ctx.log(
        f"regime {name}: {data.n_train} train images {data.rows_per_source}; run length {length.describe(p)}"
    )
    settings = train_settings(p, steps, seed, ctx.workers, length.lr_step)
    params = ctx.run_params()
    work = ctx.work_checkpoint()
    n_params = sum(t.numel() for t in model.parameters())
    ctx.tracker.log_metrics(
        {"n_parameters": n_params, "n_train_images": data.n_train, "run_steps": steps,
         "steps_per_epoch": length.steps_per_epoch, "lr_step_steps": length.lr_step}
    )  # fmt: skip
    ctx.limit_cpu_threads()
    started = time.perf_counter()
    result = train_image_model(
        model,
        task,
        data.train,
        data.val,
        settings,
        work,
        model_config=asdict(config),
        params=params,
        log=ctx.log_curve,
        device=ctx.device,
    )
    seconds = time.perf_counter() - started
    if is_main_process():
        write_curves_csv(ctx.out_dir / "curves.csv", result.history)
        vq = load_checkpoint(vq_path)
        save_checkpoint(
            ctx.out_dir / "model.pt",
            model.state_dict(),
            asdict(config),
            params,
            steps,
            extra={
                "kind": "vqhps",
                "regime": name,
                "rest_joints": rest,
                "template": topology_record(topology),
                "mesh_vqvae": {
                    "model_state": vq["model_state"],
                    "model_config": vq["model_config"],
                    "hierarchy": vq["extra"]["hierarchy"],
                },
            },
        )
    return {
        **result.metrics,
        "n_train_images": data.n_train,
        "run_steps": steps,
        "steps_per_epoch": length.steps_per_epoch,
        "n_val_images": data.n_val,
        "n_parameters": n_params,
        "n_tokens": vqvae.n_tokens,
        "train_seconds": round(seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    return stage_main(STAGE, run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
