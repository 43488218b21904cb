"""The pins of the cluster path agree with manifests/compatibility.yaml, and the kind node's Kubernetes
minor is inside the tested range of every part that publishes one."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
COMPATIBILITY = yaml.safe_load((REPO / "manifests" / "compatibility.yaml").read_text())
KUBERNETES = COMPATIBILITY["kubernetes"]
PARTS = COMPATIBILITY["parts"]


def node_minor() -> str:
    return ".".join(KUBERNETES["version"].lstrip("v").split(".")[:2])


def test_kind_config_runs_the_pinned_node_image_by_digest():
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    assert {node["image"] for node in config["nodes"]} == {KUBERNETES["node_image"]}
    assert re.fullmatch(r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", KUBERNETES["node_image"])
    assert KUBERNETES["node_image"].startswith(f"kindest/node:{KUBERNETES['version']}@")


def test_kind_up_requires_the_kind_release_of_the_node_image():
    script = (REPO / "hack" / "kind-up.sh").read_text()
    assert f"KIND_VERSION={KUBERNETES['kind'].lstrip('v')}" in script


def test_the_node_minor_is_tested_by_every_part_that_publishes_a_range():
    outside = {
        name: part["tested_minors"]
        for name, part in PARTS.items()
        if node_minor() not in part["tested_minors"] and part.get("api_versions_served_on") != node_minor()
    }
    assert not outside, f"Kubernetes {node_minor()} is outside the tested range of {outside}"


def test_a_part_outside_its_tested_range_says_what_was_checked_instead():
    for name, part in PARTS.items():
        if node_minor() not in part["tested_minors"]:
            assert part["api_versions_served_on"] == node_minor(), name
            assert float(part["minimum_minor"].split(".")[1]) <= float(node_minor().split(".")[1]), name


def test_remote_references_use_the_pinned_versions():
    kfp = PARTS["kubeflow-pipelines"]["version"]
    for folder in ("kubeflow-pipelines", "kubeflow-pipelines/cluster-scoped"):
        resources = yaml.safe_load((REPO / "manifests" / "remote" / folder / "kustomization.yaml").read_text())[
            "resources"
        ]
        assert any(r.endswith(f"?ref={kfp}") for r in resources), folder
    argocd = yaml.safe_load((REPO / "manifests" / "remote" / "argocd" / "kustomization.yaml").read_text())
    assert any(f"/{PARTS['argo-cd']['version']}/" in r for r in argocd["resources"])
    (chart,) = yaml.safe_load(
        (REPO / "manifests" / "remote" / "seldon-core-operator" / "kustomization.yaml").read_text()
    )["helmCharts"]
    assert str(chart["version"]) == PARTS["seldon-core-operator"]["version"]


def test_readme_compatibility_table_names_every_pin():
    readme = (REPO / "manifests" / "README.md").read_text()
    table = readme[readme.index("## Compatibility") :]
    table = table[: table.index("\n## ", 3)]
    for needle in [KUBERNETES["version"], KUBERNETES["kind"], KUBERNETES["node_image"].split("@")[1][:15]]:
        assert needle in table, needle
    for name, part in PARTS.items():
        assert part["version"] in table, name
        for minor in part["tested_minors"]:
            assert minor in table, (name, minor)
