"""Clothes on the synthetic figures: a garment label per vertex and a random palette per image.

A figure painted in one uniform colour is the same picture as its depth mirror (the mirrored body
turned by π − yaw): only shading and occlusion tell front from back, and a model trained on such
images learns the rotation only up to that twin (README, issue 12's bug hunt). Real people are not
uniform: a face on one side of the head and hair on the other, a shirt, trousers and shoes. This
module gives the Anny figures exactly that much appearance, and nothing that real images lack: the
garments are left-right symmetric (a flipped crop stays a valid image of the mirrored body) and
every colour is drawn per image.

Labels come from Anny's own skinning (each vertex's largest bone weight) on the rest template, so
they follow the body through every pose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Garment codes of :func:`garment_labels` (``vertex_parts`` in ``template.npz``).
SKIN, HAIR, SHIRT, TROUSERS, SHOES = range(5)
GARMENTS = ("skin", "hair", "shirt", "trousers", "shoes")

#: Anny bone-name prefixes per garment; the first prefix that matches a vertex's main bone wins.
_BONE_GARMENT: tuple[tuple[str, int], ...] = (
    ("head", SKIN),  # split into face (skin) and hair below
    ("eye", SKIN),
    ("neck", SKIN),
    ("lowerarm", SKIN),  # short sleeves: forearms and hands bare
    ("wrist", SKIN),
    ("finger", SKIN),
    ("metacarpal", SKIN),
    ("foot", SHOES),
    ("toe", SHOES),
    ("upperleg", TROUSERS),
    ("lowerleg", TROUSERS),
    ("pelvis", TROUSERS),
    ("root", TROUSERS),
)

#: Skin tones from dark to light (linear RGB in [0, 1]); a tone is a random blend of two neighbours.
_SKIN_TONES = np.array(
    [[0.24, 0.15, 0.10], [0.45, 0.29, 0.20], [0.66, 0.46, 0.34], [0.85, 0.66, 0.54], [0.96, 0.82, 0.72]]
)


def garment_labels(rest_verts: np.ndarray, main_bone: Sequence[str], hair_line: float = 0.35) -> np.ndarray:
    """(V,) int8 garment code of every vertex of a body in the canonical rest pose.

    Args:
        rest_verts: (V, 3) float rest vertices in the canonical frame (+Y up, facing +Z), metres.
        main_bone: (V,) name of each vertex's largest-weight bone (Anny's names, ``.L``/``.R`` kept).
        hair_line: head vertices above ``hair_line`` of the head's height (from the head's centre to
            its top) are hair on the face side too; behind the head's centre plane everything is hair.
    """
    verts = np.asarray(rest_verts, np.float64)
    if len(verts) != len(main_bone):
        raise ValueError(f"{len(verts)} vertices but {len(main_bone)} bone names")
    labels = np.full(len(verts), SHIRT, np.int8)  # spine, clavicles, shoulders, upper arms
    for i, bone in enumerate(main_bone):
        for prefix, garment in _BONE_GARMENT:
            if bone.startswith(prefix):
                labels[i] = garment
                break
    head = np.array([b.startswith(("head", "eye")) for b in main_bone])
    if head.any():
        centre = verts[head].mean(axis=0)
        top = verts[head, 1].max()
        behind = verts[:, 2] < centre[2]
        above = verts[:, 1] > centre[1] + hair_line * (top - centre[1])
        labels[head & (behind | above)] = HAIR
    return labels


def anny_garment_labels(body) -> np.ndarray:
    """(V,) int8 garment codes of an :class:`~vqhps.body.anny_body.AnnyBody`'s topology."""
    idx = body.model.vertex_bone_indices.detach().cpu().numpy()
    weights = body.model.vertex_bone_weights.detach().cpu().numpy()
    main = idx[np.arange(len(idx)), weights.argmax(axis=1)]
    return garment_labels(body.template, [body.bone_labels[int(b)] for b in main])


def random_palette(rng: np.random.Generator) -> np.ndarray:
    """(5, 3) float64 albedo per garment code in [0, 1]: skin tone, hair, shirt, trousers, shoes."""
    k = rng.integers(0, len(_SKIN_TONES) - 1)
    skin = _SKIN_TONES[k] + rng.uniform() * (_SKIN_TONES[k + 1] - _SKIN_TONES[k])
    hair = rng.uniform(0.03, 0.45) * np.array([1.0, 0.8, 0.6]) + rng.uniform(0.0, 0.05, size=3)
    shirt = rng.uniform(0.05, 0.95, size=3)
    trousers = rng.uniform(0.05, 0.8, size=3)
    shoes = rng.uniform(0.02, 0.35, size=3)
    return np.clip(np.stack([skin, hair, shirt, trousers, shoes]), 0.0, 1.0)


def vertex_albedo(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(V, 3) float32 per-vertex albedo: ``palette[labels]``."""
    return np.asarray(palette, np.float32)[np.asarray(labels, np.int64)]
