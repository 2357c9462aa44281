"""make_tables formats CSV: neither its code deps nor the modules it runs pull in a model or torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vqhps.infra.code_deps import import_closure, stage_code

SRC = Path(__file__).resolve().parents[2] / "src"

# Imports the stage module and every module of its closure (the ones run() imports inside functions too),
# then reports what got loaded.
_PROBE = """
import importlib, json, sys
from vqhps.infra.code_deps import import_closure
for name in sorted(import_closure("vqhps.stages.make_tables")):
    importlib.import_module(name)
print(json.dumps({"vqhps": sorted(m for m in sys.modules if m.startswith("vqhps")),
                  "heavy": sorted(m for m in ("torch", "mlflow", "vqhps.models") if m in sys.modules)}))
"""


def test_make_tables_code_deps_hold_no_model() -> None:
    closure = import_closure("vqhps.stages.make_tables")
    assert "vqhps.eval.tables" in closure and "vqhps.eval.released_rows" in closure  # what it does use
    assert not [m for m in closure if m.startswith("vqhps.models") or m.startswith("vqhps.training")]
    assert not [p for p in stage_code("make_tables") if "/models/" in p or p.endswith("evaluation.py")]


def test_make_tables_runs_without_torch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout)
    assert "vqhps.stages.make_tables" in loaded["vqhps"] and "vqhps.eval.measured_rows" in loaded["vqhps"]
    assert loaded["heavy"] == [], loaded["heavy"]
