"""make_tables formats CSV: neither its code deps nor the modules it runs pull in a model or torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vqhps.infra.code_deps import import_closure, stage_code

SRC = Path(__file__).resolve().parents[2] / "src"
# The torch-free schema modules of the model sections of params.yaml (vqhps.config types its fields with
# them): data, not model code; a change to them reaches every stage through the params anyway.
SCHEMAS = {"vqhps.models.mesh_vqvae_config", "vqhps.training.loss_weights"}

# Imports the stage module and every module of its closure (the ones run() imports inside functions too),
# then reports what got loaded.
_PROBE = """
import importlib, json, sys
from vqhps.infra.code_deps import import_closure
for name in sorted(import_closure("vqhps.stages.make_tables")):
    importlib.import_module(name)
print(json.dumps({"vqhps": sorted(m for m in sys.modules if m.startswith("vqhps")),
                  "heavy": sorted(m for m in ("torch", "mlflow") if m in sys.modules)}))
"""


def test_make_tables_code_deps_hold_no_model() -> None:
    closure = import_closure("vqhps.stages.make_tables")
    assert "vqhps.eval.tables" in closure and "vqhps.eval.released_rows" in closure  # what it does use
    assert closure >= SCHEMAS  # so the line below would see a model module if one came in
    assert not [m for m in closure - SCHEMAS if m.startswith(("vqhps.models.", "vqhps.training."))]
    schema_files = {m.replace(".", "/") + ".py" for m in SCHEMAS} | {
        "models/__init__.py",
        "training/__init__.py",
    }
    code = [p for p in stage_code("make_tables") if not any(p.endswith(f) for f in schema_files)]
    assert not [p for p in code if "/models/" in p or "/training/" in p or p.endswith("evaluation.py")]


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
    models = {m for m in loaded["vqhps"] if m.startswith(("vqhps.models.", "vqhps.training."))}
    assert models == SCHEMAS, models
