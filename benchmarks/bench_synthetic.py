"""Throughput of synthetic data generation: Anny meshes per second and rendered 224x224 images per second.

Each worker is a separate process with one torch thread (processes scale better than intra-op threads
on a small shared machine). Workers build their model, warm up, wait on a barrier, then run for the
same work; throughput = total items / slowest worker's wall time. Run:

    PYTHONPATH=src python benchmarks/bench_synthetic.py --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

from vqhps.render.synthetic import single_threaded_children

MESH_TARGET_PER_S = 300.0
IMAGE_TARGET_PER_S = 50.0


def _mesh_worker(args: tuple) -> tuple[int, float, float]:
    topology, n, batch_size, cache_dir, rank, barrier = args
    import torch

    from vqhps.body.anny_body import AnnyBody

    torch.set_num_threads(1)
    body = AnnyBody(topology, cache_dir=cache_dir)
    gen = torch.Generator().manual_seed(rank)
    body.vertices(body.sample_parameters(batch_size, gen), batch_size=batch_size)  # warm-up
    barrier.wait()
    wall, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        body.vertices(body.sample_parameters(b, gen), batch_size=batch_size)
        done += b
    return done, time.perf_counter() - wall, time.process_time() - cpu


def _render_worker(args: tuple) -> tuple[int, float, float]:
    topology, n, image_size, batch_size, cache_dir, rank, barrier, encode = args
    import torch

    from vqhps.body.anny_body import AnnyBody
    from vqhps.body.joint_regressor import h36m_regressor
    from vqhps.render.synthetic import encode_image, render_sample, sample_rng

    torch.set_num_threads(1)
    body = AnnyBody(topology, cache_dir=cache_dir)
    reg = h36m_regressor(body)
    gen = torch.Generator().manual_seed(rank)
    for i, v in enumerate(body.vertices(body.sample_parameters(4, gen)).numpy()):  # warm-up (kernel load)
        render_sample(v, body.faces, reg, sample_rng(rank + 1000, i), image_size)
    barrier.wait()
    wall, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < n:
        verts = body.vertices(body.sample_parameters(min(batch_size, n - done), gen), batch_size=batch_size)
        for v in verts.numpy():
            sample = render_sample(v, body.faces, reg, sample_rng(rank, done), image_size)
            if encode:
                encode_image(sample.image, "jpeg")
            done += 1
    return done, time.perf_counter() - wall, time.process_time() - cpu


def _run(worker, per_worker_args: list[tuple], workers: int) -> tuple[float, list[tuple[int, float, float]]]:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(workers)
        tasks = [
            (*a[:-1], barrier, a[-1]) if worker is _render_worker else (*a, barrier) for a in per_worker_args
        ]
        with single_threaded_children():
            pool = ctx.Pool(workers)
        with pool:
            results = pool.map(worker, tasks)
    total = sum(r[0] for r in results)
    return total / max(r[1] for r in results), results


def bench_meshes(
    topology: str = "default",
    n: int = 1024,
    batch_size: int = 128,
    workers: int = 2,
    cache_dir: str | None = None,
) -> float:
    """Canonical Anny meshes generated per second (parameter sampling + forward), all workers together.

    Args:
        topology: Anny topology (``"default"``: the full 13,718-vertex mesh).
        n: meshes per worker.
        batch_size: bodies per Anny forward.
        workers: processes, one torch thread each.
        cache_dir: Anny cache (default ``$ANNY_CACHE_DIR``).
    """
    args = [(topology, n, batch_size, cache_dir, rank) for rank in range(workers)]
    rate, results = _run(_mesh_worker, args, workers)
    _print_workers("meshes", results)
    return rate


def bench_render(
    topology: str = "default",
    n: int = 256,
    image_size: int = 224,
    batch_size: int = 64,
    workers: int = 2,
    cache_dir: str | None = None,
    encode: bool = True,
) -> float:
    """End-to-end synthetic images per second: pose sampling, Anny forward, ray casting, labels, JPEG.

    Args:
        topology: Anny topology (``"default"``: the full 13,718-vertex mesh).
        n: images per worker.
        image_size: square image side, pixels.
        batch_size: bodies per Anny forward.
        workers: processes, one torch thread each.
        cache_dir: Anny cache (default ``$ANNY_CACHE_DIR``).
        encode: include JPEG encoding (q90).
    """
    args = [(topology, n, image_size, batch_size, cache_dir, rank, encode) for rank in range(workers)]
    rate, results = _run(_render_worker, args, workers)
    _print_workers("images", results)
    return rate


def _print_workers(what: str, results: list[tuple[int, float, float]]) -> None:
    for rank, (count, wall, cpu) in enumerate(results):
        print(
            f"  worker {rank}: {count} {what} in {wall:.2f} s wall, {1000 * cpu / count:.2f} ms CPU per item"
        )
    # On a shared machine the wall rate reflects other people's load; CPU time per item does not.
    capacity = sum(count / cpu for count, _, cpu in results)
    busy = sum(cpu for _, _, cpu in results) / max(wall for _, wall, _ in results)
    print(
        f"  cpu-bound capacity: {capacity:.1f} {what}/s if each worker had a full core"
        f" (the workers got {busy:.2f} cores in this run)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default="default")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--meshes", type=int, default=1024, help="meshes per worker")
    parser.add_argument("--images", type=int, default=256, help="images per worker")
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    meshes = bench_meshes(args.topology, n=args.meshes, workers=args.workers)
    where = f"{args.topology}, {args.workers} workers"
    print(f"anny_meshes_per_s: {meshes:.1f} ({where}; target >= {MESH_TARGET_PER_S:.0f})")
    images = bench_render(args.topology, n=args.images, image_size=args.image_size, workers=args.workers)
    print(
        f"images_per_s: {images:.1f} ({args.image_size}x{args.image_size}, {where},"
        f" end to end incl. meshes and JPEG; target >= {IMAGE_TARGET_PER_S:.0f})"
    )


if __name__ == "__main__":
    main()
