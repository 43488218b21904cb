"""hack/deploy.sh against a stand-in kubectl and helm: there is no cluster on the build machines, so
these check the script's own behaviour (order, secrets, waits, the not-ready report), not a cluster."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from helpers import image_registry

from components.common.s3_roles import policy_document, policy_name
from components.common.s3_settings import ROLES
from components.images import PIPELINE_IMAGE, REGISTRY_ENDPOINT_VARIABLE, SERVING_IMAGE

REPO = Path(__file__).resolve().parents[3]

FAKE_KUBECTL = r"""#!/usr/bin/env bash
# Records each call; answers what deploy.sh asks.
printf '%s\n' "kubectl $*" >> "$FAKE_LOG"
if [ -n "${FAKE_FAIL:-}" ] && [[ "$*" == *"$FAKE_FAIL"* ]]; then exit 1; fi
case "$*" in
  "config current-context") echo "${FAKE_CONTEXT:-kind-mlcycle}" ;;
  *"create secret generic"*)
    for arg in "$@"; do
      case "$arg" in
        --from-env-file=*) file="${arg#--from-env-file=}"; keys=$(cut -d= -f1 "$file" | paste -sd, -) ;;
        --from-file=*) file="${arg#--from-file=*=}"; keys="${arg#--from-file=}"; keys="${keys%%=*}" ;;
      esac
    done
    namespace=$(printf '%s\n' "$@" | grep -A1 -x -- -n | tail -1)
    printf 'SECRET %s ns=%s keys=%s mode=%s\n' "$4" "$namespace" "$keys" "$(stat -c %a "$file")" >> "$FAKE_LOG"
    printf '== %s %s\n' "$namespace" "$4" >> "$FAKE_SECRETS"
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
def registry():
    """The cluster's registry, stood in for: it holds both images."""
    with image_registry(PIPELINE_IMAGE, SERVING_IMAGE) as server:
        yield server


@pytest.fixture
def fakes(tmp_path: Path, registry) -> dict[str, str]:
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
        REGISTRY_ENDPOINT_VARIABLE: registry.url,
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


def secret_contents(env: dict[str, str]) -> dict[tuple[str, str], str]:
    """What each Secret the script created holds, by (namespace, name); the last write wins."""
    found: dict[tuple[str, str], list[str]] = {}
    current: list[str] = []
    for line in Path(env["FAKE_SECRETS"]).read_text().splitlines():
        if line.startswith("== "):
            _, namespace, name = line.split()
            current = found[(namespace, name)] = []
        else:
            current.append(line)
    return {where: "\n".join(lines) for where, lines in found.items()}


def role_keys(values: dict[str, str], role: str) -> tuple[str, str]:
    stem = role.upper().replace("-", "_")
    return values[f"{stem}_ACCESS_KEY_ID"], values[f"{stem}_SECRET_ACCESS_KEY"]


# Who gets which role's keys: the Secrets of each namespace.
ROLE_SECRETS = {
    ("kubeflow", "mlcycle-s3-pipeline"): "pipeline",
    ("kubeflow", "mlcycle-s3-monitoring"): "monitoring",
    ("mlcycle-staging", "mlcycle-s3-serving"): "serving",
    ("mlcycle-production", "mlcycle-s3-serving"): "serving",
    ("mlcycle-staging", "mlcycle-model-storage"): "storage-initializer",
    ("mlcycle-production", "mlcycle-model-storage"): "storage-initializer",
}


