# mlcycle: every entry point is a target here; `make help` lists them.
# The two commands a newcomer needs: `make run` and `make test`. Both create the environment first.

SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
PYTHON_VERSION := 3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
ENV_STAMP := $(VENV)/.installed
SERVING_VENV := .venv-serving
SERVING_STAMP := $(SERVING_VENV)/.installed
MLCYCLE := $(VENV)/bin/mlcycle
PYTEST_ARGS ?=
# Idle OpenMP threads spin briefly, then sleep (components/common/openmp.py says why): tests, runs and
# benchmarks share the cores with S3 and model servers.
export GOMP_SPINCOUNT ?= 1000
SCHEMA_ARGS ?=

.PHONY: help env serving-env run lint format test test-unit test-integration browser compile train schema validate s3-up s3-down s3-status lock bench-ingest bench-validate clean

help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@hack/bootstrap-uv.sh $(TOOLS) $(UV_VERSION)

$(ENV_STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON_VERSION)
	@touch $@

env: $(ENV_STAMP) ## Create or update the pipeline environment (.venv) from uv.lock.

$(SERVING_STAMP): serving/pyproject.toml serving/uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(abspath $(SERVING_VENV)) $(UV) sync --frozen --project serving --python $(PYTHON_VERSION)
	@touch $@

serving-env: $(SERVING_STAMP) ## Create or update the serving environment (.venv-serving, seldon-core 1.17.1) from serving/uv.lock.

run: $(ENV_STAMP) ## The main job: the whole training pipeline on the demo data locally (embedded S3, kfp.local), then serve the result with Seldon and try it.
	$(MLCYCLE) run

lint: $(ENV_STAMP) ## Lint: ruff check, ruff format --check, and the import-layer contract (lint-imports; [tool.importlinter] in pyproject.toml).
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(ENV_STAMP) ## Format the code base with ruff and apply ruff's safe fixes.
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: $(ENV_STAMP) $(SERVING_STAMP) browser ## Lint, then run the whole test suite (unit and integration: real S3 servers, real Chromium).
	@$(MAKE) --no-print-directory lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-unit: $(ENV_STAMP) ## Run only the unit tests (no servers).
	$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(ENV_STAMP) $(SERVING_STAMP) browser ## Run only the integration tests (real S3 server, real subprocesses, Chromium).
	$(VENV)/bin/python -m pytest tests/integration $(PYTEST_ARGS)

browser: ## Install Debian's headless Chromium for the report tests, if missing (apt-get; sudo when not root).
	@command -v chromium >/dev/null 2>&1 || { \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  echo "installing chromium (Debian package) for the browser tests"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

compile: $(ENV_STAMP) ## Recompile the pipeline specs (pipelines/*.yaml) from their sources; a test fails when they are stale.
	$(VENV)/bin/python -m pipelines.compile

train: $(ENV_STAMP) ## Tune, train, analyse and register a model of the latest demo dataset version (in process).
	$(MLCYCLE) train

schema: $(ENV_STAMP) ## Infer the demo use case's schema from its latest dataset version (for review; --force to replace).
	$(MLCYCLE) s3 up >/dev/null
	$(MLCYCLE) ingest >/dev/null
	$(MLCYCLE) schema $(SCHEMA_ARGS)

validate: $(ENV_STAMP) ## Validate the latest demo dataset version and write the HTML report.
	$(MLCYCLE) validate

s3-up: $(ENV_STAMP) ## Start the embedded S3 server on 127.0.0.1 (idempotent) and create the buckets.
	$(MLCYCLE) s3 up

s3-down: ## Stop the embedded S3 server by its recorded PID.
	@if [ -x $(MLCYCLE) ]; then $(MLCYCLE) s3 down; else echo "no environment, so no S3 server"; fi

s3-status: $(ENV_STAMP) ## Say whether the embedded S3 server runs, and where.
	$(MLCYCLE) s3 status

lock: | $(UV) ## Re-resolve both lock files after editing the dependencies in a pyproject.toml.
	$(UV) lock --python $(PYTHON_VERSION)
	$(UV) lock --project serving --python $(PYTHON_VERSION)

bench-ingest: $(ENV_STAMP) ## Benchmark ingestion: the demo data and a 3,000,000-row scale-up (time, rows/s, peak RSS).
	$(VENV)/bin/python -m benchmarks.bench_ingest

bench-validate: $(ENV_STAMP) ## Benchmark validation of the demo data: import cost, in-process statistics and checks, the Beam path.
	$(VENV)/bin/python -m benchmarks.bench_validate

# Each area keeps its targets in its own file (serving, images, cluster, monitoring, benchmarks).
include $(sort $(wildcard mk/*.mk))

clean: s3-down ## Stop the S3 server and remove the environment and local state (.venv*, .tools, .local).
	rm -rf $(VENV) $(SERVING_VENV) $(TOOLS) .local .pytest_cache
