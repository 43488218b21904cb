# Monitoring and continuous training (stage 8): components/monitor/README.md.
#
# MONITOR_CONFIG names the use case (the demo by default); its schema is the .schema.pbtxt beside it.
# MONITOR_ARGS passes options to `mlcycle monitor`, e.g. MONITOR_ARGS="--start 2026-11-20 --end 2026-11-27".

MONITOR_CONFIG ?= pipelines/usecases/flights.yaml
MONITOR_SCHEMA ?= $(MONITOR_CONFIG:.yaml=.schema.pbtxt)
MONITOR_ARGS ?=
# The embedded S3 server only when no other endpoint is configured.
monitor_s3 = @[ -n "$$AWS_ENDPOINT_URL$$AWS_ENDPOINT_URL_S3$$S3_ENDPOINT_URL" ] || $(MLCYCLE) s3 up >/dev/null

.PHONY: monitor retrain continuous-training

monitor: $(ENV_STAMP) ## Monitor the production model over its serving logs (last monitoring.window_hours, or MONITOR_ARGS="--start .. --end .."): drift, live quality, retrain or not; HTML report under .local/reports/.
	$(monitor_s3)
	$(MLCYCLE) monitor -c $(MONITOR_CONFIG) $(MONITOR_ARGS)

retrain: $(ENV_STAMP) ## Like monitor; when retraining is due, ingest base data plus the window's feedback, validate, train, and print the promotion command for a registered (blessed and servable) model.
	$(monitor_s3)
	$(MLCYCLE) monitor -c $(MONITOR_CONFIG) --retrain $(MONITOR_ARGS)

continuous-training: $(ENV_STAMP) ## On a cluster (KFP_HOST): schedule the monitoring pipeline with retraining on the use case's monitoring.schedule cron.
	PIPELINE_SPEC=pipelines/monitoring_pipeline.yaml \
	CRON="$$($(VENV)/bin/python -c 'import sys; from components.common.config import load_use_case; print(load_use_case(sys.argv[1]).monitoring.schedule)' $(MONITOR_CONFIG))" \
	PARAMS="use_case=@$(MONITOR_CONFIG) schema=@$(MONITOR_SCHEMA) retrain=true" \
	SCHEDULE_NAME=mlcycle-continuous-training \
	$(MLCYCLE) schedule
