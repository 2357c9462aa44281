"""The common shape of every ``python -m vqhps.stages.<stage>`` entry point.

A stage module defines ``run(ctx) -> dict[str, float]`` and calls :func:`stage_main`. This module
parses the shared flags, validates ``params.yaml`` before any work, routes logging to the
Snakemake log file and stderr, opens the MLflow run, writes ``metrics.json`` (the DVC metric) and
logs the same dict to MLflow. User errors (bad params, missing data) end with one clear message
and exit status 1 or 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vqhps.config import ExperimentParams, load_params, section_dict
from vqhps.infra.configtools import ConfigError, to_plain
from vqhps.infra.paths import stage_dir
from vqhps.infra.speed_env import ensure_speed_env
from vqhps.io.atomic import write_text_atomic
from vqhps.io.errors import DataFileError
from vqhps.tracking import Tracker, tracked_run

_log = logging.getLogger("vqhps")


class UserError(RuntimeError):
    """A problem the user can fix (missing file, inconsistent inputs); printed without a traceback."""


# Also ended as one line: a bad data file (named by the error), a damaged pickle/zip that escaped the
# readers, a diverging run (the trainers' non-finite-loss stop says which term and what to lower).
ONE_LINE_ERRORS = (DataFileError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, FloatingPointError)


@dataclass
class StageContext:
    """Everything a stage's ``run`` needs: validated params, its output folder, tracker, machine flags."""

    stage: str
    experiment: str
    params: ExperimentParams
    results: Path  # results root (``results`` by default)
    out_dir: Path  # results/<experiment>/<stage>
    tracker: Tracker
    workers: int
    device: str
    args: argparse.Namespace
    opened: set[str] = field(default_factory=set)  # declared inputs read through :meth:`input`

    @property
    def section(self) -> Any:
        return self.params.section(self.stage)

    def log(self, message: str) -> None:
        """One line to the stage log (stderr and the Snakemake log file)."""
        logging.getLogger(f"vqhps.stages.{self.stage}").info("%s", message)

    def regime(self) -> tuple[str, Any]:
        """The ``--regime`` of this job and its params entry (``<experiment>.regimes.<name>``)."""
        name = self.args.regime
        try:
            return name, self.params.regime_entry(name)
        except ConfigError as err:
            raise UserError(f"{self.experiment}: {err}") from None

    @property
    def regimes(self) -> tuple[str, ...]:
        """The experiment's regimes (``<experiment>.regimes``), in params order."""
        return tuple(self.params.regimes)

    def run_params(self) -> dict[str, Any]:
        """What a training run stores in its checkpoint and logs: seed, its section and its regime."""
        return job_params(self.params, self.stage, self.args.regime)

    def input(self, rel: str) -> Path:
        """Path of a declared input ``<stage>/<path>`` of this job (``{images}``: the image-set stage).

        Every upstream read goes through here and the DAG table (:mod:`vqhps.pipeline`), so a stage cannot
        read what Snakemake and DVC do not know it depends on.

        Raises:
            KeyError: ``rel`` is not among the job's declared inputs (a programming error).
        """
        from vqhps.pipeline import IMAGE_SET_STAGE

        rel = rel.replace("{images}", IMAGE_SET_STAGE[self.experiment]).rstrip("/")
        pipe = self._pipeline()
        declared = [d.rstrip("/") for d in pipe.declared_deps(self.experiment, self.stage, self.args.regime)]
        if rel not in declared:
            raise KeyError(
                f"{self.stage} reads {rel!r}, which src/vqhps/pipeline.py does not declare: {declared}"
            )
        self.opened.add(rel)
        return self.results / self.experiment / rel

    def _pipeline(self):
        """The DAG table of this experiment: its regimes and its study's."""
        from vqhps.pipeline import Pipeline

        study = tuple(self.params.study_regimes())
        return Pipeline({self.experiment: self.regimes}, {self.experiment: study})

    def declared_inputs(self) -> list[Path]:
        """Every declared upstream input of this job (files and folders)."""
        pipe = self._pipeline()
        deps = pipe.declared_deps(self.experiment, self.stage, self.args.regime)
        return [self.results / self.experiment / d.rstrip("/") for d in deps]

    def work_checkpoint(self) -> Path:
        """The resumable checkpoint ``work/last.pt`` of this job (not a DVC/Snakemake output).

        ``work/`` belongs to the run that created it: it holds the run's key
        (:func:`vqhps.infra.run_key.job_key`: params, code, inputs). A ``work/`` with another key (other
        params, an edited module, a retrained tokenizer, new images) is discarded with one log line, so a
        re-run never resumes another run's weights; one with the same key (a killed run) is resumed from. A
        finished stage removes ``work/``.
        """
        from vqhps.infra.run_key import claim_work_dir, job_key

        key = job_key(self.run_params(), self.stage, self.declared_inputs())
        work = self.out_dir / "work"
        if claim_work_dir(work, key):
            self.log(
                f"{work}: left by a run with other params, code or inputs; discarded, training from step 0"
            )
        return work / "last.pt"

    def limit_cpu_threads(self) -> None:
        """On CPU, the torch intra-op threads this job was given: ``VQHPS_TORCH_THREADS``, else
        ``OMP_NUM_THREADS`` (Snakemake exports the job's ``threads``: ``image_threads`` in the rules), at
        most the cores this process may use; neither set (DVC, a manual run: one job at a time) keeps
        torch's default, every core. Measured on the 2-core machine: one job alone trains x1.8 faster on
        two threads; beside other work two threads stall each other (~40 -> ~7 img/s). Not a param.
        """
        threads = os.environ.get("VQHPS_TORCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
        if self.device == "cpu" and threads:
            import torch

            usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            torch.set_num_threads(max(1, min(int(threads), usable or 1)))

    def log_curve(self, metrics: dict[str, float], step: int) -> None:
        """A training-curve point: to MLflow (with its step) and one line to the stage log."""
        self.tracker.log_metrics(metrics, step=step)
        self.log(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())))


