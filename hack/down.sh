#!/usr/bin/env bash
# `make down`: removes what `make up` made on this machine: the kind cluster (and with it everything
# deployed on it, the object store's volume included) and the registry container with its images.
# .local/cluster/credentials.env stays (a next `make up` reuses it). KEEP_REGISTRY=1 keeps the registry.
# To remove the platform from a cluster but keep the cluster, use `make undeploy` instead.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER="${DOCKER:-docker}"
KIND="${KIND:-kind}"
CLUSTER="$(.venv/bin/python -c 'import yaml; print(yaml.safe_load(open("kind-config.yaml"))["name"])')"
REGISTRY_NAME=kind-registry

fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }

command -v "$KIND" >/dev/null || fail "$KIND is not installed, so there is no kind cluster to remove"
command -v "$DOCKER" >/dev/null || fail "$DOCKER is not installed"
"$DOCKER" info >/dev/null 2>&1 || fail "the Docker engine is not running (hint: start Docker, then make down again)"

if "$KIND" get clusters | grep -qx "$CLUSTER"; then
  say "deleting kind cluster $CLUSTER"
  "$KIND" delete cluster --name "$CLUSTER"
else
  say "no kind cluster $CLUSTER"
fi
if [ "${KEEP_REGISTRY:-0}" = 1 ]; then
  say "registry $REGISTRY_NAME kept (KEEP_REGISTRY=1)"
elif "$DOCKER" inspect "$REGISTRY_NAME" >/dev/null 2>&1; then
  say "removing the registry container $REGISTRY_NAME and its images"
  "$DOCKER" rm -f "$REGISTRY_NAME" >/dev/null
else
  say "no registry container $REGISTRY_NAME"
fi
"$KIND" get clusters | grep -qx "$CLUSTER" && fail "kind cluster $CLUSTER is still there (hint: $KIND get clusters; docker ps)"
say "down: nothing of mlcycle runs on this machine (credentials kept in .local/cluster/credentials.env)"
