"""Spatially varying mesh convolution (vc-conv) and learned (un)pooling layers, fast and reference forms.

The layers work on vertex-major activations ``(N, B, C)`` so that the neighbour gather is one ``index_select``
of contiguous rows (and its backward one ``index_add`` of contiguous rows), whatever the batch size.
Inference (no gradients) can use channel-major activations ``(N, C, B)`` instead (``forward_cm``): there
the basis kernels act on each point's ``(M * C, B)`` block in place, so the transposed copy of the
gathered features that the batch-major matrix product needs disappears (tokenising is ~10 % faster).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqhps.models.bag_sum import BagStructure
from vqhps.models.mesh_hierarchy import NeighbourTable


def _table_buffers(module: nn.Module, table: NeighbourTable) -> None:
    """Register the padded index (for the reference forms) and the mask of real entries."""
    module.register_buffer("padded_index", torch.from_numpy(table.index).long(), persistent=False)
    module.register_buffer("mask", torch.from_numpy(table.mask).float(), persistent=False)


def _init_neighbours(table: NeighbourTable) -> int:
    """Average neighbour count as the original initialisation uses it (rounded to an integer, at least 1)."""
    return max(1, round(table.mean_neighbours))


def _real_entries(table: NeighbourTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-major real (non-padding) entries: (rows p, slots k, input ids j), each (nnz,) int64."""
    p, k = np.nonzero(table.mask)
    return p, k, table.index[p, k]


