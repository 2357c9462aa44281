"""Stage evaluate: trained models, oracle and constant predictor on the test split, both protocols.

Reads the test images and canonical GT meshes of ``render_images``, VQ-HPS and the regression baseline of
both regimes (``train_vqhps/<regime>/model.pt``, ``train_baseline/<regime>/model.pt``) and the Mesh-VQ-VAE
(``train_mesh_vqvae/model.pt``, for the oracle: encode -> decode of the GT canonical mesh), and the constant
predictor (the train meshes' mean under its best fixed rotation, :mod:`vqhps.eval.constant_predictor`). Crops
are the models' validation crops (no augmentation). Ground truth = canonical GT mesh rotated by the GT global
rotation; the protocols that prescribe the SMPL model with the full pose (``standard``, ``emdb``) score
against the image set's full-pose SMPL GT (``meshes/smpl_full_pose``, written by ``prepare_images``) rotated
the same way; the demo's Anny image set has no SMPL GT, so there every protocol uses its meshes. Every test
row is evaluated exactly once (no shuffle, no drop_last: checked). Outputs in ``evaluate/``:
``per_sample.parquet`` (one row per test frame, method, regime, protocol: sequence, frame, person, every
metric), ``test_set.csv`` (the evaluated (sequence, frame, person) ids; its sha256 and counts
are in metrics.json), ``plots/`` (error histograms per protocol, token accuracy vs PVE, training curves,
overlay sheet; also MLflow artifacts) and ``metrics.json`` (:mod:`vqhps.eval.summaries`: means in mm with
their seeded 95 % bootstrap intervals over test sequences, frame and sequence counts, the paired VQ-HPS -
baseline differences; ``n_test``, ``n_frames``, ``n_sequences``; the sha256 of test_set.csv is logged and DVC
records its md5).
"""

from __future__ import annotations

import sys

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.eval.methods import NO_REGIME, MethodSpec

STAGE = "evaluate"


def _loader(
    samples: list[dict], crop_size: int, bbox_rescale: float, batch_size: int, device: str, rows=None
):
    from torch.utils.data import DataLoader, Subset

    from vqhps.data.image_dataset import CropConfig, ImageCropDataset

    dataset = ImageCropDataset(samples, CropConfig(size=crop_size, bbox_rescale=bbox_rescale))
    if rows is not None:  # a subset keeps each item's index in ``samples``
        dataset = Subset(dataset, rows)
    # Decoding a few hundred small JPEGs is cheap next to the forward passes: no worker processes on CPU,
    # where they would only compete with torch's threads.
    workers = 4 if device.startswith("cuda") else 0
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)


def _crop(trained) -> tuple[int, float]:
    """(crop size, bbox rescale) a model was trained with, read from its checkpoint's params."""
    section = trained.params["image_training"]
    return int(section["crop_size"]), float(section["bbox_rescale"])


def _load_models(ctx: StageContext, n_vertices: int) -> list[tuple]:
    """[(MethodSpec, predictor, (crop, rescale), trained)] for VQ-HPS and the baseline in every regime."""
    from vqhps.eval.evaluation import baseline_predictor, vqhps_predictor
    from vqhps.models.pretrained import load_baseline, load_vqhps

    out = []
    for method, stage, load, predictor in (
        ("vqhps", "train_vqhps", load_vqhps, vqhps_predictor),
        ("baseline", "train_baseline", load_baseline, baseline_predictor),
    ):
        for regime in ctx.regimes:
            path = ctx.input(f"{stage}/{regime}/model.pt")
            if not path.is_file():
                raise UserError(f"{path} is missing: run `snakemake {path}` (stage {stage}, regime {regime})")
            trained = load(path, ctx.device)
            if trained.template.shape[0] != n_vertices:
                raise UserError(
                    f"{path} predicts {trained.template.shape[0]} vertices, the test meshes have "
                    f"{n_vertices}; "
                    f"re-run {stage}"
                )
            out.append((MethodSpec(method, regime), predictor(trained), _crop(trained), trained))
    return out


