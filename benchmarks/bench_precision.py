"""What bf16 autocast costs a trained Mesh-VQ-VAE: reconstruction error (mm) and tokens, fp32 vs bf16 on CPU.

Reads a trained ``train_mesh_vqvae/model.pt`` and the mesh shards it was trained on, and encodes + decodes a
split twice, in float32 and under bf16 autocast (``vqhps.training.precision``). Reports PVE / PA-PVE (mm) of
each, the share of token ids that change and the PVE between the two reconstructions. Usage:
``PYTHONPATH=src python benchmarks/bench_precision.py --model results/demo/train_mesh_vqvae/model.pt
--meshes results/demo/prepare_meshes/shards --split val``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def measure(model_path: str, meshes: str, split: str, max_meshes: int, batch_size: int) -> dict[str, float]:
    from vqhps.io.shards import ShardSet, load_vertices
    from vqhps.models.pretrained import load_mesh_vqvae
    from vqhps.training.mesh_vqvae_trainer import evaluate_reconstruction, per_vertex_error
    from vqhps.training.precision import autocast

    model = load_mesh_vqvae(model_path)
    verts = load_vertices(ShardSet(meshes, "meshes"), split)[:max_meshes]
    out: dict[str, float] = {"n_meshes": len(verts), "n_tokens": model.n_tokens}
    recon, ids = {}, {}
    for precision in ("fp32", "bf16"):
        start = time.perf_counter()
        metrics = evaluate_reconstruction(model, verts, batch_size, "cpu", precision)
        out[f"{precision}_seconds"] = round(time.perf_counter() - start, 2)
        out |= {f"{precision}_{k}": round(v, 3) for k, v in metrics.items()}
        with torch.no_grad(), autocast("cpu", precision):
            ids[precision] = model.encode_indices(verts[:batch_size])
            recon[precision] = model.decode_indices(ids[precision]).float()
    out["bf16_minus_fp32_pve_mm"] = round(out["bf16_pve_mm"] - out["fp32_pve_mm"], 3)
    out["tokens_changed"] = round(float((ids["fp32"] != ids["bf16"]).float().mean()), 4)
    out["fp32_vs_bf16_recon_mm"] = round(
        float(per_vertex_error(recon["bf16"], recon["fp32"]).mean()) * 1e3, 3
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="train_mesh_vqvae/model.pt")
    ap.add_argument("--meshes", required=True, help="the prepare_meshes/shards folder")
    ap.add_argument("--split", default="val")
    ap.add_argument("--max-meshes", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(
        json.dumps(measure(args.model, args.meshes, args.split, args.max_meshes, args.batch_size), indent=1)
    )


if __name__ == "__main__":
    main()
