"""Dataset download checks: every missing or malformed item of every requested dataset, in one report."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vqhps.datacheck.manifest import Manifest, Problem, check_manifest, record_entry
from vqhps.datacheck.manifests import MANIFESTS, build_manifest

__all__ = ["CheckReport", "Problem", "MANIFESTS", "build_manifest", "check_datasets", "diff_records"]


@dataclass
class CheckReport:
    """Outcome of :func:`check_datasets`.

    Attributes:
        data_root: the root the datasets were looked for in.
        manifests: the manifests checked, in request order.
        problems: every missing or malformed item (optional datasets' problems included, flagged).
    """

    data_root: Path
    manifests: list[Manifest]
    problems: list[Problem]
    _results: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when no required (non-optional) item is missing or malformed."""
        return not any(not p.optional for p in self.problems)

    def message(self) -> str:
        """One human-readable message listing every problem, grouped by dataset, with URL and target path."""
        if not self.problems:
            return f"All {len(self.manifests)} dataset(s) present under {self.data_root}."
        by_name = {m.name: m for m in self.manifests}
        groups: dict[str, list[Problem]] = {}
        for p in self.problems:
            groups.setdefault(p.dataset, []).append(p)
        lines = [
            f"Dataset check: {len(self.problems)} problem(s) in {len(groups)} of {len(self.manifests)} "
            f"dataset(s) "
            f"under data root {self.data_root}. Nothing is downloaded automatically (licensed data):"
        ]
        for name, probs in groups.items():
            m = by_name[name]
            tag = " (optional)" if m.optional else ""
            lines += [
                "",
                f"[{name}] {m.title}{tag}",
                f"  get it from : {m.url}",
                f"  put it in   : {probs[0].target}",
            ]
            if m.how:
                lines.append(f"  how         : {m.how}")
            lines.append(f"  needed for  : {m.breaks}")
            lines += [f"  - {p.path}: {p.problem}" for p in probs]
        return "\n".join(lines)

    def record(self) -> dict:
        """JSON-able record per dataset: file counts, total bytes, sha256 of small files, listing digests."""
        return {
            "data_root": str(self.data_root),
            "ok": self.ok,
            "datasets": {
                m.name: record_entry(m, self.data_root, self._results[m.name])
                for m in self.manifests
                if m.name in self._results and not any(p.dataset == m.name for p in self.problems)
            },
        }


def check_datasets(
    names: list[str], data_root: str | os.PathLike, options: dict | None = None, quick: bool = False
) -> CheckReport:
    """Check every requested dataset under ``data_root``; never stops at the first problem, never raises for
    missing or malformed data.

    Args:
        names: dataset ids (keys of :data:`MANIFESTS`), e.g. ``["smplh", "3dpw"]``.
        data_root: folder holding the datasets (each manifest says where below it).
        options: per-dataset manifest options, e.g.
            ``{"3dpw": {"n_train": 24}, "amass": {"subsets": ["CMU"]}}``.
        quick: open only a sample of each item's files (``Item.validate_sample``); else every file a stage
            reads goes through the stage's own reader.

    Raises:
        ValueError: an unknown dataset name or option (a configuration error, not missing data).
    """
    options = options or {}
    stray = sorted(set(options) - set(names))
    if stray:
        raise ValueError(f"options given for dataset(s) {stray} that are not checked; checked: {names}")
    manifests = [build_manifest(n, **options.get(n, {})) for n in names]
    report = CheckReport(Path(data_root), manifests, [])
    for m in manifests:
        problems, results = check_manifest(m, Path(data_root), quick)
        report.problems += problems
        report._results[m.name] = results
    return report


def diff_records(old: dict, new: dict) -> list[str]:
    """What changed between two :meth:`CheckReport.record` outputs (per dataset and item).

    Returns:
        One line per changed file digest, listing digest, count or byte total, and per dataset added/removed;
        empty when the downloads are unchanged.
    """
    out: list[str] = []
    old_ds, new_ds = old.get("datasets", {}), new.get("datasets", {})
    for name in sorted(set(old_ds) | set(new_ds)):
        if name not in new_ds or name not in old_ds:
            out.append(f"{name}: {'no longer recorded' if name not in new_ds else 'newly recorded'}")
            continue
        for pattern in sorted(set(old_ds[name]["items"]) | set(new_ds[name]["items"])):
            a = old_ds[name]["items"].get(pattern, {})
            b = new_ds[name]["items"].get(pattern, {})
            for key in ("files", "bytes", "listing_sha256"):
                if a.get(key) != b.get(key):
                    out.append(f"{name}/{pattern}: {key} {a.get(key)} -> {b.get(key)}")
            for path in sorted(set(a.get("sha256", {})) | set(b.get("sha256", {}))):
                if a.get("sha256", {}).get(path) != b.get("sha256", {}).get(path):
                    out.append(f"{name}/{path}: sha256 changed")
    return out
