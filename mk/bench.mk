# Benchmarks of the pipeline as a whole (the per-stage ones live in the main Makefile).
.PHONY: bench-pipeline

bench-pipeline: $(ENV_STAMP) ## Benchmark the whole local pipeline on all demo flights, cold, against the pre-issue-16 settings in the same run: per-task wall time, start-up and imports vs work, peak RSS, the ratio.
	$(VENV)/bin/python -m benchmarks.bench_pipeline

.PHONY: bench-gates
bench-gates: $(ENV_STAMP) ## Benchmark the validation gates on small public data sets: false alarms on clean random splits, detection of corrupted twins.
	$(VENV)/bin/python -m benchmarks.bench_gates --seeds 5

.PHONY: corpus
corpus: $(ENV_STAMP) ## Public data sets from PyPI packages through `mlcycle init` and `mlcycle run --no-serve`, defaults only: a table per data set (CORPUS=iris,wine for a subset).
	$(VENV)/bin/python -m benchmarks.corpus $(if $(CORPUS),--only $(CORPUS))
