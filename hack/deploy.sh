#!/usr/bin/env bash
# Installs or updates the mlcycle platform on the current kubectl context, in dependency order, and
# waits for each part with a timeout, saying what is not ready when one runs out:
#   object store (+ buckets) -> Kubeflow Pipelines -> Seldon Core operator -> Argo CD -> models.
# Third-party parts come from their pinned upstream releases (manifests/remote): network needed.
# Secrets are generated here, from .local/cluster/credentials.env (git-ignored, mode 0600, random
# values on the first run), and never written to the repository: the object store's root user (the
# server and the bucket job only) and one key pair per role of components/common/s3_roles.py, each
# given only to the pods of that role:
#   kubeflow: mlcycle-s3-pipeline (training tasks), mlcycle-s3-monitoring (monitoring tasks);
#   mlcycle-staging, mlcycle-production: mlcycle-s3-serving (the model), mlcycle-model-storage (the
#   storage initializer); mlcycle-storage: all of them (the bucket job creates the users).
#
# Settings (environment): OBJECT_STORE=minio|seaweedfs, MODEL_SYNC=argocd|direct (default: argocd
# when manifests/argocd/apps/source.yaml names your fork, else direct), TIMEOUT (per part, 600s),
# KFP_TIMEOUT (900s), KUBECTL, HELM, SKIP_IMAGE_CHECK=1 (do not ask the registry for the images first),
# MLCYCLE_REGISTRY_ENDPOINT (components/images.py).
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL="${KUBECTL:-hack/kubectl.sh}"
HELM="${HELM:-$(.venv/bin/python -m components.deploy.tools helm)}"
TIMEOUT="${TIMEOUT:-600s}"
KFP_TIMEOUT="${KFP_TIMEOUT:-900s}"
OBJECT_STORE="${OBJECT_STORE:-minio}"
STATE="${MLCYCLE_STATE_DIR:-.local}/cluster"
CREDENTIALS="$STATE/credentials.env"
PLACEHOLDER_REPO=https://github.com/mlcycle/mlcycle.git
S3_ENDPOINT=http://object-store.mlcycle-storage.svc.cluster.local:9000
# The roles of components/common/s3_roles.py (ROLES); a unit test keeps the two lists equal.
ROLES="admin pipeline serving monitoring storage-initializer"

