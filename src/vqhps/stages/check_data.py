"""Stage check_data: verify every dataset the experiment needs, report all problems at once.

Reads the manifests named in ``<experiment>.check_data.datasets`` under ``<experiment>.data_root``.
On success writes ``record.json`` (file counts, sizes, sha256 of small files, so a changed
download is detected downstream). On failure prints one message listing every missing or
malformed item with where to get it and where to put it, writes nothing, and exits 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.io.atomic import write_text_atomic


def run(ctx: StageContext) -> dict[str, float]:
    from vqhps.datacheck import check_datasets

    datasets = list(ctx.section.datasets)
    options = {name: dict(values) for name, values in ctx.section.options.items()}
    try:
        report = check_datasets(datasets, data_root=Path(ctx.params.data_root), options=options)
    except ValueError as err:  # a mistyped manifest name or option
        raise UserError(f"{ctx.experiment}.check_data: {err}") from None
    if not report.ok:
        raise UserError(report.message())
    if report.problems:  # only optional datasets are incomplete: say what they would add and where from
        ctx.log(report.message())
    record = report.record()
    write_text_atomic(ctx.out_dir / "record.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
    return {"datasets_checked": len(datasets)}


def main(argv: list[str] | None = None) -> int:
    return stage_main("check_data", run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
