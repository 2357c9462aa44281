"""Main and scarce-data result tables (Markdown, CSV, LaTeX): paper-reported rows beside measured ones."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from vqhps.eval.protocols import PROTOCOLS
from vqhps.io.atomic import write_text_atomic

METRICS: tuple[str, ...] = ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm")
TOKEN_ACCURACY = "token_accuracy_pct"  # share of predicted tokens equal to the GT mesh's, percent
MEASURES: tuple[str, ...] = (*METRICS, TOKEN_ACCURACY)  # numbers a cell shows, with an interval if measured
BOUNDS: tuple[str, ...] = tuple(f"{m}_{b}" for m in MEASURES for b in ("lo", "hi"))  # 95 % interval ends
COUNTS: tuple[str, ...] = ("n_frames", "n_sequences")  # what a measured row's numbers average over
# Titles and file stems of the paper's two regimes; any other regime of params.yaml (``<experiment>.regimes``)
# gets a table of its own named after it (``<regime>_table.md``).
REGIME_TITLES: dict[str, str] = {
    "full": "Main results (large-scale / full training data)",
    "scarce": "Scarce-data regime (restricted training set)",
}
TABLE_FILE_STEMS: dict[str, str] = {"full": "main", "scarce": "scarce"}
_REGIME_NAME = re.compile(r"[a-z][a-z0-9_]*")


def regime_title(regime: str) -> str:
    return REGIME_TITLES.get(regime, f"Regime {regime} (params.yaml regimes.{regime})")


def table_stem(regime: str) -> str:
    """File stem of a regime's table: ``main`` for full, else the regime's name."""
    return TABLE_FILE_STEMS.get(regime, regime)


DATA_LABELS: tuple[str, ...] = ("paper datasets", "synthetic demo")
ORIGINS: tuple[str, ...] = ("paper", "measured")
# Column order of every output table (and of the CSV files, so they read back into the same dicts).
ROW_FIELDS: tuple[str, ...] = (
    "origin", "data", "dataset", "regime", "protocol", "method", "backbone", "training_data",
    *MEASURES, *COUNTS, "source", *BOUNDS,
)  # fmt: skip
# Columns of the Markdown / LaTeX tables: a measure's cell shows ``mean ± half-width`` of its interval.
DISPLAY_FIELDS: tuple[str, ...] = tuple(k for k in ROW_FIELDS if k not in BOUNDS)
NUMERIC: tuple[str, ...] = (*MEASURES, *COUNTS, *BOUNDS)
HEADERS: dict[str, str] = {
    "origin": "Origin", "data": "Data", "dataset": "Test set", "regime": "Regime", "protocol": "Protocol",
    "method": "Method", "backbone": "Backbone", "training_data": "Training data", "pve_mm": "PVE (mm)",
    "mpjpe_mm": "MPJPE (mm)", "pa_mpjpe_mm": "PA-MPJPE (mm)", "source": "Source",
    TOKEN_ACCURACY: "Token acc. (%)", "n_frames": "Frames", "n_sequences": "Sequences",
}  # fmt: skip
DATASET_NAMES: dict[str, str] = {"3dpw": "3DPW test", "emdb": "EMDB-1"}
MISSING = "–"  # shown for a value the source does not give; never 0
PAPER_NUMBERS_FILE = "paper_numbers.csv"


def _metric_value(value: object, where: str) -> float | None:
    """None / '' / NaN -> None (missing); anything else must parse as a float in mm."""
    if value is None or (isinstance(value, str) and value.strip() in ("", MISSING)):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}: metric value {value!r} is not a number (use empty/None if missing)"
        ) from None
    return None if math.isnan(number) else number


def normalize_row(row: Mapping[str, object], origin: str) -> dict[str, object]:
    """Check one result row and return it with exactly :data:`ROW_FIELDS`.

    Args:
        row: mapping with at least ``method``, ``dataset``, ``regime``, ``protocol``, ``data`` (paper rows get
            ``data = "paper datasets"`` by default) and the metrics ``pve_mm``, ``mpjpe_mm``, ``pa_mpjpe_mm``
            (mm; None/NaN/'' = missing). Optional: ``backbone``, ``training_data``, ``source``,
            ``token_accuracy_pct``, the interval ends ``<measure>_lo`` / ``_hi`` and ``n_frames``,
            ``n_sequences``.
        origin: ``"paper"`` (reported in a publication) or ``"measured"`` (produced by this pipeline).

    Returns:
        A new dict keyed by :data:`ROW_FIELDS`; metrics are float or None.

    Raises:
        ValueError: unknown origin / regime / protocol / data label, a missing key, or a non-numeric metric.
    """
    if origin not in ORIGINS:
        raise ValueError(f"unknown row origin {origin!r}; allowed: {list(ORIGINS)}")
    where = f"{origin} row {dict(row).get('method', '?')!r}"
    fields = dict(row)
    if origin == "paper":
        fields.setdefault("data", "paper datasets")
    fields.setdefault("source", "this pipeline" if origin == "measured" else "")
    missing = [k for k in ("method", "dataset", "regime", "protocol", "data", *METRICS) if k not in fields]
    if missing:
        raise ValueError(f"{where}: missing keys {missing}; a row needs {list(ROW_FIELDS)}")
    if not _REGIME_NAME.fullmatch(str(fields["regime"])):
        raise ValueError(f"{where}: regime {fields['regime']!r} is not a regime name (e.g. full, scarce)")
    if fields["protocol"] not in PROTOCOLS:
        raise ValueError(f"{where}: unknown protocol {fields['protocol']!r}; allowed: {sorted(PROTOCOLS)}")
    if fields["data"] not in DATA_LABELS:
        raise ValueError(f"{where}: unknown data label {fields['data']!r}; allowed: {list(DATA_LABELS)}")
    out: dict[str, object] = {k: str(fields.get(k) or "") for k in ROW_FIELDS if k not in NUMERIC}
    out["origin"] = origin
    for key in NUMERIC:  # metrics are required keys (None = missing); intervals, counts are optional
        out[key] = _metric_value(fields.get(key), f"{where} {key}")
    return {k: out[k] for k in ROW_FIELDS}


def rows_from_metrics(metrics: Mapping[str, float], **labels: object) -> list[dict[str, object]]:
    """Turn flat evaluation summaries into one measured row per protocol.

    Args:
        metrics: ``"<protocol>/<metric>"`` -> mean in mm (e.g. ``"vqhps/pve_mm"``), and optionally its
            interval ``"<protocol>/<metric>_lo"`` / ``"_hi"``, ``"token_accuracy"`` (a fraction, with
            ``_lo`` / ``_hi``) and ``"n_frames"`` / ``"n_sequences"`` (as :mod:`vqhps.eval.summaries` writes
            them, label prefix removed); other keys are ignored.
        **labels: the row labels shared by all protocols: ``method, dataset, regime, data`` and optionally
            ``backbone, training_data, source``.

    Returns:
        Rows for :func:`build_tables` (values missing from ``metrics`` are None), in protocol order.
    """
    shared: dict[str, object] = {k: metrics.get(k) for k in COUNTS}
    for suffix, out_key in (
        ("", TOKEN_ACCURACY),
        ("_lo", f"{TOKEN_ACCURACY}_lo"),
        ("_hi", f"{TOKEN_ACCURACY}_hi"),
    ):
        value = metrics.get(f"token_accuracy{suffix}")
        shared[out_key] = None if value is None else 100.0 * float(value)
    rows = []
    for protocol in PROTOCOLS:
        if any(f"{protocol}/{m}" in metrics for m in METRICS):
            values = {m: metrics.get(f"{protocol}/{m}") for m in METRICS}
            values |= {f"{m}_{b}": metrics.get(f"{protocol}/{m}_{b}") for m in METRICS for b in ("lo", "hi")}
            rows.append(normalize_row({**shared, **labels, "protocol": protocol, **values}, "measured"))
    return rows


def load_paper_numbers() -> list[dict[str, object]]:
    """Read the packaged ``vqhps/eval/paper_numbers.csv`` (paper-reported rows with their sources).

    Returns:
        Raw rows as dicts of strings (empty string = value not reported / not found), including ``notes``.
    """
    text = resources.files("vqhps.eval").joinpath(PAPER_NUMBERS_FILE).read_text(encoding="utf-8")
    return [dict(r) for r in csv.DictReader(io.StringIO(text))]


def _sorted_rows(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Group by test set (3DPW, EMDB, then others as they come), paper rows before measured rows."""
    order = list(DATASET_NAMES)
    for r in rows:
        if r["dataset"] not in order:
            order.append(str(r["dataset"]))
    return sorted(rows, key=lambda r: (order.index(str(r["dataset"])), ORIGINS.index(str(r["origin"]))))


