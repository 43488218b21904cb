#!/usr/bin/env bash
# Creates the kind cluster of kind-config.yaml and a local image registry at localhost:5001, wired
# together as in kind's local-registry guide. Idempotent: an existing cluster or registry is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=mlcycle
REGISTRY_NAME=kind-registry
REGISTRY_PORT=5001
REGISTRY_IMAGE=registry:2.8.3
# The kind release whose release notes publish the node image of kind-config.yaml (manifests/compatibility.yaml).
KIND_VERSION=0.32.0
KUBECTL="${KUBECTL:-hack/kubectl.sh}"
DOCKER="${DOCKER:-docker}"
KIND="${KIND:-kind}"

fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }

command -v "$DOCKER" >/dev/null || fail "docker is not installed (hint: install Docker Desktop or Docker Engine; kind runs nodes as containers)"
"$DOCKER" info >/dev/null 2>&1 || fail "the Docker engine is not running (hint: start Docker, then run make kind-up again)"
command -v "$KIND" >/dev/null || fail "kind is not installed (hint: kind v$KIND_VERSION from https://github.com/kubernetes-sigs/kind/releases/tag/v$KIND_VERSION)"
version="$("$KIND" version | sed -E 's/^kind v([0-9]+\.[0-9]+)\.[0-9]+.*/\1/')"
# kind supports a node image only with the release that built it: the digest pins v0.32's build.
[ "$version" = "${KIND_VERSION%.*}" ] || fail "kind $("$KIND" version | awk '{print $2}') is not v${KIND_VERSION%.*}.x, the release the pinned node image was built for (hint: install kind v$KIND_VERSION from https://github.com/kubernetes-sigs/kind/releases/tag/v$KIND_VERSION)"

# "absent" when no such container exists; a stopped one is replaced.
registry_state="$("$DOCKER" inspect -f '{{.State.Running}}' "$REGISTRY_NAME" 2>/dev/null)" || registry_state=absent
if [ "$registry_state" != "true" ]; then
  say "starting the local registry $REGISTRY_NAME on 127.0.0.1:$REGISTRY_PORT"
  [ "$registry_state" = absent ] || "$DOCKER" rm -f "$REGISTRY_NAME" >/dev/null
  "$DOCKER" run -d --restart=always -p "127.0.0.1:${REGISTRY_PORT}:5000" --network bridge --name "$REGISTRY_NAME" "$REGISTRY_IMAGE" >/dev/null
fi

if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "kind cluster $CLUSTER exists already"
else
  say "creating kind cluster $CLUSTER (kind-config.yaml)"
  "$KIND" create cluster --config kind-config.yaml --wait 180s
fi

# Each node resolves localhost:5001 to the registry container through containerd's hosts.toml.
for node in $("$KIND" get nodes --name "$CLUSTER"); do
  "$DOCKER" exec "$node" mkdir -p "/etc/containerd/certs.d/localhost:${REGISTRY_PORT}"
  printf '[host."http://%s:5000"]\n' "$REGISTRY_NAME" | "$DOCKER" exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/localhost:${REGISTRY_PORT}/hosts.toml"
done
if [ "$("$DOCKER" inspect -f '{{json .NetworkSettings.Networks.kind}}' "$REGISTRY_NAME")" = "null" ]; then
  "$DOCKER" network connect kind "$REGISTRY_NAME"
fi

"$KUBECTL" config use-context "kind-$CLUSTER" >/dev/null
# Tells tools where the registry is (KEP-1755).
"$KUBECTL" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${REGISTRY_PORT}"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
YAML
"$KUBECTL" wait --for=condition=Ready nodes --all --timeout=180s >/dev/null || fail "the nodes of $CLUSTER are not Ready after 180 s (hint: kubectl describe nodes)"
say "cluster $CLUSTER is up (context kind-$CLUSTER); registry localhost:$REGISTRY_PORT. Next: make images push-images && make deploy (or make up for all of it)"
