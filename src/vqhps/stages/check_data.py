"""Stage check_data: verify every dataset the experiment needs, report all problems at once.

Reads the manifests named in ``<experiment>.check_data.datasets`` under ``<experiment>.data_root`` and opens
every file the later stages read, through the stages' own readers (``--quick``: a few files per item).
The motion manifest follows ``prepare_meshes.source`` (``amass`` or ``bedlam_animations``: one param), and
the SMPL+H check asks for ``prepare_meshes.num_betas`` shape components.
On success writes ``record.json`` (file counts, sizes, sha256 of small files, so a changed
download is detected downstream). On failure prints one message listing every missing or
malformed item with where to get it and where to put it, writes nothing, and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.io.atomic import write_text_atomic

MOTION_SOURCES = ("amass", "bedlam_animations")


def _plan(ctx: StageContext) -> tuple[list[str], dict[str, dict]]:
    """Manifests and options to check: the params' list, with the motion source of prepare_meshes."""
    datasets = list(ctx.section.datasets)
    options = {name: dict(values) for name, values in ctx.section.options.items()}
    meshes = ctx.params.prepare_meshes
    if meshes is None or meshes.source not in MOTION_SOURCES:
        return datasets, options
    if any(d in MOTION_SOURCES for d in datasets):
        datasets = [meshes.source if d in MOTION_SOURCES else d for d in datasets]
        datasets = list(dict.fromkeys(datasets))
    if meshes.source == "amass" and "amass" in datasets:
        options.setdefault("amass", {}).setdefault("subsets", list(meshes.amass_subsets))
    if "smplh" in datasets:
        options.setdefault("smplh", {}).setdefault("num_betas", meshes.num_betas)
    for other in set(MOTION_SOURCES) - {meshes.source}:
        options.pop(other, None)
    return datasets, options


def run(ctx: StageContext) -> dict[str, float]:
    from vqhps.datacheck import check_datasets

    datasets, options = _plan(ctx)
    started = time.perf_counter()
    try:
        report = check_datasets(
            datasets, data_root=Path(ctx.params.data_root), options=options, quick=ctx.args.quick
        )
    except ValueError as err:  # a mistyped manifest name or option
        raise UserError(f"{ctx.experiment}.check_data: {err}") from None
    seconds = time.perf_counter() - started
    if not report.ok:
        raise UserError(report.message())
    if report.problems:  # only optional datasets are incomplete: say what they would add and where from
        ctx.log(report.message())
    record = report.record()
    write_text_atomic(ctx.out_dir / "record.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
    mode = "a sample of the files (--quick)" if ctx.args.quick else "every file"
    ctx.log(f"{len(datasets)} dataset(s) checked in {seconds:.1f} s, {mode} opened")
    return {"datasets_checked": len(datasets)}


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="open only a few files per dataset item (default: every file)"
    )


def main(argv: list[str] | None = None) -> int:
    return stage_main("check_data", run, argv, description=__doc__.splitlines()[0], add_arguments=_arguments)


if __name__ == "__main__":
    sys.exit(main())