def _display(row: Mapping[str, object], key: str) -> str:
    """A cell: ``84.8 ± 1.2`` (mean ± half-width of the 95 % interval) for a measured number, ``84.8``
    for a number without an interval, integers for counts, the missing dash for None."""
    value = row[key]
    if key in MEASURES:
        if value is None:
            return MISSING
        lo, hi = row.get(f"{key}_lo"), row.get(f"{key}_hi")
        cell = f"{float(value):.1f}"  # type: ignore[arg-type]
        return cell if lo is None or hi is None else f"{cell} ± {(float(hi) - float(lo)) / 2:.1f}"
    if key in COUNTS:
        return MISSING if value is None else f"{int(float(value)):,}"  # type: ignore[arg-type]
    if key == "dataset":
        return DATASET_NAMES.get(str(value), str(value))
    return str(value) if value not in (None, "") else MISSING


def _gt_used(protocol) -> str:
    """What the measured rows of a full-pose protocol score against (README: two GT meshes per frame)."""
    if not protocol.gt_full_pose:
        return ""
    return " (measured on 3DPW / EMDB against that full-pose SMPL GT; on the demo's set, its own meshes)"


def _markdown(title: str, rows: Sequence[Mapping[str, object]]) -> str:
    def cells(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    lines = [f"## {title}", "", cells([HEADERS[k] for k in DISPLAY_FIELDS])]
    lines.append("|" + "|".join("---:" if k in NUMERIC else "---" for k in DISPLAY_FIELDS) + "|")
    lines += [cells([_display(r, k) for k in DISPLAY_FIELDS]) for r in rows]
    lines += [
        "",
        f"{MISSING} = not reported / not available (never 0). Measured cells: mean ± half-width of the 95 % "
        "interval of a seeded bootstrap over test sequences (its ends are in the CSV: `<metric>_lo`, "
        "`<metric>_hi`); Frames / Sequences: what each measured number averages over. A 'difference' row is "
        "the paired per-frame difference of two methods on the same frames. Protocols:",
    ]
    lines += [
        f"- `{p.name}`: {p.description}. GT prescribed: {p.gt_body_model}{_gt_used(p)}. Used by: {p.used_by}."
        for p in PROTOCOLS.values()
    ]
    lines.append(
        "- Paper rows: protocol labels are inferred from the reference notes unless the source states them; "
        "'[not found]' marks numbers that could not be read from the paper "
        "(sources and notes: src/vqhps/eval/paper_numbers.csv)."
    )
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", MISSING: "--",
    "<": r"\textless{}", ">": r"\textgreater{}", "±": r"$\pm$",
}  # fmt: skip


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (``_`` -> ``\\_`` etc.; the missing-value dash -> ``--``)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex(title: str, label: str, rows: Sequence[Mapping[str, object]]) -> str:
    spec = "".join("r" if k in NUMERIC else "l" for k in DISPLAY_FIELDS)
    body = [" & ".join(latex_escape(_display(r, k)) for k in DISPLAY_FIELDS) + r" \\" for r in rows]
    return (
        "\n".join(
            [
                r"% Generated by vqhps.eval.tables; needs \usepackage{booktabs}. -- = not reported.",
                r"\begin{table}[t]",
                r"\centering",
                r"\scriptsize",
                rf"\caption{{{latex_escape(title)}}}",
                rf"\label{{tab:{label}}}",
                rf"\begin{{tabular}}{{{spec}}}",
                r"\toprule",
                " & ".join(latex_escape(HEADERS[k]) for k in DISPLAY_FIELDS) + r" \\",
                r"\midrule",
                *body,
                r"\bottomrule",
                r"\end{tabular}",
                r"\end{table}",
            ]
        )
        + "\n"
    )


