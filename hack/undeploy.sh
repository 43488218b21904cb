#!/usr/bin/env bash
# Removes what hack/deploy.sh installed from the current kubectl context, in reverse order. The
# object store's volume (datasets, models, feedback) is kept unless PURGE=1.
#
# Argo CD goes last of what it manages: the root Application `mlcycle` and its children carry the
# resources finalizer, so deleting the root makes Argo CD delete the child Applications, and each child
# its model (foreground: an Application goes only once what it deployed is gone). The script waits for
# every mlcycle Application to be gone before it deletes the model namespaces (self-heal would recreate
# them) and before it removes Argo CD (nothing would clear their finalizers after). When they do not go
# in time, Argo CD is left running and the command says what is left and how to finish by hand.
#
# Nothing is hidden: each step that fails is named with the tool's own message, the steps that can
# still run do, and at the end whatever is still on the cluster is listed and the exit status is 1.
# Settings (environment): TIMEOUT (per step, 300s), PURGE=1, KUBECTL, HELM.
set -euo pipefail
cd "$(dirname "$0")/.."
KUBECTL="${KUBECTL:-hack/kubectl.sh}"
HELM="${HELM:-$(.venv/bin/python -m components.deploy.tools helm)}"
TIMEOUT="${TIMEOUT:-300s}"
k() { "$KUBECTL" "$@"; }
say() { printf '==> %s\n' "$*"; }

