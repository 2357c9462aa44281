"""Stage train_baseline: the regression baseline on the image set, once per regime (``--regime full|scarce``).

Same backbone, crops, augmentation, optimiser, regimes and training images as ``train_vqhps`` (same
seeds), but the canonical mesh is regressed directly (template + learned low-rank vertex offsets) with a
vertex + joint + rotation + reprojection loss: the comparison behind the paper's claim that
classification in token space beats regression when data is scarce. Outputs in
``train_baseline/<regime>/``: ``model.pt`` (self-describing), ``curves.csv``, metrics.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.infra.configtools import to_plain
from vqhps.infra.seeding import stage_seed

STAGE = "train_baseline"


def run(ctx: StageContext) -> dict[str, float]:
    import torch

    from vqhps.io.checkpoint import save_checkpoint
    from vqhps.io.shards import read_template
    from vqhps.models.regression import MeshRegressor, RegressionConfig, RegressionLossWeights
    from vqhps.training.curves import write_curves_csv
    from vqhps.training.image_setup import (
        AugmentSettings,
        regime_data,
        rest_joints,
        run_length,
        topology_record,
        train_settings,
    )
    from vqhps.training.image_tasks import BaselineTask
    from vqhps.training.image_trainer import is_main_process, train_image_model

    p = ctx.section
    name, regime = ctx.regime()
    images, meshes = ctx.input("{images}/images"), ctx.input("{images}/meshes")
    topology = read_template(meshes)
    aug = AugmentSettings(**to_plain(p.augment))
    try:
        data = regime_data((images, meshes), topology, p, aug, regime, name, ctx.params.seed)
        rest = torch.from_numpy(rest_joints(topology))
    except ValueError as err:
        raise UserError(str(err)) from None
    config = RegressionConfig(
        backbone=p.backbone,
        backbone_width=p.backbone_width,
        pretrained=p.pretrained,
        shared_backbone=p.shared_backbone,
        image_size=p.crop_size,
        hidden=p.hidden,
        rank=p.rank,
        dropout=p.dropout,
        rotcam_hidden=p.rotcam_hidden,
        rotcam_dropout=p.rotcam_dropout,
    )
    seed = stage_seed(ctx.params.seed, "image_training", name)
    torch.manual_seed(seed % 2**31)
    template = torch.from_numpy(topology.vertices - topology.vertices.mean(0))  # centred, like the GT meshes
    model = MeshRegressor(config, template, rest)
    task = BaselineTask(
        torch.from_numpy(topology.joint_regressor), RegressionLossWeights(**to_plain(p.loss_weights))
    )
    length = run_length(p, regime, data)
    steps = length.steps
    ctx.log(
        f"regime {name}: {data.n_train} train images {data.rows_per_source}; run length {length.describe(p)}"
    )
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
        train_settings(p, steps, seed, ctx.workers, length.lr_step),
        work,
        model_config=asdict(config),
        params=params,
        log=ctx.log_curve,
        device=ctx.device,
    )
    seconds = time.perf_counter() - started
    if is_main_process():
        write_curves_csv(ctx.out_dir / "curves.csv", result.history)
        save_checkpoint(
            ctx.out_dir / "model.pt",
            model.state_dict(),
            asdict(config),
            params,
            steps,
            extra={
                "kind": "baseline",
                "regime": name,
                "rest_joints": rest,
                "template": topology_record(topology),
            },
        )
    return {
        **result.metrics,
        "n_train_images": data.n_train,
        "run_steps": steps,
        "steps_per_epoch": length.steps_per_epoch,
        "n_val_images": data.n_val,
        "n_parameters": n_params,
        "train_seconds": round(seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    return stage_main(STAGE, run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
