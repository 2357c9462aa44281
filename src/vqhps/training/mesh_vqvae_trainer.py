"""Mesh-VQ-VAE training core: resumable Adam loop, validation, tokenisation, reconstruction metrics."""

from __future__ import annotations

import ctypes
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from vqhps.data.motion_sampler import FileFrameSampler
from vqhps.infra.seeding import seed_everything
from vqhps.io.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from vqhps.metrics import codebook_perplexity, codebook_usage, pa_pve_mm
from vqhps.models.mesh_vqvae import MeshVQVAE
from vqhps.models.mesh_vqvae_io import mesh_vqvae_extra
from vqhps.training.precision import autocast

LogFn = Callable[[dict[str, float], int], None]


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings (paper: Adam, lr 5e-5, batch 16).

    Attributes:
        steps: total optimiser steps.
        batch_size: meshes per step, drawn with replacement by a seeded generator (file-then-frame).
        lr: Adam learning rate.
        val_every: validate (and log) every this many steps, and at the last step.
        ckpt_every: checkpoint every this many steps, and at the last step.
        seed: seeds the weights' RNG use during training and the batch sampler.
        eval_batch_size: meshes per forward pass in validation.
        max_val_meshes: validate on at most this many meshes (the first ones); None = all.
        precision: ``fp32`` (the original), ``bf16`` autocast, or ``auto`` (bf16 on CUDA only).
    """

    steps: int = 1000
    batch_size: int = 16
    lr: float = 5e-5
    val_every: int = 500
    ckpt_every: int = 500
    seed: int = 0
    eval_batch_size: int = 64
    max_val_meshes: int | None = None
    lr_schedule: str = "constant"
    precision: str = "auto"

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based); a function of the step alone, so resumes agree."""
        if self.lr_schedule == "constant":
            return self.lr
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * step / self.steps))
        raise ValueError(f"lr_schedule {self.lr_schedule!r}: use 'constant' or 'cosine'")


def per_vertex_error(pred: Tensor, target: Tensor) -> Tensor:
    """Mean per-vertex Euclidean distance after centring both meshes.

    Args:
        pred, target: (B, V, 3) metres.

    Returns:
        (B,) metres.
    """
    pred = pred - pred.mean(1, keepdim=True)
    target = target - target.mean(1, keepdim=True)
    return (pred - target).norm(dim=-1).mean(1)


def keep_freed_memory() -> bool:
    """Ask glibc malloc to keep freed blocks (no mmap per large tensor, no trimming): fewer page faults.

    Same effect as starting the process with ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` in bytes
    and ``MALLOC_TOP_PAD_`` (this glibc reads ``16G`` as 16 bytes), but settable after start-up. The process
    keeps its peak memory instead of returning it. Returns False where glibc's ``mallopt`` is unavailable.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    big = 2**31 - 1  # mallopt takes an int
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = libc.mallopt(m_mmap_threshold, big) and libc.mallopt(m_trim_threshold, big)
    return bool(ok and libc.mallopt(m_top_pad, 1 << 30))


@torch.no_grad()
def tokenize(
    model: MeshVQVAE,
    vertices: Tensor,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    errors: bool = True,
    precision: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and reconstruction error of every mesh (eval mode; the codebook is not touched).

    Args:
        model: trained model.
        vertices: (N, V, 3) float32 centred meshes, metres.
        batch_size: meshes per forward pass.
        device: where to compute.
        errors: decode the tokens to measure each mesh's error (False: encode only, pve_mm is NaN).
        precision: ``fp32``, ``bf16`` or ``auto`` (:func:`vqhps.training.precision.autocast`).

    Returns:
        indices (N, T) int16 and pve_mm (N,) float32 (mean per-vertex error of the decoded tokens, mm).
    """
    if model.codebook_size > np.iinfo(np.int16).max + 1:
        raise ValueError(f"codebook of {model.codebook_size} codes does not fit int16 token ids")
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    ids, errs = [], []
    try:
        for start in tqdm(
            range(0, len(vertices), batch_size), desc="tokenize", disable=not sys.stderr.isatty()
        ):
            batch = vertices[start : start + batch_size].to(device, torch.float32)
            with autocast(device, precision):
                idx = model.encode_indices(batch)
                recon = model.decode_indices(idx).float() if errors else None
            ids.append(idx.cpu().numpy().astype(np.int16))
            err = per_vertex_error(recon, batch) * 1000.0 if errors else torch.full((len(batch),), np.nan)
            errs.append(err.cpu().numpy().astype(np.float32))
    finally:
        model.train(was_training)
    indices = np.concatenate(ids) if ids else np.zeros((0, model.n_tokens), np.int16)
    pve_mm = np.concatenate(errs) if errs else np.zeros(0, np.float32)
    return indices, pve_mm


