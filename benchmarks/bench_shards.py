"""Shard write/read throughput as a ratio to a plain sequential write/read of the same bytes.

The shard read is the zero-copy row-group reader (Arrow buffers viewed as torch tensors).

Both sides are measured in the same run on the same data, so the ratio is robust to how busy
the machine is. Run: ``python benchmarks/bench_shards.py [--meshes 2000] [--vertices 13718]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from vqhps.io.schemas import MESHES
from vqhps.io.shards import ShardSet, ShardWriter, fixed_list_tensor


def _mesh_rows(n: int, v: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    # Realistic mantissas: a template plus low-rank deformations plus noise (not compressible zeros).
    template = rng.standard_normal((v, 3)).astype(np.float32) * 0.3
    basis = rng.standard_normal((10, v * 3)).astype(np.float32) * 0.01
    verts = template.reshape(1, -1) + rng.standard_normal((n, 10)).astype(np.float32) @ basis
    verts += rng.standard_normal(verts.shape).astype(np.float32) * 1e-3
    return {
        "id": [f"m{i:07d}" for i in range(n)],
        "source": ["bench"] * n,
        "split": ["train"] * n,
        "vertices": verts.reshape(n, v, 3),
        "pose": [np.zeros(48, np.float32)] * n,
        "shape": [np.zeros(6, np.float32)] * n,
        "gender": ["neutral"] * n,
    }


def _drop_page_cache(path: Path) -> None:
    """Evict a file from the page cache where the OS allows it (so reads hit the disk)."""
    for f in [path] if path.is_file() else path.rglob("*.parquet"):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def bench_shards(
    n_meshes: int = 2000, n_vertices: int = 13718, shard_size: int = 500, repeats: int = 3
) -> dict:
    """Median write and read throughput (MB/s) of shards and of a plain file; ratios shard/plain."""
    rows = _mesh_rows(n_meshes, n_vertices)
    raw = rows["vertices"]
    nbytes = raw.nbytes
    results: dict[str, list[float]] = {
        k: [] for k in ("shard_write", "shard_read", "plain_write", "plain_read")
    }
    for _ in range(repeats):
        tmp = Path(tempfile.mkdtemp(prefix="bench_shards_"))
        try:
            t0 = time.perf_counter()
            writer = ShardWriter(tmp / "shards", MESHES, n_vertices, shard_size, row_group_size=250)
            writer.add(rows)
            writer.close()
            results["shard_write"].append(nbytes / (time.perf_counter() - t0) / 1e6)

            t0 = time.perf_counter()
            with open(tmp / "plain.bin", "wb") as fh:
                fh.write(raw.tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            results["plain_write"].append(nbytes / (time.perf_counter() - t0) / 1e6)

            _drop_page_cache(tmp / "shards")
            t0 = time.perf_counter()
            shards = ShardSet(tmp / "shards", MESHES)
            for group in shards.iter_row_groups("train", ["vertices"]):
                verts = fixed_list_tensor(group.column("vertices"), (n_vertices, 3))  # zero-copy view
                float(verts[:, 0, 0].sum())  # touch the data
            results["shard_read"].append(nbytes / (time.perf_counter() - t0) / 1e6)

            _drop_page_cache(tmp / "plain.bin")
            t0 = time.perf_counter()
            data = np.frombuffer((tmp / "plain.bin").read_bytes(), dtype=np.float32)
            float(data[:: 3 * n_vertices].sum())
            results["plain_read"].append(nbytes / (time.perf_counter() - t0) / 1e6)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    med = {k: float(np.median(v)) for k, v in results.items()}
    med["write_ratio"] = med["shard_write"] / med["plain_write"]
    med["read_ratio"] = med["shard_read"] / med["plain_read"]
    med["mbytes"] = nbytes / 1e6
    return med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", type=int, default=2000)
    parser.add_argument("--vertices", type=int, default=13718)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    r = bench_shards(args.meshes, args.vertices, repeats=args.repeats)
    print(
        f"shards: {args.meshes} meshes x {args.vertices} vertices = {r['mbytes']:.0f} MB"
        f" (median of {args.repeats})"
    )
    print(
        f"  write: shards {r['shard_write']:.0f} MB/s, plain file {r['plain_write']:.0f} MB/s, "
        f"ratio {r['write_ratio']:.2f} (target >= 0.5)"
    )
    print(
        f"  read:  shards {r['shard_read']:.0f} MB/s, plain file {r['plain_read']:.0f} MB/s, "
        f"ratio {r['read_ratio']:.2f} (target >= 0.5)"
    )


if __name__ == "__main__":
    main()
