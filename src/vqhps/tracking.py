"""MLflow, and only here: one run per stage execution, params, metrics, curves, commit, hardware.

The tracking URI comes from ``MLFLOW_TRACKING_URI`` and defaults to ``sqlite:///mlflow.db`` in the
working directory (MLflow 3's own default; its file store is deprecated). Tracking is off with the
stage flag ``--no-track`` or ``VQHPS_NO_TRACK=1``. If MLflow cannot be reached the stage still
completes and says so once: MLflow is a side channel, DVC (``metrics.json``) is the record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vqhps.configtools import flatten

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_log = logging.getLogger(__name__)


class Tracker:
    """A stage's MLflow run; every method is a no-op when tracking is disabled or failed."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._mlflow: Any = None
        self._warned = False

    # -- run lifecycle -------------------------------------------------------------------------
    def start(self, experiment: str, stage: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        """Open a run named ``stage`` in the MLflow experiment ``vqhps/<experiment>``."""
        if not self.enabled:
            return
        try:
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            import mlflow

            mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI))
            mlflow.set_experiment(f"vqhps/{experiment}")
            mlflow.start_run(run_name=stage)
            self._mlflow = mlflow
            flat = {k: _short(v) for k, v in flatten(dict(params)).items()}
            items = list(flat.items())
            for i in range(0, len(items), 90):  # MLflow caps a log_params batch at 100 entries
                mlflow.log_params(dict(items[i : i + 90]))
            mlflow.set_tags({"stage": stage, "experiment": experiment, **run_environment(), **tags})
        except Exception as err:  # noqa: BLE001 - any tracking failure must not stop the stage
            self._disable(err)

    def end(self, status: str = "FINISHED") -> None:
        if self._mlflow is not None:
            try:
                self._mlflow.end_run(status=status)
            except Exception as err:  # noqa: BLE001
                self._disable(err)
        self._mlflow = None

    # -- logging -------------------------------------------------------------------------------
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log scalar metrics (a curve point when ``step`` is given)."""
        if self._mlflow is None:
            return
        try:
            self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)
        except Exception as err:  # noqa: BLE001
            self._disable(err)

    def log_artifact(self, path: str | Path) -> None:
        """Attach a small file (plot, table) to the run; large artifacts stay DVC outputs."""
        if self._mlflow is None:
            return
        try:
            self._mlflow.log_artifact(str(path))
        except Exception as err:  # noqa: BLE001
            self._disable(err)

    def _disable(self, err: Exception) -> None:
        if not self._warned:
            _log.warning(
                "MLflow tracking is unavailable (%s: %s); the stage goes on without it.",
                type(err).__name__,
                str(err).splitlines()[0] if str(err) else "",
            )
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
