"""`make images`, `make kind-load` and `make push-images` call Docker and kind as they should.

No Docker engine or kind exists on the build machines, so stand-ins on PATH record their arguments:
what is checked is the make side (names from components/images.py, the cluster from kind-config.yaml,
one clear line when a tool is missing), not Docker itself.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from components.images import PIPELINE_IMAGE, SERVING_IMAGE, build_platform

ROOT = Path(__file__).resolve().parents[3]


def stand_in(folder: Path, name: str, engine_up: bool = True) -> Path:
    """An executable that appends its arguments to <name>.log; `info` fails when no engine is up."""
    path = folder / name
    path.write_text(f'#!/bin/sh\n[ "$1" = info ] && exit {0 if engine_up else 1}\necho "$@" >> "{folder / name}.log"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def make(*args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600
    )


def test_images_checks_the_dockerfiles_then_builds_both_with_the_names_of_components_images(tmp_path):
    docker = stand_in(tmp_path, "docker")
    result = make("images", f"DOCKER={docker}")
    assert result.returncode == 0, result.stderr
    assert "passed" in result.stdout  # the offline checks ran first
    assert "for linux/amd64 (TFDV ships x86-64 wheels only" in result.stdout  # said clearly
    builds = (tmp_path / "docker.log").read_text().splitlines()
    assert len(builds) == 2
    for line, dockerfile, image in zip(
        builds,
        ("images/pipeline.Dockerfile", "images/serving.Dockerfile"),
        (PIPELINE_IMAGE, SERVING_IMAGE),
        strict=True,
    ):
        words = line.split()
        assert words[0] == "build" and words[-1] == "."
        assert words[words.index("-f") + 1] == dockerfile and words[words.index("-t") + 1] == image
        assert words[words.index("--platform") + 1] == build_platform(image)
        assert words[words.index("--build-arg") + 1].startswith("MLCYCLE_CODE_VERSION=git:")


def test_kind_load_loads_both_images_into_the_cluster_of_kind_config(tmp_path):
    docker, kind = stand_in(tmp_path, "docker"), stand_in(tmp_path, "kind")
    result = make("kind-load", f"KIND={kind}", f"DOCKER={docker}")
    assert result.returncode == 0, result.stderr
    cluster = yaml.safe_load((ROOT / "kind-config.yaml").read_text())["name"]
    assert (tmp_path / "kind.log").read_text().split() == [
        "load",
        "docker-image",
        PIPELINE_IMAGE,
        SERVING_IMAGE,
        "--name",
        cluster,
    ]


def test_push_images_pushes_both_to_their_registry(tmp_path):
    docker = stand_in(tmp_path, "docker")
    assert make("push-images", f"DOCKER={docker}").returncode == 0
    assert (tmp_path / "docker.log").read_text().splitlines() == [f"push {PIPELINE_IMAGE}", f"push {SERVING_IMAGE}"]


@pytest.mark.parametrize(
    ("target", "tool", "expected"),
    [
        ("images", "DOCKER", "error: {path} not found: make images needs Docker with a running engine"),
        ("kind-load", "KIND", "error: {path} not found: make kind-load needs kind"),
        ("push-images", "DOCKER", "error: {path} not found: make push-images needs Docker"),
    ],
)
def test_a_missing_tool_is_one_line_and_a_non_zero_exit(tmp_path, target, tool, expected):
    path = tmp_path / "absent"
    others = [f"DOCKER={stand_in(tmp_path, 'docker')}"] if tool == "KIND" else []
    result = make(target, f"{tool}={path}", *others)
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith(expected.format(path=path)) and "(hint: " in first


@pytest.mark.parametrize("target", ["images", "push-images", "kind-load"])
def test_a_docker_without_engine_is_named(tmp_path, target):
    docker, kind = stand_in(tmp_path, "docker", engine_up=False), stand_in(tmp_path, "kind")
    result = make(target, f"DOCKER={docker}", f"KIND={kind}")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith("error: no Docker engine answers")
    assert not (tmp_path / "docker.log").exists() and not (tmp_path / "kind.log").exists()
