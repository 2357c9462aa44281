"""The pipeline's DAG, declared once: stages, their inputs and outputs, per experiment.

``dvc.yaml`` is generated from this table (``python -m vqhps.pipeline --write-dvc``) and the
Snakemake rules in ``workflow/rules/<stage>.smk`` take their inputs from it; a test runs
Snakemake's own DAG and fails on any difference (stages, commands, inputs, outputs, params).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

RESULTS = "results"


@dataclass(frozen=True)
class Stage:
    """One stage of one experiment.

    ``deps`` name upstream outputs as ``<stage>/<path>`` inside the experiment's results folder;
    ``outs`` are paths inside the stage's own folder (a trailing ``/`` marks a folder). Every
    stage also writes ``metrics.json`` (a DVC metric, not cached) and reads its params section
    ``<experiment>.<stage>`` plus ``<experiment>.seed``.
    """

    name: str
    outs: tuple[str, ...]
    deps: tuple[str, ...] = ()
    code: tuple[str, ...] = field(default=())
    extra_params: tuple[str, ...] = ()  # other keys of the experiment the stage reads (e.g. data_root)


_CORE = ("src/vqhps/config.py", "src/vqhps/cli.py")
_VQVAE_CODE = ("src/vqhps/models/mesh_vqvae.py", "src/vqhps/models/mesh_hierarchy.py", "src/vqhps/models/vcconv.py",
               "src/vqhps/models/quantizer.py", "src/vqhps/training/mesh_vqvae_trainer.py")

_DEMO = (
    Stage("check_data", outs=("record.json",), code=("src/vqhps/datacheck",), extra_params=("data_root",)),
    Stage("make_synthetic", outs=("meshes/",), deps=("check_data/record.json",), code=("src/vqhps/body",)),
    Stage("prepare_meshes", outs=("shards/",), deps=("make_synthetic/meshes/",), code=("src/vqhps/io",)),
    Stage("render_images", outs=("images/", "meshes/"), deps=("prepare_meshes/shards/",),
          code=("src/vqhps/render",)),
    Stage("train_mesh_vqvae", outs=("model.pt", "curves.csv"), deps=("prepare_meshes/shards/",),
          code=_VQVAE_CODE),
    Stage("tokenize_meshes", outs=("tokens/",), deps=("prepare_meshes/shards/", "train_mesh_vqvae/model.pt"),
          code=_VQVAE_CODE),
)

_PAPER = (
    Stage("check_data", outs=("record.json",), code=("src/vqhps/datacheck",), extra_params=("data_root",)),
)

EXPERIMENT_STAGES: dict[str, tuple[Stage, ...]] = {"demo": _DEMO, "paper": _PAPER}

# What `snakemake <target>` builds for each experiment: its last stages.
FINAL_OUTPUTS: dict[str, tuple[str, ...]] = {
    "demo": ("render_images/metrics.json", "tokenize_meshes/metrics.json"),
    "paper": ("check_data/record.json",),
}


def stage(experiment: str, name: str) -> Stage:
    for s in EXPERIMENT_STAGES[experiment]:
        if s.name == name:
            return s
    raise KeyError(f"experiment {experiment!r} has no stage {name!r}")


def out_path(experiment: str, rel: str) -> str:
    """``<stage>/<path>`` inside an experiment -> path from the repository root (no trailing slash)."""
    return f"{RESULTS}/{experiment}/{rel.rstrip('/')}"


def inputs(experiment: str, name: str) -> list[str]:
    """Input paths of a stage: upstream outputs, then its code files."""
    s = stage(experiment, name)
    return [out_path(experiment, d) for d in s.deps] + [f"src/vqhps/stages/{name}.py", *_CORE, *s.code]


def outputs(experiment: str, name: str) -> list[str]:
    s = stage(experiment, name)
    return [out_path(experiment, f"{name}/{o}") for o in s.outs] + [out_path(experiment, f"{name}/metrics.json")]


def command(experiment: str, name: str) -> str:
    """The shell command both Snakemake and DVC run (Snakemake adds ``--log <file>``)."""
    return f"python -m vqhps.stages.{name} --experiment {experiment}"


def param_keys(experiment: str, name: str) -> list[str]:
    """Dotted params.yaml keys a stage reads: seed, its own section, and any extra keys."""
    s = stage(experiment, name)
    return [f"{experiment}.seed", f"{experiment}.{name}", *(f"{experiment}.{p}" for p in s.extra_params)]


def final_targets(experiment: str) -> list[str]:
    return [out_path(experiment, rel) for rel in FINAL_OUTPUTS[experiment]]


def dvc_stages() -> dict:
    """The ``stages:`` mapping of dvc.yaml, one stage ``<experiment>.<stage>`` per pair."""
    stages = {}
    for experiment, specs in EXPERIMENT_STAGES.items():
        for s in specs:
            outs = outputs(experiment, s.name)
            entry = {
                "cmd": command(experiment, s.name),
                "deps": inputs(experiment, s.name),
                "params": param_keys(experiment, s.name),
                "outs": [o for o in outs[:-1] if not o.endswith(".csv")],
                "metrics": [{outs[-1]: {"cache": False}}],
            }
            curves = [o for o in outs[:-1] if o.endswith(".csv")]  # training curves: `dvc plots show`
            if curves:
                entry["plots"] = [{c: {"cache": False, "x": "step"}} for c in curves]
            stages[f"{experiment}.{s.name}"] = entry
    return stages


def dvc_yaml_text() -> str:
    header = ("# GENERATED by `python -m vqhps.pipeline --write-dvc` from src/vqhps/pipeline.py; do not edit.\n"
              "# tests/test_pipeline.py fails when this file and the Snakemake rules disagree.\n")
    return header + yaml.safe_dump({"stages": dvc_stages()}, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqhps.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--write-dvc", type=Path, nargs="?", const=Path("dvc.yaml"), default=None,
                        help="write dvc.yaml (default path: dvc.yaml) instead of printing it")
    args = parser.parse_args(argv)
    text = dvc_yaml_text()
    if args.write_dvc is None:
        sys.stdout.write(text)
    else:
        args.write_dvc.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
