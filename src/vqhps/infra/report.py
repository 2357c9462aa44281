"""Print what a pipeline run produced and where: each stage's outputs, sizes and metrics.

Usage: ``python -m vqhps.infra.report --experiment demo`` (``make demo`` ends with it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vqhps.pipeline import EXPERIMENTS, Pipeline


def describe(experiment: str, root: Path = Path(".")) -> str:
    """A human-readable listing of the experiment's stage outputs (missing ones marked)."""
    lines = [f"vqhps results for experiment '{experiment}':"]
    pipeline = Pipeline.load(root / "params.yaml")
    for name, regime in pipeline.jobs(experiment):
        paths = [root / p for p in pipeline.outputs(experiment, name, regime)]
        done = all(p.exists() for p in paths)
        label = f"{name} ({regime})" if regime else name
        lines.append(f"  {label:<26} {'ok' if done else 'NOT BUILT'}")
        for path in paths:
            if path.exists():
                lines.append(f"      {path}  ({_human(_size(path))})")
        metrics = paths[-1]
        if metrics.is_file():
            values = json.loads(metrics.read_text())
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items() if k != "stage_seconds")
            lines.append(f"      metrics: {shown}  [{_fmt(values.get('stage_seconds', 0))} s]")
    tables = sorted((root / "results" / experiment).glob("make_tables/tables/*.md"))
    if tables:
        lines.append("  tables: " + ", ".join(str(t) for t in tables))
    lines.append(
        "  MLflow: `mlflow ui --backend-store-uri sqlite:///mlflow.db --workers 1` then open http://127.0.0.1:5000"
    )
    return "\n".join(lines)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqhps.infra.report", description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="demo", choices=EXPERIMENTS)
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    args = parser.parse_args(argv)
    print(describe(args.experiment, args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
