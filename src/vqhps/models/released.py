"""Convert the original VQ-HPS release files into this project's self-describing checkpoints.

``python -m vqhps.models.released --mesh-vqvae FILE --connections DIR [--vqhps FILE --tpose FILE
--j-regressor FILE] --out DIR`` writes ``DIR/train_mesh_vqvae/model.pt`` and (with ``--vqhps``)
``DIR/train_vqhps/model.pt``, which :func:`vqhps.models.pretrained.load_mesh_vqvae` and
:func:`~vqhps.models.pretrained.load_vqhps` load like trained ones. Inputs (Zenodo record 12771018 and the
original repositories' instructions):

- ``mesh_vqvae_54``: the Mesh-VQ-VAE, a saved dict ``{"model", "optimizer", "epoch", "loss", ...}``;
- ``vqhps_hrnet``: VQ-HPS with HRNet-W48 backbones (a DDP save with ``module.`` keys is accepted);
- ``tpose.npy`` (1, 6890, 3) and ``J_regressor_h36m.npy`` (17, 6890): the rotation branch's constant input
  ``pose_init = J_regressor_h36m @ tpose`` (51 values, joint-major x, y, z);
- the MeshConvolution ``dfaust2`` connection files the tokenizer was built on.

Every key of a file is checked (the original's own load is lenient and keeps random weights on a
mismatch): a wrong file is refused with one line naming it and its first missing / unexpected keys. Files
are read with ``torch.load(weights_only=True)``; the optimiser state is ignored. The converted VQ-HPS keeps
the original's conventions that change its outputs: the 6D rotation stacked as rows, and the causal head
attending over the batch axis (``VQHPSConfig.rot6d_layout`` / ``head_attention_axis``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vqhps.io.checkpoint import save_checkpoint
from vqhps.io.digest import file_sha256
from vqhps.models import original_keys as ok
from vqhps.models.mesh_hierarchy import MeshHierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig
from vqhps.models.pretrained import mesh_vqvae_extra
from vqhps.models.vqhps import VQHPS, VQHPSConfig

REGIME = "released"
CROP_SIZE = 224  # the original's crops (its positional encoding is fixed to the 7 x 7 HRNet grid)
BBOX_RESCALE = 1.2  # this project's crop margin for its test sets (the original reads crops from its npz)


class ReleaseError(ValueError):
    """A release file that cannot be converted; the message is one line naming the file."""


def read_release(path: Path) -> tuple[dict[str, Tensor], dict]:
    """The ``model`` state dict (``module.`` prefix and DDP leftovers removed) and the scalar entries."""
    path = Path(path)
    if not path.is_file():
        raise ReleaseError(f"{path}: no such file")
    try:
        payload = _load(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        # torch's own text suggests weights_only=False, which would run code from the file: not offered.
        raise ReleaseError(
            f"{path}: not a checkpoint torch.load(weights_only=True) can read ({type(err).__name__}); "
            "is it the release file?"
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("model"), dict):
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise ReleaseError(
            f"{path}: expected a dict with a 'model' state dict (the release format), got {found}"
        )
    scalars = {k: v for k, v in payload.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return ok.strip_ddp(payload["model"]), scalars


def _load(path: Path):
    """``torch.load`` memory-mapped where the format allows it, so the optimiser state is never read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # a legacy (pre-zip) file cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def check_key_set(
    path: Path,
    state: dict[str, Tensor],
    expected: dict[str, tuple[int, ...] | None],
    shape_hint: str = "is it the right file?",
) -> None:
    """Refuse ``state`` unless its keys are exactly ``expected`` with those shapes (None: any shape)."""
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    shapes = sorted(
        k
        for k in set(expected) & set(state)
        if expected[k] is not None and tuple(state[k].shape) != expected[k]
    )
    if missing or unexpected:
        parts = [
            f"missing {ok.first(missing)}" if missing else "",
            f"unexpected {ok.first(unexpected)}" if unexpected else "",
        ]
        raise ReleaseError(
            f"{path}: wrong key set: {'; '.join(p for p in parts if p)}; is it the right file?"
        )
    if shapes:
        k = shapes[0]
        raise ReleaseError(
            f"{path}: {len(shapes)} tensors of the wrong shape, first {k!r} {tuple(state[k].shape)} "
            f"(expected {expected[k]}); {shape_hint}"
        )


