"""hack/undeploy.sh against strict stand-ins: the order that leaves nothing behind, and a non-zero exit
that lists what is left when something cannot be removed."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest
from unit.manifests import standins

from components.deploy.tools import helm_path, kubectl_path

REPO = Path(__file__).resolve().parents[3]
FINALIZER = "resources-finalizer.argocd.argoproj.io"
PART_OF = {"app.kubernetes.io/part-of": "mlcycle"}


def deployed() -> dict:
    """A cluster after `make deploy` with MODEL_SYNC=argocd."""

    def obj(kind, name, namespace=None, **extra):
        return {"kind": kind, "name": name, "namespace": namespace, **extra}

    objects = [
        obj("CustomResourceDefinition", "applications.argoproj.io", source="manifests/remote/argocd"),
        obj("Namespace", "argocd"),
        obj("Deployment", "argocd-application-controller", "argocd", source="manifests/remote/argocd"),
        obj("AppProject", "mlcycle", "argocd", source="manifests/argocd"),
        obj("Application", "mlcycle", "argocd", labels=PART_OF, finalizers=[FINALIZER], source="manifests/argocd"),
        obj("CustomResourceDefinition", "seldondeployments.machinelearning.seldon.io", source="helm:seldon-core"),
        obj("Namespace", "seldon-system"),
        obj("Deployment", "seldon-controller-manager", "seldon-system", source="helm:seldon-core"),
        obj("Namespace", "kubeflow", source="manifests/remote/kubeflow-pipelines/cluster-scoped"),
        obj("Deployment", "ml-pipeline", "kubeflow", source="manifests/remote/kubeflow-pipelines"),
        obj("Namespace", "mlcycle-storage"),
        obj("Deployment", "object-store", "mlcycle-storage"),
        obj("Service", "object-store", "mlcycle-storage"),
        obj("Job", "create-buckets", "mlcycle-storage"),
        obj("PersistentVolumeClaim", "object-store-data", "mlcycle-storage"),
    ]
    for environment in ("staging", "production"):
        app = f"mlcycle-model-{environment}"
        objects += [
            obj("Application", app, "argocd", labels=PART_OF, finalizers=[FINALIZER], owner="mlcycle"),
            obj("Namespace", f"mlcycle-{environment}", owner=app),
            obj("SeldonDeployment", "mlcycle-model", f"mlcycle-{environment}", owner=app),
        ]
    return {"context": "kind-mlcycle", "argocd_running": True, "objects": objects}


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> Path:
    """The kubectl and helm specs, read once from the pinned binaries' help."""
    folder = tmp_path_factory.mktemp("specs")
    standins.install(folder, {}, kubectl=str(kubectl_path()), helm=str(helm_path()))
    return folder / "spec.json"


