"""Stage make_tables: main and scarce-data tables (Markdown, CSV, LaTeX), measured rows beside the paper's.

Reads ``evaluate/metrics.json`` and the packaged paper numbers (``vqhps/data/paper_numbers.csv``). Every
measured row (VQ-HPS, regression baseline, oracle; per regime and protocol) is labelled with its data
(``make_tables.data``: "synthetic demo" or "paper datasets"), test set, protocol and regime. Outputs in
``make_tables/tables/``; the Markdown tables are printed to the log. ``metrics.json`` holds the headline
differences (VQ-HPS minus baseline and minus oracle, mm, per regime/protocol/metric): the paper claims
that classification beats regression when data are scarce, i.e. a negative scarce-regime difference.
"""

from __future__ import annotations

import json
import sys

from vqhps.cli import StageContext, UserError, stage_main

STAGE = "make_tables"
TABLE_DATASET = {"emdb1": "emdb"}  # image source -> test-set key of vqhps/data/paper_numbers.csv


def run(ctx: StageContext) -> dict[str, float]:
    from vqhps.evaluation import headline_numbers, measured_rows
    from vqhps.tables import build_tables

    p = ctx.section
    source = ctx.input("evaluate/metrics.json")
    if not source.is_file():
        raise UserError(f"{source} is missing: run the evaluate stage first (`snakemake {source}`)")
    metrics = json.loads(source.read_text())
    sources = sorted({k.split(":", 1)[0] for k in metrics if ":" in k.split("/", 1)[0]})
    # per test source when several, named as the paper rows name their test sets (3dpw, emdb = EMDB-1)
    groups = [(f"{s}:", TABLE_DATASET.get(s, s)) for s in sources] or [("", p.dataset)]
    rows = []
    try:
        for prefix, dataset in groups:
            part = {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix)}
            rows += measured_rows(
                part,
                data=p.data,
                dataset=dataset,
                backbone=p.backbone,
                training_data={n: r.label or n for n, r in ctx.params.regimes.items()},
                regimes=ctx.regimes,
                protocols=p.protocols,
            )
    except ValueError as err:
        raise UserError(f"{source}: {err}") from None
    written = build_tables(rows, None, ctx.out_dir / "tables", regimes=ctx.regimes)
    for key, path in written.items():
        if key.endswith("_md"):
            ctx.log(f"{path}:\n{path.read_text()}")
        ctx.tracker.log_artifact(path)
    headline = headline_numbers(metrics, ctx.regimes, p.protocols)
    for protocol in p.protocols:
        gap = headline.get(f"scarce/{protocol}/vqhps_minus_baseline_pve_mm")
        if gap is not None:
            verdict = "beats" if gap < 0 else "does NOT beat"
            ctx.log(
                f"scarce regime, {protocol} protocol: VQ-HPS {verdict} the regression baseline on PVE "
                f"({gap:+.1f} mm, VQ-HPS minus baseline)"
            )
    return {**headline, "n_measured_rows": len(rows), "n_test": metrics.get("n_test", 0)}


def main(argv: list[str] | None = None) -> int:
    return stage_main(STAGE, run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