@torch.no_grad()
def evaluate_reconstruction(
    model: MeshVQVAE,
    vertices: Tensor,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    precision: str = "auto",
) -> dict[str, float]:
    """Reconstruction through the tokens (eval mode).

    Args:
        vertices: (N, V, 3) float32 centred meshes, metres.
        precision: ``fp32``, ``bf16`` or ``auto`` (:func:`vqhps.training.precision.autocast`).

    Returns:
        pve_mm and pa_pve_mm (means over meshes), perplexity of the token histogram, and codes_in_use
        (fraction of the codebook used at least once).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    pve, pa, ids = [], [], []
    try:
        for start in range(0, len(vertices), batch_size):
            batch = vertices[start : start + batch_size].to(device, torch.float32)
            with autocast(device, precision):
                idx = model.encode_indices(batch)
                recon = model.decode_indices(idx).float()
            pve.append(per_vertex_error(recon, batch).cpu())
            pa.append(pa_pve_mm(recon.double().cpu(), batch.double().cpu(), reduce=False))
            ids.append(idx.cpu())
    finally:
        model.train(was_training)
    tokens = torch.cat(ids)
    return {
        "pve_mm": float(torch.cat(pve).mean()) * 1000.0,
        "pa_pve_mm": float(np.concatenate(pa).mean()),
        "perplexity": codebook_perplexity(tokens, model.codebook_size),
        "codes_in_use": codebook_usage(tokens, model.codebook_size),
    }


def _validate(
    model: MeshVQVAE, val: Tensor, settings: TrainSettings, device: torch.device
) -> dict[str, float]:
    if settings.max_val_meshes is not None:
        val = val[: settings.max_val_meshes]
    m = evaluate_reconstruction(model, val, settings.eval_batch_size, device, settings.precision)
    return {f"val_{k}": v for k, v in m.items()}


def train_mesh_vqvae(
    model: MeshVQVAE,
    train_vertices: Tensor,
    val_vertices: Tensor,
    settings: TrainSettings,
    ckpt_path: Path,
    log: LogFn | None = None,
    device: str | torch.device = "cpu",
    params: dict | None = None,
    rows: FileFrameSampler | None = None,
) -> dict[str, float]:
    """Train with loss = mean per-vertex distance + commitment; resume from ``ckpt_path`` if it exists.

    A killed run restarted with the same arguments resumes from its last checkpoint (weights, codebook, Adam,
    step, RNG) and ends, on CPU, with the same weights as an uninterrupted run.

    Args:
        model: freshly built model (its weights are replaced when resuming).
        train_vertices: (N, V, 3) float32 centred meshes, metres.
        val_vertices: (M, V, 3) float32 centred meshes, metres.
        settings: optimisation settings.
        ckpt_path: checkpoint file, written atomically every ``ckpt_every`` steps and at the end; its
            ``extra["history"]`` holds every validation point (``{"step": s, **metrics}``), resumes included.
        log: called as ``log(metrics, step)`` at every validation (train_loss, train_pve_mm, val_* metrics).
        device: "cpu" or "cuda" (autocast as ``settings.precision`` says).
        params: run parameters stored in the checkpoint (defaults to ``settings``).
        rows: draws each batch's rows (file-then-frame from the training ids); None = uniform over rows.

    Returns:
        Final metrics: train_loss, val_pve_mm, val_pa_pve_mm, val_perplexity, val_codes_in_use, steps.

    Raises:
        FloatingPointError: on a NaN or infinite loss (naming the step and the value).
    """
    device = torch.device(device)
    ckpt_path = Path(ckpt_path)
    seed_everything(settings.seed)
    sampler = torch.Generator().manual_seed(settings.seed)
    if rows is None:
        rows = FileFrameSampler([str(i) for i in range(len(train_vertices))])
    if rows.n_rows != len(train_vertices):
        raise ValueError(f"row sampler covers {rows.n_rows} rows, the training set has {len(train_vertices)}")
    model.to(device).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    step, history = 0, []
    if ckpt_path.is_file():
        ck = load_checkpoint(ckpt_path, map_location="cpu")  # RNG states must stay on the CPU
        model.load_state_dict(ck["model_state"])
        opt.load_state_dict(ck["optimizer_state"])
        restore_rng_state(ck["rng_state"], {"sampler": sampler})
        step = ck["step"]
        history = list(ck["extra"].get("history", []))
    run_params = params if params is not None else asdict(settings)
    metrics: dict[str, float] = {}
    bar = tqdm(total=settings.steps, initial=step, desc="train", disable=not sys.stderr.isatty())
    loss_value = float("nan")
    while step < settings.steps:
        idx = rows.draw(settings.batch_size, sampler)
        batch = train_vertices[idx].to(device, torch.float32)
        with autocast(device, settings.precision):
            out = model(batch)
        pve = per_vertex_error(out.recon.float(), batch).mean()
        loss = pve + out.commit_loss.float()
        loss_value = float(loss.detach())
        if not np.isfinite(loss_value):
            raise FloatingPointError(
                f"Mesh-VQ-VAE loss is {loss_value} at step {step + 1}; lower lr or check the input meshes"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = settings.lr_at(step)
        opt.step()
        step += 1
        bar.update(1)
        if step % settings.val_every == 0 or step == settings.steps:
            metrics = {"train_loss": loss_value, "train_pve_mm": float(pve.detach()) * 1000.0}
            metrics |= _validate(model, val_vertices, settings, device)
            metrics["perplexity"] = float(out.perplexity)
            bar.set_postfix(val_pve_mm=f"{metrics['val_pve_mm']:.2f}")
            history.append({"step": step, **metrics})
            if log is not None:
                log(metrics, step)
        if step % settings.ckpt_every == 0 or step == settings.steps:
            save_checkpoint(
                ckpt_path,
                model.state_dict(),
                model.config.to_dict(),
                run_params,
                step,
                opt.state_dict(),
                capture_rng_state({"sampler": sampler}),
                mesh_vqvae_extra(model) | {"history": history},
            )
    bar.close()
    if not metrics:  # resumed from a finished checkpoint
        metrics = _validate(model, val_vertices, settings, device)
    metrics["steps"] = float(step)
    return metrics
