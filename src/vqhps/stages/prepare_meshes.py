"""Stage prepare_meshes: meshes -> Parquet shards with seeded train/val/test splits.

``source: synthetic`` (demo) reads the generated meshes (``make_synthetic/meshes``) and assigns splits with a
seeded permutation. ``source: bedlam_animations | amass`` (paper) builds canonical, centred, gendered SMPL-H
meshes of every ``frame_stride``-th frame of every motion file under ``data_root`` (split per file by
``split_fractions``; row ids name file and frame, so train_mesh_vqvae samples file-then-frame) and, with
``eval_meshes: 3dpw``, adds the 3DPW validation/test people as val/test (reference §1.4).
Writes the mesh shard set ``shards/`` (schema in ``vqhps.io.schemas``; topology recorded once in
``shards/template.npz``). The folder appears only when complete.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.data.splits import assign_splits
from vqhps.infra.seeding import stage_seed
from vqhps.io.atomic import atomic_path
from vqhps.io.schemas import MESHES, SPLITS
from vqhps.io.shards import MeshTopology, ShardWriter, read_template, write_template

TOPOLOGY_ID = "smplh"  # SMPL-H body meshes (6,890 vertices, SMPL's topology)


def run(ctx: StageContext) -> dict[str, float]:
    if ctx.section.source == "synthetic":
        return _from_synthetic(ctx)
    return _from_motions(ctx)


def _from_motions(ctx: StageContext) -> dict[str, float]:
    from vqhps.ingest import mesh_sets

    p, root = ctx.section, Path(ctx.params.data_root)
    seed = stage_seed(ctx.params.seed, "prepare_meshes", p.source)
    try:
        rows = [
            mesh_sets.motion_mesh_rows(
                root, p.source, p.amass_subsets, p.frame_stride, dict(p.split_fractions), seed
            )
        ]
        if p.eval_meshes == "3dpw":
            rows += [
                mesh_sets.threedpw_mesh_rows(root, s, p.eval_frame_stride) for s in ("validation", "test")
            ]
        models = mesh_sets.load_models(root, "smplh", num_betas=p.num_betas)
        regressor = mesh_sets.load_regressor(root)
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise UserError(f"{ctx.experiment}.prepare_meshes: {err}") from None
    neutral = models["neutral"]
    counts = dict.fromkeys(SPLITS, 0)
    with atomic_path(ctx.out_dir / "shards") as tmp:
        writer = ShardWriter(
            tmp,
            MESHES,
            int(neutral.v_template.shape[0]),
            p.shard_size,
            p.row_group_size,
            p.compression,
            meta={"topology_id": TOPOLOGY_ID, "source": p.source},
        )
        total = sum(len(r) for r in rows)
        bar = tqdm(total=total, desc="mesh shards", unit="mesh", disable=not sys.stderr.isatty())
        for part in rows:
            for columns in mesh_sets.iter_mesh_columns(part, models, p.num_betas, chunk=p.row_group_size):
                writer.add(columns)
                for split in columns["split"]:
                    counts[split] += 1
                bar.update(len(columns["id"]))
        bar.close()
        writer.close()
        # The H36M regressor travels with the topology: evaluation and the image stage read it from here.
        topology = MeshTopology(neutral.v_template.numpy(), neutral.faces.numpy(), TOPOLOGY_ID, regressor)
        write_template(tmp, topology)
    return {f"n_{s}": counts[s] for s in SPLITS} | {"n_vertices": int(neutral.v_template.shape[0])}


def _from_synthetic(ctx: StageContext) -> dict[str, float]:
    p = ctx.section
    src = ctx.input("make_synthetic/meshes")
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
        writer = ShardWriter(
            tmp,
            MESHES,
            n_vertices,
            p.shard_size,
            p.row_group_size,
            p.compression,
            meta={"topology_id": meta["topology_id"], "source": meta["source"]},
        )
        bar = tqdm(total=n, desc="mesh shards", unit="mesh", disable=not sys.stderr.isatty())
        for split in SPLITS:
            rows = np.flatnonzero(splits == split)  # ascending index = ascending id: deterministic order
            counts[split] = len(rows)
            for chunk in np.array_split(rows, max(1, int(np.ceil(len(rows) / p.shard_size)))):
                if not len(chunk):
                    continue
                writer.add(
                    {
                        "id": ids[chunk].tolist(),
                        "source": [meta["source"]] * len(chunk),
                        "split": [split] * len(chunk),
                        "vertices": np.ascontiguousarray(verts[chunk]),
                        "pose": list(pose[chunk]),
                        "shape": list(shape[chunk]),
                        "gender": [meta["gender"]] * len(chunk),
                    }
                )
                bar.update(len(chunk))
        bar.close()
        writer.close()
        write_template(tmp, read_template(src))
    return {f"n_{s}": counts[s] for s in SPLITS} | {"n_vertices": n_vertices}


def main(argv: list[str] | None = None) -> int:
    return stage_main("prepare_meshes", run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
