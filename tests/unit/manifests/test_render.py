"""Every kustomization of ours renders offline; third-party parts are pinned and kept apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "manifests"
REMOTE = MANIFESTS / "remote"


def test_every_kustomization_of_ours_renders(render_folder, kustomization_folder):
    docs = render_folder(kustomization_folder)
    assert docs, f"{kustomization_folder} renders nothing"
    assert all(doc.get("kind") and doc.get("metadata", {}).get("name") for doc in docs)


def test_the_offline_set_covers_the_model_overlays_and_the_platform(rendered):
    names = set(rendered)
    assert {
        "object-store/base",
        "object-store/overlays/seaweedfs",
        "kubeflow-pipelines",
        "kind",
        "model/base",
        "model/overlays/staging",
        "model/overlays/production",
        "argocd",
        "argocd/apps",
    } <= names


def test_no_kustomization_of_ours_reaches_the_network(rendered):
    for name in rendered:
        text = (MANIFESTS / name / "kustomization.yaml").read_text()
        assert not re.search(r"https?://|github\.com|helmCharts", text), f"{name} refers to a remote source"


def remote_references() -> list[tuple[str, str]]:
    found = []
    for file in sorted(REMOTE.rglob("kustomization.yaml")):
        for resource in yaml.safe_load(file.read_text()).get("resources", []):
            if "://" in resource or resource.startswith("github.com"):
                found.append((str(file.relative_to(REPO)), resource))
    return found


def test_remote_bases_are_pinned_to_exact_releases():
    references = remote_references()
    assert len(references) == 3
    for file, url in references:
        if "kubeflow/pipelines" in url:
            assert url.endswith("?ref=2.17.0"), f"{file}: {url} is not at the pinned KFP tag"
        elif "argoproj/argo-cd" in url:
            assert "/v3.5.1/" in url, f"{file}: {url} is not at the pinned Argo CD tag"
        else:
            pytest.fail(f"{file}: unexpected remote {url}")


def test_seldon_operator_chart_is_pinned_and_its_values_parse():
    kustomization = yaml.safe_load((REMOTE / "seldon-core-operator" / "kustomization.yaml").read_text())
    (chart,) = kustomization["helmCharts"]
    assert (chart["name"], chart["version"], chart["repo"]) == (
        "seldon-core-operator",
        "1.17.1",
        "https://storage.googleapis.com/seldon-charts",
    )
    values = yaml.safe_load((REMOTE / "seldon-core-operator" / chart["valuesFile"]).read_text())
    assert "MLCYCLE_SERVER" in values["predictor_servers"]


def test_canary_overlay_renders_two_predictors_with_the_split(render_folder, tmp_path):
    """The release component adds the canary as a copy of main, with its own model and traffic."""
    import shutil

    from components.deploy.logic import Predictor, Release, release_files

    shutil.copytree(MANIFESTS / "model", tmp_path / "model")
    release = Release(
        "production",
        "loans",
        Predictor("m-aaaaaaaaaaaaaaaa", "s3://models/loans/m-aaaaaaaaaaaaaaaa/", "a" * 64, 80, "ds-1"),
        Predictor("m-bbbbbbbbbbbbbbbb", "s3://models/loans/m-bbbbbbbbbbbbbbbb/", "b" * 64, 20, "ds-2"),
    )
    for name, text in release_files(release).items():
        (tmp_path / "model" / "overlays" / "production" / "release" / name).write_text(text)
    (sdep,) = [
        d for d in render_folder(tmp_path / "model" / "overlays" / "production") if d["kind"] == "SeldonDeployment"
    ]
    predictors = {p["name"]: p for p in sdep["spec"]["predictors"]}
    assert set(predictors) == {"main", "canary"}
    for name, version, digest, traffic in (
        ("main", "m-aaaaaaaaaaaaaaaa", "a" * 64, 80),
        ("canary", "m-bbbbbbbbbbbbbbbb", "b" * 64, 20),
    ):
        predictor = predictors[name]
        assert predictor["traffic"] == traffic
        assert predictor["graph"]["modelUri"] == f"s3://models/loans/{version}/"
        assert predictor["graph"]["parameters"] == [{"name": "model_sha256", "type": "STRING", "value": digest}]
        assert predictor["labels"]["model_version"] == version
        assert predictor["componentSpecs"][0]["metadata"]["labels"]["model_version"] == version
        assert "replicas" not in predictor
    assert sdep["spec"]["replicas"] == 2
    assert not [d for d in render_folder(tmp_path / "model" / "overlays" / "production") if d["kind"] == "ModelRelease"]


def test_committed_overlays_never_fetch_the_placeholder_model(rendered):
    """Before the first promotion an overlay runs no replica; after it, no placeholder is left."""
    from components.deploy.logic import parse_release

    for environment in ("staging", "production"):
        release = parse_release(
            (MANIFESTS / f"model/overlays/{environment}/release/release.yaml").read_text(), environment
        )
        (sdep,) = [d for d in rendered[f"model/overlays/{environment}"] if d["kind"] == "SeldonDeployment"]
        main = sdep["spec"]["predictors"][0]
        if release.main is None:
            assert main["replicas"] == 0, f"{environment} would fetch the placeholder model"
        else:
            assert "unreleased" not in yaml.safe_dump(sdep), f"{environment} keeps a placeholder"
