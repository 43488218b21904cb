"""Policy checks: checkov (a widely used scanner, pinned, in its own tool environment) on everything
we deploy, plus our own rules where checkov does not look (custom resources such as the
SeldonDeployment): security contexts, requests and limits, pinned images. No secret is committed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CHECKOV = "checkov==3.3.30"
# The base is never deployed alone: its overlays give it a namespace (checkov would flag "default").
NOT_DEPLOYED_ALONE = {"model/base"}


def uv() -> str:
    found = REPO / ".tools" / "bin" / "uv"
    if found.is_file():
        return str(found)
    on_path = shutil.which("uv")
    if on_path is None:
        pytest.fail("uv is not installed: run `make env` first (it installs the pinned uv in .tools/)")
    return on_path


def test_checkov_passes_on_every_deployed_kustomization(rendered, tmp_path):
    for folder, docs in rendered.items():
        if folder not in NOT_DEPLOYED_ALONE:
            (tmp_path / (folder.replace("/", "-") + ".yaml")).write_text(yaml.safe_dump_all(docs))
    tools = REPO / ".tools"
    env = {**os.environ, "UV_TOOL_DIR": str(tools / "uv-tools"), "UV_CACHE_DIR": str(tools / "uv-cache")}
    done = subprocess.run(
        [
            uv(),
            "tool",
            "run",
            "--python",
            "3.11",
            "--from",
            CHECKOV,
            "checkov",
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.stdout.strip(), f"checkov printed nothing: {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    report = report if isinstance(report, dict) else report[0]
    failed = report["results"].get("failed_checks", [])
    described = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in failed]
    assert not failed, "checkov failed:\n" + "\n".join(described)
    assert report["summary"]["passed"] > 50
    skipped = report["results"].get("skipped_checks", [])
    assert all(s.get("suppress_comment") for s in skipped), "every checkov exception needs its reason"


def test_checkov_exceptions_are_justified_in_place():
    for file in (REPO / "manifests").rglob("*.yaml"):
        for match in re.finditer(r"checkov\.io/skip\d+:\s*(\S+)", file.read_text()):
            check, _, reason = match.group(1).partition("=")
            line = file.read_text()[match.start() :].splitlines()[0]
            assert re.match(r"CKV_K8S_\d+$", check) and len(line.split("=", 1)[1].strip()) > 20, f"{file}: {line}"


def containers_of(spec: dict) -> list[dict]:
    return spec.get("containers", []) + spec.get("initContainers", [])


def test_every_workload_runs_non_root_without_privilege_and_with_limits(workloads):
    assert len(workloads) >= 5
    for name, spec in workloads:
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, f"{name}: pod may run as root"
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: no seccomp profile"
        assert spec.get("automountServiceAccountToken") is False, f"{name}: mounts an API token it does not need"
        for container in containers_of(spec):
            where = f"{name}/{container['name']}"
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation allowed"
            assert context.get("readOnlyRootFilesystem") is True, f"{where}: writable root file system"
            assert context.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities not dropped"
            assert context.get("privileged") is False, f"{where}: privileged"
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{where}: no cpu and memory {kind}"


def test_no_image_floats(workloads):
    for name, spec in workloads:
        for container in containers_of(spec):
            image = container["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert tag and tag != "latest", f"{name}: image {image} has no fixed tag"


def test_seldon_sidecar_resources_are_set(all_documents):
    for _, doc in all_documents:
        if doc["kind"] == "SeldonDeployment":
            for predictor in doc["spec"]["predictors"]:
                resources = predictor["svcOrchSpec"]["resources"]
                assert set(resources) == {"requests", "limits"}


def test_every_namespace_of_ours_has_default_deny_network_policies(all_documents):
    namespaces = {d["metadata"]["name"] for _, d in all_documents if d["kind"] == "Namespace"}
    assert {"mlcycle-storage", "mlcycle-staging", "mlcycle-production"} <= namespaces
    for namespace in namespaces:
        denies = [
            d
            for _, d in all_documents
            if d["kind"] == "NetworkPolicy"
            and d["metadata"].get("namespace") == namespace
            and d["spec"]["podSelector"] == {}
            and set(d["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not d["spec"].get("ingress")
            and not d["spec"].get("egress")
        ]
        assert denies, f"namespace {namespace} has no default-deny NetworkPolicy"


def test_no_secret_resource_is_rendered(all_documents):
    assert not [f"{f}: {d['metadata']['name']}" for f, d in all_documents if d["kind"] == "Secret"]


SECRET_PATTERNS = [
    re.compile(
        r"(?i)(MINIO_ROOT_PASSWORD|SECRET_ACCESS_KEY|secretkey|password)\s*[:=]\s*['\"]?(?!\$|\{|<)[A-Za-z0-9/+=]{8,}"
    ),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
]


def test_no_secret_value_is_committed():
    files = subprocess.run(
        ["git", "ls-files", "manifests", "hack", "mk", "kind-config.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert files
    for name in files:
        text = (REPO / name).read_text(errors="replace")
        for pattern in SECRET_PATTERNS:
            match = pattern.search(text)
            assert match is None, f"{name} holds what looks like a secret: {match.group(0)[:40]}"


def test_the_secret_detector_catches_a_planted_value():
    assert SECRET_PATTERNS[0].search("MINIO_ROOT_PASSWORD: Zx8aPq2LmN0r")
    assert not SECRET_PATTERNS[0].search("MINIO_ROOT_PASSWORD: $(SECRET_KEY)")


def test_local_credentials_are_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".local/cluster/credentials.env"], cwd=REPO, check=False)
    assert ignored.returncode == 0
