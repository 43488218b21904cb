"""components/images.py: the build platform of each image, and the check that an image is in the
registry the cluster pulls from (against a stand-in registry on 127.0.0.1 speaking the registry API)."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from pathlib import Path

import pytest

from components import images

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("machine", "pipeline", "serving"),
    [
        ("x86_64", "linux/amd64", "linux/amd64"),
        ("AMD64", "linux/amd64", "linux/amd64"),
        ("arm64", "linux/amd64", "linux/arm64"),  # Apple Silicon: TFDV has no arm64 wheels
        ("aarch64", "linux/amd64", "linux/arm64"),
    ],
)
def test_the_pipeline_image_is_amd64_everywhere_and_serving_follows_the_host(machine, pipeline, serving):
    assert images.build_platform(images.PIPELINE_IMAGE, machine) == pipeline
    assert images.build_platform(images.SERVING_IMAGE, machine) == serving


class Registry(http.server.BaseHTTPRequestHandler):
    """Answers manifest requests for the images in `held`, 404 for others, `status` when set."""

    held: set[str] = set()
    status: int | None = None
    seen: list[tuple[str, str, str]] = []

    def do_HEAD(self):  # noqa: N802
        Registry.seen.append((self.command, self.path, self.headers.get("Accept", "")))
        code = Registry.status or (200 if self.path in Registry.held else 404)
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def registry():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Registry.held, Registry.status, Registry.seen = set(), None, []
    yield {images.REGISTRY_ENDPOINT_VARIABLE: f"http://127.0.0.1:{server.server_address[1]}"}
    server.shutdown()
    server.server_close()


def test_the_manifest_address_is_http_for_a_registry_on_this_machine():
    assert images.manifest_url("localhost:5001/mlcycle-pipeline:0.1.0", {}) == (
        "http://localhost:5001/v2/mlcycle-pipeline/manifests/0.1.0"
    )
    assert images.manifest_url("ghcr.io/me/mlcycle-serving:1.2", {}) == (
        "https://ghcr.io/v2/me/mlcycle-serving/manifests/1.2"
    )


def test_a_pushed_image_is_found_and_a_missing_one_named_with_the_make_targets(registry):
    Registry.held = {"/v2/mlcycle-pipeline/manifests/0.1.0"}
    assert images.image_present(images.PIPELINE_IMAGE, registry)
    assert not images.image_present(images.SERVING_IMAGE, registry)
    assert all(method == "HEAD" and "oci.image.index" in accept for method, _, accept in Registry.seen)
    with pytest.raises(images.ImageMissingError) as raised:
        images.check_images([images.PIPELINE_IMAGE, images.SERVING_IMAGE], registry)
    assert images.SERVING_IMAGE in str(raised.value) and images.PIPELINE_IMAGE not in str(raised.value)
    assert "make images push-images" in str(raised.value)


def test_a_registry_that_refuses_or_does_not_answer_is_one_clear_error(registry):
    Registry.status = 401
    with pytest.raises(images.RegistryError, match="answered HTTP 401"):
        images.image_present(images.PIPELINE_IMAGE, registry)
    with pytest.raises(images.RegistryError, match="does not answer") as raised:
        images.image_present(images.PIPELINE_IMAGE, {images.REGISTRY_ENDPOINT_VARIABLE: "http://127.0.0.1:9"})
    assert "make kind-up" in raised.value.hint


def make(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")} | env
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("target", ["submit", "schedule"])
def test_submit_stops_with_one_line_when_the_pipeline_image_was_not_pushed(registry, target):
    result = make(target, env={**registry, "KFP_HOST": "http://127.0.0.1:9"})
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert images.PIPELINE_IMAGE in line and "make images push-images" in line
    assert "run " not in result.stdout  # nothing was submitted
