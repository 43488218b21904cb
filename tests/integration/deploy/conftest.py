"""Fixtures of the promotion tests: a scratch GitOps repository and the pinned kubectl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from components.deploy.tools import kubectl_path

REPO = Path(__file__).resolve().parents[3]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def gitops_repo(tmp_path: Path) -> Path:
    """A fresh repository with this project's manifests, one commit on main."""
    repo = tmp_path / "gitops"
    shutil.copytree(REPO / "manifests", repo / "manifests")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "config", "user.email", "tests@example.invalid")
    git(repo, "config", "user.name", "tests")
    git(repo, "add", "manifests")
    git(repo, "commit", "-q", "-m", "initial manifests")
    return repo


@pytest.fixture(scope="module")
def kubectl() -> Path:
    return kubectl_path()
