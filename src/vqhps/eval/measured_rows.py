"""Measured table rows (make_tables) from the evaluate stage's flat summaries (:mod:`vqhps.eval.summaries`).

Every row carries its protocol, its frame and sequence counts and, where evaluate measured them, the 95 %
sequence-bootstrap interval of each number and the token accuracy. :func:`label_rows` builds the rows of
any one evaluated label (``vqhps_full``, ``oracle``, or a label another row kind adds), so new row kinds
(released weights, a constant predictor) only add a call; :func:`difference_rows` builds the paired
VQ-HPS - baseline rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vqhps.eval.protocols import DEFAULT_PROTOCOLS, METRIC_KEYS
from vqhps.eval.summaries import HI, LO
from vqhps.eval.tables import rows_from_metrics

METHOD_NAMES: dict[str, str] = {
    "vqhps": "VQ-HPS (measured)",
    "baseline": "Regression baseline (measured)",
    "oracle": "Oracle: Mesh-VQ-VAE enc->dec of GT",
    "constant": "Constant: mean train mesh, best fixed rotation",
}
DIFFERENCE_NAME = "Difference: VQ-HPS minus baseline (paired by frame)"
_SECTION_EXTRAS = ("n_frames", "n_sequences", "token_accuracy", "token_accuracy" + LO, "token_accuracy" + HI)


def _label(method: str, regime: str) -> str:
    return method if regime == "none" else f"{method}_{regime}"


def section(metrics: Mapping[str, float], label: str, protocols: Sequence[str]) -> dict[str, float]:
    """``"<label>/<protocol>/<metric>[_lo|_hi]"`` keys (and the label's counts, token accuracy) without the
    label prefix, for the given protocols.

    Raises:
        ValueError: the label has no metric for these protocols (re-run evaluate).
    """
    prefix = f"{label}/"
    out = {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix)}
    keep = {f"{p}/{m}{b}" for p in protocols for m in METRIC_KEYS for b in ("", LO, HI)}
    values = {k: v for k, v in out.items() if k in keep}
    if not values:
        raise ValueError(
            f"evaluate metrics have no '{label}/<protocol>/<metric>' keys for protocols {list(protocols)}; "
            "re-run the evaluate stage"
        )
    return values | {k: out[k] for k in _SECTION_EXTRAS if k in out}


def label_rows(
    metrics: Mapping[str, float], label: str, protocols: Sequence[str], **labels: object
) -> list[dict[str, object]]:
    """Rows of one evaluated label, one per protocol it has numbers for.

    Args:
        metrics: evaluate summaries (one test source, prefix removed).
        label: the metrics label (``vqhps_full``, ``oracle``, ...).
        protocols: protocols shown.
        **labels: row labels (``method, dataset, regime, data, backbone, training_data``).
    """
    return rows_from_metrics(section(metrics, label, protocols), **labels)


def difference_rows(
    metrics: Mapping[str, float], a: str, b: str, protocols: Sequence[str], **labels: object
) -> list[dict[str, object]]:
    """Rows of the paired difference ``<a>-<b>`` (mm, negative = A better), if evaluate measured it."""
    try:
        return label_rows(metrics, f"{a}-{b}", protocols, **labels)
    except ValueError:
        return []  # an older metrics file without paired differences


def measured_rows(
    metrics: Mapping[str, float],
    *,
    data: str,
    dataset: str,
    backbone: str,
    training_data: Mapping[str, str],
    regimes: Sequence[str],
    protocols: Sequence[str] = DEFAULT_PROTOCOLS,
    tables: Mapping[str, str] | None = None,
) -> list[dict[str, object]]:
    """Rows of :func:`vqhps.eval.tables.build_tables` from the evaluate stage's summaries.

    Every regime gets a VQ-HPS and a baseline row per protocol, and their paired difference when measured,
    plus the oracle rows once per table (the oracle sees no training image, so the same numbers appear in
    every regime's table, for comparison).

    Args:
        metrics: evaluate ``metrics.json`` entries (``vqhps_full/vqhps/pve_mm``, ``..._lo``, ``n_frames``...).
        data: "synthetic demo" or "paper datasets".
        dataset: test-set label of the measured rows.
        backbone: backbone label of the image models.
        training_data: regime -> description of its training images.
        regimes, protocols: which rows to build.
        tables: regime -> the table (row ``regime``) its rows go to, e.g. ``scarce_emdb -> scarce`` where
            the paper reports it (absent = the regime's own name).

    Raises:
        ValueError: a method/regime has no metric in ``metrics``.
    """
    rows: list[dict[str, object]] = []
    with_oracle: set[str] = set()
    for regime in regimes:
        table = (tables or {}).get(regime, regime)
        common = {
            "dataset": dataset,
            "regime": table,
            "data": data,
            "training_data": training_data.get(regime, regime),
        }
        for method in ("vqhps", "baseline"):
            rows += label_rows(metrics, _label(method, regime), protocols, method=METHOD_NAMES[method],
                               backbone=backbone, **common)  # fmt: skip
        rows += difference_rows(metrics, _label("vqhps", regime), _label("baseline", regime), protocols,
                                method=DIFFERENCE_NAME, backbone=backbone, **common)  # fmt: skip
        if table in with_oracle:
            continue
        with_oracle.add(table)
        rows += label_rows(metrics, "oracle", protocols, method=METHOD_NAMES["oracle"],
                           backbone="none (GT mesh)",
                           **{**common, "training_data": "GT test meshes (no image)"})  # fmt: skip
        if any(k.startswith("constant/") for k in metrics):  # what learning nothing scores
            rows += label_rows(metrics, "constant", protocols, method=METHOD_NAMES["constant"],
                               backbone="none (no image)",
                               **{**common, "training_data": "mean of the train meshes"})  # fmt: skip
    return rows


def headline_numbers(
    metrics: Mapping[str, float],
    regimes: Sequence[str],
    protocols: Sequence[str] = DEFAULT_PROTOCOLS,
) -> dict[str, float]:
    """Differences behind the paper's claim, mm: VQ-HPS minus baseline (negative = VQ-HPS better) and
    VQ-HPS minus oracle (how far above its quantisation floor), per regime, protocol and metric.

    Where evaluate measured the paired difference, its interval comes along (``..._lo``, ``..._hi``).

    Returns:
        ``"<regime>/<protocol>/vqhps_minus_baseline_<metric>"`` (+ ``_lo``, ``_hi``) and
        ``".../vqhps_minus_oracle_<metric>"``.
    """
    out: dict[str, float] = {}
    for regime in regimes:
        vq, base = _label("vqhps", regime), _label("baseline", regime)
        for protocol in protocols:
            for m in METRIC_KEYS:
                key = f"{protocol}/{m}"
                v, b, o = (metrics.get(f"{x}/{key}") for x in (vq, base, "oracle"))
                if v is not None and b is not None:
                    name = f"{regime}/{protocol}/vqhps_minus_baseline_{m}"
                    out[name] = float(v) - float(b)
                    for bound in (LO, HI):
                        if (value := metrics.get(f"{vq}-{base}/{key}{bound}")) is not None:
                            out[name + bound] = float(value)
                if v is not None and o is not None:
                    out[f"{regime}/{protocol}/vqhps_minus_oracle_{m}"] = float(v) - float(o)
    return out