def _constant_result(ctx: StageContext, loader, regressor, full_pose_gt):
    """The constant predictor (vqhps.eval.constant_predictor), fitted on every train image of the set."""
    from vqhps.eval import evaluation as ev
    from vqhps.eval.constant_predictor import constant_predictor, training_constant

    mean_mesh, rot = training_constant(str(ctx.input("{images}/images")), str(ctx.input("{images}/meshes")))
    predict = constant_predictor(mean_mesh, rot)
    spec = MethodSpec("constant", NO_REGIME)
    return ev.evaluate_method(
        spec, predict, loader, regressor, ctx.section.protocols, ctx.device, full_pose_gt=full_pose_gt
    )


def _released(ctx: StageContext, n_vertices: int, rescale: float) -> list[tuple]:
    """The original release as one more model (``vqhps.eval.released_models``); none without its files."""
    from vqhps.eval.released_models import released_models

    return released_models(ctx.params.data_root, n_vertices, rescale, ctx.device, ctx.log)


def run(ctx: StageContext) -> dict[str, float]:
    from vqhps.data.image_splits import load_image_split
    from vqhps.eval import evaluation as ev
    from vqhps.eval.released_models import released_subset
    from vqhps.io.shards import read_template
    from vqhps.models.pretrained import load_mesh_vqvae

    p = ctx.section
    images, meshes = ctx.input("{images}/images"), ctx.input("{images}/meshes")
    topology = read_template(meshes)
    if topology.joint_regressor is None:
        raise UserError(f"{meshes}/template.npz has no joint regressor; re-run the image-set stage")
    try:
        test = load_image_split(
            str(images),
            str(meshes),
            "test",
            max_images=None if p.max_test_images < 0 else p.max_test_images,
        )
    except ValueError as err:
        raise UserError(str(err)) from None
    if not len(test):
        raise UserError(f"{images} has no test image; raise render_images.max_meshes.test")
    vq_path = ctx.input("train_mesh_vqvae/model.pt")
    if not vq_path.is_file():
        raise UserError(f"{vq_path} is missing: run `snakemake {vq_path}` (stage train_mesh_vqvae)")
    vqvae = load_mesh_vqvae(vq_path, ctx.device)
    models = _load_models(ctx, len(topology.vertices))
    regressor = _regressors(ctx, topology.joint_regressor)
    # "VQ-HPS (released weights)" when under data_root, on the crops of the experiment's own VQ-HPS
    models += _released(ctx, len(topology.vertices), models[0][2][1])
    full_pose_gt = _full_pose_gt(ctx, test, meshes)
    ctx.log(
        f"{len(test)} test images; methods {[m[0].label for m in models] + ['oracle']}; "
        f"protocols {list(p.protocols)}"
    )
    results = []
    for spec, predict, (crop, rescale), _ in models:
        rows = released_subset(spec, test.samples, p.released_max_per_source)  # None: every test image
        loader = _loader(test.samples, crop, rescale, p.batch_size, ctx.device, rows)
        keep = p.overlay_samples if spec.label == models[0][0].label else 0  # VQ-HPS, first regime
        results.append(
            ev.evaluate_method(
                spec, predict, loader, regressor, p.protocols, ctx.device, keep, full_pose_gt=full_pose_gt
            )
        )
        if rows is None:  # the release may be measured on a subset (evaluate.released_max_per_source)
            ev.check_every_frame_once(results[-1], len(test))
    crop, rescale = models[0][2]  # the oracle sees no image: any crop will do
    loader = _loader(test.samples, crop, rescale, p.batch_size, ctx.device)
    results.append(
        ev.evaluate_method(
            MethodSpec("oracle", NO_REGIME),
            ev.oracle_predictor(vqvae),
            loader,
            regressor,
            p.protocols,
            ctx.device,
            full_pose_gt=full_pose_gt,
        )
    )
    results.append(_constant_result(ctx, loader, regressor, full_pose_gt))
    metrics = _write_results(ctx, results, test, images)
    for res in results:
        shown = ", ".join(_shown(metrics, res.spec.label, k) for k in res.errors if k in _keys(metrics, res))
        ctx.log(f"{res.spec.label:<16} {shown}")
    overlay = _plots(ctx, results, test, models[0], regressor["h36m"], rescale)
    return {**metrics, "n_test": len(test), **overlay}


