"""Resumable image-model training loop shared by VQ-HPS and the regression baseline (AdamW, StepLR, DDP).

What differs between the two models (loss terms, validation metrics) lives in a task object
(``vqhps.training.image_tasks``); this module owns the optimiser, the seeded batch order, checkpoints,
validation, curves and the distributed set-up.

Batch order: epoch ``e`` visits the permutation of ``DistributedSampler(seed, epoch=e)`` (one shard
per rank), and the crop augmentation of item ``i`` is drawn from ``(dataset seed, e, i)``. Both are
functions of the step alone, so a resumed run sees exactly the batches an uninterrupted run sees.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from vqhps.infra.seeding import seed_everything
from vqhps.io.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from vqhps.training.best_weights import BestWeights
from vqhps.training.precision import autocast as precision_autocast

LogFn = Callable[[dict[str, float], int], None]


@dataclass(frozen=True)
class ImageTrainSettings:
    """Optimisation settings (paper: AdamW lr 1e-4, wd 1e-3, StepLR every 100 epochs x0.1, batch 32).

    Attributes:
        steps: total optimiser steps.
        batch_size: images per step summed over all ranks (must divide by the world size).
        lr, weight_decay: AdamW.
        lr_step, lr_gamma: StepLR, stepped every optimiser step (so ``lr_step`` counts steps).
        val_every: validate and log every this many steps, and at the last step.
        ckpt_every: write the resumable checkpoint every this many steps, and at the last step.
        seed: seeds the batch order and the global torch RNG (dropout).
        num_workers: DataLoader worker processes (0 = decode in the training process).
        eval_batch_size: images per validation forward pass.
        max_val_images: validate on at most the first this many images; None = all.
        precision: ``fp32`` (the original), ``bf16`` autocast, or ``auto`` (bf16 on CUDA only).
        keep_best: end with the weights of the lowest ``val_<keep_best>`` (e.g. ``pve_mm``; kept in
            ``best.pt`` beside the checkpoint); None = the last step's weights.
    """

    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 1e-3
    lr_step: int = 100_000
    lr_gamma: float = 0.1
    val_every: int = 500
    ckpt_every: int = 500
    seed: int = 0
    num_workers: int = 0
    eval_batch_size: int = 32
    max_val_images: int | None = None
    precision: str = "auto"
    keep_best: str | None = None


class ImageTask(Protocol):
    """The model-specific part of training: loss terms and per-sample validation metrics."""

    def to(self, device: torch.device) -> ImageTask: ...

    def losses(self, model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Scalar loss terms of one batch, ``"total"`` (the one back-propagated) among them."""
        ...

    def evaluate(self, model: nn.Module, batch: dict[str, Tensor]) -> dict[str, np.ndarray]:
        """Per-sample metrics (B,) of one batch; called in eval mode under ``no_grad``."""
        ...


@dataclass
class TrainResult:
    """``metrics``: the last validation's metrics (``val_*``, ``train_*``, ``lr``) plus ``steps``;
    ``history``: every logged point as ``{"step": s, **metrics}``, resumed runs included."""

    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly 1-process) distributed job."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def is_main_process() -> bool:
    """True outside a process group and on rank 0 of one (only rank 0 writes outputs)."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); nccl on CUDA, gloo on CPU.

    A group initialised by the caller (even of one process) is used as is.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size())
    return DistInfo()


def resolve_device(device: str | torch.device) -> torch.device:
    """``cuda`` under torchrun means this process's GPU (``LOCAL_RANK``)."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def autocast(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """:func:`vqhps.training.precision.autocast`: fp32, bf16, or auto (bf16 on CUDA only)."""
    return precision_autocast(device, precision)


