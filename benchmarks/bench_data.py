"""The data benchmark of the foundation, in one run: Anny meshes/s (full topology), shard write and
read throughput as ratios to a plain file of the same bytes, and rendered images/s at 224 x 224.

Run: ``python benchmarks/bench_data.py`` (about 2-3 minutes on 2 cores; the first Anny build, if not
cached in ANNY_CACHE_DIR, adds ~90 s). Targets on 2 cores: >= 300 meshes/s, ratios >= 0.5, >= 50 images/s.
"""

from __future__ import annotations

import argparse

from bench_shards import bench_shards
from bench_synthetic import bench_meshes, bench_render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-meshes", type=int, default=1000)
    args = parser.parse_args()
    meshes = bench_meshes("default", n=512, workers=args.workers)
    where = f"full 13,718-vertex topology, {args.workers} workers"
    print(f"anny_meshes_per_s ({where}): {meshes:.1f}  (target >= 300)")
    r = bench_shards(args.shard_meshes, 13718)
    print(
        f"shard_write_ratio: {r['write_ratio']:.2f}  ({r['shard_write']:.0f} vs {r['plain_write']:.0f} MB/s; "
        "target >= 0.5)"
    )
    print(
        f"shard_read_ratio:  {r['read_ratio']:.2f}  ({r['shard_read']:.0f} vs {r['plain_read']:.0f} MB/s; "
        "target >= 0.5)"
    )
    images = bench_render("default", n=128, image_size=224, workers=args.workers)
    print(f"images_per_s (224 x 224, full topology, {args.workers} workers): {images:.1f}  (target >= 50)")


if __name__ == "__main__":
    main()