def _full_pose_gt(ctx: StageContext, test, meshes):
    """The test samples' full-pose SMPL GT meshes (``ImageSplit.full_pose_gt``), or None; logs which GT
    each protocol scores against.

    Raises:
        UserError: the paper image set (``prepare_images``) lacks that GT (written before it existed).
    """
    from vqhps.data.image_splits import FULL_POSE_GT_DIR
    from vqhps.eval.protocols import PROTOCOLS
    from vqhps.pipeline import IMAGE_SET_STAGE

    full = test.full_pose_gt()
    wants = [name for name in ctx.section.protocols if PROTOCOLS[name].gt_full_pose]
    if full is None and wants and IMAGE_SET_STAGE[ctx.experiment] == "prepare_images":
        raise UserError(
            f"{meshes}/{FULL_POSE_GT_DIR} is missing or has no test rows: protocols {wants} need the "
            "full-pose SMPL ground truth; re-run prepare_images"
        )
    for name in ctx.section.protocols:
        uses_full = full is not None and PROTOCOLS[name].gt_full_pose
        gt = f"{meshes}/{FULL_POSE_GT_DIR} (SMPL, full pose)" if uses_full else f"{meshes} (flat hands)"
        ctx.log(f"protocol {name}: ground truth {gt}")
    return full


def _regressors(ctx: StageContext, h36m) -> dict:
    """{"h36m": the topology's (17, V) regressor, "smpl24": SMPL's (24, V) J_regressor if a protocol asks}.

    The ``emdb`` protocol regresses SMPL's 24 joints with the neutral SMPL model's ``J_regressor`` from
    ``data_root`` (EMDB's evaluation uses the joints of the GT-gender layer: a sub-millimetre departure).
    """
    from vqhps.eval.protocols import PROTOCOLS

    out = {"h36m": h36m}
    if any(PROTOCOLS[name].regressor == "smpl24" for name in ctx.section.protocols):
        from vqhps.ingest.mesh_sets import load_models

        try:
            smpl = load_models(ctx.params.data_root, "smpl", {"neutral"})["neutral"]
        except (FileNotFoundError, ValueError) as err:
            raise UserError(
                f"{ctx.experiment}.evaluate.protocols has emdb, which needs SMPL: {err}"
            ) from None
        out["smpl24"] = smpl.J_regressor.double().numpy()
    return out


def _write_results(ctx: StageContext, results, test, images) -> dict[str, float]:
    """per_sample.parquet, test_set.csv and the summaries with intervals and counts (metrics.json entries)."""
    from vqhps.eval import evaluation as ev
    from vqhps.eval.summaries import summarize_all
    from vqhps.eval.test_sets import evaluated_frame_ids, write_test_set
    from vqhps.infra.seeding import stage_seed

    ids, sources = [s["id"] for s in test.samples], [s["source"] for s in test.samples]
    try:
        frames = evaluated_frame_ids(images, ids, sources)
    except ValueError as err:
        raise UserError(str(err)) from None
    ev.write_per_sample(
        ev.per_sample_frame(results, ids, sources, frames), ctx.out_dir / "per_sample.parquet"
    )
    counts = write_test_set(frames, ctx.out_dir / "test_set.csv")
    pairs = [(f"vqhps_{r}", f"baseline_{r}") for r in ctx.regimes]
    seed = stage_seed(ctx.params.seed, "evaluate/bootstrap")
    metrics = summarize_all(
        results, pairs, frames["sequence"].tolist(), sources, ctx.section.bootstrap_samples, seed
    )
    per_source = ", ".join(
        f"{src} {len(part)} frames / {part['sequence'].nunique()} sequences"
        for src, part in frames.groupby("source")
    )
    ctx.log(
        f"test set: {counts['n_frames']} frames in {counts['n_sequences']} sequences ({per_source}); "
        f"test_set.csv sha256 {counts['test_set_sha256']}"
    )
    return metrics | {k: v for k, v in counts.items() if k != "test_set_sha256"}  # metrics are numbers


def _keys(metrics: dict, res) -> set[str]:
    return {k for k in res.errors if f"{res.spec.label}/{k}" in metrics}


