"""Flat evaluate metrics: every mean with its sequence-bootstrap 95 % interval and its frame/sequence counts.

Keys written to ``evaluate/metrics.json`` (``<label>`` = :attr:`vqhps.eval.evaluation.MethodSpec.label`, e.g.
``vqhps_full``; ``<key>`` = ``<protocol>/<metric>`` in mm or an extra such as ``token_accuracy``):

- ``<label>/<key>``: pooled mean over the test frames; ``<label>/<key>_lo`` / ``_hi``: its interval;
- ``<label>/n_frames``, ``<label>/n_sequences``: what the mean is over;
- ``<a>-<b>/<protocol>/<metric>`` (+ ``_lo``, ``_hi``, ``n_frames``, ``n_sequences``): the paired
  difference A - B on the same frames (e.g. ``vqhps_full-baseline_full``);
- with several test sources, the same again per source, prefixed ``<source>:`` (never pooled across them).

A protocol tied to a test set (:attr:`vqhps.eval.protocols.Protocol.test_sources`, e.g. ``emdb`` on EMDB-1) is
summarised on that set's frames only. Every interval of one scope uses the same seed, hence the same
resampled sequences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vqhps.eval.bootstrap import Interval, paired_bootstrap, sequence_bootstrap
from vqhps.eval.protocols import METRIC_KEYS, PROTOCOLS

LO, HI = "_lo", "_hi"


def _series(res) -> dict[str, np.ndarray]:
    """All per-frame values of a result: errors (``<protocol>/<metric>``) and extras."""
    return {**res.errors, **res.extras}


def _protocol_mask(key: str, src: np.ndarray) -> np.ndarray:
    """Frames a key may be summarised on: all, or the test sources its protocol is defined for."""
    proto = PROTOCOLS.get(key.split("/", 1)[0]) if "/" in key else None
    if proto is None or not proto.test_sources:
        return np.ones(len(src), dtype=bool)
    return np.isin(src, list(proto.test_sources))


def _put(out: dict[str, float], key: str, iv: Interval) -> None:
    out[key], out[key + LO], out[key + HI] = iv.mean, iv.lo, iv.hi


def _counts(out: dict[str, float], label: str, iv: Interval) -> None:
    out.setdefault(f"{label}/n_frames", iv.n_frames)
    out.setdefault(f"{label}/n_sequences", iv.n_sequences)


def summarize_scope(
    results: Sequence, groups: np.ndarray, sources: np.ndarray, n_boot: int, seed: int
) -> dict[str, float]:
    """Means, intervals and counts of every result over the frames of one scope (see module doc).

    Args:
        results: :class:`vqhps.eval.evaluation.MethodResult` objects, restricted to the scope's frames or not.
        groups: (N_dataset,) sequence label of every dataset index (``res.index`` indexes it).
        sources: (N_dataset,) source of every dataset index.
        n_boot, seed: bootstrap replicates and seed.
    """
    out: dict[str, float] = {}
    for res in results:
        g, s = groups[res.index], sources[res.index]
        for key, values in _series(res).items():
            mask = _protocol_mask(key, s) & np.isfinite(values)
            if not mask.any():
                continue
            iv = sequence_bootstrap(values[mask], g[mask], n_boot, seed)
            _put(out, f"{res.spec.label}/{key}", iv)
            if (
                "/" in key
            ):  # counts of the error metrics (extras such as token accuracy cover the same frames)
                _counts(out, res.spec.label, iv)
    return out


def _aligned(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a and b of the dataset indices both evaluated, in the same order."""
    common, ia, ib = np.intersect1d(a.index, b.index, return_indices=True)
    if not len(common):
        raise ValueError(f"{a.spec.label} and {b.spec.label} share no test frame")
    return ia, ib


def paired_scope(
    pairs: Sequence[tuple], groups: np.ndarray, sources: np.ndarray, n_boot: int, seed: int
) -> dict[str, float]:
    """Paired differences ``<a>-<b>/<protocol>/<metric>`` (A - B, mm) with intervals, frames paired by index.

    Args:
        pairs: (result A, result B) tuples of :class:`vqhps.eval.evaluation.MethodResult`.
        groups, sources, n_boot, seed: as :func:`summarize_scope`.
    """
    out: dict[str, float] = {}
    for a, b in pairs:
        ia, ib = _aligned(a, b)
        g, s = groups[a.index[ia]], sources[a.index[ia]]
        label = f"{a.spec.label}-{b.spec.label}"
        for key, va in a.errors.items():
            if key not in b.errors or key.split("/", 1)[-1] not in METRIC_KEYS:
                continue
            va, vb = va[ia], b.errors[key][ib]
            mask = _protocol_mask(key, s) & np.isfinite(va) & np.isfinite(vb)
            if not mask.any():
                continue
            iv = paired_bootstrap(va[mask], vb[mask], g[mask], n_boot, seed)
            _put(out, f"{label}/{key}", iv)
            _counts(out, label, iv)
    return out


def _restrict(res, keep: np.ndarray):
    """A shallow copy of a result on the frames ``keep`` (bool over its rows)."""
    from dataclasses import replace

    return replace(
        res,
        index=res.index[keep],
        errors={k: v[keep] for k, v in res.errors.items()},
        extras={k: v[keep] for k, v in res.extras.items()},
    )


def summarize_all(
    results: Sequence,
    pairs: Sequence[tuple[str, str]],
    groups: Sequence[str],
    sources: Sequence[str],
    n_boot: int,
    seed: int,
) -> dict[str, float]:
    """Every summary of the evaluate stage: overall, and per source when there are several.

    Args:
        results: every :class:`vqhps.eval.evaluation.MethodResult` of the run.
        pairs: (label A, label B) of the paired differences to report (skipped where a label is absent).
        groups: (N_dataset,) sequence of every dataset index (per source: a name may repeat across sources).
        sources: (N_dataset,) source of every dataset index.
        n_boot, seed: bootstrap replicates and seed.

    Returns:
        Flat ``metrics.json`` entries (module doc).
    """
    src = np.asarray(sources, dtype=object)
    grp = np.asarray([f"{s}/{g}" for s, g in zip(src, groups, strict=True)], dtype=object)
    by_label = {r.spec.label: r for r in results}
    chosen = [(by_label[a], by_label[b]) for a, b in pairs if a in by_label and b in by_label]
    out = summarize_scope(results, grp, src, n_boot, seed) | paired_scope(chosen, grp, src, n_boot, seed)
    names = sorted(set(src.tolist()))
    if len(names) < 2:
        return out
    for name in names:
        part = [_restrict(r, src[r.index] == name) for r in results]
        part = [r for r in part if len(r.index)]
        labels = {r.spec.label: r for r in part}
        sub_pairs = [(labels[a.spec.label], labels[b.spec.label]) for a, b in chosen
                     if a.spec.label in labels and b.spec.label in labels]  # fmt: skip
        scoped = summarize_scope(part, grp, src, n_boot, seed) | paired_scope(
            sub_pairs, grp, src, n_boot, seed
        )
        out |= {f"{name}:{k}": v for k, v in scoped.items()}
    return out


def interval_of(metrics: Mapping[str, float], key: str) -> tuple[float | None, float | None]:
    """(lo, hi) of a summary key, or (None, None) when the metrics carry no interval for it."""
    lo, hi = metrics.get(key + LO), metrics.get(key + HI)
    return (None, None) if lo is None or hi is None else (float(lo), float(hi))
