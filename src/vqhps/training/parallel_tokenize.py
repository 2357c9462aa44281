"""Tokenising on a CPU with several single-threaded processes instead of one multi-threaded one.

Measured on the 2-core development machine (SMPL-size hierarchy, batch 64, idle): one process with two
intra-op threads tokenises ~300 meshes/s, two processes with one thread each ~375 meshes/s together
(the bag sums and the ELU barely gain from a second thread). The split is by contiguous chunks, so the
result is exactly :func:`~vqhps.training.mesh_vqvae_trainer.tokenize` of the whole input. The pool is
torch's, so the chunks reach the workers through shared memory rather than being pickled.
"""

from __future__ import annotations

from types import TracebackType

import numpy as np
import torch
import torch.multiprocessing as mp
from torch import Tensor

from vqhps.models.mesh_vqvae import MeshVQVAE
from vqhps.render.synthetic import single_threaded_children
from vqhps.training.mesh_vqvae_trainer import keep_freed_memory, tokenize

_WORKER: dict = {}


def _init_worker(model: MeshVQVAE, batch_size: int, errors: bool, precision: str) -> None:
    keep_freed_memory()  # without it a worker runs ~1.5x slower (page faults on every large tensor)
    torch.set_num_threads(1)
    _WORKER.update(model=model.eval(), batch_size=batch_size, errors=errors, precision=precision)


def _tokenize_chunk(vertices: Tensor) -> tuple[np.ndarray, np.ndarray]:
    w = _WORKER
    return tokenize(w["model"], vertices, w["batch_size"], errors=w["errors"], precision=w["precision"])


class ParallelTokenizer:
    """``tokenize`` over ``workers`` CPU processes (one torch thread each); a context manager.

    With ``workers == 1`` or a non-CPU device it calls :func:`tokenize` in this process.

    Args:
        model: trained Mesh-VQ-VAE (copied into each worker once, at start).
        workers: processes to use.
        batch_size: meshes per forward pass inside a worker.
        device: "cpu" or "cuda"; the pool is used on the CPU only.
        errors: also decode each mesh's tokens for its reconstruction error (False: pve_mm is NaN).
        precision: ``fp32``, ``bf16`` or ``auto`` (:func:`vqhps.training.precision.autocast`).
    """

    def __init__(
        self,
        model: MeshVQVAE,
        workers: int,
        batch_size: int = 64,
        device: str = "cpu",
        errors: bool = True,
        precision: str = "auto",
    ) -> None:
        self.model, self.batch_size, self.device, self.errors = model, batch_size, device, errors
        self.precision = precision
        self.workers = max(1, int(workers)) if torch.device(device).type == "cpu" else 1
        self._pool = None

    def __enter__(self) -> ParallelTokenizer:
        if self.workers > 1:
            with single_threaded_children():
                self._pool = mp.get_context("spawn").Pool(
                    self.workers,
                    _init_worker,
                    (self.model.cpu().eval(), self.batch_size, self.errors, self.precision),
                )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            if exc_type is None:
                self._pool.close()  # let the workers finish
            else:
                self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __call__(self, vertices: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(N, V, 3) float32 centred meshes, metres -> indices (N, T) int16 and pve_mm (N,) float32."""
        if self._pool is None or len(vertices) < 2 * self.workers:
            return tokenize(self.model, vertices, self.batch_size, self.device, self.errors, self.precision)
        bounds = np.linspace(0, len(vertices), self.workers + 1).round().astype(int)
        chunks = [vertices[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        parts = self._pool.map(_tokenize_chunk, chunks)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
