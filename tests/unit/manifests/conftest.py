"""Renders every kustomization of ours once per session, offline, with the pinned kubectl."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from components.deploy.tools import kubectl_path

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "manifests"
# Third-party parts, fetched at deploy time: rendered on a cluster machine, never here.
REMOTE = MANIFESTS / "remote"


def offline_kustomizations() -> list[Path]:
    """Every kustomization of ours that is built on its own (components are built by their users)."""
    found = []
    for file in sorted(MANIFESTS.rglob("kustomization.yaml")):
        if REMOTE in file.parents:
            continue
        if yaml.safe_load(file.read_text()).get("kind") == "Component":
            continue
        found.append(file.parent)
    return found


def crds_dir() -> Path:
    """The upstream CRDs: MLCYCLE_CRDS_DIR, else the nearest shared/crds beside the repository or one of its parents.

    The development machines keep them in ../shared/crds; a checkout placed deeper (a CI clone, a
    worktree) finds the same folder further up.
    """
    if "MLCYCLE_CRDS_DIR" in os.environ:
        return Path(os.environ["MLCYCLE_CRDS_DIR"])
    candidates = [folder / "shared" / "crds" for folder in REPO.parents]
    return next((folder for folder in candidates if folder.is_dir()), candidates[0])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kustomization_folder" in metafunc.fixturenames:
        folders = offline_kustomizations()
        metafunc.parametrize("kustomization_folder", folders, ids=[str(p.relative_to(MANIFESTS)) for p in folders])


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return kubectl_path()


@pytest.fixture(scope="session")
def render_folder(kubectl: Path):
    """Renders a kustomization folder into its documents."""
    return lambda folder: render(kubectl, folder)


def render(kubectl: Path, folder: Path) -> list[dict]:
    done = subprocess.run([str(kubectl), "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{folder.relative_to(REPO)} does not render: {done.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="session")
def rendered(kubectl: Path) -> dict[str, list[dict]]:
    """Rendered documents by kustomization folder (relative to manifests/)."""
    return {str(folder.relative_to(MANIFESTS)): render(kubectl, folder) for folder in offline_kustomizations()}


@pytest.fixture(scope="session")
def all_documents(rendered: dict[str, list[dict]]) -> list[tuple[str, dict]]:
    """(folder, document) over everything rendered."""
    return [(folder, doc) for folder, docs in rendered.items() for doc in docs]


@pytest.fixture(scope="session")
def workloads(all_documents) -> list[tuple[str, dict]]:
    """(name, pod spec) of every workload rendered: Deployments, Jobs, SeldonDeployment predictors."""
    return [named for _, doc in all_documents for named in pod_specs(doc)]


def pod_specs(doc: dict) -> list[tuple[str, dict]]:
    """The pod specs of a workload (Deployment, Job, SeldonDeployment predictors), named."""
    kind, name = doc["kind"], doc["metadata"]["name"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [(f"{kind}/{name}", doc["spec"]["template"]["spec"])]
    if kind == "SeldonDeployment":
        return [
            (f"{kind}/{name}/{predictor['name']}/{i}", spec["spec"])
            for predictor in doc["spec"]["predictors"]
            for i, spec in enumerate(predictor.get("componentSpecs", []))
        ]
    return []