say() { printf '==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
k() { "$KUBECTL" "$@"; }

# Prints what is not ready in a namespace, then fails.
not_ready() {
  local namespace="$1" what="$2"
  printf '\nerror: %s is not ready after the timeout. Not ready in namespace %s:\n' "$what" "$namespace" >&2
  k get pods -n "$namespace" --no-headers 2>/dev/null | awk '($3 != "Running" && $3 != "Completed") || ($3 == "Running" && $2 ~ /^0\//) {print "  pod " $1 ": " $3 " (ready " $2 ")"}' >&2 || true
  k get events -n "$namespace" --field-selector type=Warning --sort-by=.lastTimestamp 2>/dev/null | tail -n 5 | sed 's/^/  /' >&2 || true
  printf 'hint: kubectl -n %s describe pods; raise TIMEOUT=... for slow image pulls, then run make deploy again\n' "$namespace" >&2
  exit 1
}

ensure_namespace() { k create namespace "$1" --dry-run=client -o yaml | k apply -f - >/dev/null; }

# Creates or updates a Secret from KEY=value lines on stdin (never on a command line).
secret_from_stdin() {
  local namespace="$1" name="$2" file
  file="$(mktemp "$STATE/secret.XXXXXX")"
  cat > "$file"
  k create secret generic "$name" -n "$namespace" --from-env-file="$file" --dry-run=client -o yaml | k apply -f - >/dev/null
  rm -f "$file"
}

# Creates or updates a Secret with one key whose value is stdin (a file, e.g. JSON), never on a command line.
secret_file_from_stdin() {
  local namespace="$1" name="$2" key="$3" file
  file="$(mktemp "$STATE/secret.XXXXXX")"
  cat > "$file"
  [ -s "$file" ] || { rm -f "$file"; fail "nothing to put into Secret $name"; }
  k create secret generic "$name" -n "$namespace" --from-file="$key=$file" --dry-run=client -o yaml | k apply -f - >/dev/null
  rm -f "$file"
}

random_string() { LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom | head -c "$1"; }

# The variable stem of a role in the credentials file: storage-initializer -> STORAGE_INITIALIZER.
role_var() { printf '%s' "$1" | tr 'a-z-' 'A-Z_'; }

# Every role's key pair as KEY=value lines (for the object store's own Secret).
role_keys() {
  local role var key secret
  for role in $ROLES; do
    var="$(role_var "$role")"; key="${var}_ACCESS_KEY_ID"; secret="${var}_SECRET_ACCESS_KEY"
    printf '%s=%s\n%s=%s\n' "$key" "${!key}" "$secret" "${!secret}"
  done
}

# role_secret NAMESPACE NAME ROLE: the role's keys as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
role_secret() {
  local var key secret
  var="$(role_var "$3")"; key="${var}_ACCESS_KEY_ID"; secret="${var}_SECRET_ACCESS_KEY"
  secret_from_stdin "$1" "$2" <<EOT
AWS_ACCESS_KEY_ID=${!key}
AWS_SECRET_ACCESS_KEY=${!secret}
EOT
}

# --- preflight ---------------------------------------------------------------------------------
context="$(k config current-context 2>/dev/null)" || fail "kubectl has no current context (hint: make kind-up, or kubectl config use-context NAME)"
k get --raw /readyz >/dev/null 2>&1 || fail "the cluster of context $context does not answer (hint: is it running? kubectl cluster-info)"
"$HELM" version >/dev/null 2>&1 || fail "helm does not run (hint: install Helm 3 or 4, or set HELM=/path/to/helm)"
case "$OBJECT_STORE" in
  minio) store_dir=manifests/object-store/base ;;
  seaweedfs) store_dir=manifests/object-store/overlays/seaweedfs ;;
  *) fail "OBJECT_STORE=$OBJECT_STORE is neither minio nor seaweedfs" ;;
esac
# The model pods pull the serving image, the pipeline's tasks the pipeline image: both must be in the
# registry, or the first pod waits in ImagePullBackOff.
if [ "${SKIP_IMAGE_CHECK:-0}" != 1 ]; then
  .venv/bin/python -m components.images check pipeline serving || exit 2
fi
say "deploying mlcycle to context $context"

mkdir -p "$STATE" && chmod 700 "$STATE"
umask 077
if [ ! -s "$CREDENTIALS" ]; then
  say "generating object store credentials in $CREDENTIALS (git-ignored, mode 0600)"
  printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "mlcycle$(random_string 12)" "$(random_string 40)" > "$CREDENTIALS"
