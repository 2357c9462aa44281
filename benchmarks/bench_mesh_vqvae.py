"""Mesh-VQ-VAE CPU speed on the SMPL-size hierarchy: training and tokenisation meshes/s, peak RSS, GFLOP/s.

Random weights and a random connectivity with the dfaust2 point and neighbour counts (reference §2.3; it costs
the same as the real files). Each allocator setting runs in its own subprocess because glibc reads the
``MALLOC_*`` variables at start-up. Usage: ``PYTHONPATH=src python benchmarks/bench_mesh_vqvae.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

TUNED_ENV = {"MALLOC_MMAP_THRESHOLD_": "16G", "MALLOC_TRIM_THRESHOLD_": "16G", "MALLOC_TOP_PAD_": "1G"}
# The same values in plain bytes, in case this glibc does not accept the "G" suffix.
TUNED_BYTES_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(16 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(16 << 30),
    "MALLOC_TOP_PAD_": str(1 << 30),
}
# "mallopt" = default environment, then keep_freed_memory() called in the process (what a stage can do).
SETTINGS = {
    "default": {},
    "env 16G/16G/1G": TUNED_ENV,
    "env in bytes": TUNED_BYTES_ENV,
    "mallopt": {"_MALLOPT": "1"},
}


def forward_flops(model, batch: int) -> float:
    """Multiply-adds x 2 of one forward pass as implemented (sparse bag sums + basis matrix products)."""
    from vqhps.models.vcconv import VCConv

    total = 0.0
    for layer in [*model.encoder, *model.decoder]:
        if isinstance(layer, VCConv):
            width = min(layer.in_channels, layer.out_channels)
            total += 2.0 * layer.bags.n_entries * batch * width
            n_basis_pts = layer.n_out if layer.coeff_first else layer.n_in
            total += 2.0 * n_basis_pts * batch * layer.n_basis * layer.in_channels * layer.out_channels
        else:
            total += 2.0 * layer.bags.n_entries * batch * layer._channels_hint
    return total


def _matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best / 1e9


def _reference_step_s(model, opt, x, steps: int = 2) -> float:
    """Median time of a training step through the plain layers (the original's train-mode computation)."""
    from vqhps.models.vcconv import VCConv, pool_reference, vcconv_reference

    def run(layers, h):
        for layer in layers:
            h = vcconv_reference(layer, h) if isinstance(layer, VCConv) else pool_reference(layer, h)
        return h

    model.train()
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        q = model.quantizer(run(model.encoder, x))
        loss = (run(model.decoder, q.quantized) - x).norm(dim=-1).mean() + q.commit_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 1:
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


POOL_MESHES = 256  # meshes per call of the process pool (each of its processes encodes at batch 64)


def _pool_tokenize_s(model, x, workers: int, calls: int) -> float:
    """Median seconds to encode POOL_MESHES meshes with ``workers`` single-threaded processes."""
    from vqhps.training.parallel_tokenize import ParallelTokenizer

    xb = x.repeat((POOL_MESHES + len(x) - 1) // len(x), 1, 1)[:POOL_MESHES]
    times = []
    with ParallelTokenizer(model, workers, batch_size=64, errors=False) as tok:
        for i in range(calls + 1):
            t = time.perf_counter()
            tok(xb)
            if i >= 1:  # the first call warms the workers up
                times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def measure(threads: int, batch: int, steps: int, token_batches: int, reference: bool = False) -> dict:
    """Run in the child process: returns the figures as a dict."""
    import torch

    from vqhps.models.connections import random_dfaust2_like
    from vqhps.models.mesh_vqvae import MeshVQVAE
    from vqhps.models.vcconv import LearnedPool

    if os.environ.get("_MALLOPT"):
        from vqhps.training.mesh_vqvae_trainer import keep_freed_memory

        keep_freed_memory()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = MeshVQVAE(random_dfaust2_like(0))
    c = 3
    for layer in [*model.encoder, *model.decoder]:  # channel count seen by each pooling layer
        if isinstance(layer, LearnedPool):
            layer._channels_hint = c
        else:
            c = layer.out_channels
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-5)
    x = torch.randn(batch, 6890, 3) * 0.3
    x = x - x.mean(1, keepdim=True)
    load_before = os.getloadavg()[0]
    times = []
    for i in range(steps + 2):
        t = time.perf_counter()
        out = model(x)
        loss = (out.recon - x).norm(dim=-1).mean() + out.commit_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - t)
    model.eval()
    tok_times: dict[int, list[float]] = {batch: [], 64: []}
    with torch.no_grad():
        for b, ts in tok_times.items():
            xb = x.repeat((b + batch - 1) // batch, 1, 1)[:b]
            for i in range(token_batches + 1):
                t = time.perf_counter()
                model.encode_indices(xb)
                if i >= 1:
                    ts.append(time.perf_counter() - t)
    pool_s = _pool_tokenize_s(model, x, threads, token_batches)
    mm = _matmul_gflops()
    step = sorted(times)[len(times) // 2]
    flops = 3.0 * forward_flops(model, batch)  # forward + gradient of inputs + gradient of weights
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # before the reference pass
    ref_step = _reference_step_s(model, opt, x) if reference else float("nan")
    return {
        "threads": threads,
        "reference_train_meshes_s": batch / ref_step,
        "train_meshes_s": batch / step,
        "train_best_meshes_s": batch / min(times),
        "train_step_s": step,
        "token_meshes_s": batch / sorted(tok_times[batch])[len(tok_times[batch]) // 2],
        "token_b64_meshes_s": 64 / sorted(tok_times[64])[len(tok_times[64]) // 2],
        "token_procs_meshes_s": POOL_MESHES / pool_s,
        "peak_rss_mb": peak_mb,
        "train_gflops_s": flops / step / 1e9,
        "train_gflop_per_step": flops / 1e9,
        "matmul_gflops_s": mm,
        "load_avg_1min": (load_before + os.getloadavg()[0]) / 2,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--token-batches", type=int, default=8)
    ap.add_argument(
        "--reference", action="store_true", help="also time the plain (original) layer computation"
    )
    ap.add_argument("--rounds", type=int, default=1, help="repeat every setting this many times")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.threads, args.batch, args.steps, args.token_batches, args.reference)))
        return 0
    print(
        f"Mesh-VQ-VAE, dfaust2-shaped random hierarchy, batch {args.batch}, float32, {args.threads} threads"
    )
    header = f"{'allocator':<16} {'train/s':>8} {'best':>6} {'step s':>7} {'tok/s':>7} {'tok/s@64':>8} "
    header += f"{'procs':>6} "
    print(header + f"{'peak MB':>8} {'GFLOP/s':>8} {'matmul':>7} {'ratio':>6} {'load':>5} {'ref/s':>6}")
    child_args = [f"--threads={args.threads}", f"--batch={args.batch}", f"--steps={args.steps}"]
    child_args.append(f"--token-batches={args.token_batches}")
    child_args += ["--reference"] if args.reference else []
    for _ in range(args.rounds):
        for name, extra in SETTINGS.items():
            env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | extra
            cmd = [sys.executable, __file__, "--child", *child_args]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                print(f"{name}: failed\n{res.stderr}")
                return 1
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(
                f"{name:<16} {r['train_meshes_s']:>8.1f} {r['train_best_meshes_s']:>6.1f} "
                f"{r['train_step_s']:>7.3f} {r['token_meshes_s']:>7.1f} {r['token_b64_meshes_s']:>8.1f} "
                f"{r['token_procs_meshes_s']:>6.1f} "
                f"{r['peak_rss_mb']:>8.0f} {r['train_gflops_s']:>8.1f} {r['matmul_gflops_s']:>7.1f} "
                f"{r['train_gflops_s'] / r['matmul_gflops_s']:>6.2f} {r['load_avg_1min']:>5.1f} "
                f"{r['reference_train_meshes_s']:>6.2f}",
                flush=True,
            )
    print("train/s, tok/s: medians over the timed steps (best: fastest training step). tok/s: one process")
    print("with --threads threads at the training batch and at 64; procs: --threads processes of one thread")
    print("each (ParallelTokenizer, what tokenize_meshes uses; its workers always keep freed memory, so")
    print("this column does not depend on the row), 256 meshes a call. peak MB: ru_maxrss (main process),")
    print("incl. tokenising at batch 64. GFLOP/s counts the work as implemented (sparse bag sums + basis")
    print("products, x3 for training); ratio = that / a float32 2048x2048 matmul in the same process.")
    print("ref/s (--reference): training through the plain layers that materialise N_out x K x C_out x C_in")
    print("kernels, as the original's train mode does (same process, same load).")
    print("load = 1-min load average during the run (2 cores): above ~2 the machine is shared; figures drop.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
