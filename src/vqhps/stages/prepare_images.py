"""Stage prepare_images: the paper's image set (real-image crops + labels) and its ground-truth meshes.

Reads the image sets named per split in ``<experiment>.prepare_images.splits`` from ``data_root``
(BEDLAM/CLIFF label sets, 3DPW splits, EMDB-1, the seeded EMDB-2 split), cuts square crops
around the original's crop box (side = 200 * scale around the label centre; 3DPW and EMDB boxes as the
original computes them) with ``context`` times its side of image around it, the box ``crop_size`` px wide
(``bbox`` column), JPEG-encoded, and writes two shard sets: ``images/`` (image schema, 17 H36M keypoints
in crop pixels, camera-frame root rotation, cameras where known) and ``meshes/`` (the canonical, centred,
gendered SMPL-H mesh of each image row; mesh id = the image row's ``mesh_id``), and inside it
``meshes/smpl_full_pose/`` (a mesh shard set, test rows only: the same rows' GT from the gendered SMPL model
with the full 23-joint pose, which ``evaluate`` scores the ``standard`` and ``emdb`` protocols against).
``images/test_frames.csv`` gives the (sequence, frame, person) of every test row
(:mod:`vqhps.eval.test_sets`). The topology is the one ``prepare_meshes`` recorded.
"""

from __future__ import annotations

import multiprocessing
import sys
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.eval.test_sets import TEST_FRAMES_FILE, write_frames_file
from vqhps.infra.seeding import stage_seed
from vqhps.io.atomic import atomic_path
from vqhps.io.schemas import IMAGES, MESHES, SPLITS
from vqhps.io.shards import ShardWriter, read_template, write_template

N_JOINTS = 17  # rows of J_regressor_h36m (vqhps.eval.protocols.H36M_JOINT_NAMES)


@contextmanager
def _encoder(workers: int):
    """An order-keeping ``map`` over crop tasks: a process pool when more than one worker is allowed."""
    if workers <= 1:
        yield map
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield lambda fn, tasks: pool.imap(fn, tasks, chunksize=8)


def run(ctx: StageContext) -> dict[str, float]:
    from vqhps.data.image_splits import FULL_POSE_GT_DIR
    from vqhps.ingest import image_sets, mesh_sets

    p, root = ctx.section, Path(ctx.params.data_root)
    template_dir = ctx.input("prepare_meshes/shards")
    try:
        template = read_template(template_dir)
        smplh = mesh_sets.load_models(root, "smplh", num_betas=p.num_betas)
        regressor = template.joint_regressor  # J_regressor_h36m, recorded by prepare_meshes
        if regressor is None:
            raise FileNotFoundError(
                f"{template_dir}/template.npz has no joint regressor; re-run prepare_meshes"
            )
        # SMPL models project the 3DPW/EMDB fits (made with SMPL) into the image; label sets carry keypoints.
        # They also build the test rows' full-pose GT (the standard / emdb protocols).
        needs_smpl = any(image_sets.IMAGE_SETS[s][0] != "labels" for sets in p.splits.values() for s in sets)
        needs_smpl = needs_smpl or bool(p.splits.get("test"))
        smpl = mesh_sets.load_models(root, "smpl") if needs_smpl else {}
        for name in {s for sets in p.splits.values() for s in sets} & {"emdb2_train", "emdb2_val"}:
            image_sets.emdb2_files(
                root, name, p.emdb2_val_fraction, stage_seed(ctx.params.seed, "prepare_images")
            )
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise UserError(f"{ctx.experiment}.prepare_images: {err}") from None
    n_vertices = int(template.vertices.shape[0])
    if int(smplh["neutral"].v_template.shape[0]) != n_vertices:
        raise UserError(
            f"{template_dir}: template has {n_vertices} vertices, the SMPL-H models "
            f"{smplh['neutral'].v_template.shape[0]}; re-run prepare_meshes"
        )
    counts: dict[str, int] = {}
    test_frames: list[dict[str, list]] = []  # (sequence, frame, person) of every test row -> test_frames.csv
    with atomic_path(ctx.out_dir / "images") as img_tmp, atomic_path(ctx.out_dir / "meshes") as mesh_tmp:
        meta = {"topology_id": template.topology_id, "crop_size": p.crop_size, "context": p.context}
        images = ShardWriter(img_tmp, IMAGES, N_JOINTS, p.shard_size, p.row_group_size, meta=meta)
        meshes = ShardWriter(mesh_tmp, MESHES, n_vertices, p.shard_size, p.row_group_size, meta=meta)
        full_meta = meta | {"body_model": "smpl", "pose": "full 23 joints (69 values)"}
        full = ShardWriter(
            mesh_tmp / FULL_POSE_GT_DIR, MESHES, n_vertices, p.shard_size, p.row_group_size, meta=full_meta
        )
        bar = tqdm(desc="image rows", unit="img", disable=not sys.stderr.isatty())
        with _encoder(ctx.workers) as encoder:
            rows = image_sets.iter_image_rows(
                root,
                p.splits,
                p.max_rows,
                stage_seed(ctx.params.seed, "prepare_images"),
                p.emdb2_val_fraction,
                p.chunk_size,
                on_frames=lambda split, cols: test_frames.append(cols) if split == "test" else None,
                crop_size=p.crop_size,
                jpeg_quality=p.jpeg_quality,
                smplh_models=smplh,
                smpl_models=smpl,
                regressor=regressor,
                num_betas=p.num_betas,
                encoder=encoder,
                context=p.context,
                full_pose_models=smpl if smpl else None,
            )
            try:
                for name, image_cols, mesh_cols, full_cols in rows:
                    images.add(image_cols)
                    meshes.add(mesh_cols)
                    if full_cols is not None:
                        full.add(full_cols)
                    key = f"n_{image_cols['split'][0]}_{name}"
                    counts[key] = counts.get(key, 0) + len(image_cols["id"])
                    bar.update(len(image_cols["id"]))
            except (FileNotFoundError, KeyError) as err:
                raise UserError(f"{ctx.experiment}.prepare_images: {err}") from None
        bar.close()
        image_meta, _, _ = images.close(), meshes.close(), full.close()
        write_template(mesh_tmp, template)
        if test_frames:
            write_frames_file(test_frames, img_tmp / TEST_FRAMES_FILE)
    totals = {f"n_{s}": image_meta["splits"][s]["rows"] for s in SPLITS}
    return totals | counts | {"crop_size": p.crop_size, "context": p.context}


def main(argv: list[str] | None = None) -> int:
    return stage_main("prepare_images", run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
