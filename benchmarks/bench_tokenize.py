"""tokenize_meshes' throughput (meshes/s): pve_mm on a seeded sample vs decoding every mesh (the code before).

SMPL-size hierarchy with random weights and connectivity (dfaust2 point and neighbour counts, as in
``bench_mesh_vqvae.py``), the stage's ``--workers`` pool of single-threaded processes, meshes sent in
row-group-sized chunks as the stage does. "sampled" = encode only (``errors=False``) plus decoding the
``--sample`` seeded meshes of the pass in this process; "every mesh" = ``errors=True`` in the pool. Both run
in the same process, alternating, ``--repeats`` times; the ratio is taken per repeat (paired).

Usage: ``PYTHONPATH=src python benchmarks/bench_tokenize.py [--meshes 512] [--sample 32] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vqhps.models.connections import random_dfaust2_like
from vqhps.models.mesh_vqvae import MeshVQVAE
from vqhps.training.mesh_vqvae_trainer import keep_freed_memory
from vqhps.training.parallel_tokenize import ParallelTokenizer
from vqhps.training.pve_sample import sample_rows, sampled_pve_mm

GROUP = 256  # meshes per row group handed to the tokenizer


def one_pass(
    tokenizer: ParallelTokenizer, model: MeshVQVAE, verts: torch.Tensor, sample: int | None
) -> float:
    """Meshes/s of tokenising ``verts`` group by group; with ``sample``, errors of that many seeded rows."""
    rows = sample_rows(len(verts), sample, seed=0)
    start = time.perf_counter()
    for first in range(0, len(verts), GROUP):
        group = verts[first : first + GROUP]
        idx, _ = tokenizer(group)
        if sample is not None:
            inside = rows[(rows >= first) & (rows < first + len(group))] - first
            sampled_pve_mm(model, group, idx, inside, tokenizer.batch_size)
    return len(verts) / (time.perf_counter() - start)


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} (range {min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", type=int, default=512, help="meshes per timed pass")
    parser.add_argument("--sample", type=int, default=32, help="meshes decoded per pass (pve_sample)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = MeshVQVAE(random_dfaust2_like(0)).eval()
    verts = torch.randn(args.meshes, model.n_vertices, 3) * 0.3
    verts = verts - verts.mean(1, keepdim=True)
    rates: dict[str, list[float]] = {"sampled": [], "every mesh": []}
    with (
        ParallelTokenizer(model, args.workers, 64, "cpu", errors=False) as encode_only,
        ParallelTokenizer(model, args.workers, 64, "cpu", errors=True) as with_errors,
    ):
        runs = {"sampled": (encode_only, args.sample), "every mesh": (with_errors, None)}
        for tokenizer, sample in runs.values():  # warm-up: starts the workers
            one_pass(tokenizer, model, verts[:GROUP], sample)
        for _ in range(args.repeats):
            for name, (tokenizer, sample) in runs.items():
                rates[name].append(one_pass(tokenizer, model, verts, sample))
    ratios = [a / b for a, b in zip(rates["sampled"], rates["every mesh"], strict=True)]
    where = f"SMPL-size hierarchy, {args.workers} worker processes, {args.meshes} meshes a pass"
    print(f"tokenize_meshes meshes/s, {where}:")
    print(f"  sampled pve ({args.sample} decoded, now): {_summary(rates['sampled'])}")
    print(f"  every mesh decoded (before): {_summary(rates['every mesh'])}")
    print(f"  ratio now/before: median {statistics.median(ratios):.2f}x (range {min(ratios):.2f}-"
          f"{max(ratios):.2f}x, paired per repeat)")  # fmt: skip
    print(f"  (the decoded share here is {args.sample / args.meshes:.1%}; the paper's 2,000 of every split's")
    print("   meshes is a far smaller one, so its ratio is nearer the encode-only bound)")


if __name__ == "__main__":
    main()