def _shown(metrics: dict, label: str, key: str) -> str:
    mean, lo, hi = (metrics[f"{label}/{key}{b}"] for b in ("", "_lo", "_hi"))
    return f"{key} {mean:.1f} [{lo:.1f}, {hi:.1f}]"


def _plots(ctx: StageContext, results, test, vq_full, regressor, rescale: float) -> dict[str, float]:
    """Histograms, training curves and the overlay sheet in ``plots/``; each also an MLflow artifact."""
    import numpy as np

    from vqhps.eval import evaluation as ev
    from vqhps.eval import plots

    p, out = ctx.section, ctx.out_dir / "plots"
    written = [
        plots.plot_error_histograms(
            ev.per_protocol_series(results, proto), out / f"errors_{proto}.png", bins=p.histogram_bins
        )
        for proto in p.protocols
    ]
    tokens = {r.spec.label: r for r in results if "token_accuracy" in r.extras}
    if tokens:
        pve_key = f"{p.protocols[0]}/pve_mm"
        written.append(
            plots.plot_token_accuracy_vs_pve(
                {k: (r.extras["token_accuracy"], r.errors[pve_key]) for k, r in tokens.items()},
                out / "token_accuracy_vs_pve.png",
                protocol=p.protocols[0],
            )
        )
    image_curves = {
        f"{m}_{r}": ctx.input(f"train_{m}/{r}/curves.csv") for m in ("vqhps", "baseline") for r in ctx.regimes
    }
    image_curves = {k: v for k, v in image_curves.items() if v.is_file()}
    if image_curves:
        written.append(plots.plot_training_curves(image_curves, out / "curves_image_models.png"))
    vq_curves = ctx.input("train_mesh_vqvae/curves.csv")
    if vq_curves.is_file():
        written.append(plots.plot_training_curves({"mesh_vqvae": vq_curves}, out / "curves_mesh_vqvae.png"))
    extra: dict[str, float] = {}
    vq_result = results[0]
    if vq_result.kept_cam is not None and len(vq_result.kept_verts):
        panels = _overlay_panels(ctx, test, vq_result, regressor, rescale)
        written.append(
            plots.plot_overlay_sheet(
                np.stack([q.crop for q in panels]),
                np.stack([q.pred_2d for q in panels]),
                np.stack([q.gt_2d for q in panels]),
                np.asarray(vq_full[3].faces),
                out / "overlays.png",
                pred_depth=np.stack([q.pred_depth for q in panels]),
                gt_depth=np.stack([q.gt_depth for q in panels]),
                max_samples=len(panels),
            )
        )
        from_camera = sum(q.gt_from_camera for q in panels)
        ctx.log(
            f"overlay sheet: VQ-HPS (full) in orange beside the GT in blue; GT placed with the stored "
            f"camera for {from_camera}/{len(panels)} images (else a weak-perspective fit to the keypoints)"
        )
        extra["overlay_gt_keypoint_px"] = float(np.nanmean([q.gt_keypoint_px for q in panels]))
    for path in written:
        ctx.tracker.log_artifact(path)
    return extra


def _overlay_panels(ctx: StageContext, test, result, regressor, rescale: float) -> list:
    from vqhps.eval.overlay import overlay_panel
    from vqhps.io.schemas import IMAGES
    from vqhps.io.shards import ShardSet

    table = ShardSet(ctx.input("{images}/images"), IMAGES).read("test", ["id", "cam_K", "cam_R", "cam_t"])
    row = {i: n for n, i in enumerate(table.column("id").to_pylist())}
    columns = {k: table.column(k) for k in ("cam_K", "cam_R", "cam_t")}
    panels = []
    for k in range(len(result.kept_verts)):
        sample = test.samples[int(result.index[k])]
        r = row[sample["id"]]
        camera = {name: _as_array(col[r].as_py(), name) for name, col in columns.items()}
        panels.append(
            overlay_panel(
                sample,
                camera,
                result.kept_verts[k],
                result.kept_cam[k],
                regressor,
                ctx.section.overlay_size,
                rescale,
            )
        )
    return panels


def _as_array(values: list, name: str):
    import numpy as np

    arr = np.asarray(values, np.float64)
    return arr.reshape(3, 3) if name != "cam_t" else arr


def main(argv: list[str] | None = None) -> int:
    return stage_main(STAGE, run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
