# The cluster path: a kind cluster, the platform on any kubectl context, offline manifest checks.
# kind-up, deploy and undeploy need Docker or a cluster; render and check-manifests run anywhere.

.PHONY: kind-up kind-down deploy undeploy render check-manifests

kind-up: $(ENV_STAMP) ## Create the kind cluster of kind-config.yaml and its local registry localhost:5001 (needs Docker and kind).
	hack/kind-up.sh

kind-down: ## Delete the kind cluster (the local registry container stays).
	kind delete cluster --name mlcycle

deploy: $(ENV_STAMP) ## Install or update the platform on the current kubectl context and wait for it (OBJECT_STORE=minio|seaweedfs).
	hack/deploy.sh

undeploy: $(ENV_STAMP) ## Remove the platform from the current kubectl context (keeps the object store's volume; PURGE=1 removes it).
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
