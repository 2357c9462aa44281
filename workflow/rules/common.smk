# Shared by every rule: the validated params and the PIPELINE table (src/vqhps/pipeline.py).
# No logic here: a bad key in params.yaml stops the workflow before any job, naming the key.
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

from vqhps.config import load_params
from vqhps.infra.configtools import ConfigError
from vqhps.pipeline import Pipeline, final_targets, image_job_threads, image_jobs_asked, study_target
from vqhps.tracking import PIPELINE_RUN_ENV, new_pipeline_run_id

try:
    PARAMS = load_params("params.yaml")
except (ConfigError, FileNotFoundError) as err:
    sys.exit(f"params.yaml is invalid: {err}")
PIPELINE = Pipeline.from_params(PARAMS)  # the regimes come from <experiment>.regimes


configfile: "params.yaml"


# Parameters live in params.yaml alone (the stages read it, DVC records it). Snakemake's --config and
# --configfile would change only Snakemake's copy, so they are refused rather than silently ignored.
if config != yaml.safe_load(Path("params.yaml").read_text()):
    sys.exit(
        "snakemake --config/--configfile overrides are not used here: the stages read params.yaml. "
        "Edit params.yaml, or try a change as a DVC experiment: dvc exp run -S demo.image_training.lr=3.0e-4"
    )

# Jobs call `python`: make it the interpreter running Snakemake (e.g. .venv/bin/snakemake without an
# activated venv), so the rules find the vqhps package wherever Snakemake was started from.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# One id for the stage runs of this invocation (MLflow tag vqhps.pipeline_run); cluster jobs inherit it.
os.environ.setdefault(PIPELINE_RUN_ENV, new_pipeline_run_id("snakemake"))


def all_cores():
    """`--cores` (Snakemake runs a job with at most that many threads); 1 where none is given (`--report`)."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


wildcard_constraints:
    experiment="|".join(PIPELINE.experiments()),
    regime="|".join(
        sorted({r for e in PIPELINE.experiments() for r in (*PIPELINE.regimes[e], *PIPELINE.study.get(e, ()))})
    ),


def stage_inputs(stage):
    """Input function: upstream outputs and code files of `stage` for the job's experiment."""
    return lambda wildcards: PIPELINE.inputs(wildcards.experiment, stage, wildcards.get("regime"))


def _param_value(dotted):
    value = config
    for part in dotted.split("."):
        value = value[part]
    return value


def stage_params(stage):
    """The params keys `stage` reads (same list as its DVC stage): a rerun trigger when they change."""

    def values(wildcards):
        keys = PIPELINE.param_keys(wildcards.experiment, stage, wildcards.get("regime"))
        return {key: _param_value(key) for key in keys}

    return values


def image_threads(wildcards):
    """Threads of an image-training job: the cores shared by the image jobs the targets ask for."""
    asked = image_jobs_asked(PIPELINE, wildcards.experiment, workflow.dag_settings.targets)
    return image_job_threads(all_cores(), asked)
