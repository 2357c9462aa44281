"""One longer CPU run of the Mesh-VQ-VAE on Anny's full 13,718-vertex topology; prints the val PVE.

The demo trains on the 1,229-vertex topology. This script checks that the tokenizer also learns the
full mesh within an hour of this 2-core CPU: it samples canonical Anny meshes (the same sampler as
``make_synthetic``), builds the full topology's hierarchy (13718 -> 1604 -> 306 -> 54 tokens, the
extremities as forced centres) and trains through the same ``train_mesh_vqvae`` loop as the stage.
The checkpoint lands in ``--out`` (resumable: re-run the same command after a kill). Run:

    PYTHONPATH=src python benchmarks/run_vqvae_full_topology.py --out results/full_topology

The defaults are the settings of the run reported in the README.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

# (stride, pool radius, unpool radius) per level: conv, pool/3, conv, pool/2, conv, pool/2, conv.
FULL_LEVELS = ((1, 1, 1), (3, 3, 3), (1, 1, 1), (2, 2, 2), (1, 1, 1), (2, 2, 2), (1, 1, 1))


def extremity_vertices(template: np.ndarray) -> list[int]:
    """Vertices kept to the coarsest level: head top, both hand tips, both heels' lowest points, belly.

    Args:
        template: (V, 3) rest vertices, metres, canonical frame (y up, x left-right, z forward).

    Returns:
        six distinct vertex ids.
    """
    x, y, z = template[:, 0], template[:, 1], template[:, 2]
    centre_x = float(np.median(x))
    left, right = x > centre_x, x <= centre_x
    feet_level = y < np.quantile(y, 0.05)
    ids = [
        int(np.argmax(y)),  # head top
        int(np.argmax(x)),  # hand tip on +x
        int(np.argmin(x)),  # hand tip on -x
        int(np.flatnonzero(left & feet_level)[np.argmin(z[left & feet_level])]),  # heel on +x
        int(np.flatnonzero(right & feet_level)[np.argmin(z[right & feet_level])]),  # heel on -x
    ]
    torso = (np.abs(y - np.median(y)) < 0.03) & (np.abs(x - centre_x) < 0.1)
    ids.append(int(np.flatnonzero(torso)[np.argmax(z[torso])]))  # belly: front-most torso point
    if len(set(ids)) != len(ids):
        raise ValueError(f"extremity vertices are not distinct: {ids}")
    return ids


def sample_meshes(n: int, seed: int, batch_size: int = 128) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(n, 13718, 3) float32 canonical centred Anny meshes (metres), the template and the faces."""
    from vqhps.body.anny_body import AnnyBody

    body = AnnyBody("default")
    gen = torch.Generator().manual_seed(seed)
    out = torch.empty(n, body.n_vertices, 3)
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        out[start : start + b] = body.vertices(body.sample_parameters(b, gen), batch_size=b)
    return out, np.asarray(body.template, np.float64), np.asarray(body.faces)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/full_topology"))
    ap.add_argument("--train-meshes", type=int, default=4000)
    ap.add_argument("--val-meshes", type=int, default=200)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lr-schedule", choices=["constant", "cosine"], default="cosine")
    ap.add_argument("--decay", type=float, default=0.99, help="EMA decay of the codebook (paper: 0.99)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from vqhps.io.checkpoint import load_checkpoint
    from vqhps.models.mesh_hierarchy import HierarchySettings, build_hierarchy, default_cache_dir
    from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig
    from vqhps.training.mesh_vqvae_trainer import TrainSettings, keep_freed_memory, train_mesh_vqvae

    ckpt = args.out / "model.pt"
    run_params = {k: str(v) for k, v in vars(args).items() if k not in ("out", "threads")}
    if ckpt.is_file() and load_checkpoint(ckpt).get("params") != run_params:
        print(
            f"error: {ckpt} was written with other settings; resuming would mix two runs. "
            "Give another --out or delete that file.",
            file=sys.stderr,
        )
        return 2
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    meshes, template, faces = sample_meshes(args.train_meshes + args.val_meshes, args.seed)
    train, val = meshes[: args.train_meshes], meshes[args.train_meshes :]
    t_data = time.perf_counter() - t0
    forced = extremity_vertices(template)
    hierarchy = build_hierarchy(
        faces, len(template), HierarchySettings(FULL_LEVELS, tuple(forced)), cache_dir=default_cache_dir()
    )
    config = MeshVQVAEConfig(decay=args.decay, dead_code_restart=True, data_init=True)
    torch.manual_seed(args.seed)
    model = MeshVQVAE(hierarchy, config)
    print(
        f"{len(train)} train / {len(val)} val meshes in {t_data:.0f} s; points per level "
        f"{hierarchy.point_counts}; {model.n_tokens} tokens; forced centres {forced}",
        flush=True,
    )
    settings = TrainSettings(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        val_every=max(1, args.steps // 10),
        ckpt_every=max(1, args.steps // 10),
        seed=args.seed,
        max_val_meshes=args.val_meshes,
    )
    args.out.mkdir(parents=True, exist_ok=True)

    def log(metrics: dict[str, float], step: int) -> None:
        print(
            f"step {step:>6}  {time.perf_counter() - t0:7.0f} s  val PVE {metrics['val_pve_mm']:6.1f} mm  "
            f"PA-PVE {metrics['val_pa_pve_mm']:6.1f} mm  codes in use {metrics['val_codes_in_use']:.2f}",
            flush=True,
        )

    t1 = time.perf_counter()
    # The trainer validates on every val mesh at the last step (max_val_meshes = all of them).
    final = train_mesh_vqvae(model, train, val, settings, ckpt, log=log, params=run_params)
    t_train = time.perf_counter() - t1
    result = {
        **{k: v for k, v in final.items() if k.startswith("val_")},
        "n_vertices": len(template),
        "n_tokens": model.n_tokens,
        "train_seconds": t_train,
        "data_seconds": t_data,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "metrics.json").write_text(json.dumps(result, indent=2))
    print(
        f"val PVE {final['val_pve_mm']:.1f} mm, PA-PVE {final['val_pa_pve_mm']:.1f} mm, "
        f"{final['val_codes_in_use']:.1%} of codes in use; training {t_train / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
