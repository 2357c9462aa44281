"""The original release as one more model of ``evaluate``: found under ``<data_root>/released``, converted
(:mod:`vqhps.models.released`) into a temporary folder and loaded as a trained VQ-HPS of regime
``released``; its table rows are :mod:`vqhps.eval.released_rows`.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from vqhps.cli import UserError
from vqhps.eval.methods import MethodSpec
from vqhps.eval.released_rows import METHOD_NAME, SPEC

__all__ = ["RELEASE_FILES", "release_paths", "released_models", "released_subset"]

RELEASE_FILES = ("mesh_vqvae_54", "vqhps_hrnet", "tpose.npy")  # under <data_root>/released
SMPL_VERTICES = 6890


def release_paths(data_root: str | Path) -> dict[str, Path]:
    """The files the conversion reads: the three release files, the connections and the regressor."""
    root = Path(data_root)
    paths = {name: root / "released" / name for name in RELEASE_FILES}
    paths["connections"] = root / "mesh_connections" / "ConnectionMatrices"
    paths["j_regressor"] = root / "body_models" / "J_regressor_h36m.npy"
    return paths


def released_models(
    data_root: str | Path,
    n_vertices: int,
    bbox_rescale: float,
    device: str,
    log: Callable[[str], None] = print,
) -> list[tuple]:
    """``[(SPEC, predictor, (crop size, bbox rescale), trained)]`` for the release, or ``[]`` without it.

    Args:
        data_root: the experiment's data root.
        n_vertices: vertices of the test meshes (the release predicts SMPL's 6,890).
        bbox_rescale: crop margin of the experiment's own VQ-HPS (the release sees the same crops, resized
            to its 224 px input).
        device: torch device.
        log: one-line messages (why there are no released rows, when files are partly there).

    Raises:
        UserError: a release file is there but is not the release (one line naming it).
    """
    from vqhps.eval.evaluation import vqhps_predictor
    from vqhps.models import released
    from vqhps.models.pretrained import load_vqhps

    paths = release_paths(data_root)
    present = [n for n in RELEASE_FILES if paths[n].is_file()]
    if not present:
        return []
    missing = [str(p) for n, p in paths.items() if not p.exists()]
    if missing:
        log(
            f"released weights: {', '.join(missing)} missing; no '{METHOD_NAME}' rows (check_data lists them)"
        )
        return []
    if n_vertices != SMPL_VERTICES:
        log(f"released weights: the test meshes have {n_vertices} vertices, not SMPL's; no released rows")
        return []
    args = argparse.Namespace(
        mesh_vqvae=paths["mesh_vqvae_54"],
        connections=paths["connections"],
        vqhps=paths["vqhps_hrnet"],
        tpose=paths["tpose.npy"],
        j_regressor=paths["j_regressor"],
        faces=None,
    )
    with tempfile.TemporaryDirectory(prefix="vqhps-released-") as tmp:
        args.out = Path(tmp)
        try:
            released.convert(args)
        except released.ReleaseError as err:
            raise UserError(
                f"{err} (remove it from {Path(data_root) / 'released'} to evaluate without)"
            ) from None
        trained = load_vqhps(Path(tmp) / "train_vqhps" / "model.pt", device)
    log(f"released weights: {paths['vqhps_hrnet']} converted; evaluated as '{METHOD_NAME}'")
    return [(SPEC, vqhps_predictor(trained), (released.CROP_SIZE, float(bbox_rescale)), trained)]


def released_subset(spec: MethodSpec, samples: Sequence[Mapping], max_per_source: int) -> list[int] | None:
    """Test-set indices the release is evaluated on: the first ``max_per_source`` of each source, in order;
    None (every image) for the other models or when ``max_per_source`` is -1.

    Two HRNet-W48 backbones cost ~30 GFLOPs per image: on CPU (the fixture run) a few images show the path.
    """
    if spec != SPEC or max_per_source < 0:
        return None
    taken: dict[str, int] = {}
    keep = []
    for i, sample in enumerate(samples):
        source = str(sample["source"])
        if taken.get(source, 0) < max_per_source:
            keep.append(i)
            taken[source] = taken.get(source, 0) + 1
    return keep