def _shapes(state: dict[str, Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def convert_mesh_vqvae(path: Path, hierarchy: MeshHierarchy) -> tuple[MeshVQVAE, dict]:
    """The released Mesh-VQ-VAE of ``path`` on ``hierarchy`` (its connection files), in eval mode, and the
    file's scalars (epoch, loss, v2v).

    Args:
        path: ``mesh_vqvae_54``.
        hierarchy: ``MeshHierarchy`` of the connection files the file was trained with (medium: 7 levels).
    """
    state, scalars = read_release(path)
    model = MeshVQVAE(hierarchy, MeshVQVAEConfig())
    own = _shapes(model.state_dict())
    used = ok.mesh_vqvae_key_map()
    expected = {original: own[ours] for original, ours in used.items()}
    for other, twin in ok.mesh_vqvae_twins().items():  # the unused copy of each layer: the same shape
        expected[other] = expected[twin]
    check_key_set(path, state, expected, "is it the right file, with the connections it was trained on?")
    converted = {ours: state[original].float() for original, ours in used.items()}
    converted["quantizer._data_initialised"] = torch.ones((), dtype=torch.bool)  # the codebook is given
    model.load_state_dict(converted)
    return model.eval(), scalars


def pose_init(tpose: np.ndarray, j_regressor: np.ndarray) -> Tensor:
    """(17, 3) float32 rest-pose H36M joints ``J_regressor_h36m @ tpose`` (the original's 51-d ``pose_init``).

    Args:
        tpose: (1, V, 3) or (V, 3) T-pose vertices, metres (``tpose.npy``).
        j_regressor: (17, V) H36M joint regressor (``J_regressor_h36m.npy``).
    """
    verts = torch.from_numpy(np.asarray(tpose, np.float32).reshape(-1, 3))
    reg = torch.from_numpy(np.asarray(j_regressor, np.float32))
    if reg.ndim != 2 or reg.shape != (17, verts.shape[0]):
        raise ReleaseError(f"joint regressor has shape {tuple(reg.shape)}, expected (17, {verts.shape[0]})")
    return reg @ verts  # float32 like the original's torch.matmul


def released_vqhps_config(n_tokens: int, codebook_size: int) -> VQHPSConfig:
    """The architecture of the released ``vqhps_hrnet`` (configs/transformer.txt and MeshRegressor)."""
    return VQHPSConfig(
        num_tokens=n_tokens,
        codebook_size=codebook_size,
        backbone="hrnet_w48",
        image_size=CROP_SIZE,
        d_model=512,
        heads=8,
        ffn=1024,
        dropout=0.2,
        enc_layers=1,
        dec_layers=1,
        head_layers=1,
        rotcam_hidden=1024,
        rotcam_dropout=0.5,
        rot6d_layout="rows",
        head_attention_axis="batch",
    )


def expected_vqhps_keys(config: VQHPSConfig) -> tuple[dict[str, str], dict[str, tuple[int, ...] | None]]:
    """(original key -> project key, original key -> shape) of a release file for ``config``.

    The model is built on the meta device (no memory, no initialisation cost) only to read its shapes.
    """
    with torch.device("meta"):
        model = VQHPS(config, torch.zeros(17, 3))
    names, shapes = {}, {}
    for key, value in model.state_dict().items():
        if key == "rotcam.rest_joints":  # computed from tpose.npy, not stored by the original
            continue
        original = ok.vqhps_to_original(key)
        if original is None or ok.vqhps_to_project(original) != key:
            raise AssertionError(f"no original name for {key!r}: extend original_keys.VQHPS_PREFIXES")
        names[original], shapes[original] = key, tuple(value.shape)
    n = config.num_tokens
    for b in ("backbone_pose", "backbone_rot"):
        shapes[f"{b}.final_layer.weight"] = shapes[f"{b}.final_layer.bias"] = None
    for i in range(config.head_layers):
        shapes[f"transformer.dec_head.blocks.{i}.attn.mask"] = (1, 1, n, n)
    return names, shapes


def convert_vqhps(
    path: Path, vqvae: MeshVQVAE, rest_joints: Tensor
) -> tuple[dict[str, Tensor], VQHPSConfig, dict]:
    """Project ``VQHPS`` state dict, its config and the file's scalars, from a ``vqhps_hrnet`` file.

    Args:
        path: the release file.
        vqvae: the converted tokenizer (gives the token count and codebook size the file must have).
        rest_joints: (17, 3) ``pose_init`` (:func:`pose_init`).
    """
    state, scalars = read_release(path)
    if "backbone_pose.0.weight" in state:
        raise ReleaseError(f"{path}: a ResNet-50 VQ-HPS (vqhps_resnet); only vqhps_hrnet is supported")
    config = released_vqhps_config(vqvae.n_tokens, vqvae.codebook_size)
    names, shapes = expected_vqhps_keys(config)
    check_key_set(path, state, shapes)
    n = config.num_tokens
    for i in range(config.head_layers):
        mask = state[f"transformer.dec_head.blocks.{i}.attn.mask"]
        if not torch.equal(mask.reshape(n, n), torch.tril(torch.ones(n, n, dtype=mask.dtype))):
            raise ReleaseError(
                f"{path}: head block {i}'s attention mask is not causal (lower-triangular ones)"
            )
    converted = {ours: state[original] for original, ours in names.items()}
    converted["rotcam.rest_joints"] = rest_joints.reshape(-1).float()
    return converted, config, scalars


def _source(path: Path, scalars: dict | None = None) -> dict:
    return {"file": str(path), "sha256": file_sha256(path), **(scalars or {})}


def write_mesh_vqvae(out: Path, model: MeshVQVAE, source: dict) -> Path:
    """``out/train_mesh_vqvae/model.pt`` as ``train_mesh_vqvae`` writes it (step 0; params: the source)."""
    path = Path(out) / "train_mesh_vqvae" / "model.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    params = {"released": {"mesh_vqvae": source}}
    save_checkpoint(
        path, model.state_dict(), model.config.to_dict(), params, 0, extra=mesh_vqvae_extra(model)
    )
    return path


def write_vqhps(
    out: Path, state: dict[str, Tensor], config: VQHPSConfig, vqvae: MeshVQVAE, template: dict, sources: dict
) -> Path:
    """``out/train_vqhps/model.pt`` in ``train_vqhps``'s format (regime "released", tokenizer embedded).

    ``template``: ``vertices`` (V, 3) float32 T-pose, ``faces`` (F, 3) int64 (may be empty),
    ``joint_regressor`` (17, V) float32.
    """
    path = Path(out) / "train_vqhps" / "model.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    params = {
        "released": sources,
        # What evaluate reads to crop the test images for this model.
        "image_training": {"crop_size": CROP_SIZE, "bbox_rescale": BBOX_RESCALE},
    }
    extra = {
        "kind": "vqhps",
        "regime": REGIME,
        "rest_joints": state["rotcam.rest_joints"].reshape(-1, 3).clone(),
        "template": {**template, "topology_id": "smpl"},
        "mesh_vqvae": {
            "model_state": {k: v.detach() for k, v in vqvae.state_dict().items()},
            "model_config": vqvae.config.to_dict(),
            **mesh_vqvae_extra(vqvae),
        },
    }
    save_checkpoint(path, state, asdict(config), params, 0, extra=extra)
    return path


def _load_npy(path: Path, what: str) -> np.ndarray:
    if not Path(path).is_file():
        raise ReleaseError(f"{path}: no such file ({what})")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ReleaseError(f"{path}: not a plain .npy array ({what}): {err}") from None


def convert(args: argparse.Namespace) -> list[Path]:
    """Run the conversion the CLI describes; returns the checkpoints written."""
    from vqhps.models.connections import MEDIUM_N_LEVELS, load_connections

    try:
        hierarchy = load_connections(args.connections, 6890, MEDIUM_N_LEVELS)
    except (FileNotFoundError, ValueError) as err:
        raise ReleaseError(str(err)) from None
    vqvae, vq_scalars = convert_mesh_vqvae(args.mesh_vqvae, hierarchy)
    vq_source = _source(args.mesh_vqvae, vq_scalars)
    vqhps = None if args.vqhps is None else _convert_vqhps_files(args, vqvae, vq_source)
    written = [write_mesh_vqvae(args.out, vqvae, vq_source)]  # only once every file was accepted
    if vqhps is not None:
        written.append(write_vqhps(args.out, *vqhps))
    return written


def _convert_vqhps_files(args: argparse.Namespace, vqvae: MeshVQVAE, vq_source: dict) -> tuple:
    """The arguments of :func:`write_vqhps` after ``vqvae``'s out folder, from the CLI's VQ-HPS files."""
    tpose = _load_npy(args.tpose, "tpose.npy, (1, 6890, 3)")
    if tpose.size != vqvae.n_vertices * 3:
        raise ReleaseError(f"{args.tpose}: shape {tpose.shape}, expected (1, {vqvae.n_vertices}, 3)")
    reg = _load_npy(args.j_regressor, "J_regressor_h36m.npy, (17, 6890)")
    if reg.shape != (17, vqvae.n_vertices):
        raise ReleaseError(f"{args.j_regressor}: shape {reg.shape}, expected (17, {vqvae.n_vertices})")
    rest = pose_init(tpose, reg)
    state, config, scalars = convert_vqhps(args.vqhps, vqvae, rest)
    faces = _load_npy(args.faces, "faces, (F, 3)") if args.faces else np.zeros((0, 3), np.int64)
    template = {
        "vertices": torch.from_numpy(np.asarray(tpose, np.float32).reshape(-1, 3)),
        "faces": torch.from_numpy(np.asarray(faces, np.int64).reshape(-1, 3)),
        "joint_regressor": torch.from_numpy(np.asarray(reg, np.float32)),
    }
    sources = {
        "mesh_vqvae": vq_source,
        "vqhps": _source(args.vqhps, scalars),
        "tpose": _source(args.tpose),
        "j_regressor": _source(args.j_regressor),
    }
    return state, config, vqvae, template, sources


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit 0 on success, 2 with one ``error:`` line on a file that cannot be converted."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh-vqvae", type=Path, required=True, help="released Mesh-VQ-VAE (mesh_vqvae_54)")
    ap.add_argument("--connections", type=Path, required=True, help="MeshConvolution dfaust2 folder")
    ap.add_argument("--vqhps", type=Path, help="released VQ-HPS (vqhps_hrnet)")
    ap.add_argument("--tpose", type=Path, help="tpose.npy (needed with --vqhps)")
    ap.add_argument("--j-regressor", type=Path, help="J_regressor_h36m.npy (needed with --vqhps)")
    ap.add_argument("--faces", type=Path, help="optional (F, 3) .npy faces stored as the template's")
    ap.add_argument("--out", type=Path, required=True, help="folder receiving train_*/model.pt")
    args = ap.parse_args(argv)
    if args.vqhps is not None and (args.tpose is None or args.j_regressor is None):
        ap.error("--vqhps needs --tpose and --j-regressor (the rotation branch's rest-pose joints)")
    try:
        for path in convert(args):
            print(f"wrote {path}")
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
