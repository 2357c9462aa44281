"""Stage prepare_meshes: meshes -> Parquet shards with seeded train/val/test splits.

Reads the generated meshes (``make_synthetic/meshes``), assigns splits with a seeded permutation,
and writes the mesh shard set ``shards/`` (schema in ``vqhps.io.schemas``; topology recorded once
in ``shards/template.npz``). The folder appears only when complete.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from tqdm import tqdm

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.data.splits import assign_splits
from vqhps.io.atomic import atomic_path
from vqhps.io.schemas import MESHES, SPLITS
from vqhps.io.shards import ShardWriter, read_template, write_template
from vqhps.seeding import stage_seed


def run(ctx: StageContext) -> dict[str, float]:
    p = ctx.section
    src = ctx.upstream("make_synthetic") / "meshes"
    if not (src / "meta.json").is_file():
        raise UserError(f"{src}: generated meshes not found; run make_synthetic first")
    meta = json.loads((src / "meta.json").read_text())
    verts = np.load(src / "vertices.npy", mmap_mode="r")  # (N, V, 3) float32
    pose, shape = np.load(src / "pose.npy"), np.load(src / "shape.npy")
    n, n_vertices = verts.shape[0], verts.shape[1]
    splits = assign_splits(n, p.split_fractions, stage_seed(ctx.params.seed, "prepare_meshes", "splits"))
    ids = np.array([f"{meta['source']}-{i:07d}" for i in range(n)], dtype=object)
    counts = {}
    with atomic_path(ctx.out_dir / "shards") as tmp:
        writer = ShardWriter(tmp, MESHES, n_vertices, p.shard_size, p.row_group_size, p.compression,
                             meta={"topology_id": meta["topology_id"], "source": meta["source"]})
        bar = tqdm(total=n, desc="mesh shards", unit="mesh", disable=not sys.stderr.isatty())
        for split in SPLITS:
            rows = np.flatnonzero(splits == split)  # ascending index = ascending id: deterministic order
            counts[split] = len(rows)
            for chunk in np.array_split(rows, max(1, int(np.ceil(len(rows) / p.shard_size)))):
                if not len(chunk):
                    continue
                writer.add({
                    "id": ids[chunk].tolist(), "source": [meta["source"]] * len(chunk), "split": [split] * len(chunk),
                    "vertices": np.ascontiguousarray(verts[chunk]), "pose": list(pose[chunk]),
                    "shape": list(shape[chunk]), "gender": [meta["gender"]] * len(chunk),
                })
                bar.update(len(chunk))
        bar.close()
        writer.close()
        write_template(tmp, read_template(src))
    return {f"n_{s}": counts[s] for s in SPLITS} | {"n_vertices": n_vertices}


def main(argv: list[str] | None = None) -> int:
    return stage_main("prepare_meshes", run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
