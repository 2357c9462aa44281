"""Stage make_tables: main and scarce-data tables (Markdown, CSV, LaTeX), measured rows beside the paper's.

Reads ``evaluate/metrics.json`` and the packaged paper numbers (``vqhps/eval/paper_numbers.csv``). Every
measured row (VQ-HPS, regression baseline, oracle; per regime and protocol) is labelled with its data
(``make_tables.data``: "synthetic demo" or "paper datasets"), test set, protocol and regime. A regime's
rows go to the table its ``table`` param names (the EMDB scarce-data run ``scarce_emdb`` sits in the
scarce table, as in the paper) and are shown for its ``test_sources`` only (EMDB-1 for ``scarce_emdb``).
Every measured cell is ``mean ± half-width`` of its 95 % bootstrap interval over test sequences (ends in the
CSV), beside its frame and sequence counts; the paired VQ-HPS - baseline difference has rows of its own. A
protocol tied to a test set (``emdb``) is shown on that set only. Outputs in ``make_tables/tables/``; the
Markdown tables are printed to the log. ``metrics.json`` holds the headline differences (VQ-HPS minus
baseline, with its paired interval, and minus oracle, mm, per regime/protocol/metric, per test set when
several: ``emdb/scarce_emdb/...``): the paper claims that classification beats regression when data are
scarce, i.e. a negative scarce-regime difference.
"""

from __future__ import annotations

import json
import sys

from vqhps.cli import StageContext, UserError, stage_main

STAGE = "make_tables"
TABLE_DATASET = {"emdb1": "emdb"}  # image source -> test-set key of vqhps/eval/paper_numbers.csv


def reported_regimes(regimes: dict, names: tuple[str, ...], source: str | None) -> list[str]:
    """The regimes whose rows are shown for test ``source`` (None: one test set, every regime).

    Args:
        regimes: ``<experiment>.regimes`` (name -> ``RegimeParams``).
        names: the regimes in params order.
        source: a test image source (``3dpw``, ``emdb1``) or None.
    """
    return [n for n in names if source is None or regimes[n].test_sources in (None, ()) or
            source in regimes[n].test_sources]  # fmt: skip


def shown_protocols(protocols: tuple[str, ...], source: str | None) -> list[str]:
    """The protocols shown for test ``source``: a protocol tied to test sets (``emdb``) only on those.

    With one test set (``source`` None) every protocol is kept; one without numbers gives no row.
    """
    from vqhps.eval.protocols import PROTOCOLS

    return [p for p in protocols if source is None or not PROTOCOLS[p].test_sources
            or source in PROTOCOLS[p].test_sources]  # fmt: skip


def run(ctx: StageContext) -> dict[str, float]:
    from vqhps.eval.measured_rows import headline_numbers, measured_rows
    from vqhps.eval.released_rows import released_table_rows
    from vqhps.eval.tables import build_tables

    p, regimes = ctx.section, ctx.params.regimes
    source = ctx.input("evaluate/metrics.json")
    if not source.is_file():
        raise UserError(f"{source} is missing: run the evaluate stage first (`snakemake {source}`)")
    metrics = json.loads(source.read_text())
    sources = sorted({k.split(":", 1)[0] for k in metrics if "/" in k and ":" in k.split("/", 1)[0]})
    # per test source when several, named as the paper rows name their test sets (3dpw, emdb = EMDB-1);
    # a regime with test_sources is shown on those only, in the table its ``table`` names
    groups = [(f"{s}:", TABLE_DATASET.get(s, s), s) for s in sources] or [("", p.dataset, None)]
    tables = {n: r.table or n for n, r in regimes.items()}
    rows, headline = [], {}
    try:
        for prefix, dataset, test_source in groups:
            part = {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix)}
            shown = reported_regimes(regimes, ctx.regimes, test_source)
            protocols = shown_protocols(p.protocols, test_source)
            rows += measured_rows(
                part,
                data=p.data,
                dataset=dataset,
                backbone=p.backbone,
                training_data={n: r.label or n for n, r in regimes.items()},
                regimes=shown,
                protocols=protocols,
                tables=tables,
            )
            shown_tables = {n: tables[n] for n in shown}
            rows += released_table_rows(
                part, data=p.data, dataset=dataset, tables=shown_tables, protocols=protocols
            )
            key = f"{dataset}/" if prefix else ""
            headline |= {key + k: v for k, v in headline_numbers(part, shown, protocols).items()}
    except ValueError as err:
        raise UserError(f"{source}: {err}") from None
    order = list(dict.fromkeys(tables[n] for n in ctx.regimes))
    written = build_tables(rows, None, ctx.out_dir / "tables", regimes=order)
    for key, path in written.items():
        if key.endswith("_md"):
            ctx.log(f"{path}:\n{path.read_text()}")
        ctx.tracker.log_artifact(path)
    for key, gap in headline.items():
        regime, protocol, what = key.split("/")[-3:]
        if tables.get(regime) == "scarce" and what == "vqhps_minus_baseline_pve_mm":
            ctx.log(_verdict(key, gap, headline.get(key + "_lo"), headline.get(key + "_hi")))
    counts = {k: metrics[k] for k in ("n_frames", "n_sequences") if k in metrics}
    return {**headline, "n_measured_rows": len(rows), "n_test": metrics.get("n_test", 0), **counts}


def _verdict(key: str, gap: float, lo: float | None, hi: float | None) -> str:
    """One log line on the scarce-data claim; with an interval, 'beats' only when it excludes 0."""
    regime, protocol = key.split("/")[-3:-1]
    where = key.split("/")[0] + " test, " if key.count("/") == 3 else ""
    if lo is None or hi is None:
        verdict, ci = ("beats" if gap < 0 else "does NOT beat"), ""
    else:
        verdict = "beats" if hi < 0 else "does NOT beat" if lo > 0 else "is not distinguishable from"
        ci = f", 95 % interval [{lo:+.1f}, {hi:+.1f}] over test sequences"
    return (f"{where}{regime} regime, {protocol} protocol: VQ-HPS {verdict} the regression baseline on PVE "
            f"({gap:+.1f} mm, VQ-HPS minus baseline, paired by frame{ci})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return stage_main(STAGE, run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
