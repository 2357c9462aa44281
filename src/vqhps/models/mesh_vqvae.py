"""Mesh-VQ-VAE: fully convolutional mesh autoencoder (vc-conv, learned pooling) with an EMA quantiser."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vqhps.models.mesh_hierarchy import MeshHierarchy
from vqhps.models.mesh_vqvae_config import MeshVQVAEConfig
from vqhps.models.quantizer import EMAVectorQuantizer
from vqhps.models.vcconv import LearnedPool, VCConv


@dataclass
class MeshVQVAEOutput:
    """Forward result: recon (B, V, 3) metres, indices (B, T) int64, commit_loss and perplexity scalars."""

    recon: Tensor
    indices: Tensor
    commit_loss: Tensor
    perplexity: Tensor


def _build_layers(hierarchy: MeshHierarchy, config: MeshVQVAEConfig) -> tuple[nn.ModuleList, nn.ModuleList]:
    n_conv = sum(not lv.resamples for lv in hierarchy.levels)
    if n_conv != len(config.channels):
        raise ValueError(
            f"the hierarchy has {n_conv} conv (stride-1) levels but channels {config.channels} has "
            f"{len(config.channels)} entries; give one channel count per conv level"
        )
    conv_in = [3, *config.channels[:-1]]
    encoder, c, j = nn.ModuleList(), 3, 0
    for lv in hierarchy.levels:
        if lv.resamples:
            encoder.append(LearnedPool(lv.pool))
        else:
            encoder.append(VCConv(lv.pool, c, config.channels[j], config.n_basis))
            c, j = config.channels[j], j + 1
    decoder = nn.ModuleList()
    for lv in reversed(hierarchy.levels):
        if lv.resamples:
            decoder.append(LearnedPool(lv.unpool))
        else:
            j -= 1
            decoder.append(VCConv(lv.unpool, c, conv_in[j], config.n_basis, activation=j > 0))
            c = conv_in[j]
    return encoder, decoder


class MeshVQVAE(nn.Module):
    """Encoder -> EMA quantiser -> decoder over a mesh hierarchy; one token per coarsest point.

    ELU follows every vc-conv except the decoder's last one; the encoder output z_e is ELU-activated, as in
    the original. Any batch size works (no batch-sized buffers).
    """

    def __init__(self, hierarchy: MeshHierarchy, config: MeshVQVAEConfig | None = None) -> None:
        super().__init__()
        self.hierarchy = hierarchy
        self.config = config or MeshVQVAEConfig()
        self.encoder, self.decoder = _build_layers(hierarchy, self.config)
        c = self.config
        self.quantizer = EMAVectorQuantizer(
            c.codebook_size,
            c.code_dim,
            c.beta,
            c.decay,
            c.EPS,
            c.dead_code_restart,
            c.DEAD_CODE_THRESHOLD,
            c.data_init,
        )

    @property
    def n_tokens(self) -> int:
        """Tokens per mesh."""
        return self.hierarchy.n_tokens

    @property
    def codebook_size(self) -> int:
        """Number of codes."""
        return self.config.codebook_size

    @property
    def n_vertices(self) -> int:
        """Template vertex count."""
        return self.hierarchy.n_vertices

    def encode(self, verts: Tensor) -> Tensor:
        """(B, V, 3) centred vertices in metres -> z_e (B, T, D) continuous latents."""
        if verts.ndim != 3 or verts.shape[1:] != (self.n_vertices, 3):
            raise ValueError(f"expected vertices (B, {self.n_vertices}, 3), got {tuple(verts.shape)}")
        return _run_layers(self.encoder, verts)

    def decode(self, z_q: Tensor) -> Tensor:
        """(B, T, D) codes -> (B, V, 3) vertices in metres."""
        return _run_layers(self.decoder, z_q)

    def forward(self, verts: Tensor) -> MeshVQVAEOutput:
        """Encode, quantise (EMA update in training mode), decode. verts: (B, V, 3) metres, centred."""
        q = self.quantizer(self.encode(verts))
        return MeshVQVAEOutput(self.decode(q.quantized), q.indices, q.commit_loss, q.perplexity)

    @torch.no_grad()
    def encode_indices(self, verts: Tensor) -> Tensor:
        """(B, V, 3) -> (B, T) int64 token ids (never updates the codebook)."""
        z = self.encode(verts).float()
        return self.quantizer.nearest(z.reshape(-1, self.config.code_dim)).view(z.shape[:2])

    def decode_indices(self, indices: Tensor) -> Tensor:
        """(B, T) token ids -> (B, V, 3) vertices in metres."""
        return self.decode(self.quantizer.decode_indices(indices))


def _run_layers(layers: nn.ModuleList, x: Tensor) -> Tensor:
    """(B, N, C) -> (B, N', C') through ``layers``: vertex-major when gradients are on, else channel-major.

    The channel-major path (``forward_cm``) computes the same function without the transposed copies the
    batch-major matrix products need; it is used whenever autograd is off (tokenising, evaluation, the
    frozen decoder inside VQ-HPS).
    """
    if torch.is_grad_enabled():
        h = x.transpose(0, 1)
        for layer in layers:
            h = layer(h)
        return h.transpose(0, 1)
    h = x.permute(1, 2, 0).contiguous()
    for layer in layers:
        h = layer.forward_cm(h)
    return h.permute(2, 0, 1)


def layer_table(model: MeshVQVAE) -> list[dict]:
    """One row per network layer: type, in/out points and channels, K, parameter count."""
    rows = []
    for layer in [*model.encoder, *model.decoder]:
        conv = isinstance(layer, VCConv)
        c_in = layer.in_channels if conv else None
        c_out = layer.out_channels if conv else None
        rows.append(
            {
                "type": ("vcconv" + ("+elu" if layer.activation else "")) if conv else "pool",
                "in_pts": layer.n_in,
                "in_ch": c_in,
                "out_pts": layer.n_out,
                "out_ch": c_out,
                "k": layer.k,
                "params": sum(p.numel() for p in layer.parameters()),
            }
        )
    # Pooling keeps channels: fill them from the neighbouring conv layers for display.
    c = 3
    for r in rows:
        r["in_ch"] = r["in_ch"] or c
        r["out_ch"] = r["out_ch"] or r["in_ch"]
        c = r["out_ch"]
    return rows


def summary(model: MeshVQVAE) -> str:
    """Human-readable layer table ending with ``parameters: N`` (N counts the codebook and its EMA sum)."""
    lines = [f"{'#':>2} {'type':<11} {'in (pts,ch)':>13} -> {'out (pts,ch)':<13} {'K':>3} {'params':>10}"]
    for i, r in enumerate(layer_table(model)):
        lines.append(
            f"{i:>2} {r['type']:<11} {r['in_pts']:>7},{r['in_ch']:<5} -> {r['out_pts']:>6},{r['out_ch']:<6} "
            f"{r['k']:>3} {r['params']:>10,}"
        )
    q = sum(p.numel() for p in model.quantizer.parameters())
    lines.append(f"   quantizer {model.codebook_size} codes x {model.config.code_dim} (+EMA sum) {q:>10,}")
    lines.append(f"tokens: {model.n_tokens}")
    lines.append(f"parameters: {sum(p.numel() for p in model.parameters())}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI (``python -m vqhps.models.mesh_vqvae --template FILE | --connections DIR``): see mesh_vqvae_cli."""
    from vqhps.models.mesh_vqvae_cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
