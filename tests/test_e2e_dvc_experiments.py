"""DVC's experiment workflow on the tiny demo, each command as the README writes it: record the Snakemake run,
`dvc exp run -S ...`, `dvc exp show`, `dvc params diff`, `dvc metrics diff`, `dvc plots diff/show`. HEAD's
metrics and curves come from DVC's cache (results/ is git-ignored), and the plots page draws offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from helpers.e2e import BIN, run
from helpers.readme import readme_block

pytestmark = pytest.mark.slow

HEADLINE = re.compile(r"^\w+/vqhps/pve_mm$")  # the README's --keep pattern for the metrics


def _sh(line: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return run(["bash", "-c", line], cwd, env={"COLUMNS": "250", **env})


def _chart_specs(html: str) -> dict[str, dict]:
    """The Vega-Lite spec of each chart of a `dvc plots` page, by its div id."""
    found = re.findall(
        r'<div id = "(\w+)">\s*<script type = "text/javascript">\s*var spec = (\{.*?\});\n', html, re.S
    )
    return {div: json.loads(spec) for div, spec in found}


def _rendered_charts(page: Path) -> set[str] | None:
    """Ids of the chart divs a headless Chromium drew marks into (None without a Chromium here)."""
    browser = next(
        (shutil.which(b) for b in ("chromium-headless-shell", "chromium") if shutil.which(b)), None
    )
    if browser is None:
        return None
    out = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return set(
        re.findall(r'<div id="(\w+)" class="vega-embed[^"]*">.{0,400}?class="marks"', out.stdout, re.S)
    )


def test_dvc_experiment_workflow_on_the_demo(tiny_demo_run, tmp_path):
    src, _ = tiny_demo_run
    work = tmp_path / "work"
    shutil.copytree(src, work, symlinks=True)  # the shared run stays as it is for the other tests
    (work / ".gitignore").write_text((Path(__file__).parents[1] / ".gitignore").read_text())
    # Shorter image-model runs for the experiment (8 steps, not the fixture's 24: ~1 min less on the loaded
    # 2-core machine), set before the run is recorded so that only the lr differs between HEAD and it.
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["demo"]["image_training"].update(steps=8, val_every=4, ckpt_every=4)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "config", "user.email", "test@example.invalid"], work)
    run(["git", "config", "user.name", "vqhps test"], work)
    run(["git", "add", "-A"], work)  # the project as a clone has it committed, results/ ignored
    run(["git", "commit", "-qm", "the project"], work)
    run([str(BIN / "python"), "-m", "vqhps.infra.dvc_html"], work)  # what `make install` does
    before = {
        k: v
        for k, v in json.loads((work / "results/demo/evaluate/metrics.json").read_text()).items()
        if HEADLINE.match(k)
    }
    dvcfile = yaml.safe_load((work / "dvc.yaml").read_text())
    charts = {next(iter(p)): next(iter(p.values())) for p in dvcfile["plots"] if isinstance(p, dict)}
    for props in charts.values():  # every declared curve column is one the trainers write
        for csv, columns in props["y"].items():
            header = (work / csv).read_text().splitlines()[0].split(",")
            assert set(columns) <= set(header), f"{csv} lacks {set(columns) - set(header)}"

    lines = readme_block("dvc exp run -S")
    outputs, seconds = {}, {}
    for line in lines:
        start = time.perf_counter()
        outputs[line] = _sh(line, work).stdout
        seconds[line] = time.perf_counter() - start
    print({k.split(" ")[1] + " " + k.split(" ")[2]: round(v, 1) for k, v in seconds.items()})
    exp_run = next(k for k in lines if k.startswith("dvc exp run"))
    assert "Running stage 'demo.train_vqhps.full'" in outputs[exp_run], "the shared lr feeds both models"
    assert "Running stage 'demo.train_baseline.scarce'" in outputs[exp_run]
    assert "Running stage 'demo.train_mesh_vqvae'" not in outputs[exp_run], (
        "only what the param feeds re-runs"
    )
    after = json.loads((work / "results/demo/evaluate/metrics.json").read_text())

    # `dvc exp show`: a few columns, HEAD's values read from the cache (no "!"), the experiment's new ones.
    show = outputs[next(k for k in lines if k.startswith("dvc exp show"))]
    header = next(row for row in show.splitlines() if "Experiment" in row).split()
    assert set(header) == {"Experiment", "Created", "demo.image_training.lr", *before}, header
    branch = run(["git", "rev-parse", "--abbrev-ref", "HEAD"], work).stdout.strip()
    rows = {r.split()[0]: r for r in show.splitlines() if r.split() and r.split()[0] in ("workspace", branch)}
    assert "!" not in show and "0.001" in rows[branch].split() and "0.0003" in rows["workspace"].split(), show
    table = json.loads(run([str(BIN / "dvc"), "exp", "show", "--json"], work).stdout)
    head = next(r for r in table if r.get("name") == branch)
    head_metrics = head["data"]["metrics"]["results/demo/evaluate/metrics.json"]["data"]
    exp_metrics = head["experiments"][0]["revs"][0]["data"]["metrics"]["results/demo/evaluate/metrics.json"][
        "data"
    ]
    for key, value in before.items():
        assert head_metrics[key] == pytest.approx(value) and exp_metrics[key] == pytest.approx(after[key]), (
            key
        )

    params = outputs["dvc params diff"]
    assert re.search(r"demo\.image_training\.lr\s+0\.001\s+0\.0003", params), params
    assert "demo.image_training.steps" not in params, "only the changed param"
    metrics = outputs["dvc metrics diff"]
    for regime in ("full", "scarce"):
        key = f"vqhps_{regime}/vqhps/pve_mm"
        found = re.search(rf"evaluate/metrics\.json\s+{re.escape(key)}\s+([\d.]+)\s+([\d.]+)", metrics)
        assert found, metrics
        assert float(found.group(1)) == pytest.approx(before[key], abs=1e-3)
        assert float(found.group(2)) == pytest.approx(after[key], abs=1e-3)
    assert "oracle/vqhps/pve_mm" not in metrics, "the oracle does not depend on VQ-HPS's lr"

    # `dvc plots diff` (then `show`, which rewrites the page): charts of both revisions, offline.
    import vl_convert

    page = work / "dvc_plots/index.html"
    for line in (k for k in lines if k.startswith("dvc plots")):
        _sh(line, work)  # run again, one after the other, to check each page
        html = page.read_text()
        assert not re.search(r"<script[^>]+src=", html), "the page loads a script from elsewhere"
        specs = _chart_specs(html)
        assert set(charts) <= set(specs), f"charts missing: {set(charts) - set(specs)}"
        revs = {row["rev"] for row in specs["demo_val_pve"]["data"]["values"]}
        assert revs == ({"workspace", "HEAD"} if "diff" in line else {"workspace"}), revs
        for pid, props in charts.items():
            assert specs[pid]["title"]["text"] == props["title"]
            svg = vl_convert.vegalite_to_svg(specs[pid])  # draws with the same Vega-Lite, no network
            assert props["y_label"] in svg and props["x_label"] in svg, pid
        for rev in revs:
            assert (page.parent / f"static/{rev}_results_demo_evaluate_plots_errors_vqhps.png").is_file()
        drawn = _rendered_charts(page)
        if drawn is not None:
            assert set(charts) <= drawn, f"Chromium drew no marks in {set(charts) - drawn}"
