"""CLI of ``python -m vqhps.models.mesh_vqvae``: an experiment's hierarchy and model size.

``--template FILE --experiment paper`` builds the hierarchy the ``train_mesh_vqvae`` stage would build
(levels, forced centres and builder from ``params.yaml``) from a template mesh; ``--connections DIR``
loads MeshConvolution connection files instead. Either way it prints one line per level, the point
counts at the resampling levels (``points: 6890 -> 1925 -> 400 -> 54``) and the parameter count;
``--summary`` adds the per-layer table and ``--save-connections DIR`` writes the tables in
MeshConvolution's ``_pool{i}.npy`` / ``_unpool{i}.npy`` format.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vqhps.models.mesh_hierarchy import HierarchySettings, MeshHierarchy


def level_lines(hierarchy: MeshHierarchy, settings: HierarchySettings | None = None) -> list[str]:
    """One line per level: kind, (stride and radii when known), points in -> out, K and mean neighbours."""
    lines = []
    for i, lv in enumerate(hierarchy.levels):
        kind = "pool" if lv.resamples else "conv"
        how = ""
        if settings is not None:
            stride, r_pool, r_unpool = settings.levels[i]
            how = f" (stride {stride}, pool radius {r_pool}, unpool radius {r_unpool})"
        lines.append(
            f"level {i}: {kind}{how} {lv.pool.n_in} -> {lv.pool.n_out} points;"
            f" pool K {lv.pool.max_neighbours} (mean {lv.pool.mean_neighbours:.1f}),"
            f" unpool K {lv.unpool.max_neighbours} (mean {lv.unpool.mean_neighbours:.1f})"
        )
    return lines


def points_line(hierarchy: MeshHierarchy) -> str:
    """``points: 6890 -> 1925 -> 400 -> 54``: the template, then the output of every resampling level."""
    counts = [hierarchy.n_vertices] + [lv.pool.n_out for lv in hierarchy.levels if lv.resamples]
    return "points: " + " -> ".join(str(c) for c in counts)


def experiment_settings(params_path: Path, experiment: str) -> tuple[HierarchySettings, dict]:
    """The hierarchy settings and model config (plain dict) of an experiment's ``train_mesh_vqvae``."""
    from vqhps.config import load_params
    from vqhps.infra.configtools import to_plain

    section = load_params(params_path).experiment(experiment).section("train_mesh_vqvae")
    return section.hierarchy, to_plain(section.model)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m vqhps.models.mesh_vqvae",
        description="Mesh-VQ-VAE hierarchy and size, from a template mesh or MeshConvolution files.",
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--template", type=Path, help=".obj/.ply with faces, or an SMPL/SMPL-H .pkl/.npz")
    src.add_argument("--connections", type=Path, help="folder with _poolN.npy/_unpoolN.npy")
    ap.add_argument("--experiment", default="paper", help="params.yaml experiment (with --template)")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (with --template)")
    ap.add_argument("--n-vertices", type=int, default=6890, help="template vertex count (with --connections)")
    ap.add_argument("--levels", type=int, default=7, help="levels used (with --connections; medium: 7)")
    ap.add_argument("--channels", type=int, nargs="+", help="encoder channels (default: params / paper)")
    ap.add_argument("--summary", action="store_true", help="also print the per-layer table")
    ap.add_argument("--save-connections", type=Path, metavar="DIR", help="write the 2 x levels .npy tables")
    return ap


def _build(args: argparse.Namespace) -> tuple[MeshHierarchy, dict, list[str]]:
    """Hierarchy, model config dict and the level lines, for either source."""
    if args.connections is not None:
        from vqhps.models.connections import load_connections

        hierarchy = load_connections(args.connections, args.n_vertices, args.levels)
        return hierarchy, {}, level_lines(hierarchy)
    from vqhps.io.template_mesh import read_template_faces
    from vqhps.models.mesh_hierarchy import build_hierarchy

    settings, model = experiment_settings(args.params, args.experiment)
    faces, n_vertices = read_template_faces(args.template)
    t0 = time.process_time()
    hierarchy = build_hierarchy(faces, n_vertices, settings)
    took = time.process_time() - t0
    lines = level_lines(hierarchy, settings)
    lines.append(
        f"hierarchy: {settings.builder} builder on {args.template.name} ({n_vertices} vertices,"
        f" {len(faces)} faces), {took:.2f} s CPU"
    )
    return hierarchy, model, lines


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; 0 on success, 2 (one ``error:`` line on stderr) on a bad file, path or parameter."""
    from vqhps.models.connections import save_connections
    from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig, summary

    args = _parser().parse_args(argv)
    try:
        hierarchy, model_dict, lines = _build(args)
        if args.channels:
            model_dict["channels"] = list(args.channels)
        model = MeshVQVAE(hierarchy, MeshVQVAEConfig.from_dict(model_dict))
        if args.save_connections is not None:
            save_connections(hierarchy, args.save_connections)
            lines.append(f"wrote {2 * len(hierarchy.levels)} connection files to {args.save_connections}")
    except (OSError, ValueError) as err:  # includes ConfigError and a missing or unreadable file
        print(f"error: {err}", file=sys.stderr)
        return 2
    lines.append(points_line(hierarchy))
    n_params = sum(p.numel() for p in model.parameters())
    lines.extend(summary(model).splitlines() if args.summary else [f"parameters: {n_params}"])
    print("\n".join(lines))
    return 0
