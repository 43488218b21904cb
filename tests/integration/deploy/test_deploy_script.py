"""hack/deploy.sh against a stand-in kubectl and helm: there is no cluster on the build machines, so
these check the script's own behaviour (order, secrets, waits, the not-ready report), not a cluster."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

FAKE_KUBECTL = r"""#!/usr/bin/env bash
# Records each call; answers what deploy.sh asks.
printf '%s\n' "kubectl $*" >> "$FAKE_LOG"
if [ -n "${FAKE_FAIL:-}" ] && [[ "$*" == *"$FAKE_FAIL"* ]]; then exit 1; fi
case "$*" in
  "config current-context") echo "${FAKE_CONTEXT:-kind-mlcycle}" ;;
  *"create secret generic"*)
    for arg in "$@"; do case "$arg" in --from-env-file=*) file="${arg#--from-env-file=}" ;; esac; done
    keys=$(cut -d= -f1 "$file" | paste -sd, -)
    printf 'SECRET %s keys=%s mode=%s\n' "$4" "$keys" "$(stat -c %a "$file")" >> "$FAKE_LOG"
    cat "$file" >> "$FAKE_SECRETS"
    echo "kind: Secret" ;;
  *"create namespace"*) echo "kind: Namespace" ;;
  "apply -f -"*) cat > /dev/null ;;
  "get pods"*) echo "object-store-abc 0/1 ImagePullBackOff 0 1m" ;;
  "get events"*) echo "Warning Failed pod/object-store-abc Failed to pull image" ;;
  *"get seldondeployment"*"jsonpath"*) echo 0 ;;
esac
exit 0
"""

FAKE_HELM = r"""#!/usr/bin/env bash
printf '%s\n' "helm $*" >> "$FAKE_LOG"
exit 0
"""


@pytest.fixture
def fakes(tmp_path: Path) -> dict[str, str]:
    for name, text in (("kubectl", FAKE_KUBECTL), ("helm", FAKE_HELM)):
        path = tmp_path / "bin" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    return {
        **os.environ,
        "KUBECTL": str(tmp_path / "bin" / "kubectl"),
        "HELM": str(tmp_path / "bin" / "helm"),
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "FAKE_SECRETS": str(tmp_path / "secrets.log"),
        "MLCYCLE_STATE_DIR": str(tmp_path / "state"),
    }


def deploy(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(REPO / "hack/deploy.sh")], capture_output=True, text=True, env={**env, **extra}, timeout=120
    )


def calls(env: dict[str, str]) -> list[str]:
    return Path(env["FAKE_LOG"]).read_text().splitlines()


def first(lines: list[str], fragment: str) -> int:
    return next(i for i, line in enumerate(lines) if fragment in line)


def test_deploys_in_dependency_order_with_waits(fakes):
    done = deploy(fakes)
    assert done.returncode == 0, done.stderr
    lines = calls(fakes)
    order = [
        first(lines, "apply -k manifests/object-store/base"),
        first(lines, "wait --for=condition=complete job/create-buckets"),
        first(lines, "apply -k manifests/remote/kubeflow-pipelines/cluster-scoped"),
        first(lines, "crd/applications.app.k8s.io"),
        lines.index("kubectl apply -k manifests/remote/kubeflow-pipelines"),
        first(lines, "wait --for=condition=Available deployment --all -n kubeflow"),
        first(lines, "helm upgrade --install seldon-core seldon-core-operator"),
        first(lines, "apply --server-side --force-conflicts -k manifests/remote/argocd"),
        first(lines, "-k manifests/model/overlays/production"),
        first(lines, "apply -k manifests/kind"),
    ]
    assert order == sorted(order)
    helm = lines[first(lines, "helm upgrade")]
    assert (
        "--version 1.17.1" in helm
        and "--wait" in helm
        and "-f manifests/remote/seldon-core-operator/values.yaml" in helm
    )
    assert all("--timeout" in line for line in lines if " wait " in f" {line} " or "rollout status" in line)
    assert "KFP UI:          http://127.0.0.1:8080" in done.stdout
    assert "production runs no model yet" in done.stdout


def test_secrets_are_generated_once_kept_private_and_never_on_a_command_line(fakes):
    assert deploy(fakes).returncode == 0
    credentials = Path(fakes["MLCYCLE_STATE_DIR"]) / "cluster" / "credentials.env"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in credentials.read_text().splitlines())
    assert len(values["AWS_SECRET_ACCESS_KEY"]) == 40 and values["AWS_SECRET_ACCESS_KEY"].isalnum()
    secrets = [line for line in calls(fakes) if line.startswith("SECRET ")]
    assert {line.split()[1] for line in secrets} == {"object-store-credentials", "mlcycle-s3", "mlcycle-model-storage"}
    assert all(line.endswith("mode=600") for line in secrets)
    rclone = next(line for line in secrets if line.split()[1] == "mlcycle-model-storage")
    assert "RCLONE_CONFIG_S3_TYPE,RCLONE_CONFIG_S3_PROVIDER,RCLONE_CONFIG_S3_ENV_AUTH" in rclone
    commands = "\n".join(line for line in calls(fakes) if not line.startswith("SECRET "))
    assert values["AWS_SECRET_ACCESS_KEY"] not in commands and values["AWS_ACCESS_KEY_ID"] not in commands
    assert values["AWS_SECRET_ACCESS_KEY"] in Path(fakes["FAKE_SECRETS"]).read_text()
    assert not list((Path(fakes["MLCYCLE_STATE_DIR"]) / "cluster").glob("secret.*"))  # temporary files removed
    assert deploy(fakes).returncode == 0
    assert dict(line.split("=", 1) for line in credentials.read_text().splitlines()) == values


def test_a_part_that_is_not_ready_is_named_with_its_pods_and_events(fakes):
    done = deploy(fakes, FAKE_FAIL="rollout status deployment/object-store")
    assert done.returncode == 1
    assert "error: the object store is not ready after the timeout" in done.stderr
    assert "pod object-store-abc: ImagePullBackOff" in done.stderr and "Failed to pull image" in done.stderr
    assert "helm upgrade" not in Path(fakes["FAKE_LOG"]).read_text()  # stopped before the next part


def test_other_contexts_get_port_forward_hints_and_seaweedfs_can_be_chosen(fakes):
    done = deploy(fakes, FAKE_CONTEXT="prod-cluster", OBJECT_STORE="seaweedfs")
    assert done.returncode == 0, done.stderr
    assert "apply -k manifests/object-store/overlays/seaweedfs" in "\n".join(calls(fakes))
    assert "apply -k manifests/kind" not in "\n".join(calls(fakes))
    assert "port-forward svc/ml-pipeline-ui 8080:80" in done.stdout
    bad = deploy(fakes, OBJECT_STORE="ceph")
    assert bad.returncode == 1 and "OBJECT_STORE=ceph is neither minio nor seaweedfs" in bad.stderr
