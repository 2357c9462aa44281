"""The README's `mlflow ui` command, as written (plus a free port), on the tiny demo's store: the server
answers and lists every stage run of the demo by its stage name, with its params, git commit and hardware."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from helpers.e2e import BIN
from helpers.readme import readme_block
from vqhps.pipeline import Pipeline

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode(), headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait_until_up(port: int, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"mlflow ui exited {server.returncode}: {server.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow ui did not answer on port {port} within {seconds} s")


def test_mlflow_ui_as_the_readme_writes_it_serves_the_demo_runs(tiny_demo_run, tmp_path):
    work, uri = tiny_demo_run
    shutil.copy(uri.removeprefix("sqlite:///"), tmp_path / "mlflow.db")  # the README's store: ./mlflow.db
    (line,) = [c for c in readme_block("mlflow ui") if "mlflow ui" in c]
    words = shlex.split(line)
    env = {k: v for k, v in (w.split("=", 1) for w in words[: words.index("mlflow")])}
    port = _free_port()
    cmd = [
        str(BIN / "mlflow"),
        *words[words.index("mlflow") + 1 :],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(
        cmd, cwd=tmp_path, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_until_up(port, server)
        experiments = _api(port, "experiments/search", {"max_results": 100})["experiments"]
        demo = next(e for e in experiments if e["name"] == "vqhps/demo")
        runs = _api(port, "runs/search", {"experiment_ids": [demo["experiment_id"]], "max_results": 1000})[
            "runs"
        ]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    names = {r["info"]["run_name"]: r for r in runs}
    expected = {f"{s}.{r}" if r else s for s, r in Pipeline.load(work / "params.yaml").jobs("demo")}
    assert expected <= set(names), f"runs missing from the UI: {expected - set(names)}"
    for name in expected:
        data = names[name]["data"]
        tags = {t["key"]: t["value"] for t in data.get("tags", [])}
        assert tags["stage"] == name and tags["experiment"] == "demo"
        assert tags.get("git_commit") and tags.get("cpu") and tags.get("cpu_count"), (name, tags)  # "unknown"
        # commit here: the fixture's work dir is a git repository without a commit
        assert data.get("params"), f"{name} logged no params"
        assert names[name]["info"]["status"] == "FINISHED"
