# Benchmarks of the pipeline as a whole (the per-stage ones live in the main Makefile).
.PHONY: bench-pipeline

bench-pipeline: $(ENV_STAMP) ## Benchmark the whole local pipeline on all demo flights, cold: per-task wall time, start-up and imports vs work, peak RSS.
	$(VENV)/bin/python -m benchmarks.bench_pipeline