class EpochItems(Dataset):
    """Wraps a dataset with ``set_epoch``: item ``(epoch, index)`` is ``dataset[index]`` under that epoch.

    Carrying the epoch with each index lets one DataLoader iterator (and its workers) span many epochs.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        self.dataset.set_epoch(epoch)
        return self.dataset[index]


class EpochBatches:
    """Batches of ``(epoch, index)`` for optimiser steps ``start .. steps - 1`` of one rank.

    Epoch ``e`` is this rank's shard of ``DistributedSampler(shuffle, seed, epoch=e)``; its last partial
    batch is dropped. A shard smaller than one batch is repeated within the epoch (tiny scarce sets).
    """

    def __init__(
        self, n: int, batch_size: int, start: int, steps: int, seed: int, dist_info: DistInfo
    ) -> None:
        if n == 0:
            raise ValueError("the training set is empty; check the regime's sources and fraction")
        self.sampler = DistributedSampler(
            range(n),
            num_replicas=dist_info.world,
            rank=dist_info.rank,
            shuffle=True,
            seed=seed,
            drop_last=False,
        )
        self.batch_size, self.start, self.steps = batch_size, start, steps
        shard = len(self.sampler)
        self.per_epoch = max(1, shard // batch_size)

    def epoch_of(self, step: int) -> int:
        return step // self.per_epoch

    def _epoch_indices(self, epoch: int) -> list[int]:
        self.sampler.set_epoch(epoch)
        idx = list(self.sampler)
        while len(idx) < self.batch_size:
            idx = idx + idx
        return idx

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start
        while step < self.steps:
            epoch = self.epoch_of(step)
            idx = self._epoch_indices(epoch)
            for b in range(step - epoch * self.per_epoch, self.per_epoch):
                if step >= self.steps:
                    return
                yield [(epoch, i) for i in idx[b * self.batch_size : (b + 1) * self.batch_size]]
                step += 1


def to_device(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def validate(
    model: nn.Module, task: ImageTask, dataset: Dataset, settings: ImageTrainSettings, device: torch.device
) -> dict[str, float]:
    """Mean of the task's per-sample metrics over (the first ``max_val_images`` of) ``dataset``, eval mode."""
    if settings.max_val_images is not None:
        dataset = Subset(dataset, range(min(len(dataset), settings.max_val_images)))
    loader = DataLoader(
        dataset,
        batch_size=settings.eval_batch_size,
        shuffle=False,
        num_workers=settings.num_workers,
        generator=torch.Generator().manual_seed(0),
    )
    was_training = model.training
    model.eval()
    values: dict[str, list[np.ndarray]] = {}
    try:
        for batch in loader:
            with autocast(device, settings.precision):
                per_sample = task.evaluate(model, to_device(batch, device))
            for k, v in per_sample.items():
                values.setdefault(k, []).append(np.asarray(v, dtype=np.float64))
    finally:
        model.train(was_training)
    return {k: float(np.concatenate(v).mean()) for k, v in values.items()}


def _check_finite(terms: dict[str, Tensor], step: int) -> dict[str, float]:
    values = {k: float(v.detach()) for k, v in terms.items()}
    bad = {k: v for k, v in values.items() if not np.isfinite(v)}
    if bad:
        name, value = next(iter(bad.items()))
        raise FloatingPointError(
            f"loss term '{name}' is {value} at step {step}; lower the learning rate or check the inputs "
            f"(non-finite terms: {sorted(bad)})"
        )
    return values


