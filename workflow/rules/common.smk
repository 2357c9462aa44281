# Shared by every rule: the validated params and the DAG table (src/vqhps/pipeline.py).
# No logic here: a bad key in params.yaml stops the workflow before any job, naming the key.
import sys

from vqhps.config import load_params
from vqhps.configtools import ConfigError
from vqhps.pipeline import final_targets, image_job_threads, image_jobs_asked, inputs, param_keys

try:
    PARAMS = load_params("params.yaml")
except (ConfigError, FileNotFoundError) as err:
    sys.exit(f"params.yaml is invalid: {err}")


configfile: "params.yaml"


wildcard_constraints:
    experiment="demo|paper",
    regime="full|scarce",


def stage_inputs(stage):
    """Input function: upstream outputs and code files of `stage` for the job's experiment."""
    return lambda wildcards: inputs(wildcards.experiment, stage, wildcards.get("regime"))


def stage_params(stage):
    """The params keys `stage` reads (same list as its DVC stage): a rerun trigger when they change."""

    def values(wildcards):
        out = {}
        for key in param_keys(wildcards.experiment, stage):
            experiment, name = key.split(".", 1)
            out[key] = config[experiment][name]
        return out

    return values


def image_threads(wildcards):
    """Threads of an image-training job: the cores shared by the image jobs the targets ask for."""
    asked = image_jobs_asked(wildcards.experiment, workflow.dag_settings.targets)
    return image_job_threads(workflow.cores, asked)