def undeploy(tmp_path: Path, specs: Path, state: dict, **settings: str) -> tuple[subprocess.CompletedProcess, dict]:
    environ = standins.install(tmp_path, state)
    (tmp_path / "spec.json").write_text(specs.read_text())
    env = {**os.environ, **environ, "TIMEOUT": "2s", "POLL_SECONDS": "1", **settings}
    done = subprocess.run(
        ["bash", "hack/undeploy.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return done, json.loads((tmp_path / "state.json").read_text())


def left(state: dict) -> set[tuple[str, str]]:
    return {(o["kind"], o["name"]) for o in state["objects"]}


def test_everything_but_the_store_volume_goes_and_argo_cd_goes_after_its_applications(tmp_path, specs):
    done, state = undeploy(tmp_path, specs, deployed())
    assert done.returncode == 0, done.stderr
    assert left(state) == {("Namespace", "mlcycle-storage"), ("PersistentVolumeClaim", "object-store-data")}
    log = standins.calls(tmp_path)
    assert not [c for c in log if c[0] == "REFUSED"]
    argocd_removed = log.index(
        ["kubectl", "delete", "-k", "manifests/remote/argocd", "--ignore-not-found", "--timeout=2s"]
    )
    last_listing = max(i for i, c in enumerate(log) if c[:3] == ["kubectl", "get", "application"] and "-l" in c)
    namespaces_removed = next(
        i for i, c in enumerate(log) if c[:4] == ["kubectl", "delete", "namespace", "mlcycle-staging"]
    )
    assert last_listing < namespaces_removed < argocd_removed


def test_purge_removes_the_store_too(tmp_path, specs):
    done, state = undeploy(tmp_path, specs, deployed(), PURGE="1")
    assert done.returncode == 0, done.stderr
    assert left(state) == set()


def test_a_root_deployed_without_the_finalizer_gets_it_before_it_is_deleted(tmp_path, specs):
    state = deployed()
    for item in state["objects"]:
        if item["kind"] == "Application":
            item["finalizers"] = []
    done, after = undeploy(tmp_path, specs, state)
    assert done.returncode == 0, done.stderr
    assert ("SeldonDeployment", "mlcycle-model") not in left(after)  # nothing orphaned
    log = standins.calls(tmp_path)
    patch = log.index(next(c for c in log if c[:4] == ["kubectl", "patch", "application", "mlcycle"]))
    delete = log.index(next(c for c in log if c[:4] == ["kubectl", "delete", "application", "mlcycle"]))
    assert patch < delete


def test_applications_nobody_can_finalize_keep_argo_cd_and_fail_with_what_is_left(tmp_path, specs):
    state = deployed()
    state["argocd_running"] = False  # its controller is down: nothing clears the finalizers
    done, after = undeploy(tmp_path, specs, state)
    assert done.returncode == 1
    assert "Argo CD was left running" in done.stderr
    assert "still there: application/mlcycle" in done.stderr
    assert "still there: namespace argocd" in done.stderr
    assert ("Deployment", "argocd-application-controller") in left(after)  # Argo CD was not removed
    log = standins.calls(tmp_path)
    assert not [c for c in log if c[:4] == ["kubectl", "delete", "-k", "manifests/remote/argocd"]]
    # the rest of the platform still went
    assert ("Deployment", "ml-pipeline") not in left(after)


def test_a_failing_step_is_named_and_the_exit_is_non_zero(tmp_path, specs):
    state = deployed()
    state["objects"].append({"kind": "Namespace", "name": "kubeflow-stuck", "namespace": None})
    # KFP's namespace is not made by the kustomization the script deletes: it stays, and is reported.
    for item in state["objects"]:
        if item["name"] == "kubeflow" and item["kind"] == "Namespace":
            item["source"] = "someone-else"
    done, _ = undeploy(tmp_path, specs, state)
    assert done.returncode == 1
    assert "still there: namespace kubeflow" in done.stderr


def test_the_script_hides_no_error():
    script = (REPO / "hack" / "undeploy.sh").read_text()
    assert "|| true" not in script and "2>&1 || :" not in script


@pytest.mark.parametrize(
    "tool, argv, message",
    [
        ("kubectl", ["delete", "namespace", "x", "--cascade=sideways"], "invalid argument"),
        ("kubectl", ["wait", "--for=gone", "application", "-n", "argocd"], "unrecognized condition"),
        ("kubectl", ["delete", "namespace", "x", "--timeout=5 minutes"], "invalid duration"),
        ("kubectl", ["get", "application", "--selectr=a=b"], "unknown flag"),
        ("kubectl", ["remove", "namespace", "x"], "unknown command"),
        ("helm", ["uninstall", "seldon-core", "--purge"], "unknown flag"),
        ("helm", ["delete-release", "seldon-core"], "unknown command"),
    ],
)
def test_the_stand_ins_refuse_what_the_real_tools_refuse(tmp_path, specs, tool, argv, message):
    environ = standins.install(tmp_path, copy.deepcopy(deployed()))
    (tmp_path / "spec.json").write_text(specs.read_text())
    done = subprocess.run([environ[tool.upper()], *argv], env={**os.environ, **environ}, capture_output=True, text=True)
    assert done.returncode == 1 and message in done.stderr


def test_the_real_kubectl_refuses_the_same_arguments():
    """The stand-in's refusals are the pinned kubectl's (no cluster is needed to reject a flag)."""
    for argv in (["delete", "namespace", "x", "--cascade=sideways"], ["get", "application", "--selectr=a=b"]):
        done = subprocess.run([str(kubectl_path()), *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, argv