fi
# shellcheck disable=SC1090
. "$CREDENTIALS"
if [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
  fail "$CREDENTIALS lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY (hint: delete it to generate new ones)"
fi
# A role without keys (a new role, or a file from before the roles) gets them now; existing keys stay.
for role in $ROLES; do
  var="$(role_var "$role")"; key="${var}_ACCESS_KEY_ID"; secret="${var}_SECRET_ACCESS_KEY"
  if [ -z "${!key:-}" ] || [ -z "${!secret:-}" ]; then
    say "generating the $role role's object store keys in $CREDENTIALS"
    printf '%s=%s\n%s=%s\n' "$key" "mlc$(random_string 16)" "$secret" "$(random_string 40)" >> "$CREDENTIALS"
  fi
done
# shellcheck disable=SC1090
. "$CREDENTIALS"

# --- object store ------------------------------------------------------------------------------
say "object store ($OBJECT_STORE) in mlcycle-storage"
ensure_namespace mlcycle-storage
secret_from_stdin mlcycle-storage object-store-credentials <<EOT
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
$(role_keys)
EOT
if [ "$OBJECT_STORE" = seaweedfs ]; then
  # SeaweedFS reads its identities (root, and each role with its policy) from a file, read at start:
  # after a change, kubectl -n mlcycle-storage rollout restart deployment/object-store.
  .venv/bin/python -m components.common.s3_roles seaweedfs-config "$CREDENTIALS" \
    | secret_file_from_stdin mlcycle-storage object-store-identities config.json
fi
# A Job's template cannot change and a finished one does nothing: run it anew on every deploy.
k delete job create-buckets -n mlcycle-storage --ignore-not-found >/dev/null
k apply -k "$store_dir" >/dev/null
k rollout status deployment/object-store -n mlcycle-storage --timeout="$TIMEOUT" >/dev/null || not_ready mlcycle-storage "the object store"
k wait --for=condition=complete job/create-buckets -n mlcycle-storage --timeout="$TIMEOUT" >/dev/null || not_ready mlcycle-storage "the bucket job"

# --- Kubeflow Pipelines ------------------------------------------------------------------------
say "Kubeflow Pipelines 2.17.0 in kubeflow (upstream manifests, fetched now)"
k apply -k manifests/remote/kubeflow-pipelines/cluster-scoped >/dev/null
k wait --for=condition=established --timeout=120s crd/applications.app.k8s.io >/dev/null || fail "KFP's CRDs are not established (hint: kubectl get crd | grep app.k8s.io)"
role_secret kubeflow mlcycle-s3-pipeline pipeline
role_secret kubeflow mlcycle-s3-monitoring monitoring
# The single all-powerful key pair of earlier releases must not linger.
k delete secret mlcycle-s3 -n kubeflow --ignore-not-found >/dev/null
k apply -k manifests/remote/kubeflow-pipelines >/dev/null
k wait --for=condition=Available deployment --all -n kubeflow --timeout="$KFP_TIMEOUT" >/dev/null || not_ready kubeflow "Kubeflow Pipelines"

# --- Seldon Core operator ----------------------------------------------------------------------
read -r chart repo version < <(.venv/bin/python - <<'PY'
import yaml
(chart,) = yaml.safe_load(open("manifests/remote/seldon-core-operator/kustomization.yaml"))["helmCharts"]
print(chart["name"], chart["repo"], chart["version"])
PY
)
say "Seldon Core operator $version in seldon-system (Helm chart $chart)"
"$HELM" upgrade --install seldon-core "$chart" --repo "$repo" --version "$version" \
  --namespace seldon-system --create-namespace -f manifests/remote/seldon-core-operator/values.yaml \
  --wait --timeout "$TIMEOUT" >/dev/null || not_ready seldon-system "the Seldon Core operator"

# --- model namespaces and their secrets --------------------------------------------------------
for environment in staging production; do
  namespace="mlcycle-$environment"
  ensure_namespace "$namespace"
  role_secret "$namespace" mlcycle-s3-serving serving
  # The storage initializer's rclone configuration: remote S3, the scheme of modelUri; read models only.
  secret_from_stdin "$namespace" mlcycle-model-storage <<EOT
RCLONE_CONFIG_S3_TYPE=s3
RCLONE_CONFIG_S3_PROVIDER=Minio
RCLONE_CONFIG_S3_ENV_AUTH=false
RCLONE_CONFIG_S3_ACCESS_KEY_ID=$STORAGE_INITIALIZER_ACCESS_KEY_ID
RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=$STORAGE_INITIALIZER_SECRET_ACCESS_KEY
RCLONE_CONFIG_S3_ENDPOINT=$S3_ENDPOINT
EOT
  # The single all-powerful key pair of earlier releases must not linger (pods of a model synced from
  # an older revision of the manifests name it: sync this revision).
  k delete secret mlcycle-s3 -n "$namespace" --ignore-not-found >/dev/null
done

# --- Argo CD and the models --------------------------------------------------------------------
say "Argo CD 3.5.1 in argocd (upstream install manifest, fetched now)"
ensure_namespace argocd
k apply --server-side --force-conflicts -k manifests/remote/argocd >/dev/null
k wait --for=condition=Available deployment --all -n argocd --timeout="$TIMEOUT" >/dev/null || not_ready argocd "Argo CD"
k rollout status statefulset/argocd-application-controller -n argocd --timeout="$TIMEOUT" >/dev/null || not_ready argocd "the Argo CD application controller"

repo_url="$(.venv/bin/python -c 'import yaml; print(yaml.safe_load(open("manifests/argocd/apps/source.yaml"))["data"]["repoURL"])')"
MODEL_SYNC="${MODEL_SYNC:-$([ "$repo_url" = "$PLACEHOLDER_REPO" ] && echo direct || echo argocd)}"
# Prints an Application's sync and health state and its messages, then fails.
not_synced() {
  local app="$1"
  printf '\nerror: Argo CD Application %s is not Synced and Healthy after the timeout:\n' "$app" >&2
  k get application "$app" -n argocd \
    -o jsonpath='  sync: {.status.sync.status}, health: {.status.health.status}{"\n"}  {.status.conditions[*].message}{"\n"}  {.status.operationState.message}{"\n"}' >&2 \
    || printf '  (the Application does not exist)\n' >&2
  printf 'hint: kubectl -n argocd describe application %s; Argo CD must reach %s (apps/source.yaml)\n' "$app" "$repo_url" >&2
  exit 1
}

if [ "$MODEL_SYNC" = argocd ]; then
  say "Argo CD applications: $repo_url syncs manifests/model/overlays/{staging,production}"
  k apply -k manifests/argocd >/dev/null
  # The root creates the children; each is waited for until Argo CD reports it Synced and Healthy.
  for app in mlcycle mlcycle-model-staging mlcycle-model-production; do
    k wait --for=create "application/$app" -n argocd --timeout="$TIMEOUT" >/dev/null || not_synced "$app"
    k wait --for=jsonpath='{.status.sync.status}'=Synced "application/$app" -n argocd --timeout="$TIMEOUT" >/dev/null \
      || not_synced "$app"
    k wait --for=jsonpath='{.status.health.status}'=Healthy "application/$app" -n argocd --timeout="$TIMEOUT" >/dev/null \
      || not_synced "$app"
  done
  say "Argo CD reports mlcycle, mlcycle-model-staging and mlcycle-model-production Synced and Healthy"
else
  say "models applied directly (Argo CD syncs them once manifests/argocd/apps/source.yaml names your fork)"
  for environment in staging production; do
    k apply --server-side --force-conflicts -k "manifests/model/overlays/$environment" >/dev/null
  done
fi
# Argo CD has no health check for SeldonDeployments (none among its resource_customizations at
# v3.5.1): the model's own state is waited for as well.
for environment in staging production; do
  replicas="$(k get seldondeployment mlcycle-model -n "mlcycle-$environment" -o jsonpath='{.spec.predictors[0].replicas}' 2>/dev/null || true)"
  if [ "$replicas" = "0" ]; then
    say "$environment runs no model yet (promote one: mlcycle promote VERSION --to $environment)"
  elif k get seldondeployment mlcycle-model -n "mlcycle-$environment" >/dev/null 2>&1; then
    k wait --for=jsonpath='{.status.state}'=Available seldondeployment/mlcycle-model -n "mlcycle-$environment" --timeout="$TIMEOUT" >/dev/null \
      || not_ready "mlcycle-$environment" "the $environment model"
  fi
done

if [ "$context" = "kind-mlcycle" ]; then
  k apply -k manifests/kind >/dev/null
  cat <<EOT

mlcycle is deployed on kind:
  KFP UI:          http://127.0.0.1:8080
  model endpoint:  http://127.0.0.1:8081/api/v1.0/predictions   (production)
  S3 console:      http://127.0.0.1:8082   (root user: AWS_* in $CREDENTIALS)
EOT
else
  cat <<EOT

mlcycle is deployed on $context. Reach it with port-forwards:
  kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80
  kubectl -n mlcycle-production port-forward svc/mlcycle-model-main 8081:8000
  kubectl -n mlcycle-storage port-forward svc/object-store 9000:9000 9001:9001
EOT
fi
