"""Stage scarce_study: the scarce-data study's table and plot (``snakemake study``).

Reads the test images and canonical GT meshes of the image-set stage and the VQ-HPS and baseline model of
every study regime (``train_vqhps/study_f<per mille>_s<seed>/model.pt``, ...; params
``<experiment>.scarce_study``, regimes from :mod:`vqhps.eval.study`). Tests each on the test split (the
evaluate stage's crops and first protocol) and scores the realism of its predicted meshes (edge-length
distortion, :mod:`vqhps.eval.realism`), beside the constant predictor (:mod:`vqhps.eval.constant_predictor`)
and the ground-truth meshes' own distortion. Outputs in ``scarce_study/``: ``runs.csv`` (one row per model and
regime: method, fraction, seed, train images, means), ``tables/study_table.{csv,md}`` (per method and
data size: mean over seeds and the 95 % interval, :mod:`vqhps.eval.study_stats`), ``plots/study.png`` and
``metrics.json`` (``<method>/f<per mille>/<metric>`` means, the intervals' ends, ``gt_edge_distortion``).
"""

from __future__ import annotations

import sys

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.eval.methods import NO_REGIME, MethodSpec

STAGE = "scarce_study"


def _n_train(images, sources, fraction: float, seed: int) -> int:
    """Train images a regime uses (the subset :func:`vqhps.data.image_splits.load_image_split` keeps)."""
    import numpy as np

    from vqhps.data.image_splits import subset_indices
    from vqhps.io.schemas import IMAGES
    from vqhps.io.shards import ShardSet

    column = ShardSet(images, IMAGES).read("train", ["source"]).column("source").to_pylist()
    n = int(np.isin(np.asarray(column, dtype=object), list(sources)).sum())
    return len(subset_indices(n, fraction, seed))


def _scored(predict, distortion):
    """Wrap a predictor: its extras gain ``edge_distortion`` of the predicted meshes."""

    def wrapped(batch):
        pred = predict(batch)
        pred.extras["edge_distortion"] = distortion(pred.verts.float())
        return pred

    return wrapped


def _per_image(result, protocol: str) -> dict:
    return {
        "pve_mm": result.errors[f"{protocol}/pve_mm"],
        "pa_mpjpe_mm": result.errors[f"{protocol}/pa_mpjpe_mm"],
        "edge_distortion": result.extras["edge_distortion"],
    }


def run(ctx: StageContext) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    from vqhps.data.image_splits import load_image_split
    from vqhps.eval import evaluation as ev
    from vqhps.eval import study_stats
    from vqhps.eval.constant_predictor import constant_predictor, training_constant
    from vqhps.eval.realism import EdgeDistortion
    from vqhps.eval.study import parse_study_name
    from vqhps.infra.seeding import stage_seed
    from vqhps.io.shards import read_template
    from vqhps.models.pretrained import load_baseline, load_vqhps
    from vqhps.stages.evaluate import _crop, _loader

    p, ev_p = ctx.section, ctx.params.section("evaluate")
    protocol = ev_p.protocols[0]
    images, meshes = ctx.input("{images}/images"), ctx.input("{images}/meshes")
    topology = read_template(meshes)
    test = load_image_split(
        str(images), str(meshes), "test", max_images=None if p.max_test_images < 0 else p.max_test_images
    )
    if not len(test):
        raise UserError(f"{images} has no test image")
    distortion = EdgeDistortion(topology.vertices, topology.faces)
    regressor = topology.joint_regressor
    errors: dict = {}
    rows, n_train = [], {}
    for name, regime in ctx.params.study_regimes().items():
        fraction, seed = parse_study_name(name)
        count = _n_train(images, regime.sources, fraction, stage_seed(ctx.params.seed, "image_subset", name))
        n_train.setdefault(fraction, []).append(count)
        for method, stage, load, predictor in (
            ("vqhps", "train_vqhps", load_vqhps, ev.vqhps_predictor),
            ("baseline", "train_baseline", load_baseline, ev.baseline_predictor),
        ):
            path = ctx.input(f"{stage}/{name}/model.pt")
            if not path.is_file():
                raise UserError(f"{path} is missing: run `snakemake {path}` (stage {stage}, regime {name})")
            trained = load(path, ctx.device)
            crop, rescale = _crop(trained)
            loader = _loader(test.samples, crop, rescale, ev_p.batch_size, ctx.device)
            spec = MethodSpec(method, name)
            result = ev.evaluate_method(
                spec, _scored(predictor(trained), distortion), loader, regressor, (protocol,), ctx.device
            )
            values = _per_image(result, protocol)
            for metric, v in values.items():
                errors.setdefault((method, fraction), {}).setdefault(metric, []).append(v)
            rows.append({"method": method, "regime": name, "fraction": fraction, "seed": seed,
                         "n_train": count, **{m: float(np.mean(v)) for m, v in values.items()}})  # fmt: skip
            shown = ", ".join(f"{r} {rows[-1][r]:.3f}" for r in values)
            ctx.log(f"{spec.label}: {count} train images, {shown}")
    mean_mesh, rot = training_constant(str(images), str(meshes), p.sources)
    loader = _loader(test.samples, 64, 1.2, ev_p.batch_size, ctx.device)  # the constant reads no image
    const = ev.evaluate_method(
        MethodSpec("constant", NO_REGIME),
        _scored(constant_predictor(mean_mesh, rot), distortion),
        loader,
        regressor,
        (protocol,),
        ctx.device,
    )
    errors[("constant", 1.0)] = {m: [v] for m, v in _per_image(const, protocol).items()}
    errors = {k: {m: np.stack(v) for m, v in d.items()} for k, d in errors.items()}
    mean_n = {f: float(np.mean(c)) for f, c in n_train.items()}
    mean_n.setdefault(1.0, float(_n_train(images, p.sources, 1.0, 0)))  # the constant's: every train image
    summary = study_stats.summary_frame(errors, mean_n, p.bootstrap, ctx.params.seed)
    summary.insert(0, "protocol", protocol)
    gt = distortion(np.stack([s["canonical_verts"] for s in test.samples]))
    out = ctx.out_dir
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "runs.csv", index=False)
    written = list(study_stats.write_summary(summary, out / "tables").values())
    title = f"{len(test)} test images, protocol {protocol}; GT edge distortion {gt.mean():.3f}"
    plot = study_stats.plot_study(summary, out / "plots" / "study.png", title, {"edge_distortion": gt.mean()})
    written.append(plot)
    ctx.log(f"{written[1]}:\n{written[1].read_text()}GT meshes' edge distortion {gt.mean():.3f}")
    for path in written:
        ctx.tracker.log_artifact(path)
    metrics: dict[str, float] = {"gt_edge_distortion": float(gt.mean()), "n_test": len(test)}
    for _, row in summary.iterrows():
        key = f"{row['method']}/f{round(row['fraction'] * 1000):04d}"
        for m in study_stats.METRICS:
            metrics |= {f"{key}/{m}{end}": row[f"{m}{end}"] for end in ("", "_lo", "_hi")}
    return metrics


def main(argv: list[str] | None = None) -> int:
    return stage_main(STAGE, run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
