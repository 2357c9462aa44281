"""The pipeline's DAG, declared once: stages, their inputs and outputs, per experiment.

``dvc.yaml`` (the demo) and ``workflow/paper/dvc.yaml`` (the paper run, which needs the licensed data) are
generated from this table and ``params.yaml`` (``python -m vqhps.pipeline --write-dvc``); the Snakemake
rules in ``workflow/rules/<stage>.smk`` take their inputs from it; a test runs Snakemake's own DAG and
fails on any difference (stages, commands, inputs, outputs, params). The regimes of the image-training
stages come from ``params.yaml`` (``<experiment>.regimes``); the code each stage depends on is the import
closure of its stage module (:mod:`vqhps.infra.code_deps`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vqhps.infra.code_deps import stage_code

RESULTS = "results"
EACH_REGIME = "{each_regime}"  # in a dep: expanded to one dep per regime of the experiment
EACH_STUDY_REGIME = "{each_study_regime}"  # in a dep: one dep per regime of the experiment's study


@dataclass(frozen=True)
class Stage:
    """One stage of one experiment.

    ``deps`` name upstream outputs as ``<stage>/<path>`` inside the experiment's results folder
    (``{images}`` is the experiment's image-set stage, ``{regime}`` the job's regime and
    ``{each_regime}`` every regime of the experiment); ``outs`` are paths inside the stage's own
    folder (a trailing ``/`` marks a folder). A stage with ``per_regime`` runs once per regime of
    ``<experiment>.regimes`` (``--regime R``, outputs in ``<stage>/<R>/``). Every stage also writes
    ``metrics.json`` (a DVC metric) and reads its params section ``<experiment>.<stage>`` plus
    ``<experiment>.seed``, the ``sections`` it shares with other stages and ``extra_params``.
    """

    name: str
    outs: tuple[str, ...]
    deps: tuple[str, ...] = ()
    extra_params: tuple[str, ...] = ()  # other keys of the experiment the stage reads (e.g. data_root)
    per_regime: bool = False
    # params sections shared with other stages that this one trains with: DVC params of the job and, like
    # its own section, part of its run's params (checkpoint, MLflow, run key)
    sections: tuple[str, ...] = ()


_MODEL_STAGES = (
    Stage("train_mesh_vqvae", outs=("model.pt", "curves.csv"), deps=("prepare_meshes/shards/",)),
    Stage(
        "tokenize_meshes",
        outs=("tokens/",),
        deps=("prepare_meshes/shards/", "train_mesh_vqvae/model.pt"),
    ),
    Stage(
        "train_vqhps",
        outs=("model.pt", "curves.csv"),
        deps=("{images}/images/", "{images}/meshes/", "train_mesh_vqvae/model.pt"),
        extra_params=("regimes.{regime}",),
        per_regime=True,
        sections=("image_training",),
    ),
    Stage(
        "train_baseline",
        outs=("model.pt", "curves.csv"),
        deps=("{images}/images/", "{images}/meshes/"),
        extra_params=("regimes.{regime}",),
        per_regime=True,
        sections=("image_training",),
    ),
    Stage(
        "evaluate",
        outs=("per_sample.parquet", "test_set.csv", "plots/"),
        deps=(
            "{images}/images/",
            "{images}/meshes/",
            "train_mesh_vqvae/model.pt",
            "train_mesh_vqvae/curves.csv",
            f"train_vqhps/{EACH_REGIME}/model.pt",
            f"train_vqhps/{EACH_REGIME}/curves.csv",
            f"train_baseline/{EACH_REGIME}/model.pt",
            f"train_baseline/{EACH_REGIME}/curves.csv",
            "check_data/record.json",  # lists the released weights when under data_root (released_rows)
        ),
        extra_params=("regimes", "data_root"),
    ),
    Stage("make_tables", outs=("tables/",), deps=("evaluate/metrics.json",), extra_params=("regimes",)),
)

_DEMO_DATA = (
    Stage("check_data", outs=("record.json",), extra_params=("data_root",)),
    Stage("make_synthetic", outs=("meshes/",), deps=("check_data/record.json",)),
    Stage("prepare_meshes", outs=("shards/",), deps=("make_synthetic/meshes/",)),
    Stage("render_images", outs=("images/", "meshes/"), deps=("prepare_meshes/shards/",)),
)

_PAPER_DATA = (
    Stage("check_data", outs=("record.json",), extra_params=("data_root", "prepare_meshes")),
    Stage("prepare_meshes", outs=("shards/",), deps=("check_data/record.json",), extra_params=("data_root",)),
    Stage(
        "prepare_images",
        outs=("images/", "meshes/"),
        deps=("check_data/record.json", "prepare_meshes/shards/"),
        extra_params=("data_root",),
    ),
)


@dataclass(frozen=True)
class CurvePlot:
    """One ``dvc plots`` chart: ``columns`` of the ``curves.csv`` of each job of ``stages`` against the step
    (one line per job and column; a per-regime stage draws every regime of the experiment)."""

    id: str
    title: str
    y_label: str
    stages: tuple[str, ...]
    columns: tuple[str, ...]


_IMAGE_MODELS = ("train_vqhps", "train_baseline")
CURVE_PLOTS = (
    CurvePlot(
        "tokenizer_pve",
        "Mesh-VQ-VAE (tokenizer): reconstruction error while training",
        "per-vertex error (mm)",
        ("train_mesh_vqvae",),
        ("train_pve_mm", "val_pve_mm", "val_pa_pve_mm"),
    ),
    CurvePlot(
        "val_pve",
        "VQ-HPS vs regression baseline: validation PVE per regime",
        "PVE on the validation split (mm)",
        _IMAGE_MODELS,
        ("val_pve_mm",),
    ),
    CurvePlot(
        "val_pa_mpjpe",
        "VQ-HPS vs regression baseline: validation PA-MPJPE per regime",
        "PA-MPJPE on the validation split (mm)",
        _IMAGE_MODELS,
        ("val_pa_mpjpe_mm",),
    ),
    CurvePlot(
        "val_rotation",
        "VQ-HPS vs regression baseline: global rotation error per regime",
        "global rotation error, validation (degrees)",
        _IMAGE_MODELS,
        ("val_rotation_error_deg",),
    ),
    CurvePlot(
        "train_loss",
        "VQ-HPS vs regression baseline: training loss per regime",
        "total training loss (weighted sum of its terms)",
        _IMAGE_MODELS,
        ("train_total",),
    ),
    CurvePlot(
        "vqhps_token_accuracy",
        "VQ-HPS: share of mesh tokens classified right",
        "token accuracy (fraction)",
        ("train_vqhps",),
        ("train_token_accuracy", "val_token_accuracy"),
    ),
)
# Image plots, by folder (every file in it): the error histograms per protocol, the training curves and the
# overlay sheet that `evaluate` draws.
IMAGE_PLOTS = ("evaluate/plots",)

EXPERIMENTS = ("demo", "paper")
_STAGES: dict[str, tuple[Stage, ...]] = {
    "demo": _DEMO_DATA + _MODEL_STAGES,
    "paper": _PAPER_DATA + _MODEL_STAGES,
}

# The scarce-data study (`snakemake study`): the image-training stages run once per study regime
# (``<experiment>.scarce_study``, :mod:`vqhps.eval.study`), then this stage (same params section)
# tests them all and writes its table and plot.
# Apart from the experiment's own DAG: `snakemake demo`, DVC and the main tables never run the study.
STUDY_STAGE = Stage(
    "scarce_study",
    outs=("runs.csv", "tables/", "plots/"),
    deps=(
        "{images}/images/",
        "{images}/meshes/",
        f"train_vqhps/{EACH_STUDY_REGIME}/model.pt",
        f"train_baseline/{EACH_STUDY_REGIME}/model.pt",
    ),
    extra_params=("evaluate",),
)
STUDY_TRAINING_STAGES = ("train_vqhps", "train_baseline")

# The stage writing each experiment's image set (``images/`` + ``meshes/`` shard sets): rendered Anny
# humans in the demo, crops of the real datasets in the paper. Later stages read it through this name.
IMAGE_SET_STAGE: dict[str, str] = {"demo": "render_images", "paper": "prepare_images"}

# What `snakemake <target>` builds for each experiment: its last stages.
FINAL_OUTPUTS: dict[str, tuple[str, ...]] = {
    "demo": ("make_tables/metrics.json", "tokenize_meshes/metrics.json"),
    "paper": ("make_tables/metrics.json", "tokenize_meshes/metrics.json"),
}

# The DVC file of each experiment. The paper's stages live apart so that a plain `dvc repro` / `dvc exp run`
# (which read ./dvc.yaml) run the demo on a machine without the licensed data.
DVC_FILES: dict[str, str] = {"demo": "dvc.yaml", "paper": "workflow/paper/dvc.yaml"}


def stage_names(experiment: str) -> tuple[str, ...]:
    return tuple(s.name for s in _STAGES[experiment])


def stage(experiment: str, name: str) -> Stage:
    for s in (*_STAGES[experiment], STUDY_STAGE):
        if s.name == name:
            return s
    raise KeyError(f"experiment {experiment!r} has no stage {name!r}")


def shared_sections(name: str) -> tuple[str, ...]:
    """The params sections stage ``name`` shares with other stages (its ``Stage.sections``; () if none)."""
    found = {s.sections for stages in _STAGES.values() for s in (*stages, STUDY_STAGE) if s.name == name}
    return next(iter(found), ())


def out_path(experiment: str, rel: str) -> str:
    """``<stage>/<path>`` inside an experiment -> path from the repository root (no trailing slash)."""
    return f"{RESULTS}/{experiment}/{rel.rstrip('/')}"


@dataclass(frozen=True)
class Pipeline:
    """The DAG of every experiment for given regimes (``{experiment: (regime, ...)}``, from params.yaml)
    and the regimes of its scarce-data study (``study``, the same shape; absent = no study)."""

    regimes: Mapping[str, tuple[str, ...]]
    study: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params) -> Pipeline:
        """From a validated :class:`vqhps.config.Params` (or an ``ExperimentParams`` mapping)."""
        return cls(
            {name: tuple(exp.regimes) for name, exp in params.experiments.items()},
            {name: tuple(e.study_regimes()) for name, e in params.experiments.items() if e.scarce_study},
        )

    @classmethod
    def load(cls, path: str | Path = "params.yaml") -> Pipeline:
        from vqhps.config import load_params

        return cls.from_params(load_params(path))

    def experiments(self) -> tuple[str, ...]:
        return tuple(e for e in EXPERIMENTS if e in self.regimes)

    def jobs(self, experiment: str) -> list[tuple[str, str | None]]:
        """Every (stage, regime) pair of an experiment, in DAG order; regime None for single-job stages."""
        return [
            (s.name, r)
            for s in _STAGES[experiment]
            for r in (self.regimes[experiment] if s.per_regime else (None,))
        ]

    def study_jobs(self, experiment: str) -> list[tuple[str, str | None]]:
        """The (stage, regime) jobs of an experiment's study, its last stage last ([] without a study)."""
        regimes = self.study.get(experiment, ())
        if not regimes:
            return []
        return [(s, r) for s in STUDY_TRAINING_STAGES for r in regimes] + [(STUDY_STAGE.name, None)]

    def declared_deps(self, experiment: str, name: str, regime: str | None = None) -> list[str]:
        """Upstream outputs a job reads, as ``<stage>/<path>`` (folders keep their trailing ``/``)."""
        out = []
        for dep in stage(experiment, name).deps:
            dep = dep.replace("{images}", IMAGE_SET_STAGE[experiment]).replace("{regime}", regime or "")
            if EACH_REGIME in dep:
                out += [dep.replace(EACH_REGIME, r) for r in self.regimes[experiment]]
            elif EACH_STUDY_REGIME in dep:
                out += [dep.replace(EACH_STUDY_REGIME, r) for r in self.study.get(experiment, ())]
            else:
                out.append(dep)
        return out

    def inputs(self, experiment: str, name: str, regime: str | None = None) -> list[str]:
        """Input paths of a job: upstream outputs, then its code files (the stage's import closure)."""
        deps = [out_path(experiment, d) for d in self.declared_deps(experiment, name, regime)]
        return deps + list(stage_code(name))

    def outputs(self, experiment: str, name: str, regime: str | None = None) -> list[str]:
        """Output paths of a job, ``metrics.json`` last."""
        s = stage(experiment, name)
        folder = f"{name}/{regime}" if regime else name
        return [out_path(experiment, f"{folder}/{o}") for o in s.outs] + [
            out_path(experiment, f"{folder}/metrics.json")
        ]

    def param_keys(self, experiment: str, name: str, regime: str | None = None) -> list[str]:
        """Dotted params.yaml keys a job reads: seed, its own section, and any extra keys (a study regime's
        entry is the ``scarce_study`` section it is expanded from)."""
        in_study = regime is not None and regime in self.study.get(experiment, ())
        extra = [
            STUDY_STAGE.name if in_study and "{regime}" in p else p.replace("{regime}", regime or "")
            for p in stage(experiment, name).extra_params
        ]
        own = [name, *stage(experiment, name).sections]
        return [f"{experiment}.seed", *(f"{experiment}.{p}" for p in (*own, *extra))]

    def dvc_stages(self, experiment: str) -> dict:
        """The ``stages:`` mapping of an experiment's DVC file, one stage per job (see :func:`job_name`)."""
        stages = {}
        for name, regime in self.jobs(experiment):
            outs = self.outputs(experiment, name, regime)
            # Metrics and curves are cached like every output, so `dvc metrics diff`, `dvc exp show` and
            # `dvc plots diff` read any committed revision or experiment from the cache (results/ is
            # git-ignored); the curves are drawn by the top-level `plots:` (:mod:`vqhps.dvc_plots`).
            entry = {
                "cmd": command(experiment, name, regime),
                "deps": self.inputs(experiment, name, regime),
                "params": self.param_keys(experiment, name, regime),
                "outs": outs[:-1],
                "metrics": [outs[-1]],
            }
            if DVC_FILES[experiment] != "dvc.yaml":
                entry = {"wdir": _wdir(experiment), **entry}
            stages[job_name(experiment, name, regime)] = entry
        return stages

    def dvc_plots(self, experiment: str) -> list[dict]:
        """The top-level ``plots:`` of an experiment's DVC file (:data:`CURVE_PLOTS`, then the evaluation's
        images): paths relative to that file, one line per curve file and column. Ids and titles name the
        experiment: `dvc plots show` draws the charts of both DVC files (paper: empty without its run)."""
        prefix = "/".join(p for p in (_wdir(experiment), RESULTS, experiment) if p)
        out = []
        for plot in CURVE_PLOTS:
            y: dict[str, list[str]] = {}
            for name in plot.stages:
                regimes = self.regimes[experiment] if stage(experiment, name).per_regime else (None,)
                for regime in regimes:
                    folder = f"{name}/{regime}" if regime else name
                    y[f"{prefix}/{folder}/curves.csv"] = list(plot.columns)
            out.append(
                {
                    f"{experiment}_{plot.id}": {
                        "x": "step",
                        "y": y,
                        "title": f"{experiment}: {plot.title}",
                        "x_label": "training step",
                        "y_label": plot.y_label,
                    }
                }
            )
        for rel in IMAGE_PLOTS:
            out.append(f"{prefix}/{rel}")
        return out

    def dvc_yaml_text(self, experiment: str) -> str:
        header = (
            "# GENERATED by `python -m vqhps.pipeline --write-dvc` from src/vqhps/pipeline.py and\n"
            "# params.yaml; do not edit. tests/test_pipeline.py fails when it and Snakemake disagree.\n"
        )
        if experiment == "paper":
            header += (
                "# The paper run (needs the licensed data): `dvc repro workflow/paper/dvc.yaml`.\n"
                "# Paths are relative to the repository root (wdir).\n"
            )
        body = {"stages": self.dvc_stages(experiment), "plots": self.dvc_plots(experiment)}
        return header + yaml.safe_dump(body, sort_keys=False, width=120)


