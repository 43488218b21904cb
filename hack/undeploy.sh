#!/usr/bin/env bash
# Removes what hack/deploy.sh installed from the current kubectl context, in reverse order. The
# object store's volume (datasets, models, feedback) is kept unless PURGE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
KUBECTL="${KUBECTL:-hack/kubectl.sh}"
HELM="${HELM:-$(.venv/bin/python -m components.deploy.tools helm)}"
TIMEOUT="${TIMEOUT:-300s}"
k() { "$KUBECTL" "$@"; }
say() { printf '==> %s\n' "$*"; }

context="$(k config current-context)" || { echo "error: kubectl has no current context" >&2; exit 1; }
say "removing mlcycle from context $context"
k delete -k manifests/kind --ignore-not-found --wait=false >/dev/null 2>&1 || true
# Applications first, so Argo CD does not recreate what is being deleted.
k delete -k manifests/argocd --ignore-not-found --timeout="$TIMEOUT" >/dev/null 2>&1 || true
k delete namespace mlcycle-staging mlcycle-production --ignore-not-found --timeout="$TIMEOUT" >/dev/null
k delete -k manifests/remote/argocd --ignore-not-found --timeout="$TIMEOUT" >/dev/null 2>&1 || true
"$HELM" uninstall seldon-core --namespace seldon-system --wait --timeout "$TIMEOUT" >/dev/null 2>&1 || true
k delete namespace seldon-system --ignore-not-found --timeout="$TIMEOUT" >/dev/null
k delete -k manifests/remote/kubeflow-pipelines --ignore-not-found --timeout="$TIMEOUT" >/dev/null 2>&1 || true
k delete -k manifests/remote/kubeflow-pipelines/cluster-scoped --ignore-not-found --timeout="$TIMEOUT" >/dev/null 2>&1 || true
if [ "${PURGE:-0}" = 1 ]; then
  k delete namespace mlcycle-storage --ignore-not-found --timeout="$TIMEOUT" >/dev/null
  say "removed everything, the object store's data included"
else
  for kind in job/create-buckets deployment/object-store service/object-store; do
    k delete "$kind" -n mlcycle-storage --ignore-not-found >/dev/null
  done
  say "removed; the object store's volume is kept in mlcycle-storage (PURGE=1 removes it too)"
fi