failures=()
# step DESCRIPTION COMMAND...: runs the command; on failure records the description and the first line
# of the tool's error in failures, and goes on (what is left is listed at the end).
step() {
  local description="$1" errors status=0
  shift
  errors="$(mktemp)"
  "$@" >/dev/null 2>"$errors" || status=$?
  if [ "$status" != 0 ]; then
    failures+=("$description: $(grep -m1 . "$errors" || echo "exit status $status")")
  fi
  rm -f "$errors"
}
STATE_ERRORS="$(mktemp)"
trap 'rm -f "$STATE_ERRORS"' EXIT
# exists ARGS...: whether `kubectl get ARGS` finds the object; an error other than NotFound is recorded.
exists() {
  local out
  out="$(k get "$@" -o name 2>&1)" && return 0
  case "$out" in
    *NotFound* | *"not found"*) return 1 ;;
  esac
  failures+=("kubectl get $*: $(echo "$out" | grep -m1 .)")
  return 1
}
# timeout_seconds 300s|5m: the seconds of a TIMEOUT.
timeout_seconds() {
  case "$1" in
    *m) echo $(("${1%m}" * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

context="$(k config current-context)" || { echo "error: kubectl has no current context" >&2; exit 1; }
say "removing mlcycle from context $context"
step "the kind NodePorts (manifests/kind)" k delete -k manifests/kind --ignore-not-found --wait=false

# --- the models, through Argo CD when it manages them -----------------------------------------
applications_left=0
if exists crd applications.argoproj.io; then
  if exists application mlcycle -n argocd; then
    say "deleting the root Application mlcycle with cascade (its children, then their models)"
    # A root deployed from an older revision of these manifests has no finalizer: add it first.
    step "adding the resources finalizer to Application mlcycle" \
      k patch application mlcycle -n argocd --type=merge \
      -p '{"metadata":{"finalizers":["resources-finalizer.argocd.argoproj.io"]}}'
    step "deleting Application mlcycle" k delete application mlcycle -n argocd --ignore-not-found --wait=false
  fi
  # Children left behind (no root, or an older root without the finalizer) are deleted one by one. The
  # deletes do not wait: the loop below waits for all of them, up to TIMEOUT.
  for app in mlcycle-model-staging mlcycle-model-production; do
    if exists application "$app" -n argocd; then
      step "adding the resources finalizer to Application $app" \
        k patch application "$app" -n argocd --type=merge \
        -p '{"metadata":{"finalizers":["resources-finalizer.argocd.argoproj.io"]}}'
      step "deleting Application $app" k delete application "$app" -n argocd --ignore-not-found --wait=false
    fi
  done
  say "waiting for the mlcycle Applications to be gone"
  deadline=$((SECONDS + $(timeout_seconds "$TIMEOUT")))
  while :; do
    if ! remaining="$(k get application -n argocd -l app.kubernetes.io/part-of=mlcycle -o name 2>"$STATE_ERRORS")"; then
      failures+=("listing the mlcycle Applications: $(grep -m1 . "$STATE_ERRORS" || echo failed)")
      applications_left=1
      break
    fi
    [ -z "$remaining" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      failures+=("the Applications were not deleted within $TIMEOUT: ${remaining//$'\n'/ }")
      applications_left=1
      break
    fi
    sleep "${POLL_SECONDS:-5}"
  done
  if [ "$applications_left" = 0 ]; then
    step "deleting the AppProject mlcycle" k delete appproject mlcycle -n argocd --ignore-not-found --timeout="$TIMEOUT"
  fi
fi
if [ "$applications_left" = 0 ]; then
  step "deleting the model namespaces" \
    k delete namespace mlcycle-staging mlcycle-production --ignore-not-found --timeout="$TIMEOUT"
fi

# --- Argo CD, only once no Application needs it to clear its finalizer -------------------------
if [ "$applications_left" = 0 ]; then
  if exists namespace argocd; then
    say "removing Argo CD"
    step "deleting Argo CD (manifests/remote/argocd)" \
      k delete -k manifests/remote/argocd --ignore-not-found --timeout="$TIMEOUT"
    step "deleting the namespace argocd" k delete namespace argocd --ignore-not-found --timeout="$TIMEOUT"
  fi
else
  failures+=("Argo CD was left running: mlcycle Applications remain, and only Argo CD clears their finalizers")
fi

# --- Seldon Core operator, Kubeflow Pipelines --------------------------------------------------
if exists namespace seldon-system; then
  say "removing the Seldon Core operator"
  # `helm status` first rather than --ignore-not-found, which older Helm 3 releases lack.
  if "$HELM" status seldon-core --namespace seldon-system >/dev/null 2>&1; then
    step "helm uninstall seldon-core" "$HELM" uninstall seldon-core --namespace seldon-system --wait --timeout "$TIMEOUT"
  fi
  step "deleting the namespace seldon-system" k delete namespace seldon-system --ignore-not-found --timeout="$TIMEOUT"
fi
if exists namespace kubeflow; then
  say "removing Kubeflow Pipelines"
  step "deleting Kubeflow Pipelines (manifests/remote/kubeflow-pipelines)" \
    k delete -k manifests/remote/kubeflow-pipelines --ignore-not-found --timeout="$TIMEOUT"
  step "deleting KFP's cluster-scoped resources" \
    k delete -k manifests/remote/kubeflow-pipelines/cluster-scoped --ignore-not-found --timeout="$TIMEOUT"
fi

# --- the object store ----------------------------------------------------------------------------
if [ "${PURGE:-0}" = 1 ]; then
  step "deleting the namespace mlcycle-storage" k delete namespace mlcycle-storage --ignore-not-found --timeout="$TIMEOUT"
else
  for kind in job/create-buckets deployment/object-store service/object-store; do
    step "deleting $kind in mlcycle-storage" k delete "$kind" -n mlcycle-storage --ignore-not-found --timeout="$TIMEOUT"
  done
fi

# --- what is left --------------------------------------------------------------------------------
left=()
namespaces="mlcycle-staging mlcycle-production argocd seldon-system kubeflow"
[ "${PURGE:-0}" = 1 ] && namespaces="$namespaces mlcycle-storage"
for namespace in $namespaces; do
  exists namespace "$namespace" && left+=("namespace $namespace")
done
if exists crd applications.argoproj.io; then
  while read -r app; do
    [ -n "$app" ] && left+=("$app in argocd (finalizer: remove it by hand once you are sure, kubectl -n argocd patch ${app} --type=merge -p '{\"metadata\":{\"finalizers\":null}}')")
  done < <(k get application -n argocd -l app.kubernetes.io/part-of=mlcycle -o name 2>/dev/null || echo "the Applications could not be listed")
fi
for crd in applications.argoproj.io seldondeployments.machinelearning.seldon.io; do
  exists crd "$crd" && left+=("CustomResourceDefinition $crd")
done

if [ "${#failures[@]}" -gt 0 ] || [ "${#left[@]}" -gt 0 ]; then
  {
    echo "error: mlcycle was not removed completely from context $context"
    for failure in "${failures[@]}"; do echo "  failed: $failure"; done
    for item in "${left[@]}"; do echo "  still there: $item"; done
    echo "hint: fix the cause (kubectl describe on what is left), then run make undeploy again; it is idempotent"
  } >&2
  exit 1
fi
if [ "${PURGE:-0}" = 1 ]; then
  say "removed everything, the object store's data included"
else
  say "removed; the object store's volume is kept in mlcycle-storage (PURGE=1 removes it too)"
fi