def _wdir(experiment: str) -> str:
    depth = len(Path(DVC_FILES[experiment]).parent.parts)
    return "/".join([".."] * depth)


def job_name(experiment: str, name: str, regime: str | None = None) -> str:
    """DVC stage name: ``<experiment>.<stage>[.<regime>]``."""
    return f"{experiment}.{name}" + (f".{regime}" if regime else "")


def command(experiment: str, name: str, regime: str | None = None) -> str:
    """The shell command both Snakemake and DVC run (Snakemake adds ``--log <file>``)."""
    return f"python -m vqhps.stages.{name} --experiment {experiment}" + (
        f" --regime {regime}" if regime else ""
    )


# Stages that train on images with torch's intra-op threads on a CPU: their Snakemake ``threads`` is the
# share of ``--cores`` left to each when the image jobs the targets ask for run side by side.
IMAGE_TRAINING_STAGES = ("train_vqhps", "train_baseline")


def image_jobs_asked(pipeline: Pipeline, experiment: str, targets: Iterable[str]) -> int:
    """How many image-training jobs of ``experiment`` the Snakemake ``targets`` may run side by side.

    A target that is an output of one image-training job counts that job; any other target (a rule such as
    ``demo``, a later stage's output, none at all: the default rule) may need all of them. An upper bound:
    which jobs are already up to date is not known when the rules are read.
    """
    own = {
        path: (name, regime)
        for name, regime in pipeline.jobs(experiment)
        if name in IMAGE_TRAINING_STAGES
        for path in pipeline.outputs(experiment, name, regime)
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


def study_target(experiment: str) -> str:
    """What `snakemake study` builds for ``experiment``: the study stage's metrics (after its table, plot)."""
    return out_path(experiment, f"{STUDY_STAGE.name}/metrics.json")


def write_dvc_files(pipeline: Pipeline, root: Path = Path(".")) -> list[Path]:
    """Write every experiment's DVC file under ``root``; returns the paths written."""
    written = []
    for experiment in pipeline.experiments():
        path = root / DVC_FILES[experiment]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pipeline.dvc_yaml_text(experiment))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqhps.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="default: params.yaml")
    parser.add_argument(
        "--write-dvc",
        action="store_true",
        help=f"write the DVC files ({', '.join(DVC_FILES.values())}) instead of printing them",
    )
    args = parser.parse_args(argv)
    pipeline = Pipeline.load(args.params)
    if args.write_dvc:
        for path in write_dvc_files(pipeline):
            print(f"wrote {path}")
    else:
        for experiment in pipeline.experiments():
            sys.stdout.write(f"# --- {DVC_FILES[experiment]}\n{pipeline.dvc_yaml_text(experiment)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
