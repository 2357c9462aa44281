"""Stage train_mesh_vqvae: the Mesh-VQ-VAE tokenizer on the canonical meshes of prepare_meshes.

Builds the pooling hierarchy from the shards' template, draws each batch file-then-frame (a uniform
motion file, a uniform stored frame of it; the demo's rows are their own files), trains with loss =
mean per-vertex Euclidean distance + commitment (Adam), validates every ``val_every`` steps (curves to MLflow
and ``curves.csv``), and writes the self-describing checkpoint ``model.pt`` (weights, model config,
hierarchy, params, step). A killed run resumes from ``work/last.pt`` when re-run with the same
params. ``metrics.json``: val/test PVE and PA-PVE (mm), perplexity, codes in use.
"""

from __future__ import annotations

import shutil
import sys

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.infra.seeding import stage_seed
from vqhps.io.atomic import atomic_path
from vqhps.io.schemas import MESHES
from vqhps.io.shards import ShardSet, load_vertices, read_template
from vqhps.training.curves import write_curves_csv


def run(ctx: StageContext) -> dict[str, float]:
    import torch

    from vqhps.data.motion_sampler import FileFrameSampler
    from vqhps.io.checkpoint import load_checkpoint
    from vqhps.models.mesh_hierarchy import build_hierarchy, default_cache_dir
    from vqhps.models.mesh_vqvae import MeshVQVAE
    from vqhps.training.mesh_vqvae_trainer import TrainSettings, evaluate_reconstruction, train_mesh_vqvae

    p = ctx.section
    src = ctx.input("prepare_meshes/shards")
    shards = ShardSet(src, MESHES)
    topology = read_template(src)
    train, val, test = (load_vertices(shards, s) for s in ("train", "val", "test"))
    if not len(train) or not len(val):
        raise UserError(f"{src}: needs train and val meshes (have {len(train)} and {len(val)})")
    seed = stage_seed(ctx.params.seed, "train_mesh_vqvae") % 2**31
    torch.manual_seed(seed)  # before the model is built: its initial weights are part of the run
    try:
        hierarchy = build_hierarchy(
            topology.faces, len(topology.vertices), p.hierarchy, cache_dir=default_cache_dir()
        )
        model = MeshVQVAE(hierarchy, p.model)
    except ValueError as err:  # hierarchy and channels that do not fit together: a params problem
        raise UserError(f"{ctx.experiment}.train_mesh_vqvae: {err}") from None
    ctx.log(f"hierarchy points per level {hierarchy.point_counts}: {model.n_tokens} tokens")
    ctx.tracker.log_metrics(
        {"n_tokens": model.n_tokens, "n_parameters": sum(t.numel() for t in model.parameters())}
    )
    settings = TrainSettings(
        steps=p.steps,
        batch_size=p.batch_size,
        lr=p.lr,
        lr_schedule=p.lr_schedule,
        val_every=p.val_every,
        ckpt_every=p.ckpt_every,
        seed=seed,
        max_val_meshes=None if p.max_val_meshes < 0 else p.max_val_meshes,
        precision=p.precision,
    )
    params = ctx.run_params()
    work = ctx.work_checkpoint()
    rows = FileFrameSampler(shards.read("train", ["id"]).column("id").to_pylist())  # same order as `train`
    ctx.log(f"training meshes: {rows.n_rows} rows of {rows.n_files} motions, drawn file-then-frame")
    ctx.tracker.log_metrics({"n_train_meshes": rows.n_rows, "n_train_motions": rows.n_files})
    train_mesh_vqvae(
        model, train, val, settings, work, log=ctx.log_curve, device=ctx.device, params=params, rows=rows
    )
    curves = load_checkpoint(work)["extra"]["history"]  # every validation, also those before a resume
    final = {
        f"val_{k}": v
        for k, v in evaluate_reconstruction(model, val, device=ctx.device, precision=p.precision).items()
    }
    if len(test):
        test_metrics = evaluate_reconstruction(model, test, device=ctx.device, precision=p.precision)
        final |= {f"test_{k}": v for k, v in test_metrics.items()}
    write_curves_csv(ctx.out_dir / "curves.csv", curves)
    with atomic_path(ctx.out_dir / "model.pt") as tmp:
        shutil.copyfile(work, tmp)
    ctx.tracker.tag_model(ctx.out_dir / "model.pt")  # train_vqhps's run finds this run by the hash
    return final | {"n_tokens": model.n_tokens, "codebook_size": model.codebook_size, "steps": p.steps}


def main(argv: list[str] | None = None) -> int:
    return stage_main("train_mesh_vqvae", run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
