"""The pipeline's DAG, declared once: stages, their inputs and outputs, per experiment.

``dvc.yaml`` is generated from this table (``python -m vqhps.pipeline --write-dvc``) and the
Snakemake rules in ``workflow/rules/<stage>.smk`` take their inputs from it; a test runs
Snakemake's own DAG and fails on any difference (stages, commands, inputs, outputs, params).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

RESULTS = "results"


@dataclass(frozen=True)
class Stage:
    """One stage of one experiment.

    ``deps`` name upstream outputs as ``<stage>/<path>`` inside the experiment's results folder
    (``{regime}`` is replaced by the job's regime); ``outs`` are paths inside the stage's own
    folder (a trailing ``/`` marks a folder). A stage with ``regimes`` runs once per regime
    (``--regime R``, outputs in ``<stage>/<R>/``): the scarce-data run is the same stage on a
    restricted training set. Every stage also writes ``metrics.json`` (a DVC metric, not cached)
    and reads its params section ``<experiment>.<stage>`` plus ``<experiment>.seed``.
    """

    name: str
    outs: tuple[str, ...]
    deps: tuple[str, ...] = ()
    code: tuple[str, ...] = field(default=())
    extra_params: tuple[str, ...] = ()  # other keys of the experiment the stage reads (e.g. data_root)
    regimes: tuple[str, ...] = ()  # e.g. ("full", "scarce"); empty = one job


_CORE = ("src/vqhps/config.py", "src/vqhps/cli.py")
_VQVAE_CODE = (
    "src/vqhps/models/mesh_vqvae.py",
    "src/vqhps/models/mesh_hierarchy.py",
    "src/vqhps/models/vcconv.py",
    "src/vqhps/models/quantizer.py",
    "src/vqhps/training/mesh_vqvae_trainer.py",
)
_IMAGE_CODE = (
    "src/vqhps/training/image_trainer.py",
    "src/vqhps/training/image_tasks.py",
    "src/vqhps/training/image_setup.py",
    "src/vqhps/data/image_sets.py",
    "src/vqhps/data/image_dataset.py",
    "src/vqhps/data/augment.py",
    "src/vqhps/data/photometric.py",
    "src/vqhps/models/backbones",
    "src/vqhps/models/vqhps.py",
    "src/vqhps/models/token_transformer.py",
    "src/vqhps/models/regression.py",
    "src/vqhps/losses.py",
    "src/vqhps/protocols.py",
    "src/vqhps/metrics.py",
)

_EVAL_CODE = (
    "src/vqhps/evaluation.py",
    "src/vqhps/overlay.py",
    "src/vqhps/plots.py",
    "src/vqhps/protocols.py",
    "src/vqhps/metrics.py",
    "src/vqhps/models/pretrained.py",
    "src/vqhps/data/image_sets.py",
    "src/vqhps/data/image_dataset.py",
    "src/vqhps/data/augment.py",
)
_TABLES_CODE = ("src/vqhps/evaluation.py", "src/vqhps/tables.py", "src/vqhps/data/paper_numbers.csv")


def _model_stages(images: str) -> tuple[Stage, ...]:
    """The stages after the data: shared by every experiment, reading the image set of stage ``images``."""
    return tuple(replace(s, deps=tuple(d.replace("{images}", images) for d in s.deps)) for s in _MODEL_STAGES)


_MODEL_STAGES = (
    Stage(
        "train_mesh_vqvae",
        outs=("model.pt", "curves.csv"),
        deps=("prepare_meshes/shards/",),
        code=_VQVAE_CODE,
    ),
    Stage(
        "tokenize_meshes",
        outs=("tokens/",),
        deps=("prepare_meshes/shards/", "train_mesh_vqvae/model.pt"),
        code=_VQVAE_CODE,
    ),
    Stage(
        "train_vqhps",
        outs=("model.pt", "curves.csv"),
        deps=("{images}/images/", "{images}/meshes/", "train_mesh_vqvae/model.pt"),
        code=_IMAGE_CODE + _VQVAE_CODE[:4],
        regimes=("full", "scarce"),
    ),
    Stage(
        "train_baseline",
        outs=("model.pt", "curves.csv"),
        deps=("{images}/images/", "{images}/meshes/"),
        code=_IMAGE_CODE,
        regimes=("full", "scarce"),
    ),
    Stage(
        "evaluate",
        outs=("per_sample.parquet", "plots/"),
        deps=(
            "{images}/images/",
            "{images}/meshes/",
            "train_mesh_vqvae/model.pt",
            "train_vqhps/full/model.pt",
            "train_vqhps/scarce/model.pt",
            "train_baseline/full/model.pt",
            "train_baseline/scarce/model.pt",
        ),
        code=_EVAL_CODE,
    ),
    Stage("make_tables", outs=("tables/",), deps=("evaluate/metrics.json",), code=_TABLES_CODE),
)


_DEMO_DATA = (
    Stage("check_data", outs=("record.json",), code=("src/vqhps/datacheck",), extra_params=("data_root",)),
    Stage("make_synthetic", outs=("meshes/",), deps=("check_data/record.json",), code=("src/vqhps/body",)),
    Stage("prepare_meshes", outs=("shards/",), deps=("make_synthetic/meshes/",), code=("src/vqhps/io",)),
    Stage(
        "render_images",
        outs=("images/", "meshes/"),
        deps=("prepare_meshes/shards/",),
        code=("src/vqhps/render",),
    ),
)

_PAPER_DATA_CODE = ("src/vqhps/io", "src/vqhps/datasets", "src/vqhps/body", "src/vqhps/data/splits.py")

_PAPER_DATA = (
    Stage("check_data", outs=("record.json",), code=("src/vqhps/datacheck",), extra_params=("data_root",)),
    Stage(
        "prepare_meshes",
        outs=("shards/",),
        deps=("check_data/record.json",),
        code=_PAPER_DATA_CODE,
        extra_params=("data_root",),
    ),
    Stage(
        "prepare_images",
        outs=("images/", "meshes/"),
        deps=("check_data/record.json", "prepare_meshes/shards/"),
        code=(*_PAPER_DATA_CODE, "src/vqhps/protocols.py", "src/vqhps/geometry.py"),
        extra_params=("data_root",),
    ),
)

EXPERIMENT_STAGES: dict[str, tuple[Stage, ...]] = {
    "demo": _DEMO_DATA + _model_stages("render_images"),
    "paper": _PAPER_DATA + _model_stages("prepare_images"),
}

# The stage writing each experiment's image set (``images/`` + ``meshes/`` shard sets): rendered Anny
# humans in the demo, crops of the real datasets in the paper. Later stages read it through this name.
IMAGE_SET_STAGE: dict[str, str] = {"demo": "render_images", "paper": "prepare_images"}

# What `snakemake <target>` builds for each experiment: its last stages.
FINAL_OUTPUTS: dict[str, tuple[str, ...]] = {
    "demo": ("make_tables/metrics.json", "tokenize_meshes/metrics.json"),
    "paper": ("make_tables/metrics.json", "tokenize_meshes/metrics.json"),
}


def stage(experiment: str, name: str) -> Stage:
    for s in EXPERIMENT_STAGES[experiment]:
        if s.name == name:
            return s
    raise KeyError(f"experiment {experiment!r} has no stage {name!r}")


def out_path(experiment: str, rel: str) -> str:
    """``<stage>/<path>`` inside an experiment -> path from the repository root (no trailing slash)."""
    return f"{RESULTS}/{experiment}/{rel.rstrip('/')}"


def jobs(experiment: str) -> list[tuple[str, str | None]]:
    """Every (stage, regime) pair of an experiment, in DAG order; regime None for single-job stages."""
    return [(s.name, r) for s in EXPERIMENT_STAGES[experiment] for r in (s.regimes or (None,))]


def job_name(experiment: str, name: str, regime: str | None = None) -> str:
    """DVC stage name: ``<experiment>.<stage>[.<regime>]``."""
    return f"{experiment}.{name}" + (f".{regime}" if regime else "")


def inputs(experiment: str, name: str, regime: str | None = None) -> list[str]:
    """Input paths of a job: upstream outputs, then its code files."""
    s = stage(experiment, name)
    deps = [out_path(experiment, d.replace("{regime}", regime or "")) for d in s.deps]
    return deps + [f"src/vqhps/stages/{name}.py", *_CORE, *s.code]


def outputs(experiment: str, name: str, regime: str | None = None) -> list[str]:
    """Output paths of a job, ``metrics.json`` last."""
    s = stage(experiment, name)
    folder = f"{name}/{regime}" if regime else name
    return [out_path(experiment, f"{folder}/{o}") for o in s.outs] + [
        out_path(experiment, f"{folder}/metrics.json")
    ]


def command(experiment: str, name: str, regime: str | None = None) -> str:
    """The shell command both Snakemake and DVC run (Snakemake adds ``--log <file>``)."""
    return f"python -m vqhps.stages.{name} --experiment {experiment}" + (
        f" --regime {regime}" if regime else ""
    )


def param_keys(experiment: str, name: str) -> list[str]:
    """Dotted params.yaml keys a stage reads: seed, its own section, and any extra keys."""
    s = stage(experiment, name)
    return [f"{experiment}.seed", f"{experiment}.{name}", *(f"{experiment}.{p}" for p in s.extra_params)]


# Stages that train on images with torch's intra-op threads on a CPU: their Snakemake ``threads`` is the
# share of ``--cores`` left to each when the image jobs the targets ask for run side by side.
IMAGE_TRAINING_STAGES = ("train_vqhps", "train_baseline")


def image_jobs_asked(experiment: str, targets: Iterable[str]) -> int:
    """How many image-training jobs of ``experiment`` the Snakemake ``targets`` may run side by side.

    A target that is an output of one image-training job counts that job; any other target (a rule such as
    ``demo``, a later stage's output, none at all: the default rule) may need all of them. An upper bound:
    which jobs are already up to date is not known when the rules are read.
    """
    own = {
        path: (name, regime)
        for name, regime in jobs(experiment)
        if name in IMAGE_TRAINING_STAGES
        for path in outputs(experiment, name, regime)
    }
    asked = set()
    for target in list(targets) or [""]:
        job = own.get(os.path.normpath(target))
        if job is None:
            return len(set(own.values()))
        asked.add(job)
    return len(asked)


def image_job_threads(cores: int, jobs_side_by_side: int) -> int:
    """Threads of one image-training job: ``cores`` shared by the jobs that run side by side (at least 1).

    One job alone gets every core (x1.8 with two threads on the 2-core machine); two regimes side by side
    on two cores get one each (two threads each stall one another).
    """
    return max(1, cores // max(1, jobs_side_by_side))


def final_targets(experiment: str) -> list[str]:
    return [out_path(experiment, rel) for rel in FINAL_OUTPUTS[experiment]]


def dvc_stages() -> dict:
    """The ``stages:`` mapping of dvc.yaml, one stage per job (see :func:`job_name`)."""
    stages = {}
    for experiment in EXPERIMENT_STAGES:
        for name, regime in jobs(experiment):
            outs = outputs(experiment, name, regime)
            entry = {
                "cmd": command(experiment, name, regime),
                "deps": inputs(experiment, name, regime),
                "params": param_keys(experiment, name),
                "outs": [o for o in outs[:-1] if not o.endswith(".csv")],
                "metrics": [{outs[-1]: {"cache": False}}],
            }
            curves = [o for o in outs[:-1] if o.endswith(".csv")]  # training curves: `dvc plots show`
            if curves:
                entry["plots"] = [{c: {"cache": False, "x": "step"}} for c in curves]
            stages[job_name(experiment, name, regime)] = entry
    return stages


def dvc_yaml_text() -> str:
    header = (
        "# GENERATED by `python -m vqhps.pipeline --write-dvc` from src/vqhps/pipeline.py; do not edit.\n"
        "# tests/test_pipeline.py fails when this file and the Snakemake rules disagree.\n"
    )
    return header + yaml.safe_dump({"stages": dvc_stages()}, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqhps.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write-dvc",
        type=Path,
        nargs="?",
        const=Path("dvc.yaml"),
        default=None,
        help="write dvc.yaml (default path: dvc.yaml) instead of printing it",
    )
    args = parser.parse_args(argv)
    text = dvc_yaml_text()
    if args.write_dvc is None:
        sys.stdout.write(text)
    else:
        args.write_dvc.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
