# The cluster path: a kind cluster, the platform on any kubectl context, offline manifest checks.
# kind-up, deploy and undeploy need Docker or a cluster; render and check-manifests run anywhere.

.PHONY: up down kind-up kind-down deploy undeploy render check-manifests

up: $(ENV_STAMP) ## From nothing to a working platform: kind cluster + registry, images built and pushed, platform deployed and waited for, pipeline uploaded (needs Docker, kind v0.32).
	hack/up.sh

down: $(ENV_STAMP) ## Remove what make up made: the kind cluster (everything on it) and the registry container (KEEP_REGISTRY=1 keeps it).
	hack/down.sh

kind-up: $(ENV_STAMP) ## Create the kind cluster of kind-config.yaml and its local registry localhost:5001 (needs Docker and kind).
	hack/kind-up.sh

kind-down: ## Delete the kind cluster (the local registry container stays).
	kind delete cluster --name mlcycle

deploy: $(ENV_STAMP) ## Install or update the platform on the current kubectl context and wait for it (OBJECT_STORE=minio|seaweedfs); checks the images are in the registry first.
	hack/deploy.sh

undeploy: $(ENV_STAMP) ## Remove the platform from the current kubectl context, Argo CD's Applications first; lists what is left and fails if anything is (PURGE=1 removes the store's volume).
	hack/undeploy.sh

render: $(ENV_STAMP) ## Render every offline kustomization of manifests/ into .local/rendered/ (pinned kubectl, no network).
	@mkdir -p .local/rendered
	@for file in $$(find manifests -name kustomization.yaml -not -path 'manifests/remote/*' | sort); do \
	  dir=$$(dirname $$file); \
	  grep -q '^kind: Component' $$file && continue; \
	  out=.local/rendered/$$(echo $${dir#manifests/} | tr / -).yaml; \
	  hack/kubectl.sh kustomize $$dir > $$out && echo "$$dir -> $$out"; \
	done

check-manifests: $(ENV_STAMP) ## Offline manifest checks only: rendering, Kubernetes and CRD schemas, checkov, secrets.
	$(VENV)/bin/python -m pytest tests/unit/manifests $(PYTEST_ARGS)
