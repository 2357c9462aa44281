"""VQ-HPS token branch: sine 2D positions, pre-LN DETR encoder/decoder, causal GPT head (batch-first)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HEAD_ATTENTION_AXES = ("tokens", "batch")


def sine_position_encoding(height: int, width: int, dim: int, temperature: float = 10000.0) -> Tensor:
    """DETR sine positional encoding with ``normalize=True`` for an ``height x width`` feature grid.

    Row/column indices (1-based) are scaled to (0, 2*pi], then encoded with ``dim // 2`` interleaved
    sin/cos frequencies each; the y half comes first, then the x half.

    Returns:
        (height * width, dim) float32, row-major over the grid (same order as ``feature.flatten(2)``).
    """
    if dim % 4:
        raise ValueError(f"positional encoding dim must be a multiple of 4, got {dim}")
    half = dim // 2
    eps, scale = 1e-6, 2 * math.pi
    ys = torch.arange(1, height + 1, dtype=torch.float32) / (height + eps) * scale
    xs = torch.arange(1, width + 1, dtype=torch.float32) / (width + eps) * scale
    freq = temperature ** (2 * (torch.arange(half) // 2).float() / half)

    def encode(coord: Tensor) -> Tensor:  # (n,) -> (n, half): sin on even, cos on odd channels
        angles = coord[:, None] / freq
        return torch.stack([angles[:, 0::2].sin(), angles[:, 1::2].cos()], dim=-1).flatten(1)

    pos_y = encode(ys)[:, None, :].expand(height, width, half)
    pos_x = encode(xs)[None, :, :].expand(height, width, half)
    return torch.cat([pos_y, pos_x], dim=-1).reshape(height * width, dim)


class EncoderLayer(nn.Module):
    """Pre-LN encoder layer; positions are added to queries and keys only (values stay position-free)."""

    def __init__(self, d_model: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d_model, ffn), nn.Linear(ffn, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout, self.dropout1, self.dropout2 = (nn.Dropout(dropout) for _ in range(3))

    def forward(self, src: Tensor, pos: Tensor) -> Tensor:
        """src (B, N, d), pos (N, d) or (B, N, d) -> (B, N, d)."""
        h = self.norm1(src)
        src = src + self.dropout1(self.self_attn(h + pos, h + pos, h, need_weights=False)[0])
        h = self.norm2(src)
        return src + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(h)))))


class DecoderLayer(nn.Module):
    """Pre-LN decoder layer: self-attention over queries, cross-attention to memory, ReLU FFN."""

    def __init__(self, d_model: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d_model, ffn), nn.Linear(ffn, d_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout, self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(4))

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor) -> Tensor:
        """tgt (B, T, d), memory (B, N, d), pos (N, d) -> (B, T, d).

        The query positional embedding is zero in VQ-HPS, so it is omitted: the learned query embeddings
        (the decoder input itself) are the only token identity.
        """
        h = self.norm1(tgt)
        tgt = tgt + self.dropout1(self.self_attn(h, h, h, need_weights=False)[0])
        h = self.norm2(tgt)
        tgt = tgt + self.dropout2(self.cross_attn(h, memory + pos, memory, need_weights=False)[0])
        h = self.norm3(tgt)
        return tgt + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(h)))))


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where token i attends to tokens 0..i only (separate q/k/v projections)."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.key, self.query, self.value = (nn.Linear(d_model, d_model) for _ in range(3))
        self.proj = nn.Linear(d_model, d_model)
        self.heads, self.attn_dropout = heads, dropout
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, d) -> (B, T, d)."""
        b, t, d = x.shape

        def split(layer: nn.Linear) -> Tensor:  # (B, heads, T, d/heads)
            return layer(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)

        y = F.scaled_dot_product_attention(
            split(self.query),
            split(self.key),
            split(self.value),
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=True,
        )
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))


class CausalBlock(nn.Module):
    """GPT block: pre-LN causal self-attention + pre-LN GELU MLP (d -> ffn -> d, dropout after)."""

    def __init__(self, d_model: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, heads, dropout)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, ffn), nn.GELU(), nn.Linear(ffn, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TokenTransformer(nn.Module):
    """Image features -> per-token codebook logits in one pass (VQ-HPS "autoreg" head, not autoregressive).

    Encoder stack (+ final LayerNorm) over the image tokens, decoder stack (+ final LayerNorm) from the
    learned queries, then ``head_layers`` causal GPT blocks, LayerNorm and a bias-free linear classifier.

    The causal attention runs over the token axis of each sample. The original code fed the head
    sequence-first tensors (T, B, d) while the head expected (B, T, d), so its causal mask ran over the
    *batch* axis (sample b saw samples <= b of the same token index); that bug is not reproduced here
    unless ``head_attention_axis="batch"``, which only the original's released weights use (they were
    trained with it): then the head runs on (T, B, d), so outputs depend on the batch's composition and
    order, exactly as in the original's evaluation.
    """

    def __init__(
        self,
        d_model: int,
        heads: int,
        ffn: int,
        dropout: float,
        enc_layers: int,
        dec_layers: int,
        head_layers: int,
        codebook_size: int,
        head_attention_axis: str = "tokens",
    ) -> None:
        super().__init__()
        if head_attention_axis not in HEAD_ATTENTION_AXES:
            raise ValueError(
                f"head_attention_axis must be one of {HEAD_ATTENTION_AXES}, got {head_attention_axis!r}"
            )
        self.head_over_batch = head_attention_axis == "batch"
        self.encoder = nn.ModuleList(EncoderLayer(d_model, heads, ffn, dropout) for _ in range(enc_layers))
        self.encoder_norm = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList(DecoderLayer(d_model, heads, ffn, dropout) for _ in range(dec_layers))
        self.decoder_norm = nn.LayerNorm(d_model)
        self.blocks = nn.Sequential(*[CausalBlock(d_model, heads, ffn, dropout) for _ in range(head_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, codebook_size, bias=False)
        for p in self.parameters():  # as the original: Xavier-uniform on every >= 2-D parameter
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def decode_features(self, memory: Tensor, pos: Tensor, queries: Tensor) -> Tensor:
        """memory (B, N, d) image tokens, pos (N, d), queries (B, T, d) -> decoder output (B, T, d)."""
        for layer in self.encoder:
            memory = layer(memory, pos)
        memory = self.encoder_norm(memory)
        out = queries
        for layer in self.decoder:
            out = layer(out, memory, pos)
        return self.decoder_norm(out)

    def classify(self, features: Tensor) -> Tensor:
        """Decoder output (B, T, d) -> logits (B, T, K) through the causal head."""
        if self.head_over_batch:  # only attention mixes positions: transposing around the blocks suffices
            return self.head(self.ln_f(self.blocks(features.transpose(0, 1)))).transpose(0, 1)
        return self.head(self.ln_f(self.blocks(features)))

    def forward(self, memory: Tensor, pos: Tensor, queries: Tensor) -> Tensor:
        """memory (B, N, d), pos (N, d), queries (B, T, d) -> logits (B, T, K)."""
        return self.classify(self.decode_features(memory, pos, queries))