def build_parser(stage: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m vqhps.stages.{stage}", description=description)
    parser.add_argument(
        "--params", type=Path, default=Path("params.yaml"), help="parameter file (default: params.yaml)"
    )
    parser.add_argument(
        "--experiment", required=True, help="experiment (top-level section of params.yaml): demo or paper"
    )
    parser.add_argument(
        "--regime",
        default=None,
        help="training regime of stages that run once per regime (a name of <experiment>.regimes)",
    )
    parser.add_argument(
        "--results", type=Path, default=Path("results"), help="results root (default: results)"
    )
    parser.add_argument("--log", type=Path, default=None, help="also write the log to this file")
    parser.add_argument(
        "--no-track", action="store_true", help="do not log to MLflow (also: VQHPS_NO_TRACK=1)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="worker processes for parallel work (default: VQHPS_WORKERS or the CPU count)",
    )
    parser.add_argument(
        "--device",
        default=os.environ.get("VQHPS_DEVICE", "auto"),
        help="torch device: auto, cpu, cuda, cuda:N (default: VQHPS_DEVICE or auto)",
    )
    return parser


def stage_main(
    stage: str,
    run: Callable[[StageContext], dict[str, float]],
    argv: Sequence[str] | None = None,
    description: str = "",
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Run one stage; returns the process exit status."""
    ensure_speed_env(argv)  # started without make's allocator settings: re-exec once with them
    parser = build_parser(stage, description)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args.log)
    try:
        params = load_params(args.params).experiment(args.experiment)
        params.section(stage)
    except (ConfigError, FileNotFoundError) as err:
        _log.error("%s", err)
        return 2
    out_dir = stage_dir(args.results, args.experiment, stage)  # created by the first (atomic) write
    if args.regime:
        out_dir = out_dir / args.regime
    try:
        ctx_params = job_params(params, stage, args.regime)
    except ConfigError as err:  # an unknown --regime: a command-line problem
        _log.error("%s", err)
        return 1
    created = _absent_dirs(out_dir, args.results)
    started = time.perf_counter()
    remove_stale_temporaries(out_dir)
    try:
        run_name = f"{stage}.{args.regime}" if args.regime else stage
        with tracked_run(args.experiment, run_name, ctx_params, enabled=not args.no_track) as tracker:
            ctx = StageContext(
                stage,
                args.experiment,
                params,
                args.results,
                out_dir,
                tracker,
                max(1, args.workers),
                auto_device(args.device),
                args,
            )
            metrics = run(ctx)
            metrics = {**metrics, "stage_seconds": round(time.perf_counter() - started, 3)}
            write_metrics(out_dir / "metrics.json", metrics)
            tracker.log_final(metrics)  # as final/<key>: apart from the curves
            shutil.rmtree(out_dir / "work", ignore_errors=True)  # finished: nothing left to resume
            audit_inputs(ctx)
    except (UserError, *ONE_LINE_ERRORS) as err:
        named = isinstance(err, UserError | DataFileError | FloatingPointError)
        _log.error("%s", err if named else f"{type(err).__name__}: {err}")
        _remove_created(created, keep=args.log)
        return 1
    except BaseException:  # a bug: keep the traceback, but leave no empty or partial stage folder
        _remove_created(created, keep=args.log)
        raise
    _log.info("%s finished in %.1f s; outputs in %s", stage, time.perf_counter() - started, out_dir)
    return 0


def job_params(params: ExperimentParams, stage: str, regime: str | None) -> dict[str, Any]:
    """The params a job runs with (MLflow params, checkpoint ``params``): seed, its section and the sections
    it shares (``image_training``), regime entry."""
    from vqhps.pipeline import shared_sections

    out = section_dict(params, stage, shared_sections(stage))
    if regime:
        out |= {"regime": regime, "regime_params": to_plain(params.regime_entry(regime))}
    return out


def remove_stale_temporaries(out_dir: Path) -> None:
    """Remove the ``.<name>.*.tmp`` files and folders a killed atomic write left under ``out_dir``."""
    if not out_dir.is_dir():
        return
    for tmp in sorted(out_dir.rglob(".*.tmp"), reverse=True):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink(missing_ok=True)


def audit_inputs(ctx: StageContext) -> None:
    """With ``VQHPS_AUDIT_INPUTS=<file>``: append what the job read (inputs, vqhps modules) as one JSON line.

    Used by the end-to-end tests to check the DAG table against what the stages really open and import.
    """
    target = os.environ.get("VQHPS_AUDIT_INPUTS")
    if not target:
        return
    modules = sorted(
        Path(m.__file__).resolve().as_posix()
        for name, m in list(sys.modules.items())
        if (name == "vqhps" or name.startswith("vqhps.")) and getattr(m, "__file__", None)
    )
    record = {"experiment": ctx.experiment, "stage": ctx.stage, "regime": ctx.args.regime}
    record |= {"opened": sorted(ctx.opened), "modules": modules}
    with open(target, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def _absent_dirs(out_dir: Path, results: Path) -> list[Path]:
    """The folders from ``out_dir`` up to and including ``results`` that do not exist yet (deepest first)."""
    chain = [out_dir, *(p for p in out_dir.parents if results == p or results in p.parents)]
    return [p for p in chain if not p.exists()]


def _remove_created(created: list[Path], keep: Path | None = None) -> None:
    """After a failed run: remove the folders it created, so ``results/`` is as it was before.

    The deepest created folder (the stage's output folder, or above it) holds only what this failed run
    wrote and goes entirely; the folders above it go only when empty. A ``--log`` file inside is kept.
    """
    keep = keep.resolve() if keep is not None else None
    for i, folder in enumerate(created):
        if not folder.is_dir():
            continue
        holds_log = keep is not None and folder.resolve() in keep.parents
        if i == 0 and not holds_log:
            shutil.rmtree(folder, ignore_errors=True)
        elif not any(folder.iterdir()):
            folder.rmdir()


def write_metrics(path: Path, metrics: dict[str, float]) -> None:
    """The DVC metrics file: flat, numeric, sorted keys."""
    clean = {k: (float(v) if not isinstance(v, int | bool) else v) for k, v in sorted(metrics.items())}
    write_text_atomic(path, json.dumps(clean, indent=2) + "\n")


def setup_logging(log_file: Path | None) -> None:
    """One line per event to stderr and, when given, to the Snakemake/DVC log file."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(fmt)
    root.addHandler(handler)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, mode="w")
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)
    for noisy in ("alembic", "mlflow", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def default_workers() -> int:
    return int(os.environ.get("VQHPS_WORKERS", os.cpu_count() or 1))


def auto_device(name: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is passed through."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
