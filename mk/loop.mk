# The feedback loop on one machine (issue 8): components/monitor/README.md, "Local demonstration".
#
# LOOP_ARGS passes options to `mlcycle loop`, e.g. LOOP_ARGS="--rows 8000" or
# LOOP_ARGS="--source flights=/data/flights_sample.csv". Everything it writes is under .local/loop/
# (the derived use case flights_loop, the server log, the scratch GitOps repository) and in the S3
# server (the embedded one unless AWS_ENDPOINT_URL is set).

LOOP_ARGS ?=
# One OpenMP thread unless told otherwise: on two shared cores the first hist-gradient-boosting trial
# on the whole demo took 123 s with the default threads and 40 s with one (both under other load).
LOOP_OMP_THREADS ?= $(or $(OMP_NUM_THREADS),1)

.PHONY: loop

loop: $(ENV_STAMP) $(SERVING_STAMP) ## The feedback loop locally: train on Jan-Jun, serve with Seldon, replay Sep-Nov with feedback, monitor, retrain, promote by a commit in a scratch GitOps repo; before-and-after table (~4 min).
	OMP_NUM_THREADS=$(LOOP_OMP_THREADS) $(MLCYCLE) loop $(LOOP_ARGS)
