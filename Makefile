# vqhps: `make demo` (whole chain on synthetic data, CPU) and `make test` (test suite incl. a tiny pipeline run).
# Both create .venv when missing and install the pinned dependencies: torch==2.13.0 first (any other torch
# spec pulls several GB of CUDA packages), then requirements.lock, then this package (editable).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANNY_CACHE_DIR ?= $(CURDIR)/.cache/anny
export MPLBACKEND := Agg
export MLFLOW_DISABLE_TELEMETRY := true
# glibc keeps large blocks instead of returning them to the OS on every free: measured faster for the
# Mesh-VQ-VAE (benchmarks/bench_mesh_vqvae.py); set here so every stage started by make gets it.
export MALLOC_MMAP_THRESHOLD_ ?= 17179869184
export MALLOC_TRIM_THRESHOLD_ ?= 17179869184
export MALLOC_TOP_PAD_ ?= 1073741824

.PHONY: install demo test test-fast lint format dvc-setup clean-demo help

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# pip on these machines warns once per package about an absent local index; keep real errors visible.
PIP := set -o pipefail; $(PY) -m pip install --quiet
QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing torch==2.13.0, then requirements.lock (~2-3 min on a fresh machine)"
	$(PIP) torch==2.13.0 $(QUIET)
	$(PIP) -r requirements.lock $(QUIET)
	$(PIP) --no-deps --no-build-isolation -e . $(QUIET)
	touch $@

# DVC's plots page with the Vega libraries inlined, so `dvc plots show/diff` draw offline (vqhps/infra/dvc_html.py).
.cache/vqhps/dvc_plots.html: $(VENV)/.installed src/vqhps/infra/dvc_html.py
	$(PY) -m vqhps.infra.dvc_html

install: $(VENV)/.installed .cache/vqhps/dvc_plots.html  ## create .venv with the pinned environment

demo: install  ## run the whole chain on the embedded synthetic (Anny) dataset, then list the outputs
	snakemake demo --cores $(CORES)
	$(PY) -m vqhps.infra.report --experiment demo

test: install  ## the whole test suite, including a tiny end-to-end pipeline run
	$(PY) -m pytest -q

test-fast: install  ## the suite without the slow end-to-end checks
	$(PY) -m pytest -q -m "not slow"

lint: install  ## ruff lint and format check
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools

format: install
	$(VENV)/bin/ruff format src tests benchmarks tools
	$(VENV)/bin/ruff check --fix src tests benchmarks tools

clean-demo:  ## remove the demo's results (keeps the Anny cache)
	rm -rf results/demo results/logs/demo
