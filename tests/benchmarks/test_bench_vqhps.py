"""The README's VQ-HPS benchmark runs on the committed params (demo config) and prints its figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_benchmark_prints_rate_fraction_and_profile():
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_vqhps.py"), "--configs", "demo"]
    cmd += ["--iters", "1", "--threads", "1", "--profile"]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    fraction = re.search(r"= (\d+\.\d+) of the matmul rate", res.stdout)
    assert fraction and 0 < float(fraction.group(1)) < 2, res.stdout
    line = next(line for line in res.stdout.splitlines() if "step time:" in line)
    shares = [int(v) for v in re.findall(r"(?:forward|backward|optimizer) (\d+)%", line)]
    assert len(shares) == 3 and abs(sum(shares) - 100) <= 2, res.stdout
    assert "top ops (self CPU): aten::" in res.stdout
