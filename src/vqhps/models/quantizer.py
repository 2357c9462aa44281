"""EMA vector quantiser with Laplace smoothing and a straight-through estimator (VQ-VAE, van den Oord)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class QuantizerOutput:
    """Result of :meth:`EMAVectorQuantizer.forward`.

    Attributes:
        quantized: (..., D) codes, with the straight-through gradient to the input.
        indices: (...) int64 code ids.
        commit_loss: scalar, beta * MSE(sg(z_q), z_e).
        perplexity: scalar, exp(entropy) of the batch code histogram.
    """

    quantized: Tensor
    indices: Tensor
    commit_loss: Tensor
    perplexity: Tensor


class EMAVectorQuantizer(nn.Module):
    """Codebook of ``codebook_size`` codes of size ``dim``, learned by exponential moving averages only.

    ``_embedding`` and ``_ema_w`` are parameters without gradient (as in the original, whose parameter count
    includes both); the cluster sizes are a buffer. The codebook changes only in training mode.
    """

    def __init__(
        self,
        codebook_size: int = 512,
        dim: int = 9,
        beta: float = 0.25,
        decay: float = 0.99,
        eps: float = 1e-5,
        dead_code_restart: bool = False,
        dead_code_threshold: float = 1e-3,
        data_init: bool = False,
    ) -> None:
        super().__init__()
        self.codebook_size, self.dim = codebook_size, dim
        self.beta, self.decay, self.eps = beta, decay, eps
        self.dead_code_restart, self.dead_code_threshold = dead_code_restart, dead_code_threshold
        self.data_init = data_init
        self._embedding = nn.Parameter(torch.randn(codebook_size, dim), requires_grad=False)
        self._ema_w = nn.Parameter(torch.randn(codebook_size, dim), requires_grad=False)
        self.register_buffer("_ema_cluster_size", torch.zeros(codebook_size))
        self.register_buffer("_data_initialised", torch.zeros((), dtype=torch.bool))

    @property
    def codebook(self) -> Tensor:
        """(codebook_size, dim) current codes."""
        return self._embedding

    def nearest(self, flat: Tensor) -> Tensor:
        """(N, dim) float32 latents -> (N,) int64 id of the nearest code (squared L2)."""
        e = self._embedding
        dist = flat.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2.0 * flat @ e.t()
        return dist.argmin(1)

    def forward(self, z_e: Tensor) -> QuantizerOutput:
        """Quantise latents (and, in training mode, update the codebook by EMA).

        Args:
            z_e: (..., dim) latents; computed in float32 whatever the autocast state.
        """
        shape = z_e.shape
        with torch.autocast(device_type=z_e.device.type, enabled=False):
            z = z_e.float()
            flat = z.reshape(-1, self.dim)
            indices = self.nearest(flat.detach())
            onehot = F.one_hot(indices, self.codebook_size).to(flat.dtype)
            if self.training and self.data_init and not bool(self._data_initialised):
                self._init_from_data(flat.detach())
                indices = self.nearest(flat.detach())
                onehot = F.one_hot(indices, self.codebook_size).to(flat.dtype)
            # the codes of this step are read before the EMA moves them, as the original
            # (Mesh-VQ-VAE's VectorQuantizerEMA): decoder input and commitment loss use the same codebook
            # that chose the indices
            z_q = self._embedding[indices].view(shape)  # indexing copies: the update cannot reach it
            if self.training:
                self._ema_update(flat.detach(), onehot)
            commit = self.beta * F.mse_loss(z_q.detach(), z)
            quantized = z + (z_q - z).detach()
            probs = onehot.mean(0)
            perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
        return QuantizerOutput(quantized, indices.view(shape[:-1]), commit, perplexity)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, onehot: Tensor) -> None:
        """N <- d N + (1-d) counts, Laplace-smoothed; m <- d m + (1-d) onehot^T z; e <- m / N."""
        d = self.decay
        size = self._ema_cluster_size.mul(d).add_(onehot.sum(0), alpha=1 - d)
        n = size.sum()
        size = (size + self.eps) / (n + self.codebook_size * self.eps) * n
        self._ema_cluster_size.copy_(size)
        self._ema_w.mul_(d).add_(onehot.t() @ flat, alpha=1 - d)
        self._embedding.copy_(self._ema_w / size.unsqueeze(1))
        if self.dead_code_restart:
            self._restart_dead_codes(flat)

    @torch.no_grad()
    def _init_from_data(self, flat: Tensor) -> None:
        """Codes <- random latents of the first training batch, EMA counts <- 1 (not in the paper).

        With the paper's N(0, 1) codes, zero counts and latents of another scale, every code a first
        batch does not pick is divided by a near-zero Laplace-smoothed count and explodes; training
        then sits with one code in use for hundreds of steps. Starting the codes on the latents and
        the counts at one keeps every code reachable.
        """
        pick = torch.randint(0, flat.shape[0], (self.codebook_size,), device=flat.device)
        codes = flat[pick] + 1e-3 * flat.std() * torch.randn_like(flat[pick])
        self._embedding.copy_(codes)
        self._ema_w.copy_(codes)
        self._ema_cluster_size.fill_(1.0)
        self._data_initialised.fill_(True)

    @torch.no_grad()
    def _restart_dead_codes(self, flat: Tensor) -> None:
        """Move codes whose EMA count fell below the threshold onto random latents of this batch."""
        dead = torch.nonzero(self._ema_cluster_size < self.dead_code_threshold).flatten()
        if dead.numel() == 0:
            return
        pick = torch.randint(0, flat.shape[0], (dead.numel(),), device=flat.device)
        self._embedding[dead] = flat[pick]
        self._ema_w[dead] = flat[pick]  # count reset to 1 so that e = m / N stays the sample
        self._ema_cluster_size[dead] = 1.0

    def decode_indices(self, indices: Tensor) -> Tensor:
        """(...) int code ids -> (..., dim) codes."""
        return self._embedding[indices.long()]
