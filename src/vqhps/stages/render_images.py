"""Stage render_images: the synthetic image set, each mesh posed with a global rotation and rendered.

For each split, the first ``max_meshes`` meshes of ``prepare_meshes/shards`` (their order is the
seeded split order) are given a random global rotation, placed before a random camera on a random
background and ray-cast by the project's own renderer. Outputs: ``images/`` (image shards: encoded
image, 17 H36M-order keypoints with visibility, bbox, body rotation in the camera frame, camera) and
``meshes/`` (the canonical ground-truth mesh of every image, ids = the images' ``mesh_id``), the
image set that every later stage reads, the same shape as the paper's real image sets.
"""

from __future__ import annotations

import sys

import numpy as np

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.infra.seeding import stage_seed
from vqhps.io.atomic import atomic_path
from vqhps.io.schemas import IMAGES, MESHES, SPLITS
from vqhps.io.shards import ShardSet, ShardWriter, fixed_list_tensor, read_template, write_template


def run(ctx: StageContext) -> dict[str, float]:
    from vqhps.render.synthetic import encode_image, render_many

    p = ctx.section
    src = ctx.input("prepare_meshes/shards")
    meshes = ShardSet(src, MESHES)
    topology = read_template(src)
    if topology.joint_regressor is None:
        raise UserError(
            f"{src}/template.npz has no joint regressor; re-run make_synthetic and prepare_meshes"
        )
    if p.appearance == "clothes" and topology.vertex_parts is None:
        raise UserError(
            f"{src}/template.npz has no vertex_parts (garment codes) for appearance: clothes; re-run "
            "make_synthetic and prepare_meshes, or set render_images.appearance: uniform"
        )
    garments = topology.vertex_parts if p.appearance == "clothes" else None
    seed = stage_seed(ctx.params.seed, "render_images")
    counts, visible = {}, []
    with atomic_path(ctx.out_dir / "images") as img_dir, atomic_path(ctx.out_dir / "meshes") as mesh_dir:
        images = ShardWriter(
            img_dir,
            IMAGES,
            17,
            p.shard_size,
            row_group_size=256,
            meta={"topology_id": topology.topology_id, "image_size": p.image_size},
        )
        gt = ShardWriter(
            mesh_dir,
            MESHES,
            meshes.size,
            p.shard_size,
            row_group_size=256,
            meta={"topology_id": topology.topology_id, "source": "anny"},
        )
        index = 0
        for split in SPLITS:
            rows = _select(meshes, split, p.max_meshes.get(split, -1))
            counts[split] = rows.num_rows * p.views_per_mesh
            if not rows.num_rows:
                continue
            gt.add({name: rows.column(name) for name in rows.column_names})
            verts = fixed_list_tensor(rows.column("vertices"), (meshes.size, 3)).numpy()
            ids = rows.column("id").to_pylist()
            tasks = np.repeat(np.arange(len(ids)), p.views_per_mesh)
            samples = render_many(
                verts[tasks],
                topology.faces,
                topology.joint_regressor,
                seed,
                indices=range(index, index + len(tasks)),
                image_size=p.image_size,
                workers=ctx.workers,
                garments=garments,
            )
            batch = []
            for task, sample in zip(tasks, samples, strict=True):
                view = len(batch) % p.views_per_mesh
                batch.append(
                    _image_row(
                        ids[task],
                        view,
                        split,
                        sample,
                        encode_image(sample.image, p.image_format, p.jpeg_quality),
                    )
                )
                visible.append(float(sample.keypoints2d[:, 2].mean()))
            images.add(_columns(batch))
            index += len(tasks)
        images.close()
        gt.close()
        write_template(mesh_dir, topology)
    return {
        **{f"n_{s}": counts[s] for s in SPLITS},
        "keypoint_visible_frac": float(np.mean(visible or [0.0])),
    }


def _select(meshes: ShardSet, split: str, limit: int):
    table = meshes.read(split)
    return table if limit < 0 else table.slice(0, limit)


def _image_row(mesh_id: str, view: int, split: str, sample, data: bytes) -> dict:
    h, w = sample.image.shape[:2]
    return {
        "id": f"{mesh_id}-v{view}",
        "mesh_id": mesh_id,
        "source": "anny",
        "split": split,
        "image": data,
        "height": h,
        "width": w,
        "keypoints2d": sample.keypoints2d,
        "bbox": sample.bbox,
        "global_rot": sample.global_rot_cam,
        "cam_K": sample.cam_K,
        "cam_R": sample.cam_R,
        "cam_t": sample.cam_t,
    }


def _columns(rows: list[dict]) -> dict:
    out = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        out[key] = np.stack(values).astype(np.float32) if isinstance(values[0], np.ndarray) else values
    return out


def main(argv: list[str] | None = None) -> int:
    return stage_main("render_images", run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
