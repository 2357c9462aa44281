"""Every command the README shows is run by a test (or CI) as written, or says here why not.

A README command missing from :data:`RUN_BY` fails the test, and so does an entry naming a test that does not
exist or a command the README no longer shows: the list cannot drift from the README.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.readme import readme_commands

TESTS = Path(__file__).resolve().parent
_EXP = "tests/test_e2e_dvc_experiments.py::test_dvc_experiment_workflow_on_the_demo"
_DVC_REPRO = "tests/test_e2e_pipeline.py::test_plain_dvc_repro_runs_the_demo_and_reruns_only_what_changed"
_PAPER = "tests/test_e2e_pipeline.py::test_paper_command_without_data_fails_fast_listing_everything"
_VENV = "tests/test_workflow_habits.py::test_venv_snakemake_runs_a_stage_without_an_activated_venv"
_SLURM = "tests/test_workflow_habits.py::test_slurm_profile_passes_the_executor_plugins_validation"
_POOLER_CLI = (
    "tests/models/test_meshconv_pooler.py::test_cli_builds_and_saves_the_paper_hierarchy_from_an_obj"
)
_RELEASED = "tests/models/test_released.py::test_mesh_vqvae_reproduces_the_original_tokens_and_meshes"
_TINY_RUN = "tests/conftest.py::tiny_demo_run"
_STUDY = "tests/test_workflow_habits.py::test_snakemake_study_dry_run_plans_every_study_regime"
_BENCH = "not run: prints throughput figures, minutes each on the 2-core machine"

# README command -> the test (``tests/<file>::<function>``) or CI step that runs it, or ``not run: why``.
RUN_BY: dict[str, str] = {
    "make demo": "not run: 20 min; its two commands are: `snakemake demo` ("
    + _TINY_RUN
    + ", tiny params) and "
    "`python -m vqhps.infra.report` (tests/test_readme_commands.py::test_report_lists_the_demo_outputs)",
    "make test": "ci: .ci/run",
    "snakemake demo": _TINY_RUN + " (tiny params)",
    "snakemake paper": "tests/test_e2e_paper.py::test_snakemake_paper_builds_the_image_and_mesh_sets",
    "snakemake study --cores 2": _STUDY + " (dry run, -n); the full study (46 min) ran by hand",
    "snakemake study": _STUDY + " (dry run, -n)",
    "make install": "ci: .ci/run (`make test` installs first)",
    "pip install --no-deps -e .": "ci: .ci/run (`make install` runs it)",
    "conda env create -f environment.yml": "not run: no conda here; tests/test_environment.py keeps its pins",
    "source .venv/bin/activate": "not run: shell setup; " + _VENV + " runs the venv's tools by path",
    ".venv/bin/snakemake all ...": _VENV,
    "snakemake all --cores 8 --resources gpu=1": _PAPER,
    "snakemake --cores 8 --resources gpu=1 -- all": "tests/test_readme_commands.py::test_target_after_dashes",
    "snakemake --cores 8 --resources gpu=1 all": "not run: the README shows it as the form that crashes",
    "$EDITOR params.yaml": "not run: an editor; " + _DVC_REPRO + " edits params.yaml",
    "dvc status": _DVC_REPRO,
    "dvc repro": _DVC_REPRO,
    "dvc repro demo.render_images": _DVC_REPRO,
    "dvc params diff && dvc metrics diff": _EXP + " (each of the two)",
    "dvc repro workflow/paper/dvc.yaml": "tests/test_e2e_pipeline.py::"
    "test_paper_dvc_file_without_data_stops_in_check_data_listing_everything",
    "dvc commit -f dvc.yaml": _EXP,
    'git add dvc.lock && git commit -m "demo run"': _EXP,
    "dvc exp run -S demo.image_training.lr=3e-4": _EXP,
    "dvc exp show --drop '.*' --keep 'Experiment|Created|^demo\\.image_training\\.lr$|^\\w+/vqhps/pve_mm$'": _EXP,  # noqa: E501
    "dvc params diff": _EXP,
    "dvc metrics diff": _EXP,
    "dvc plots diff": _EXP,
    "dvc plots show": _EXP,
    "dvc exp run": _EXP,
    "dvc exp show": _EXP,
    "dvc plots": _EXP,
    "python -m vqhps.infra.dvc_html": _EXP,
    "dvc config cache.type hardlink,symlink": _TINY_RUN + " (helpers.e2e.make_workdir)",
    "python -m vqhps.pipeline --write-dvc": "tests/test_pipeline.py::test_dvc_files_are_generated_from_pipeline"  # noqa: E501
    " (the files equal its output)",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:///mlflow.db --workers 1": (  # noqa: E501
        "tests/test_e2e_mlflow_ui.py::test_mlflow_ui_as_the_readme_writes_it_serves_the_demo_runs (+ --port)"
    ),
    "python tools/screenshots.py --store-dir <dir with mlflow.db> --report report.html": (
        "tests/test_e2e_mlflow_screenshots.py::"
        "test_mlflow_ui_screenshots_show_every_stage_run_with_commit_and_hardware (the UI views; skipped "
        "without Chromium); its --report screenshot is not tested (one page load of an existing file)"
    ),
    "snakemake demo --report report.html": "tests/test_e2e_report.py::"
    "test_snakemake_report_as_typed_holds_tables_plots_and_captions",
    "snakemake all --profile workflow/profiles/slurm": _SLURM + " (dry run, -n)",
    "python -m vqhps.stages.<stage>": _TINY_RUN + " (every rule runs one)",
    "python -m vqhps.stages.check_data --experiment paper": _PAPER + " (its check_data job)",
    "python -m vqhps.infra.report --experiment demo": "tests/test_readme_commands.py::test_report_lists_the_demo_outputs",  # noqa: E501
    "python -m vqhps.models.mesh_vqvae --template data/body_models/smplh/neutral/model.npz --experiment paper "  # noqa: E501
    "--summary --save-connections /tmp/connections": _POOLER_CLI + " (on MeshConvolution's template.obj)",
    "python -m vqhps.models.mesh_vqvae --template <model.npz> --experiment paper --summary": _POOLER_CLI,
    "python -m vqhps.models.mesh_vqvae --connections data/mesh_connections/ConnectionMatrices --summary": (
        "tests/models/test_mesh_vqvae.py::test_dfaust2_shaped_files_give_the_paper_parameter_counts"
    ),
    "PYTHONPATH=src python benchmarks/run_vqvae_full_topology.py --out results/full_topology": (
        "tests/benchmarks/test_run_vqvae_full_topology.py::test_full_topology_run_writes_its_metrics (few steps)"  # noqa: E501
    ),
    "python -m vqhps.models.released --mesh-vqvae data/released/mesh_vqvae_54 --connections "
    "data/mesh_connections/ConnectionMatrices --vqhps data/released/vqhps_hrnet --tpose data/released/tpose.npy "  # noqa: E501
    "--j-regressor data/body_models/J_regressor_h36m.npy --out results/released": _RELEASED
    + " (on the original's test checkpoint)",
    "python -m vqhps.models.released": _RELEASED,
    "python benchmarks/bench_data.py": _BENCH,
    "python benchmarks/bench_mesh_vqvae.py": _BENCH,
    "python benchmarks/bench_vqhps.py": _BENCH,
    "python benchmarks/bench_loader.py": _BENCH,
    "python benchmarks/bench_tokenize.py": _BENCH,
}


def _cited_tests(where: str) -> list[tuple[str, str]]:
    return re.findall(r"tests/([\w/]+\.py)::(\w+)", where)


def test_every_readme_command_is_run_by_a_named_test():
    shown = readme_commands()
    missing = [c for c in shown if c not in RUN_BY]
    assert not missing, f"README commands no test runs: add them to RUN_BY with their test: {missing}"
    stale = [c for c in RUN_BY if c not in shown]
    assert not stale, f"RUN_BY lists commands the README no longer shows: {stale}"
    for command, where in RUN_BY.items():
        cited = _cited_tests(where)
        assert cited or re.match(r"(ci|not run): ", where), f"{command!r}: {where!r} names no test"
        for path, name in cited:
            text = (TESTS / path).read_text()
            assert re.search(rf"^def {name}\(", text, re.M), f"{command!r}: no {name} in tests/{path}"


def test_the_parser_finds_block_lines_and_inline_commands(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "Run `dvc repro` or `make_tables` (a stage name).\n\n```bash\n"
        "python -m a \\\n    --b c   # comment\n# output line\nsnakemake demo\n```\n"
    )
    assert readme_commands(readme) == ["python -m a --b c", "snakemake demo", "dvc repro"]


@pytest.mark.slow
def test_report_lists_the_demo_outputs(tiny_demo_run):
    from helpers.e2e import BIN, run

    work, _ = tiny_demo_run
    out = run([str(BIN / "python"), "-m", "vqhps.infra.report", "--experiment", "demo"], work).stdout
    for stage in ("check_data", "train_mesh_vqvae", "tokenize_meshes", "evaluate", "make_tables"):
        assert f"results/demo/{stage}/" in out, f"the report omits {stage}:\n{out}"


@pytest.mark.slow
def test_target_after_dashes(repo):
    """`snakemake --cores 8 --resources gpu=1 -- all` (README) parses: the dry run plans the paper jobs."""
    import subprocess

    from helpers.e2e import BIN

    out = subprocess.run(
        [str(BIN / "snakemake"), "--cores", "8", "--resources", "gpu=1", "-n", "--", "all"],
        cwd=repo, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "paper" in out.stdout and "check_data" in out.stdout
