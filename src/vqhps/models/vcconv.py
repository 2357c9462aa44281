"""Spatially varying mesh convolution (vc-conv) and learned (un)pooling layers, fast and reference forms.

The layers work on vertex-major activations ``(N, B, C)`` so that the neighbour gather is one ``index_select``
of contiguous rows (and its backward one ``index_add`` of contiguous rows), whatever the batch size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqhps.models.mesh_hierarchy import NeighbourTable


def _table_buffers(module: nn.Module, table: NeighbourTable) -> None:
    """Register the gather index (padding slots point at row 0; their weight is masked to 0) and the mask."""
    mask = table.mask
    module.register_buffer(
        "gather_index", torch.from_numpy(np.where(mask, table.index, 0).reshape(-1)).long(), persistent=False
    )
    module.register_buffer("mask", torch.from_numpy(mask).float(), persistent=False)


def _gather(x: Tensor, index: Tensor, n_out: int) -> Tensor:
    """(N_in, B, C) -> (n_out, K, B*C) neighbour rows."""
    n_in, b, c = x.shape
    return x.reshape(n_in, b * c).index_select(0, index).view(n_out, -1, b * c)


class VCConv(nn.Module):
    """Vc-conv: per-output-point kernels mixed from ``n_basis`` shared basis kernels (FCMAE, Zhou et al. 2020).

    y[p] = act(sum_k sum_m A[p,k,m] W_m x[nbr(p,k)] + b), padding slots masked out.
    Parameters: coeff A (N_out, K, M), basis W (M, C_out*C_in), bias (C_out,); residual rate 0 (none).
    """

    def __init__(
        self, table: NeighbourTable, in_channels: int, out_channels: int, n_basis: int = 9, activation: bool = True
    ) -> None:
        super().__init__()
        self.n_in, self.n_out, self.k = table.n_in, table.n_out, table.max_neighbours
        self.in_channels, self.out_channels, self.n_basis = in_channels, out_channels, n_basis
        self.activation = activation
        _table_buffers(self, table)
        # Initialisation of the original (graphAE.py): A ~ N(0,1)/(mean nbrs * M), W ~ N(0,1), b = 0.
        scale = 1.0 / (max(table.mean_neighbours, 1.0) * n_basis)
        self.coeff = nn.Parameter(torch.randn(self.n_out, self.k, n_basis) * scale)
        self.basis = nn.Parameter(torch.randn(n_basis, out_channels * in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer.

        Args:
            x: (N_in, B, C_in) vertex-major features.

        Returns:
            (N_out, B, C_out).
        """
        b = x.shape[1]
        nbr = _gather(x, self.gather_index, self.n_out)  # (N_out, K, B*C_in)
        coeff = self.coeff * self.mask.unsqueeze(-1)  # (N_out, K, M)
        # Contract neighbours with the per-point coefficients first: (N_out, B*C_in, M), never N_out*K*C_out*C_in.
        h = torch.bmm(nbr.transpose(1, 2), coeff).view(self.n_out * b, self.in_channels * self.n_basis)
        w = self.basis.view(self.n_basis, self.out_channels, self.in_channels).permute(2, 0, 1)
        y = torch.addmm(self.bias, h, w.reshape(self.in_channels * self.n_basis, self.out_channels))
        y = y.view(self.n_out, b, self.out_channels)
        return F.elu(y) if self.activation else y

    def extra_repr(self) -> str:
        return f"{self.n_in}x{self.in_channels} -> {self.n_out}x{self.out_channels}, K={self.k}, M={self.n_basis}"


class LearnedPool(nn.Module):
    """Learned (un)pooling: y[p] = sum_k P'[p,k] x[nbr(p,k)], P' = |P| * mask, rows normalised to sum 1.

    Channels are unchanged (the original's residual rate 1 with no ``weight_res``); parameters: P (N_out, K).
    """

    def __init__(self, table: NeighbourTable) -> None:
        super().__init__()
        self.n_in, self.n_out, self.k = table.n_in, table.n_out, table.max_neighbours
        _table_buffers(self, table)
        self.weight = nn.Parameter(torch.randn(self.n_out, self.k) / max(table.mean_neighbours, 1.0))

    def normalised_weight(self) -> Tensor:
        """(N_out, K) non-negative weights, zero on padding, rows summing to 1 (up to the 1e-8 guard)."""
        w = self.weight.abs() * self.mask
        return w / (w.sum(1, keepdim=True) + 1e-8)

    def forward(self, x: Tensor) -> Tensor:
        """(N_in, B, C) -> (N_out, B, C)."""
        _, b, c = x.shape
        nbr = _gather(x, self.gather_index, self.n_out)  # (N_out, K, B*C)
        return torch.bmm(self.normalised_weight().unsqueeze(1), nbr).view(self.n_out, b, c)

    def extra_repr(self) -> str:
        return f"{self.n_in} -> {self.n_out}, K={self.k}"


def vcconv_reference(layer: VCConv, x: Tensor) -> Tensor:
    """Plain computation of :class:`VCConv` as in the original code (tests only; materialises all kernels).

    Args:
        layer: the layer whose parameters and neighbour table are used.
        x: (B, N_in, C_in) batch-major features.

    Returns:
        (B, N_out, C_out).
    """
    b = x.shape[0]
    x_pad = torch.cat([x, x.new_zeros(b, 1, layer.in_channels)], 1)
    index = layer.gather_index.view(layer.n_out, layer.k).clone()
    index[layer.mask == 0] = layer.n_in
    nbr = x_pad[:, index]  # (B, N_out, K, C_in)
    kernels = (layer.coeff * layer.mask.unsqueeze(-1)) @ layer.basis
    kernels = kernels.view(layer.n_out, layer.k, layer.out_channels, layer.in_channels)
    y = torch.einsum("pkoi,bpki->bpo", kernels, nbr) + layer.bias
    return F.elu(y) if layer.activation else y


def pool_reference(layer: LearnedPool, x: Tensor) -> Tensor:
    """Plain computation of :class:`LearnedPool` (tests only): (B, N_in, C) -> (B, N_out, C)."""
    b, _, c = x.shape
    x_pad = torch.cat([x, x.new_zeros(b, 1, c)], 1)
    index = layer.gather_index.view(layer.n_out, layer.k).clone()
    index[layer.mask == 0] = layer.n_in
    return torch.einsum("pk,bpkc->bpc", layer.normalised_weight(), x_pad[:, index])
