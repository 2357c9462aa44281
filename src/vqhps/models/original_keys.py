"""State-dict key names of the original Mesh-VQ-VAE / VQ-HPS release files and this project's names for them.

The layouts (../shared/reference/original_ckpt/README.md, inferred from the original save/load code):

- Mesh-VQ-VAE: ``encoder.model.*`` and ``decoder.model.*`` each hold the whole 14-layer autoencoder (one
  ``FullyConvAE`` wrapped twice). The encoder runs layers 0..6 of its copy, the decoder layers 7..13 of
  its copy, so those are the halves read here. Conv layer ``l``: ``weights{l}`` (M, out*in) -> ``basis``,
  ``bias{l}`` -> ``bias``, ``w_weights{l}`` (N_out, K, M) -> ``coeff``; pooling layer ``l``:
  ``p_neighbors{l}`` (N_out, K) -> ``weight``. Quantiser: ``vq_vae._embedding.weight`` is the codebook.
- VQ-HPS: DETR-style ``transformer.encoder.layers.i`` / ``decoder.layers.i`` (``multihead_attn`` is the
  cross-attention), T2M-GPT-style ``transformer.dec_head``, two ``pose_hrnet`` backbones whose
  ``downsample_stage_*`` are flat ``Sequential`` s (conv, bn, relu, conv, ...), the rotation/camera MLP at
  the top level. ``final_layer`` (heatmaps) and the head's causal ``mask`` buffer are not parameters of
  this project's model; they must be present and are checked, then dropped.

Each rule is a pair of key prefixes (original, project), so one table serves both directions (the inverse
names missing keys in the original's terms).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

N_AUTOENCODER_LAYERS = 14  # the medium Mesh-VQ-VAE: layers 0..6 encode, 7..13 decode
ENCODER_LAYERS = 7
POOL_LAYERS = (1, 3, 5, 8, 10, 12)

_CONV_PARAMS = {"weights": "basis", "bias": "bias", "w_weights": "coeff"}
_QUANTISER = {
    "vq_vae._embedding.weight": "quantizer._embedding",
    "vq_vae._ema_w": "quantizer._ema_w",
    "vq_vae._ema_cluster_size": "quantizer._ema_cluster_size",
}


def mesh_vqvae_key_map() -> dict[str, str]:
    """Original Mesh-VQ-VAE key -> project ``MeshVQVAE`` key, for the entries the original's forward uses.

    The other copy of each layer (``decoder.model.weights0``, ``encoder.model.weights13``, ...) is in
    :func:`mesh_vqvae_twins`.
    """
    out = dict(_QUANTISER)
    for layer in range(N_AUTOENCODER_LAYERS):
        copy, part, index = (
            ("encoder", "encoder", layer) if layer < ENCODER_LAYERS else ("decoder", "decoder", layer - 7)
        )
        names = {"p_neighbors": "weight"} if layer in POOL_LAYERS else _CONV_PARAMS
        for original, ours in names.items():
            out[f"{copy}.model.{original}{layer}"] = f"{part}.{index}.{ours}"
    return out


def mesh_vqvae_twins() -> dict[str, str]:
    """Key of each unused layer copy (e.g. ``decoder.model.weights0``) -> the used copy of that layer."""
    swap = {"encoder.model.": "decoder.model.", "decoder.model.": "encoder.model."}
    return {swap[k[:14]] + k[14:]: k for k in mesh_vqvae_key_map() if k[:14] in swap}


# (original, project) key prefixes; ``#`` stands for a layer number, kept as is.
VQHPS_PREFIXES: tuple[tuple[str, str], ...] = (
    ("transformer.encoder.layers.#.", "transformer.encoder.#."),
    ("transformer.encoder.norm.", "transformer.encoder_norm."),
    ("transformer.decoder.layers.#.multihead_attn.", "transformer.decoder.#.cross_attn."),
    ("transformer.decoder.layers.#.", "transformer.decoder.#."),
    ("transformer.decoder.norm.", "transformer.decoder_norm."),
    ("transformer.dec_head.blocks.", "transformer.blocks."),
    ("transformer.dec_head.ln_f.", "transformer.ln_f."),
    ("transformer.dec_head.head.", "transformer.head."),
    ("mesh_token_embed.", "mesh_token_embed."),
    ("conv_1x1.", "conv_1x1."),
    *((f"{name}.", f"rotcam.{name}.") for name in ("fc1", "fc2", "rot_predictor", "cam_predictor")),
    *((f"{b}.", f"{b}.") for b in ("backbone_pose", "backbone_rot")),
)
# The original's downsample_stage_s is flat (conv 3i, bn 3i+1, relu 3i+2); the project's nests step i.
_DOWN_ORIGINAL = re.compile(r"(backbone_pose|backbone_rot)\.downsample_stage_(\d)\.(\d+)\.(.+)")
_DOWN_PROJECT = re.compile(r"(backbone_pose|backbone_rot)\.downsample_stage_(\d)\.(\d+)\.([01])\.(.+)")
VQHPS_DROPPED = (
    re.compile(r"(backbone_pose|backbone_rot)\.final_layer\.(weight|bias)"),
    re.compile(r"transformer\.dec_head\.blocks\.\d+\.attn\.mask"),
)
DDP_LEFTOVER = "rotcam_feat."  # a module of the DDP training wrapper, dropped by the original's load too


def _as_regex(prefix: str) -> re.Pattern:
    return re.compile(re.escape(prefix).replace("\\#", r"(\d+)") + "(.+)")


_RULES = [(_as_regex(a), b, _as_regex(b), a) for a, b in VQHPS_PREFIXES]


def _rename(key: str, forward: bool) -> str | None:
    for source_fwd, target_fwd, source_inv, target_inv in _RULES:
        source, target = (source_fwd, target_fwd) if forward else (source_inv, target_inv)
        m = source.fullmatch(key)
        if m:
            *number, rest = m.groups()
            return target.replace("#", number[0]) + rest if number else target + rest
    return None


def vqhps_to_project(key: str) -> str | None:
    """Original VQ-HPS key (no ``module.`` prefix) -> project ``VQHPS`` key, or None if no rule applies."""
    m = _DOWN_ORIGINAL.fullmatch(key)
    if m:
        backbone, stage, flat, rest = m.groups()
        step, part = divmod(int(flat), 3)
        return None if part == 2 else f"{backbone}.downsample_stage_{stage}.{step}.{part}.{rest}"
    return None if is_dropped_vqhps_key(key) else _rename(key, forward=True)


def vqhps_to_original(key: str) -> str | None:
    """Inverse of :func:`vqhps_to_project` (names missing keys in the original's terms)."""
    m = _DOWN_PROJECT.fullmatch(key)
    if m:
        backbone, stage, step, part, rest = m.groups()
        return f"{backbone}.downsample_stage_{stage}.{3 * int(step) + int(part)}.{rest}"
    return _rename(key, forward=False)


def is_dropped_vqhps_key(key: str) -> bool:
    """True for the original keys that have no counterpart by design (``final_layer``, causal ``mask``)."""
    return any(p.fullmatch(key) for p in VQHPS_DROPPED)


def strip_ddp(keys_to_values: dict) -> dict:
    """Remove a leading ``module.`` (a DDP-wrapped save) and the wrapper's ``rotcam_feat.*`` entries."""
    out = {}
    for k, v in keys_to_values.items():
        k = k.removeprefix("module.")
        if not k.startswith(DDP_LEFTOVER):
            out[k] = v
    return out


def first(keys: Iterable[str], n: int = 3, name: Callable[[str], str] = str) -> str:
    """``'a', 'b', 'c' (+12 more)`` for an error line."""
    keys = sorted(keys)
    shown = ", ".join(repr(name(k)) for k in keys[:n])
    return shown + (f" (+{len(keys) - n} more)" if len(keys) > n else "")
