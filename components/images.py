"""The one place image references come from, so the compiled pipeline spec is deterministic.

`make images` tags what it builds with these names; components use them as their base image.
The registry is the kind cluster's local registry (see kind-config.yaml); a fork that pushes
elsewhere changes REGISTRY here and recompiles.

Also the platform each image is built for (:func:`build_platform`) and whether an image is where the
cluster pulls it from (``python -m components.images check``, run by `make deploy` and `make submit`).
"""

from __future__ import annotations

import os
import platform
import sys
import urllib.error
import urllib.request

REGISTRY = "localhost:5001"
TAG = "0.1.0"
PIPELINE_IMAGE = f"{REGISTRY}/mlcycle-pipeline:{TAG}"
SERVING_IMAGE = f"{REGISTRY}/mlcycle-serving:{TAG}"
# TensorFlow Data Validation 1.16.1 and tfx-bsl 1.16.1 publish x86-64 wheels only (uv.lock), so the
# pipeline image is linux/amd64 on every host; on an arm64 host (Apple Silicon) its tasks run under the
# Docker VM's amd64 emulation, several times slower. The serving image is built for the host.
PIPELINE_PLATFORM = "linux/amd64"
# Where `make deploy` and `make submit` look for the images from this machine; a registry reached
# differently from here than from the nodes (a port-forward to a remote one) is set with this variable.
REGISTRY_ENDPOINT_VARIABLE = "MLCYCLE_REGISTRY_ENDPOINT"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


class RegistryError(Exception):
    """The registry cannot say whether an image is there (unreachable, or it wants credentials).

    Its own small error (not components.common's UserError): this module is a sibling of common in the
    import layers and imports nothing of the project. Printed as one line with its hint.

    Args:
        message: What is wrong, naming the image and the address asked.
        hint: How to fix it.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class ImageMissingError(RegistryError):
    """An image the cluster needs is not in the registry it pulls from."""


def host_platform(machine: str | None = None) -> str:
    """The Docker platform of this machine's architecture (kind nodes run the host's)."""
    machine = (machine or platform.machine()).lower()
    return "linux/arm64" if machine in ("arm64", "aarch64") else "linux/amd64"


def build_platform(image: str, machine: str | None = None) -> str:
    """The platform `make images` builds an image for: the pipeline image's wheels require linux/amd64."""
    return PIPELINE_PLATFORM if image == PIPELINE_IMAGE else host_platform(machine)


def manifest_url(image: str, environ: dict[str, str] | None = None) -> str:
    """The registry API address of an image's manifest (HTTP for a registry on this machine)."""
    environ = os.environ if environ is None else environ
    registry, _, rest = image.partition("/")
    repository, _, tag = rest.rpartition(":")
    scheme = "http" if registry.split(":")[0] in ("localhost", "127.0.0.1") else "https"
    base = environ.get(REGISTRY_ENDPOINT_VARIABLE) or f"{scheme}://{registry}"
    return f"{base.rstrip('/')}/v2/{repository}/manifests/{tag}"


def image_present(image: str, environ: dict[str, str] | None = None, timeout: float = 10.0) -> bool:
    """Asks the registry for the image's manifest (HEAD, anonymous).

    Returns:
        True when the registry has it, False when it answers that it has not.

    Raises:
        RegistryError: If the registry does not answer, or refuses to say without credentials.
    """
    url = manifest_url(image, environ)
    request = urllib.request.Request(url, method="HEAD", headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise RegistryError(
            f"the registry of {image} answered HTTP {error.code} at {url}",
            hint=f"log in or set {REGISTRY_ENDPOINT_VARIABLE}; the check runs anonymously",
        ) from None
    except (urllib.error.URLError, OSError) as error:
        raise RegistryError(
            f"the registry of {image} does not answer at {url}: {getattr(error, 'reason', error)}",
            hint="create the cluster and its registry with `make kind-up` (or `make up`)",
        ) from None


def check_images(images: list[str], environ: dict[str, str] | None = None) -> None:
    """Raises when an image is not where the cluster pulls it, naming the make targets that put it there.

    Raises:
        ImageMissingError: If an image is absent.
        RegistryError: If the registry cannot be asked.
    """
    missing = [image for image in images if not image_present(image, environ)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ImageMissingError(
            f"{' and '.join(missing)} {verb} not in the registry the cluster pulls from",
            hint="build and push them with `make images push-images` (after `make kind-load`: SKIP_IMAGE_CHECK=1)",
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m components.images check [pipeline|serving]...``: one line and exit 2 when an image is missing."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["platform"]:
        print(build_platform(PIPELINE_IMAGE if args[1:] == ["pipeline"] else SERVING_IMAGE))
        return 0
    if args[:1] != ["check"]:
        print("usage: python -m components.images check [pipeline|serving]... | platform pipeline|serving")
        return 2
    names = {"pipeline": PIPELINE_IMAGE, "serving": SERVING_IMAGE}
    try:
        check_images([names[name] for name in (args[1:] or list(names))])
    except RegistryError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
