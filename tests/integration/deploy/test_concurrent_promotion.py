"""Two `mlcycle promote` processes into one GitOps repository at once, with another stage writer running.

Each round starts two real promotions of different versions to production at the same moment while a
thread keeps changing the registry's staging stage. Every promotion must end in a commit (exit 0) or in
the one-line refusal of a lost race (exit 4); git must stay clean; the registry's production stage must
be the version git's overlay runs; and what each promotion printed as the registry's stage must be what
it wrote there.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from components.common import models
from components.common.errors import LostRaceError
from components.deploy import logic
from components.register import logic as registry

REPO = Path(__file__).resolve().parents[3]
USE_CASE = "loans"
ROUNDS = 4


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def versions(store, tmp_path) -> list[str]:
    """Three blessed versions of the use case."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 2))
    labels = (features[:, 0] > 0).astype(int)
    registered = []
    for C in (0.1, 0.2, 0.3):
        path = tmp_path / f"model-{C}.joblib"
        joblib.dump(LogisticRegression(C=C).fit(features, labels), path)
        result = registry.register_model(
            store,
            USE_CASE,
            path,
            lineage={"dataset_version": "ds-0123456789abcdef", "metrics": {"roc_auc": 0.8}, "parameters": {"C": C}},
            blessed=True,
            card_markdown="# card\n",
            card={},
        )
        registered.append(result.ref.version)
    return registered


def promote_at_once(s3_env, repo, config_path, targets: list[str]) -> list[subprocess.CompletedProcess]:
    command = [str(REPO / ".venv/bin/mlcycle"), "promote", "--to", "production", "--repo", str(repo)]
    processes = [
        subprocess.Popen(
            [*command, "-c", str(config_path), version],
            env=s3_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in targets
    ]
    done = []
    for process, version in zip(processes, targets, strict=True):
        stdout, stderr = process.communicate(timeout=180)
        done.append(subprocess.CompletedProcess([version], process.returncode, stdout, stderr))
    return done


def test_two_promotions_at_once_commit_both_or_refuse_one_and_the_registry_follows_git(
    store, gitops_repo, s3_env, loans_config_path, versions
):
    outcomes, problems = Counter(), []
    stop = threading.Event()

    def other_stage_writer() -> None:
        while not stop.is_set():
            for version in versions:
                registry.set_stage(store, USE_CASE, "staging", version, reason="another stage writer")

    writer = threading.Thread(target=other_stage_writer)
    writer.start()
    try:
        for round_ in range(ROUNDS):
            head = git(gitops_repo, "rev-parse", "HEAD").strip()
            targets = [versions[round_ % 3], versions[(round_ + 1) % 3]]
            for done in promote_at_once(s3_env, gitops_repo, loans_config_path, targets):
                if done.returncode == 0 and f"production: {done.args[0]}" in done.stdout:
                    outcomes["committed"] += 1
                    printed = [line for line in done.stdout.splitlines() if "registry:" in line]
                    if printed != [f"  registry: production stage is {done.args[0]}"]:
                        problems.append(("registry line", done.stdout))
                elif done.returncode == 0 and "nothing to commit" in done.stdout:
                    outcomes["already running"] += 1
                elif done.returncode == LostRaceError.exit_code and done.stderr.startswith(
                    "error: another promotion committed first ("
                ):
                    outcomes["refused: lost the race"] += 1
                    if done.stderr.count("\n") != 1 or "nothing was written; run again" not in done.stderr:
                        problems.append(("refusal", done.stderr))
                else:
                    outcomes[f"other (exit {done.returncode})"] += 1
                    problems.append((done.returncode, done.stdout, done.stderr))
            outcomes["commits"] += len(git(gitops_repo, "rev-list", f"{head}..HEAD").split())
            running = logic.parse_release(
                git(gitops_repo, "show", f"HEAD:{logic.release_paths('production')[0]}"), "production"
            ).main.version
            if git(gitops_repo, "status", "--porcelain"):
                problems.append(("git not clean", git(gitops_repo, "status", "--porcelain")))
            if models.current_version(store, USE_CASE, "production") != running:
                outcomes["registry differs from git"] += 1
                problems.append(("registry", models.current_version(store, USE_CASE, "production"), running))
            time.sleep(0.2)
    finally:
        stop.set()
        writer.join()
    assert problems == [], (dict(outcomes), problems)
    assert outcomes["commits"] == outcomes["committed"], outcomes
