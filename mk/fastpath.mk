# The fast prediction path (components/serve/fastpath/): its benchmark.
.PHONY: bench-predict

# Extra arguments, e.g. BENCH_PREDICT_ARGS="--train-fraction 1 --rows 500".
BENCH_PREDICT_ARGS ?=

bench-predict: $(ENV_STAMP) ## Benchmark prediction latency (1 and 100 rows, median and p99): stock predict_proba against the fast path, plus unpickling and compile time.
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m benchmarks.bench_predict $(BENCH_PREDICT_ARGS)
