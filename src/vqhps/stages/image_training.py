"""The body of the two image-model stages, ``train_vqhps`` and ``train_baseline`` (not a stage itself).

Both train one regime (``--regime``) on the same images with the same seeds, from the ``image_training``
params section (backbone, crops, augmentation, optimiser); what differs, the mesh branch, its loss and its
checkpoint extras, comes in an :class:`ImageModel`. Outputs in ``<stage>/<regime>/``: ``model.pt``
(self-describing: weights, config, template, regressor, rest joints, params and the model's extras),
``curves.csv`` and the metrics (final validation, train images, seconds). Resumes from ``work/last.pt``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol

from vqhps.cli import StageContext, UserError
from vqhps.infra.seeding import stage_seed

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vqhps.io.shards import MeshTopology
    from vqhps.training.image_trainer import ImageTask


class ImageModel(Protocol):
    """The model-specific part of an image-training stage (VQ-HPS or the regression baseline)."""

    def prepare(self, ctx: StageContext, topology: MeshTopology) -> None:
        """Read what the model needs besides the images (VQ-HPS: its tokenizer); before the data is built."""
        ...

    def build(
        self, ctx: StageContext, topology: MeshTopology, rest: torch.Tensor
    ) -> tuple[nn.Module, Any, ImageTask]:
        """(model, its config dataclass, its loss/metrics task); called after the training seed is set.

        ``rest``: (17, 3) float32 rest-pose joints of the rotation branch, metres.
        """
        ...

    def checkpoint_extra(self, regime: str, rest: torch.Tensor, topology: MeshTopology) -> dict:
        """The ``extra`` entry of ``model.pt`` (:mod:`vqhps.models.pretrained` writes and reads it)."""
        ...

    def metrics(self) -> dict[str, float]:
        """Model-specific entries of ``metrics.json`` (e.g. ``n_tokens``)."""
        ...


def backbone_fields(shared) -> dict[str, Any]:
    """The model-config fields both image models take from ``image_training``: backbone, input size and the
    rotation/camera branch (``VQHPSConfig`` and ``RegressionConfig`` name them alike)."""
    return {
        "backbone": shared.backbone,
        "backbone_width": shared.backbone_width,
        "pretrained": shared.pretrained,
        "shared_backbone": shared.shared_backbone,
        "image_size": shared.crop_size,
        "rotcam_hidden": shared.rotcam_hidden,
        "rotcam_dropout": shared.rotcam_dropout,
        "rotation_output": shared.rotation_output,
    }


def run_image_stage(ctx: StageContext, spec: ImageModel) -> dict[str, float]:
    """Train ``spec``'s model on one regime of the experiment's image set; returns the stage's metrics."""
    import torch

    from vqhps.io.shards import read_template
    from vqhps.training.image_setup import regime_data, rest_joints, run_length, train_settings

    p = ctx.params.section("image_training")
    name, regime = ctx.regime()
    images, meshes = ctx.input("{images}/images"), ctx.input("{images}/meshes")
    topology = read_template(meshes)
    spec.prepare(ctx, topology)
    try:
        data = regime_data((images, meshes), topology, p, regime, name, ctx.params.seed)
        rest = torch.from_numpy(rest_joints(topology))
    except ValueError as err:
        raise UserError(str(err)) from None
    seed = stage_seed(ctx.params.seed, "image_training", name)
    torch.manual_seed(seed % 2**31)  # before the model is built: its initial weights are part of the run
    model, config, task = spec.build(ctx, topology, rest)
    length = run_length(p, regime, data)
    ctx.log(
        f"regime {name}: {data.n_train} train images {data.rows_per_source}; run length {length.describe(p)}"
    )
    n_params = sum(t.numel() for t in model.parameters())
    ctx.tracker.log_metrics(
        {"n_parameters": n_params, "n_train_images": data.n_train, "run_steps": length.steps,
         "steps_per_epoch": length.steps_per_epoch, "lr_step_steps": length.lr_step}
    )  # fmt: skip
    result, seconds = _train(
        ctx, model, task, data, train_settings(p, length.steps, seed, ctx.workers, length.lr_step), config
    )
    _write_outputs(ctx, spec, model, config, result, length.steps, (name, rest, topology))
    return {
        **result.metrics,
        "n_train_images": data.n_train,
        "run_steps": length.steps,
        "steps_per_epoch": length.steps_per_epoch,
        "n_val_images": data.n_val,
        "n_parameters": n_params,
        **spec.metrics(),
        "train_seconds": round(seconds, 3),
    }


def _train(ctx: StageContext, model, task, data, settings, config) -> tuple[Any, float]:
    """The resumable training loop on this job's work checkpoint: (``TrainResult``, seconds)."""
    from vqhps.training.image_trainer import train_image_model

    params = ctx.run_params()
    work = ctx.work_checkpoint()
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
    return result, time.perf_counter() - started


def _write_outputs(ctx: StageContext, spec: ImageModel, model, config, result, steps: int, where) -> None:
    """``curves.csv`` and the self-describing ``model.pt`` (rank 0); ``where``: (regime, rest, topology)."""
    from vqhps.io.checkpoint import save_checkpoint
    from vqhps.training.curves import write_curves_csv
    from vqhps.training.image_trainer import is_main_process

    if not is_main_process():
        return
    write_curves_csv(ctx.out_dir / "curves.csv", result.history)
    extra = spec.checkpoint_extra(*where)
    save_checkpoint(
        ctx.out_dir / "model.pt", model.state_dict(), asdict(config), ctx.run_params(), steps, extra=extra
    )
