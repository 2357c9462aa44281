"""MLflow, and only here: one run per stage execution, params, metrics, curves, commit, hardware.

The tracking URI comes from ``MLFLOW_TRACKING_URI`` and defaults to ``sqlite:///mlflow.db`` in the
working directory (MLflow 3's own default; its file store is deprecated). Tracking is off with the
stage flag ``--no-track`` or ``VQHPS_NO_TRACK=1``. If MLflow cannot be reached the stage still
completes and says so once: MLflow is a side channel, DVC (``metrics.json``) is the record.

Faults cost seconds, not minutes: an HTTP(S) server is probed (``/health``, 3 s) before the run starts,
and MLflow's own client gets few retries and a short timeout unless ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
``..._BACKOFF_FACTOR`` or ``..._TIMEOUT`` are set (its defaults wait ~4 min on a dead server).

What a run holds: curves as ``<key>`` with their steps (:meth:`Tracker.log_metrics` with ``step``); the
stage's ``metrics.json`` as ``final/<key>`` (:meth:`Tracker.log_final`), apart from the curves, so a
validation curve never gets its final value as a point at step 0; tags ``stage``, ``experiment``, git
commit and hardware, ``vqhps.pid``/``vqhps.pid_start`` (with ``host``: which process ran it), and
``vqhps.pipeline_run``. A run left ``RUNNING`` by a process of this host that died (a killed job) is
closed as ``KILLED`` when the same run name starts again; a run from another host is left as it is.

``vqhps.pipeline_run`` groups the stage runs of one ``snakemake``/``dvc repro`` invocation. It is, in
order: ``VQHPS_PIPELINE_RUN`` when set (the Snakefile sets it once per invocation, so cluster jobs
inherit it; set it yourself to group several invocations); else the nearest ancestor process that runs
``snakemake`` or ``dvc`` (``dvc repro`` sets nothing its stages could read); else the stage process
alone (a stage run by hand). It reads ``<tool>-<host>-<pid>-<start>``: ``<start>`` is a UTC time
(``YYYYmmddTHHMMSSZ``) when the named process made the id itself, and that process's start in clock
ticks after boot when it is an ancestor found in ``/proc`` (exact, so every stage computes the same id).
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vqhps.infra.configtools import flatten
from vqhps.io.digest import file_sha256

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
PIPELINE_RUN_ENV = "VQHPS_PIPELINE_RUN"
DRIVERS = ("snakemake", "dvc")  # processes whose children are the stages of one pipeline run
_PROC = Path("/proc")
FINAL_PREFIX = "final/"
PROBE_TIMEOUT_S = 3.0
# MLflow's HTTP client, unless the user set these: a few quick retries instead of 7 over ~4 minutes.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
_log = logging.getLogger(__name__)


class Tracker:
    """A stage's MLflow run; every method is a no-op when tracking is disabled or failed."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._mlflow: Any = None
        self._experiment_id: str | None = None
        self._warned = False

    # -- run lifecycle -------------------------------------------------------------------------
    def start(self, experiment: str, stage: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        """Open a run named ``stage`` in the MLflow experiment ``vqhps/<experiment>``.

        Runs of the same name left ``RUNNING`` by dead processes of this host are closed as ``KILLED`` first.
        """
        if not self.enabled:
            return
        uri = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)
        reason = unreachable_reason(uri)
        if reason is not None:
            self._disable(reason)
            return
        try:
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            if urlsplit(uri).scheme in ("http", "https"):
                for key, value in HTTP_DEFAULTS.items():
                    os.environ.setdefault(key, value)
            import mlflow

            mlflow.set_tracking_uri(uri)
            exp = mlflow.set_experiment(f"vqhps/{experiment}")
            self._experiment_id = exp.experiment_id
            close_dead_runs(mlflow.tracking.MlflowClient(), exp.experiment_id, stage)
            mlflow.start_run(run_name=stage)
            self._mlflow = mlflow
            flat = {k: _short(v) for k, v in flatten(dict(params)).items()}
            items = list(flat.items())
            for i in range(0, len(items), 90):  # MLflow caps a log_params batch at 100 entries
                mlflow.log_params(dict(items[i : i + 90]))
            own = {"stage": stage, "experiment": experiment, "vqhps.pipeline_run": pipeline_run_id()}
            mlflow.set_tags({**own, **run_environment(), **process_tags(), **tags})
        except Exception as err:  # noqa: BLE001 - any tracking failure must not stop the stage
            self._disable(_describe(err))

    @property
    def run_id(self) -> str | None:
        """The MLflow run id, or None when not tracking."""
        if self._mlflow is None:
            return None
        run = self._mlflow.active_run()
        return run.info.run_id if run is not None else None

    def end(self, status: str = "FINISHED") -> None:
        if self._mlflow is not None:
            try:
                self._mlflow.end_run(status=status)
            except Exception as err:  # noqa: BLE001
                self._disable(_describe(err))
        self._mlflow = None

    # -- logging -------------------------------------------------------------------------------
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log scalar metrics (a curve point when ``step`` is given)."""
        if self._mlflow is None:
            return
        try:
            self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)
        except Exception as err:  # noqa: BLE001
            self._disable(_describe(err))

    def log_artifact(self, path: str | Path) -> None:
        """Attach a small file (plot, table) to the run; large artifacts stay DVC outputs."""
        if self._mlflow is None:
            return
        try:
            self._mlflow.log_artifact(str(path))
        except Exception as err:  # noqa: BLE001
            self._disable(_describe(err))

    def log_final(self, metrics: Mapping[str, float]) -> None:
        """Log a stage's ``metrics.json`` as ``final/<key>``: apart from the curves logged under ``<key>``."""
        self.log_metrics({f"{FINAL_PREFIX}{k}": v for k, v in metrics.items()})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        if self._mlflow is None:
            return
        try:
            self._mlflow.set_tags(dict(tags))
        except Exception as err:  # noqa: BLE001
            self._disable(_describe(err))

    def tag_model(self, path: str | Path) -> None:
        """Record the sha256 of the model this run wrote (tag ``vqhps.model_sha256``), for its users."""
        if self._mlflow is not None:
            self.set_tags({"vqhps.model_sha256": file_sha256(path)})

    def tag_upstream_model(self, role: str, path: str | Path) -> None:
        """Record which model this run used: ``vqhps.<role>_sha256`` and, when a finished run of this
        experiment wrote that file (:meth:`tag_model`), its id as ``vqhps.<role>_run_id``."""
        if self._mlflow is None:
            return
        try:
            sha = file_sha256(path)
            tags = {f"vqhps.{role}_sha256": sha, f"vqhps.{role}_path": str(path)}
            runs = self._mlflow.tracking.MlflowClient().search_runs(
                [self._experiment_id],
                filter_string=f"tags.`vqhps.model_sha256` = '{sha}' AND attributes.status = 'FINISHED'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )
            if runs:
                tags[f"vqhps.{role}_run_id"] = runs[0].info.run_id
            self._mlflow.set_tags(tags)
        except Exception as err:  # noqa: BLE001
            self._disable(_describe(err))

    def _disable(self, reason: str) -> None:
        if not self._warned:
            _log.warning("MLflow tracking is unavailable (%s); the stage goes on without it.", reason)
            self._warned = True
        if self._mlflow is not None:
            with contextlib.suppress(Exception):
                self._mlflow.end_run(status="FAILED")
        self._mlflow = None


@contextmanager
def tracked_run(
    experiment: str,
    stage: str,
    params: Mapping[str, Any],
    enabled: bool = True,
    tags: Mapping[str, str] | None = None,
) -> Iterator[Tracker]:
    """Context manager: a started :class:`Tracker`, ended FINISHED or FAILED."""
    tracker = Tracker(enabled=enabled and not tracking_disabled_by_env())
    tracker.start(experiment, stage, params, tags or {})
    try:
        yield tracker
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end("FINISHED")


def unreachable_reason(uri: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why an HTTP(S) tracking server cannot be used (no answer within ``timeout`` s), or None.

    Any HTTP answer, even an error status, counts as reachable; other stores (sqlite, files,
    databricks) are not probed.
    """
    if urlsplit(uri).scheme not in ("http", "https"):
        return None
    url = uri.rstrip("/") + "/health"
    try:
        urllib.request.urlopen(url, timeout=timeout).close()  # noqa: S310 - the user's tracking URI
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError) as err:
        cause = getattr(err, "reason", err)
        return f"{url} did not answer ({cause}; probe timeout {timeout:g} s)"
    return None


def close_dead_runs(client: Any, experiment_id: str, run_name: str) -> list[str]:
    """Close the ``RUNNING`` runs named ``run_name`` whose process died (this host) as ``KILLED``."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.run_name = '{run_name}' AND attributes.status = 'RUNNING'",
        max_results=200,
    )
    dead = [r.info.run_id for r in runs if run_is_dead(r.data.tags)]
    for run_id in dead:
        client.set_terminated(run_id, status="KILLED")
    if dead:
        _log.info("MLflow: %d run(s) %s left RUNNING by a dead process closed as KILLED", len(dead), run_name)
    return dead


def tracking_disabled_by_env() -> bool:
    return os.environ.get("VQHPS_NO_TRACK", "").lower() in {"1", "true", "yes"}


def run_environment() -> dict[str, str]:
    """Git commit and hardware of this process, as MLflow tags."""
    tags = {
        "git_commit": git_commit(),
        "host": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "python": platform.python_version(),
    }
    try:
        import torch

        tags["torch"] = torch.__version__
        tags["torch_threads"] = str(torch.get_num_threads())
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            tags["gpu"] = props.name
            tags["gpu_memory_gib"] = f"{props.total_memory / 2**30:.1f}"
            tags["gpu_count"] = str(torch.cuda.device_count())
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return tags


def git_commit() -> str:
    """HEAD commit (with '-dirty' if the tree has changes), or 'unknown' outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 500 else text[:497] + "..."


def _describe(err: Exception) -> str:
    first = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


# -- who ran a run: process identity (dead or alive) and the pipeline run ----------------------


def process_start_ticks(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks after boot (Linux ``/proc``), or None if unknown."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None  # field 22 of proc_pid_stat(5)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (after the command, which may hold spaces and ')')."""
    try:
        return (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Whether ``pid`` runs and (when ``start_ticks`` is known) is that process, not a reused pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    if start_ticks is not None:
        now = process_start_ticks(pid)
        if now is not None and now != start_ticks:
            return False
    return True


def process_tags(pid: int | None = None) -> dict[str, str]:
    """MLflow tags that identify a process: ``vqhps.pid``, ``vqhps.pid_start`` (ticks, when known)."""
    pid = os.getpid() if pid is None else pid
    tags = {"vqhps.pid": str(pid)}
    ticks = process_start_ticks(pid)
    if ticks is not None:
        tags["vqhps.pid_start"] = str(ticks)
    return tags


def run_is_dead(tags: dict[str, str], host: str | None = None) -> bool:
    """Whether a run with these tags was started by a process of this host that no longer exists.

    A run from another host, or without a ``vqhps.pid`` tag, is never called dead: nothing here can tell.
    """
    host = platform.node() if host is None else host
    pid = tags.get("vqhps.pid", "")
    if tags.get("host") != host or not pid.isdigit():
        return False
    start = tags.get("vqhps.pid_start", "")
    return not process_alive(int(pid), int(start) if start.isdigit() else None)


def pipeline_run_id() -> str:
    """The id shared by the stage runs of one pipeline invocation (see the module docstring)."""
    given = os.environ.get(PIPELINE_RUN_ENV, "").strip()
    if given:
        return given
    driver = driver_ancestor()
    if driver is not None:
        tool, pid = driver
        return f"{tool}-{platform.node()}-{pid}-{process_start_ticks(pid)}"
    return new_pipeline_run_id("stage")


def new_pipeline_run_id(tool: str) -> str:
    """``<tool>-<host>-<pid>-<UTC now>`` for this process (the Snakefile calls it once per invocation)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{tool}-{platform.node()}-{os.getpid()}-{stamp}"


def driver_ancestor(pid: int | None = None) -> tuple[str, int] | None:
    """``(tool, pid)`` of the nearest ancestor process that runs snakemake or dvc, or None."""
    pid = os.getppid() if pid is None else pid
    while pid > 1:
        tool = _driver_name(pid)
        if tool is not None:
            return tool, pid
        fields = _stat_fields(pid)
        pid = int(fields[1]) if fields else 0  # field 4: the parent's pid
    return None


def _driver_name(pid: int) -> str | None:
    """``snakemake`` or ``dvc`` if ``pid`` runs it (``tool``, ``python .../tool``, ``python -m tool``)."""
    try:
        argv = [a.decode(errors="replace") for a in (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")]
    except OSError:
        return None
    names = [Path(a).name for a in argv[:2]] + (argv[2:3] if argv[1:2] == ["-m"] else [])
    return next((n for n in names if n in DRIVERS), None)
