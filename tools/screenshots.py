"""Screenshots of the MLflow UI (and of Snakemake's report) in headless Chromium, for the README.

Starts the UI with the README's own ``mlflow ui`` line (plus ``--host 127.0.0.1 --port <free port>``) in a
directory holding the store ``mlflow.db``, opens each view in headless Chromium (Debian's
``chromium-headless-shell`` or ``chromium``), writes one PNG per view and checks the text of the rendered
pages: every demo stage run by name, with its git commit and hardware tags.

    python tools/screenshots.py --store-dir <dir with mlflow.db> --out docs/screenshots \
        [--report report.html]

Exits 2 with one line when no Chromium is installed or a view lacks what it should show.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
WINDOW = (1280, 800)  # px, the size of every screenshot
EXPERIMENT = "vqhps/demo"
TRAINING_RUN = "train_vqhps.full"
COMPARED = ("train_vqhps.full", "train_vqhps.scarce")
HARDWARE_TAGS = ("cpu", "cpu_count")


@dataclass(frozen=True)
class View:
    """One page of the UI: its file stem, its route (after ``#``) and the texts it must show."""

    name: str
    route: str
    must_show: tuple[str, ...]
    width: int = WINDOW[0]  # px; wider for a page that renders only the runs in view
    scroll_to: str = ""  # a heading brought to the top of the screenshot


def find_chromium() -> str | None:
    """The first headless-capable Chromium on PATH (``VQHPS_CHROMIUM`` names one explicitly), or None."""
    if os.environ.get("VQHPS_CHROMIUM"):
        return shutil.which(os.environ["VQHPS_CHROMIUM"])
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def readme_ui_command(readme: Path = README) -> tuple[dict[str, str], list[str]]:
    """The README's ``mlflow ui`` line split into its environment assignments and its words."""
    blocks = re.findall(r"```bash\n(.*?)```", readme.read_text(), re.S)
    (line,) = [ln for b in blocks for ln in b.splitlines() if re.search(r"(^|\s)mlflow ui\s", ln)]
    words = shlex.split(line.split(" #")[0])
    at = words.index("mlflow")
    return dict(w.split("=", 1) for w in words[:at]), words[at:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(base: str, server: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow ui exited {server.returncode}: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow ui did not answer at {base} within {seconds:.0f} s")


@contextmanager
def mlflow_ui(store_dir: Path, mlflow_bin: str = "mlflow", seconds: float = 120) -> Iterator[str]:
    """Run the README's ``mlflow ui`` in ``store_dir`` (its ``sqlite:///mlflow.db``); yields the base URL."""
    env, words = readme_ui_command()
    port = _free_port()
    cmd = [mlflow_bin, *words[1:], "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        cmd, cwd=store_dir, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server, seconds)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def api(base: str, path: str, body: dict) -> dict:
    """POST ``body`` to MLflow's REST endpoint ``/api/2.0/mlflow/<path>``."""
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def demo_runs(base: str, experiment: str = EXPERIMENT) -> tuple[str, dict[str, dict]]:
    """The experiment's id and its runs by run name (the latest run of each name)."""
    found = api(base, "experiments/search", {"max_results": 1000})["experiments"]
    ids = [e["experiment_id"] for e in found if e["name"] == experiment]
    if not ids:
        raise RuntimeError(f"no MLflow experiment {experiment!r} in the store: run `snakemake demo` first")
    body = {"experiment_ids": ids, "max_results": 1000, "order_by": ["attributes.start_time ASC"]}
    runs = api(base, "runs/search", body).get("runs", [])
    return ids[0], {r["info"]["run_name"]: r for r in runs}


def tags_of(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def metric_route(key: str, run_ids: list[str], experiment_id: str) -> str:
    """The UI's page of one metric's curves (against step) for ``run_ids``."""
    query = {
        "runs": json.dumps(run_ids), "metric": json.dumps(key), "experiments": json.dumps([experiment_id]),
        "plot_metric_keys": json.dumps([key]), "plot_layout": "{}", "x_axis": "step",
        "y_axis_scale": "linear", "line_smoothness": "1", "show_point": "true",
        "deselected_curves": "[]", "last_linear_y_axis_range": "[]",
    }  # fmt: skip
    return "/metric?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)


def views(experiment_id: str, runs: dict[str, dict]) -> list[View]:
    """The README's views: experiments, the demo's runs, one training run, the validation PVE curves of
    the full and scarce runs, those two compared, and every run compared (the page that lists each run's
    tags side by side: its text is checked, its screenshot not committed)."""
    missing = [n for n in (TRAINING_RUN, *COMPARED) if n not in runs]
    if missing:
        raise RuntimeError(f"the store has no run named {missing}: run `snakemake demo` with MLflow on")
    run_id = runs[TRAINING_RUN]["info"]["run_id"]
    compared = [runs[n]["info"]["run_id"] for n in COMPARED]
    every = [r["info"]["run_id"] for r in runs.values()]
    exps = json.dumps([experiment_id])
    tags = tags_of(runs[TRAINING_RUN])
    lacking = [k for k in ("git_commit", *HARDWARE_TAGS) if k not in tags]
    if lacking:
        raise RuntimeError(f"the {TRAINING_RUN} run has no tags {lacking}: is it still running?")
    shown = (TRAINING_RUN, "git_commit", tags["git_commit"], "cpu", tags["cpu"], "cpu_count")
    route = f"/experiments/{experiment_id}/runs/{run_id}"
    # every run's name, and the git commit and hardware tags with each value they take
    values = {tags_of(r).get(k) for r in runs.values() for k in ("git_commit", *HARDWARE_TAGS)}
    every_tag = (*runs, "git_commit", *HARDWARE_TAGS, *sorted(v for v in values if v))
    return [
        View("experiments", "/experiments", (EXPERIMENT,)),
        View("runs", f"/experiments/{experiment_id}/runs", tuple(runs)),
        View("training_run", route, shown),
        View("val_pve_curves", metric_route("val_pve_mm", compared, experiment_id), ("val_pve_mm",)),
        View(
            "compare_full_scarce",
            f"/compare-runs?runs={json.dumps(compared)}&experiments={exps}",
            COMPARED,
            scroll_to="Run details",
        ),
        View(
            "compare_all",
            f"/compare-runs?runs={json.dumps(every)}&experiments={exps}",
            every_tag,
            400 * len(runs),
        ),
    ]


class Chromium:
    """One headless Chromium driven over its DevTools pipe (``--remote-debugging-pipe``: JSON messages on
    fds 3/4, no websocket library needed), one tab at :data:`WINDOW`, one profile for every page (so the
    MLflow Assistant panel, closed once, stays closed)."""

    def __init__(self, binary: str, profile: Path):
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()

        def wire_fds() -> None:  # in the child: its fd 3 reads our commands, fd 4 writes the answers
            for fd, target in ((to_browser, 3), (from_browser, 4)):
                os.dup2(fd, target) if fd != target else os.set_inheritable(fd, True)

        flags = ["--headless", "--disable-gpu", "--hide-scrollbars", "--mute-audio", "--no-first-run",
                 "--remote-debugging-pipe", f"--user-data-dir={profile}",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}"]  # fmt: skip
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
        self._proc = subprocess.Popen(  # noqa: PLW1509 (preexec_fn: the two fds must be 3 and 4)
            [binary, *flags, "about:blank"], preexec_fn=wire_fds, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        self.resize(WINDOW[0])

    def resize(self, width: int) -> None:
        """Make the page ``width`` px wide (and :data:`WINDOW`'s height)."""
        size = {"width": width, "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False}
        self._send("Emulation.setDeviceMetricsOverride", size, self._session)

    def _send(self, method: str, params: dict, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed its DevTools pipe during {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"Chromium: {method} failed: {answer['error']}")
                return answer["result"]

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the tab."""
        body = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        return self._send("Runtime.evaluate", body, self._session)["result"].get("value")

    def open(self, url: str, must_show: tuple[str, ...] = (), seconds: float = 60) -> str:
        """Load ``url`` and wait until its text holds every ``must_show`` (or ``seconds`` pass) and the
        network is quiet; returns the page text (``document.body.innerText``)."""
        self._send("Page.navigate", {"url": "about:blank"}, self._session)  # a full load, even if only
        self._send("Page.navigate", {"url": url}, self._session)  # the #fragment differs
        deadline = time.monotonic() + seconds
        text = ""
        while time.monotonic() < deadline:
            time.sleep(1.0)
            text = self.evaluate("document.body ? document.body.innerText : ''") or ""
            if all(s in text for s in must_show) and "Loading" not in text:
                break
        time.sleep(2.0)  # charts draw after their data arrives
        if self.evaluate(_CLOSE_ASSISTANT):
            time.sleep(2.0)
        return self.evaluate("document.body.innerText") or ""

    def scroll_to(self, heading: str) -> None:
        """Scroll the page so the innermost element whose whole text is ``heading`` is at the top."""
        self.evaluate(f"""(() => {{
          const all = [...document.querySelectorAll('*')]
            .filter(e => e.innerText && e.innerText.trim() === {json.dumps(heading)});
          if (all.length) all[all.length - 1].scrollIntoView();
        }})()""")
        time.sleep(1.0)

    def screenshot(self, png: Path) -> None:
        data = self._send("Page.captureScreenshot", {"format": "png"}, self._session)["data"]
        png.write_bytes(base64.b64decode(data))
        shrink_png(png)

    def close(self) -> None:
        os.close(self._to_browser)  # Chromium exits when its pipe closes
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        os.close(self._from_browser)


# MLflow 3 opens its Assistant side panel on a first visit from localhost: close it (True when it was open).
_CLOSE_ASSISTANT = """(() => {
  const panel = [...document.querySelectorAll('div')].find(d => d.innerText.startsWith('MLflow Assistant'));
  const button = panel && [...panel.querySelectorAll('button')].find(b => /close/i.test(b.ariaLabel || ''));
  if (button) { button.click(); return true; }
  return false;
})()"""


def shrink_png(path: Path, colours: int = 128) -> None:
    """Rewrite ``path`` as a palette PNG (UI screenshots have few colours: ~5x smaller)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def missing_texts(view: View, text: str) -> list[str]:
    return [s for s in view.must_show if s not in text]


def screenshot_ui(chromium: str, store_dir: Path, out: Path, mlflow_bin: str = "mlflow") -> dict[str, str]:
    """Screenshots of every view under ``out`` (``<view>.png``); returns each view's page text.

    Raises RuntimeError naming the view and what it lacks when a page does not show its runs or tags.
    """
    out.mkdir(parents=True, exist_ok=True)
    texts = {}
    with mlflow_ui(store_dir, mlflow_bin) as base, browser(chromium) as tab:
        experiment_id, runs = demo_runs(base)
        for view in views(experiment_id, runs):
            tab.resize(view.width)
            texts[view.name] = text = tab.open(f"{base}/#{view.route}", view.must_show)
            if lacking := missing_texts(view, text):
                raise RuntimeError(f"the {view.name} page ({view.route}) does not show {lacking}")
            if view.scroll_to:
                tab.scroll_to(view.scroll_to)
            if view.name != "compare_all":
                tab.screenshot(out / f"{view.name}.png")
    return texts


def screenshot_report(chromium: str, report: Path, out: Path) -> str:
    """A screenshot of Snakemake's HTML report as ``out/snakemake_report.png``; returns its page text."""
    with browser(chromium) as tab:
        text = tab.open(report.resolve().as_uri())
        tab.screenshot(out / "snakemake_report.png")
    return text


@contextmanager
def browser(chromium: str) -> Iterator[Chromium]:
    """A headless Chromium with a throw-away profile, closed on exit."""
    with tempfile.TemporaryDirectory(prefix="vqhps-chromium-") as profile:
        tab = Chromium(chromium, Path(profile))
        try:
            yield tab
        finally:
            tab.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store-dir", type=Path, required=True, help="directory holding mlflow.db")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--report", type=Path, help="Snakemake's report.html, screenshotted too")
    parser.add_argument("--mlflow", default=str(Path(sys.executable).parent / "mlflow"), help="its binary")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print(f"no Chromium on PATH (tried {', '.join(CHROMIUM_NAMES)}): install chromium-headless-shell")
        return 2
    if not (args.store_dir / "mlflow.db").is_file():
        print(f"{args.store_dir / 'mlflow.db'}: no MLflow store there; pass --store-dir of a demo run")
        return 2
    try:
        screenshot_ui(chromium, args.store_dir, args.out, args.mlflow)
        if args.report:
            screenshot_report(chromium, args.report, args.out)
    except RuntimeError as error:
        print(error)
        return 2
    for png in sorted(args.out.glob("*.png")):
        print(f"{png}  {png.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