class VCConv(nn.Module):
    """Vc-conv: per-output-point kernels mixed from ``n_basis`` shared basis kernels (FCMAE, Zhou 2020).

    y[p] = act(sum_k sum_m A[p,k,m] W_m x[nbr(p,k)] + b), padding slots masked out.
    Parameters: coeff A (N_out, K, M), basis W (M, C_out*C_in), bias (C_out,); residual rate 0 (none).

    Computation never forms the N_out x K x C_out x C_in kernels: when C_in <= C_out the neighbours are first
    contracted with A (a sparse product giving (N_out, M, B, C_in)), then all basis kernels are applied as one
    matrix product; when C_in > C_out the basis kernels are applied first (giving (N_in, M, B, C_out))
    and the sparse product with A comes last, so the sparse part always runs on min(C_in, C_out) channels.
    """

    def __init__(
        self,
        table: NeighbourTable,
        in_channels: int,
        out_channels: int,
        n_basis: int = 9,
        activation: bool = True,
    ) -> None:
        super().__init__()
        self.n_in, self.n_out, self.k = table.n_in, table.n_out, table.max_neighbours
        self.in_channels, self.out_channels, self.n_basis = in_channels, out_channels, n_basis
        self.activation = activation
        self.coeff_first = in_channels <= out_channels
        _table_buffers(self, table)
        # Initialisation of the original (graphAE.py): A ~ N(0,1)/(mean nbrs * M), W ~ N(0,1), b = 0.
        scale = 1.0 / (_init_neighbours(table) * n_basis)
        self.coeff = nn.Parameter(torch.randn(self.n_out, self.k, n_basis) * scale)
        self.basis = nn.Parameter(torch.randn(n_basis, out_channels * in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self._build_structure(table)

    def _build_structure(self, table: NeighbourTable) -> None:
        p, k, j = _real_entries(table)
        m_n, counts = self.n_basis, table.mask.sum(1)
        m = np.arange(m_n)
        if self.coeff_first:
            # Bags (p, m) in that order, each over the real neighbours of p; rows of x are (j).
            sizes = np.repeat(counts, m_n)
            bag_first = np.cumsum(sizes) - sizes
            within = np.arange(sizes.sum()) - np.repeat(bag_first, sizes)
            starts = np.cumsum(counts) - counts
            order = np.repeat(np.repeat(starts, m_n), sizes) + within
            m_of = np.repeat(np.tile(m, self.n_out), sizes)
            indices = j[order]
            coeff_flat = (p[order] * self.k + k[order]) * m_n + m_of
            n_rows = self.n_in
        else:
            # Bags p over (neighbour, m) pairs; rows of the basis-transformed input are (j, m).
            indices = (j[:, None] * m_n + m[None, :]).reshape(-1)
            coeff_flat = ((p * self.k + k)[:, None] * m_n + m[None, :]).reshape(-1)
            sizes = counts * m_n
            n_rows = self.n_in * m_n
        self.register_buffer("coeff_index", torch.from_numpy(coeff_flat).long(), persistent=False)
        self.bags = BagStructure(indices, sizes, n_rows)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer.

        Args:
            x: (N_in, B, C_in) vertex-major features.

        Returns:
            (N_out, B, C_out).
        """
        b, c_in, c_out, m_n = x.shape[1], self.in_channels, self.out_channels, self.n_basis
        a = self.coeff.reshape(-1).index_select(0, self.coeff_index)
        w = self.basis.view(m_n, c_out, c_in)
        if self.coeff_first:
            h = self.bags(x.reshape(self.n_in, b * c_in), a)  # (N_out*M, B*C_in)
            h = h.view(self.n_out, m_n, b, c_in).transpose(1, 2).reshape(self.n_out * b, m_n * c_in)
            y = torch.addmm(self.bias, h, w.permute(0, 2, 1).reshape(m_n * c_in, c_out))
        else:
            u = x.reshape(self.n_in * b, c_in) @ w.permute(2, 0, 1).reshape(c_in, m_n * c_out)
            u = u.view(self.n_in, b, m_n, c_out).transpose(1, 2).reshape(self.n_in * m_n, b * c_out)
            y = self.bags(u, a).view(self.n_out, b, c_out) + self.bias
        y = y.view(self.n_out, b, c_out)
        # In place: ELU's backward can use its output, and this saves a full-size temporary.
        return F.elu(y, inplace=True) if self.activation else y

    def forward_cm(self, x: Tensor) -> Tensor:
        """The same layer on channel-major features, for inference: (N_in, C_in, B) -> (N_out, C_out, B).

        Same function as :meth:`forward` (up to float rounding); per point, the basis kernels are one
        (C_out x M*C_in) or (M*C_out x C_in) matrix applied to a contiguous block, batched over points.
        """
        b, c_in, c_out, m_n = x.shape[2], self.in_channels, self.out_channels, self.n_basis
        a = self.coeff.reshape(-1).index_select(0, self.coeff_index)
        w = self.basis.view(m_n, c_out, c_in)
        bias = self.bias.view(1, c_out, 1).expand(self.n_out, c_out, b)
        if self.coeff_first:
            h = self.bags(x.reshape(self.n_in, c_in * b), a).view(self.n_out, m_n * c_in, b)
            w_cat = w.permute(1, 0, 2).reshape(1, c_out, m_n * c_in).expand(self.n_out, -1, -1)
            y = torch.baddbmm(bias, w_cat, h)  # (N_out, C_out, B)
        else:
            w_cat = w.reshape(1, m_n * c_out, c_in).expand(self.n_in, -1, -1)
            u = torch.bmm(w_cat, x)  # (N_in, M*C_out, B): rows (j, m) of C_out*B for the bag sum
            y = self.bags(u.view(self.n_in * m_n, c_out * b), a).view(self.n_out, c_out, b) + bias
        return F.elu(y, inplace=True) if self.activation else y

    def extra_repr(self) -> str:
        c = f"{self.n_in}x{self.in_channels} -> {self.n_out}x{self.out_channels}"
        return f"{c}, K={self.k}, M={self.n_basis}"


class LearnedPool(nn.Module):
    """Learned (un)pooling: y[p] = sum_k P'[p,k] x[nbr(p,k)], P' = |P| * mask, rows normalised to sum 1.

    Channels are unchanged (the original's residual rate 1 with no ``weight_res``); parameters: P (N_out, K).
    """

    def __init__(self, table: NeighbourTable) -> None:
        super().__init__()
        self.n_in, self.n_out, self.k = table.n_in, table.n_out, table.max_neighbours
        _table_buffers(self, table)
        self.weight = nn.Parameter(torch.randn(self.n_out, self.k) / _init_neighbours(table))
        p, k, j = _real_entries(table)
        self.register_buffer("weight_index", torch.from_numpy(p * self.k + k).long(), persistent=False)
        self.bags = BagStructure(j, table.mask.sum(1), self.n_in)

    def normalised_weight(self) -> Tensor:
        """(N_out, K) non-negative weights, zero on padding, rows summing to 1 (up to the 1e-8 guard)."""
        w = self.weight.abs() * self.mask
        return w / (w.sum(1, keepdim=True) + 1e-8)

    def forward(self, x: Tensor) -> Tensor:
        """(N_in, B, C) -> (N_out, B, C)."""
        _, b, c = x.shape
        w = self.normalised_weight().reshape(-1).index_select(0, self.weight_index)
        return self.bags(x.reshape(self.n_in, b * c), w).view(self.n_out, b, c)

    def forward_cm(self, x: Tensor) -> Tensor:
        """(N_in, C, B) -> (N_out, C, B): pooling mixes whole rows, so the layout does not matter."""
        return self(x)

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
    nbr = x_pad[:, layer.padded_index]  # (B, N_out, K, C_in)
    kernels = (layer.coeff * layer.mask.unsqueeze(-1)) @ layer.basis
    kernels = kernels.view(layer.n_out, layer.k, layer.out_channels, layer.in_channels)
    y = torch.einsum("pkoi,bpki->bpo", kernels, nbr) + layer.bias
    return F.elu(y) if layer.activation else y


def pool_reference(layer: LearnedPool, x: Tensor) -> Tensor:
    """Plain computation of :class:`LearnedPool` (tests only): (B, N_in, C) -> (B, N_out, C)."""
    b, _, c = x.shape
    x_pad = torch.cat([x, x.new_zeros(b, 1, c)], 1)
    return torch.einsum("pk,bpkc->bpc", layer.normalised_weight(), x_pad[:, layer.padded_index])