def _csv(rows: Sequence[Mapping[str, object]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(ROW_FIELDS), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        # Machine-readable: missing metrics are empty cells, numbers keep full precision.
        writer.writerow({k: ("" if r[k] is None else r[k]) for k in ROW_FIELDS})
    return buf.getvalue()


def read_table_csv(path: str | Path) -> list[dict[str, object]]:
    """Read a table CSV written by :func:`build_tables` back into row dicts (metrics float or None).

    Args:
        path: a ``*_table.csv`` file.

    Returns:
        Rows keyed by :data:`ROW_FIELDS`, as :func:`normalize_row` returns them.
    """
    with open(path, newline="", encoding="utf-8") as f:
        return [normalize_row(r, str(r["origin"])) for r in csv.DictReader(f)]


def build_tables(
    measured_rows: Sequence[Mapping[str, object]],
    paper_rows: Sequence[Mapping[str, object]] | None,
    out_dir: str | Path,
    regimes: Sequence[str] = tuple(REGIME_TITLES),
) -> dict[str, Path]:
    """Write one table per regime (``full`` -> ``main``, ``scarce``, ...) as Markdown, CSV and LaTeX.

    Args:
        measured_rows: this pipeline's results, one dict per (method, regime, test set, protocol) with keys
            ``method, dataset, regime, protocol, data, pve_mm, mpjpe_mm, pa_mpjpe_mm`` (mm) and optionally
            ``backbone, training_data, source``; ``data`` is "synthetic demo" or "paper datasets".
        paper_rows: reported rows; None reads the packaged ``paper_numbers.csv``.
        out_dir: output folder (created if needed).
        regimes: the experiment's regimes, in table order (paper rows of other regimes are not shown).

    Returns:
        ``{"main_md", "main_csv", "main_tex", "scarce_md", ...}`` (``<stem>_<ext>``) -> written paths.

    Raises:
        ValueError: a row with an unknown regime, protocol or data label, or missing keys.
    """
    paper = load_paper_numbers() if paper_rows is None else paper_rows
    rows = [normalize_row(r, "paper") for r in paper] + [normalize_row(r, "measured") for r in measured_rows]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for regime in regimes:
        title, stem = regime_title(regime), table_stem(regime)
        selected = _sorted_rows([r for r in rows if r["regime"] == regime])
        texts = {
            "md": _markdown(title, selected),
            "csv": _csv(selected),
            "tex": _latex(title, f"{stem}_results", selected),
        }
        for ext, text in texts.items():
            path = out / f"{stem}_table.{ext}"
            write_text_atomic(path, text)
            written[f"{stem}_{ext}"] = path
    return written