def test_secrets_are_generated_once_kept_private_and_never_on_a_command_line(fakes):
    assert deploy(fakes).returncode == 0
    credentials = Path(fakes["MLCYCLE_STATE_DIR"]) / "cluster" / "credentials.env"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in credentials.read_text().splitlines())
    assert len(values["AWS_SECRET_ACCESS_KEY"]) == 40 and values["AWS_SECRET_ACCESS_KEY"].isalnum()
    roles = {role: role_keys(values, role) for role in ROLES}
    assert all(len(secret) == 40 and secret.isalnum() and len(key) <= 20 for key, secret in roles.values())
    assert len({key for key, _ in roles.values()} | {values["AWS_ACCESS_KEY_ID"]}) == len(ROLES) + 1
    secrets = [line for line in calls(fakes) if line.startswith("SECRET ")]
    assert {(line.split()[2][3:], line.split()[1]) for line in secrets} == {
        ("mlcycle-storage", "object-store-credentials"),
        *ROLE_SECRETS,
    }
    assert all(line.endswith("mode=600") for line in secrets)
    rclone = next(line for line in secrets if line.split()[1] == "mlcycle-model-storage")
    assert "RCLONE_CONFIG_S3_TYPE,RCLONE_CONFIG_S3_PROVIDER,RCLONE_CONFIG_S3_ENV_AUTH" in rclone
    everything = [
        values["AWS_ACCESS_KEY_ID"],
        values["AWS_SECRET_ACCESS_KEY"],
        *(v for pair in roles.values() for v in pair),
    ]
    commands = "\n".join(line for line in calls(fakes) if not line.startswith("SECRET "))
    assert not [value for value in everything if value in commands]
    contents = secret_contents(fakes)
    assert all(value in contents[("mlcycle-storage", "object-store-credentials")] for value in everything)
    for where, role in ROLE_SECRETS.items():
        # Each Secret outside the store's namespace holds its own role's keys and no other key.
        assert all(value in contents[where] for value in roles[role]), where
        others = [v for other, pair in roles.items() if other != role for v in pair] + everything[:2]
        assert not [value for value in others if value in contents[where]], f"{where} holds a key of another role"
    assert "delete secret mlcycle-s3 -n kubeflow --ignore-not-found" in commands  # the shared key of before goes
    assert "delete secret mlcycle-s3 -n mlcycle-production --ignore-not-found" in commands
    assert not list((Path(fakes["MLCYCLE_STATE_DIR"]) / "cluster").glob("secret.*"))  # temporary files removed
    assert deploy(fakes).returncode == 0
    assert dict(line.split("=", 1) for line in credentials.read_text().splitlines()) == values


def test_a_credentials_file_from_before_the_roles_keeps_its_root_and_gains_role_keys(fakes):
    folder = Path(fakes["MLCYCLE_STATE_DIR"]) / "cluster"
    folder.mkdir(parents=True)
    credentials = folder / "credentials.env"
    credentials.write_text("AWS_ACCESS_KEY_ID=mlcycleOLDROOT1234\nAWS_SECRET_ACCESS_KEY=" + "s" * 40 + "\n")
    credentials.chmod(0o600)
    done = deploy(fakes)
    assert done.returncode == 0, done.stderr
    values = dict(line.split("=", 1) for line in credentials.read_text().splitlines())
    assert values["AWS_ACCESS_KEY_ID"] == "mlcycleOLDROOT1234"
    assert all(role_keys(values, role)[0].startswith("mlc") for role in ROLES)
    assert "generating the serving role's object store keys" in done.stdout
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600


def test_seaweedfs_gets_its_identities_from_a_secret_built_from_the_role_matrix(fakes):
    done = deploy(fakes, OBJECT_STORE="seaweedfs")
    assert done.returncode == 0, done.stderr
    values = dict(
        line.split("=", 1)
        for line in (Path(fakes["MLCYCLE_STATE_DIR"]) / "cluster" / "credentials.env").read_text().splitlines()
    )
    secrets = [line for line in calls(fakes) if line.startswith("SECRET ")]
    assert "SECRET object-store-identities ns=mlcycle-storage keys=config.json mode=600" in secrets
    config = json.loads(secret_contents(fakes)[("mlcycle-storage", "object-store-identities")])
    identities = {identity["name"]: identity for identity in config["identities"]}
    assert identities["root"]["actions"] == ["Admin"]
    assert identities["root"]["credentials"][0]["accessKey"] == values["AWS_ACCESS_KEY_ID"]
    for role in ROLES:
        identity = identities[policy_name(role)]
        assert identity["credentials"] == [dict(zip(("accessKey", "secretKey"), role_keys(values, role), strict=True))]
        assert identity["policyNames"] == [policy_name(role)] and "actions" not in identity
    policies = {policy["name"]: json.loads(policy["content"]) for policy in config["policies"]}
    assert policies == {policy_name(role): policy_document(role) for role in ROLES}
    commands = "\n".join(line for line in calls(fakes) if not line.startswith("SECRET "))
    assert values["SERVING_SECRET_ACCESS_KEY"] not in commands


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
