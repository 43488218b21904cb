# Serving (stage 7): the registered model behind Seldon Core's Python wrapper, on 127.0.0.1.
# `make serve` serves production; `make serve MODEL=m-0123456789abcdef` (or staging, latest) another version.

SERVE_USE_CASE ?= flights
SERVE_MODEL ?= $(or $(MODEL),production)
PORT ?= 9000
SERVE_WORKERS ?= 2
SERVE_THREADS ?= 1

.PHONY: serve bench-serving wrk

serve: $(ENV_STAMP) $(SERVING_STAMP) ## Serve the production model (MODEL=<version|staging|latest>) with Seldon Core on 127.0.0.1:9000 (PORT=..., metrics on PORT+1).
	$(MLCYCLE) s3 up >/dev/null
	OMP_NUM_THREADS=1 $(SERVING_VENV)/bin/python -m components.serve.local --use-case $(SERVE_USE_CASE) --model $(SERVE_MODEL) \
	  --port $(PORT) --workers $(SERVE_WORKERS) --threads $(SERVE_THREADS)

wrk: ## Install Debian's wrk load generator for the serving benchmark, if missing (apt-get; sudo when not root).
	@command -v wrk >/dev/null 2>&1 || { \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  echo "installing wrk (Debian package) for the serving benchmark"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

bench-serving: $(ENV_STAMP) $(SERVING_STAMP) wrk ## Benchmark serving with wrk: 1 and 100 rows, 2 and 8 connections, p50 to p99.9, logging on/off, against stock Seldon and the in-process floor (~8 min).
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m benchmarks.bench_serving