def train_image_model(
    model: nn.Module,
    task: ImageTask,
    train_set: Dataset,
    val_set: Dataset,
    settings: ImageTrainSettings,
    ckpt_path: Path,
    *,
    model_config: dict | None = None,
    params: dict | None = None,
    extra: dict | None = None,
    log: LogFn | None = None,
    device: str | torch.device = "cpu",
) -> TrainResult:
    """Train ``model`` on ``train_set`` with ``task``'s losses; resume from ``ckpt_path`` if it exists.

    A killed run restarted with the same arguments resumes from its last checkpoint (weights, AdamW, StepLR,
    step, RNG, curve history) and ends, on CPU, with the same weights as an uninterrupted run.

    Args:
        model: freshly built model (weights replaced when resuming).
        task: loss terms and validation metrics (``image_tasks.VQHPSTask`` or ``BaselineTask``).
        train_set, val_set: datasets with ``set_epoch`` (``ImageCropDataset``); items are dicts of tensors.
        settings: optimisation settings.
        ckpt_path: written atomically (rank 0) every ``ckpt_every`` steps and at the end.
        model_config, params, extra: stored in the checkpoint (architecture, run params, anything else).
        log: ``log(metrics, step)`` at every validation, on rank 0.
        device: "cpu", "cuda" or "cuda:N" (bf16 autocast on CUDA).

    Raises:
        FloatingPointError: a loss term is NaN or infinite (names the term and the step).
    """
    device = resolve_device(device)
    info = init_distributed(device)
    if settings.batch_size % info.world:
        raise ValueError(f"batch_size {settings.batch_size} does not divide over {info.world} processes")
    seed_everything(settings.seed)
    model.to(device).train()
    task = task.to(device)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=settings.lr, weight_decay=settings.weight_decay
    )
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=settings.lr_step, gamma=settings.lr_gamma)
    state = {"step": 0, "sums": {}, "count": 0, "history": []}
    if Path(ckpt_path).is_file():
        state = _resume(Path(ckpt_path), model, opt, sched, device)
    best = BestWeights(Path(ckpt_path).with_name("best.pt"), settings.keep_best)
    net = (
        nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        if info.active
        else model
    )
    batches = EpochBatches(
        len(train_set), settings.batch_size // info.world, state["step"], settings.steps, settings.seed, info
    )
    loader = DataLoader(
        EpochItems(train_set),
        batch_sampler=batches,
        num_workers=settings.num_workers,
        generator=torch.Generator().manual_seed(settings.seed),
        pin_memory=device.type == "cuda",
    )
    run_params = params if params is not None else asdict(settings)
    step, metrics = state["step"], {}
    first_step, train_seconds = step, 0.0
    tick = time.perf_counter()
    bar = tqdm(
        total=settings.steps, initial=step, desc="train", disable=not (info.main and sys.stderr.isatty())
    )
    for batch in loader:
        with autocast(device, settings.precision):
            terms = task.losses(net, to_device(batch, device))
        values = _check_finite(terms, step + 1)
        opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        train_seconds += time.perf_counter() - tick
        for k, v in values.items():
            state["sums"][k] = state["sums"].get(k, 0.0) + v
        state["count"] += 1
        if step % settings.val_every == 0 or step == settings.steps:
            metrics = {f"train_{k}": v / state["count"] for k, v in state["sums"].items()}
            metrics["lr"] = sched.get_last_lr()[0]
            if info.main:
                metrics |= {
                    f"val_{k}": v for k, v in validate(model, task, val_set, settings, device).items()
                }
                state["history"].append({"step": step, **metrics})
                best.update(model, metrics, step)
                if log is not None:
                    log(metrics, step)
            state["sums"], state["count"] = {}, 0
            info.barrier()
        if step % settings.ckpt_every == 0 or step == settings.steps:
            if info.main:
                save_checkpoint(
                    Path(ckpt_path),
                    model.state_dict(),
                    model_config or {},
                    run_params,
                    step,
                    opt.state_dict(),
                    capture_rng_state(),
                    {
                        **(extra or {}),
                        "scheduler": sched.state_dict(),
                        "epoch": batches.epoch_of(step),
                        "train_sums": state["sums"],
                        "train_count": state["count"],
                        "history": state["history"],
                    },
                )
            info.barrier()
        tick = time.perf_counter()  # validation and checkpoints do not count as training time
    bar.close()
    if not metrics and info.main:  # resumed from a finished checkpoint
        metrics = {f"val_{k}": v for k, v in validate(model, task, val_set, settings, device).items()}
    if info.main:
        metrics |= best.restore(model)  # the best validation's weights when keep_best is set
    done = (step - first_step) * settings.batch_size
    speed = {"train_images_per_second": done / train_seconds} if done else {}
    return TrainResult(metrics={**metrics, **speed, "steps": float(step)}, history=list(state["history"]))


def _resume(
    path: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, device: torch.device
) -> dict:
    ck = load_checkpoint(path, map_location=device)
    model.load_state_dict(ck["model_state"])
    opt.load_state_dict(ck["optimizer_state"])
    sched.load_state_dict(ck["extra"]["scheduler"])
    restore_rng_state(ck["rng_state"])
    extra = ck["extra"]
    return {
        "step": ck["step"],
        "sums": dict(extra.get("train_sums", {})),
        "count": int(extra.get("train_count", 0)),
        "history": list(extra.get("history", [])),
    }
