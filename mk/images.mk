# Images and cluster submission: build the pipeline and serving images, load or push them for the kind
# cluster, and submit the compiled pipeline to a Kubeflow Pipelines API (images/README.md).
#
# Image names come from components/images.py and the cluster name from kind-config.yaml, read when a
# target runs, so nothing here repeats them. DOCKER and KIND name the tools (override to use others).

DOCKER ?= docker
# IMAGES_CHECK=0 skips the offline Dockerfile checks before a build (when they have just run, e.g. in CI).
IMAGES_CHECK ?= 1
KIND ?= kind
KIND_CLUSTER ?= $(shell $(VENV)/bin/python -c 'import yaml; print(yaml.safe_load(open("kind-config.yaml"))["name"])')
# Recursive (=): evaluated only by the targets that use them, after .venv exists.
IMAGES_NAMES = $(shell $(VENV)/bin/python -c 'from components.images import PIPELINE_IMAGE, SERVING_IMAGE; print(PIPELINE_IMAGE, SERVING_IMAGE)')
IMAGES_CODE_VERSION = $(shell $(VENV)/bin/python -c 'from components.common.provenance import code_version; print(code_version())')
# The pipeline image is linux/amd64 on every host (its TFDV and tfx-bsl wheels exist for x86-64 only);
# the serving image is built for this machine's architecture, which kind's nodes share.
IMAGES_PLATFORMS = $(shell $(VENV)/bin/python -c 'from components.images import PIPELINE_IMAGE, SERVING_IMAGE, build_platform; print(build_platform(PIPELINE_IMAGE), build_platform(SERVING_IMAGE))')

define images_need_tool
@command -v $(1) >/dev/null 2>&1 || { echo "error: $(1) not found: $(2)" >&2; exit 2; }
endef
define images_need_engine
@$(DOCKER) info >/dev/null 2>&1 || { echo "error: no Docker engine answers ($(DOCKER) info failed): $(1)" >&2; exit 2; }
endef

.PHONY: images check-images push-images kind-load submit schedule

check-images: $(ENV_STAMP) ## Check the Dockerfiles offline: copied paths, pins, non-root, and that each image's lock installs every module it imports.
	$(VENV)/bin/python -m pytest tests/unit/images/test_dockerfiles.py -q -p no:cacheprovider

images: $(ENV_STAMP) ## Check the Dockerfiles, then build the pipeline and serving images with Docker, tagged as components/images.py names them.
	$(call images_need_tool,$(DOCKER),make images needs Docker with a running engine (hint: install Docker; make check-images runs the offline checks without it))
	$(call images_need_engine,make images needs a running engine (hint: start Docker; make check-images runs the offline checks without it))
	@if [ "$(IMAGES_CHECK)" != 0 ]; then $(MAKE) --no-print-directory check-images; else echo "offline Dockerfile checks skipped (IMAGES_CHECK=0)"; fi
	@echo "building $(word 1,$(IMAGES_NAMES)) for $(word 1,$(IMAGES_PLATFORMS)) (TFDV ships x86-64 wheels only; emulated on arm64 hosts) and $(word 2,$(IMAGES_NAMES)) for $(word 2,$(IMAGES_PLATFORMS)) (this machine)"
	$(DOCKER) build --platform $(word 1,$(IMAGES_PLATFORMS)) -f images/pipeline.Dockerfile -t $(word 1,$(IMAGES_NAMES)) --build-arg MLCYCLE_CODE_VERSION=$(IMAGES_CODE_VERSION) .
	$(DOCKER) build --platform $(word 2,$(IMAGES_PLATFORMS)) -f images/serving.Dockerfile -t $(word 2,$(IMAGES_NAMES)) --build-arg MLCYCLE_CODE_VERSION=$(IMAGES_CODE_VERSION) .

push-images: $(ENV_STAMP) ## Push both images to their registry (the kind cluster's local registry, localhost:5001).
	$(call images_need_tool,$(DOCKER),make push-images needs Docker (hint: install Docker and run make images first))
	$(call images_need_engine,make push-images needs a running engine (hint: start Docker))
	$(DOCKER) push $(word 1,$(IMAGES_NAMES))
	$(DOCKER) push $(word 2,$(IMAGES_NAMES))

kind-load: $(ENV_STAMP) ## Load both images into the kind cluster named in kind-config.yaml (no registry needed); run make images first.
	$(call images_need_tool,$(KIND),make kind-load needs kind (hint: install kind from https://kind.sigs.k8s.io and create the cluster first))
	$(call images_need_engine,kind loads images from the local Docker engine (hint: start Docker and run make images first))
	$(KIND) load docker-image $(IMAGES_NAMES) --name $(KIND_CLUSTER)

submit: $(ENV_STAMP) ## Upload the compiled pipeline to the KFP API at KFP_HOST as a new version and start a run (PARAMS="k=v k=@file", PARAMS_FILE=); checks the pipeline image is in the registry first.
	@$(VENV)/bin/python -m components.images check pipeline
	$(MLCYCLE) submit

schedule: $(ENV_STAMP) ## Like submit, but a recurring run on CRON="0 0 3 * * *" (six fields, seconds first), one at a time, no catch-up.
	@$(VENV)/bin/python -m components.images check pipeline
	$(MLCYCLE) schedule
