"""Weighted sums of gathered rows (a sparse-dense product) with a scatter-free, sort-free backward.

``out[b] = sum_{e in bag b} w[e] * table[idx[e]]`` is ``torch.nn.functional.embedding_bag`` (fbgemm on CPU).
Its default backward sorts the indices and scatters; here the gradient of ``table`` is another bag sum over
the transposed structure, precomputed once, so training costs about three forward passes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

_MODE_SUM = 0


class BagStructure(nn.Module):
    """Fixed sparsity pattern: ``n_bags`` bags of entries pointing at rows of an ``n_rows``-row table.

    Buffers (not saved in state dicts; they are rebuilt from the hierarchy): indices, offsets, entry_bag and
    the transposed pattern (t_perm, t_bags, t_offsets).
    """

    def __init__(self, indices: np.ndarray, bag_sizes: np.ndarray, n_rows: int) -> None:
        super().__init__()
        indices = np.asarray(indices, dtype=np.int64)
        bag_sizes = np.asarray(bag_sizes, dtype=np.int64)
        if bag_sizes.sum() != len(indices):
            raise ValueError(f"bag sizes sum to {bag_sizes.sum()} but there are {len(indices)} entries")
        self.n_bags, self.n_rows, self.n_entries = len(bag_sizes), n_rows, len(indices)
        offsets = np.concatenate([[0], np.cumsum(bag_sizes)[:-1]]).astype(np.int64)
        entry_bag = np.repeat(np.arange(len(bag_sizes)), bag_sizes)
        t_perm = np.argsort(indices, kind="stable")
        t_counts = np.bincount(indices, minlength=n_rows)
        t_offsets = np.concatenate([[0], np.cumsum(t_counts)[:-1]]).astype(np.int64)
        for name, arr in (
            ("indices", indices),
            ("offsets", offsets),
            ("entry_bag", entry_bag),
            ("t_perm", t_perm),
            ("t_bags", entry_bag[t_perm]),
            ("t_offsets", t_offsets),
        ):
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(arr)).long(), persistent=False)

    def forward(self, table: Tensor, weights: Tensor) -> Tensor:
        """(n_rows, D) table, (n_entries,) weights -> (n_bags, D) weighted bag sums."""
        return _BagSum.apply(table, weights, self)


class _BagSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, table: Tensor, weights: Tensor, s: BagStructure) -> Tensor:  # type: ignore[override]
        table = table.contiguous()
        weights = weights.to(table.dtype).contiguous()
        ctx.save_for_backward(table, weights)
        ctx.structure = s
        return F.embedding_bag(s.indices, table, s.offsets, mode="sum", per_sample_weights=weights)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        table, weights = ctx.saved_tensors
        s: BagStructure = ctx.structure
        grad_out = grad_out.contiguous()
        grad_table = grad_weights = None
        if ctx.needs_input_grad[0]:
            # d table[j] = sum over entries e pointing at j of w[e] * grad_out[bag(e)]: a bag sum, no scatter.
            grad_table = F.embedding_bag(
                s.t_bags, grad_out, s.t_offsets, mode="sum", per_sample_weights=weights[s.t_perm]
            )
        if ctx.needs_input_grad[1]:
            grad_weights = torch.ops.aten._embedding_bag_per_sample_weights_backward(
                grad_out, table, s.indices, s.offsets, s.entry_bag, _MODE_SUM
            )
        return grad_table, grad_weights, None
