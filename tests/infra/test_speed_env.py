"""A stage started without make (clean environment) runs with the allocator settings, read inside it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vqhps.infra import speed_env

# A stage entry point like vqhps.stages.*, whose run() reports what its own process sees: the variables
# and glibc's behaviour (a 64 MiB malloc is mmapped under glibc's defaults, served from the heap when
# MALLOC_MMAP_THRESHOLD_ is 16 GiB).
STAGE_SCRIPT = """
import ctypes, os, sys
from vqhps.cli import stage_main
from vqhps.infra.speed_env import SPEED_ENV

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]

def run(ctx):
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype, libc.malloc.restype = MallInfo2, ctypes.c_void_p
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(64 << 20)
    mmapped = libc.mallinfo2().hblkhd - before
    libc.free(ctypes.c_void_p(block))
    env = {k: float(os.environ[k]) for k in SPEED_ENV if k in os.environ}
    return {**env, "mmapped_mib": mmapped / 2**20, "guard": float(os.environ.get("VQHPS_SPEED_ENV", -1))}

sys.exit(stage_main("check_data", run))
"""


def _start_stage(tmp_path: Path, extra_env: dict[str, str]) -> dict[str, float]:
    """Start the stage as Snakemake/DVC/SLURM would, without make: a fresh process, a minimal env."""
    script = tmp_path / "stage.py"
    script.write_text(STAGE_SCRIPT)
    regimes = {"full": {"sources": ["anny"], "fraction": 1.0}}
    params = {
        "demo": {"seed": 0, "data_root": "data", "check_data": {"datasets": ["anny"]}, "regimes": regimes}
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    src = Path(speed_env.__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(src), "VQHPS_NO_TRACK": "1", **extra_env}
    args = [sys.executable, str(script), "--experiment", "demo", "--results", "results", "--no-track"]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((tmp_path / "results/demo/check_data/metrics.json").read_text())


def _glibc_with_mallinfo2() -> bool:
    import ctypes

    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and _glibc_with_mallinfo2()),
    reason="the allocator settings are glibc's (needs glibc >= 2.33 for mallinfo2)",
)


def test_stage_started_without_make_runs_with_the_settings(tmp_path) -> None:
    seen = _start_stage(tmp_path, {})
    for name, value in speed_env.SPEED_ENV.items():
        assert seen[name] == float(value), name
    assert seen["guard"] == 1.0  # re-executed once
    assert seen["mmapped_mib"] < 1  # glibc took the threshold: the 64 MiB block came from the heap


def test_settings_already_set_are_kept_and_the_guard_opts_out(tmp_path) -> None:
    seen = _start_stage(tmp_path, {"MALLOC_TOP_PAD_": "4096"})
    assert seen["MALLOC_TOP_PAD_"] == 4096.0  # the user's value, not ours
    assert seen["MALLOC_MMAP_THRESHOLD_"] == float(speed_env.SPEED_ENV["MALLOC_MMAP_THRESHOLD_"])
    default = _start_stage(tmp_path, {speed_env.GUARD: "0"})
    assert not set(speed_env.SPEED_ENV) & set(default)  # no re-exec: glibc's defaults
    assert default["mmapped_mib"] >= 64  # ... under which the same block is mmapped


def test_in_process_stage_calls_never_reexec(monkeypatch) -> None:
    for name in speed_env.SPEED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(speed_env.GUARD, raising=False)
    speed_env.ensure_speed_env(["--experiment", "demo"])  # would replace pytest's process if it did


def test_makefile_exports_the_same_values(repo) -> None:
    exported = dict(re.findall(r"^export (MALLOC_\w+) \?= (\d+)$", (repo / "Makefile").read_text(), re.M))
    assert exported == speed_env.SPEED_ENV
