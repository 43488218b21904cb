#!/usr/bin/env bash
# `make up`: from nothing to a working platform on this machine, in one command:
#   1. the kind cluster of kind-config.yaml and its registry localhost:5001 (hack/kind-up.sh);
#   2. both images built (`make images`: the pipeline image for linux/amd64, the serving image for this
#      machine) and pushed to that registry (`make push-images`);
#   3. the platform deployed and waited for (hack/deploy.sh: object store, KFP, Seldon, Argo CD, models);
#   4. the training pipeline uploaded to KFP as a new version (no run is started);
#   5. the addresses and the next commands printed.
# Every step is idempotent: run it again after fixing what stopped it. `make down` removes it all.
# Settings (environment): DOCKER, KIND, KUBECTL, HELM, KFP_HOST (http://127.0.0.1:8080), and those of
# hack/deploy.sh. Needs Docker with 8 CPUs and 16 GiB for its VM (manifests/README.md, Budget).
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER="${DOCKER:-docker}"
KIND="${KIND:-kind}"
KFP_HOST="${KFP_HOST:-http://127.0.0.1:8080}"
# The budget the platform and one run were checked against (manifests/budget.yaml, test_budget.py).
read -r MIN_CPUS MIN_MEMORY_GIB < <(.venv/bin/python -c '
import yaml
budget = yaml.safe_load(open("manifests/budget.yaml"))["budget"]
print(budget["cpu"], budget["memory"].removesuffix("Gi"))')

say() { printf '\n==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v "$DOCKER" >/dev/null || fail "$DOCKER is not installed (hint: install Docker Desktop or Docker Engine)"
"$DOCKER" info >/dev/null 2>&1 || fail "the Docker engine is not running (hint: start Docker, then make up again)"
read -r cpus memory < <("$DOCKER" info --format '{{.NCPU}} {{.MemTotal}}')
memory_gib=$((memory / 1024 / 1024 / 1024))
if [ "$cpus" -lt "$MIN_CPUS" ] || [ "$memory_gib" -lt "$((MIN_MEMORY_GIB - 1))" ]; then
  printf 'warning: Docker has %s CPUs and %s GiB; the platform and one run request up to %s CPUs and %s GiB (manifests/README.md, Budget): expect evicted or OOM-killed pods\n' \
    "$cpus" "$memory_gib" "$MIN_CPUS" "$MIN_MEMORY_GIB" >&2
fi

say "1/5 kind cluster and registry"
KIND="$KIND" hack/kind-up.sh

say "2/5 images: build and push to localhost:5001"
make --no-print-directory images push-images DOCKER="$DOCKER"

say "3/5 the platform"
hack/deploy.sh

say "4/5 the training pipeline, uploaded to KFP at $KFP_HOST"
KFP_HOST="$KFP_HOST" .venv/bin/python - <<'PY'
import os
import sys
from datetime import datetime, timezone

from components.common.errors import UserError
from components.common.provenance import code_version
from pipelines.submit import DEFAULT_SPEC, connect, publish_version, read_pipeline, version_name

try:
    pipeline = read_pipeline(DEFAULT_SPEC)
    client = connect(os.environ["KFP_HOST"], None, None)
    version = publish_version(client, pipeline, version_name(pipeline.name, code_version(), datetime.now(timezone.utc)))
except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(error.exit_code)
print(f"pipeline {pipeline.name}, version {version.name}")
PY

say "5/5 mlcycle is up"
cat <<EOT
  KFP UI:          $KFP_HOST
  model endpoint:  http://127.0.0.1:8081/api/v1.0/predictions   (production, once a model is promoted)
  object store:    http://127.0.0.1:8082   (console; root user: AWS_* in .local/cluster/credentials.env)

Next:
  KFP_HOST=$KFP_HOST make submit        # one training run (the KFP UI shows it)
  .venv/bin/mlcycle promote VERSION --to staging    # then production; see manifests/README.md, Promotion
  make down                                          # remove the cluster and its registry
EOT
