"""Promotion and rollback end to end: a temporary git repository holding the manifests, a real S3
registry, real git and the pinned kubectl's kustomize. Refusals write nothing: not git, not S3."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import joblib
import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from components.common import models
from components.common.errors import IntegrityError
from components.deploy import gitops, logic
from components.deploy.logic import PromotionError, PromotionRaceError
from components.register import logic as registry

REPO = Path(__file__).resolve().parents[3]
USE_CASE = "loans"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def register(store, tmp_path: Path, seed: int, blessed: bool = True) -> str:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(40, 2))
    path = tmp_path / f"model-{seed}.joblib"
    joblib.dump(LogisticRegression().fit(features, (features[:, 0] > 0).astype(int)), path)
    lineage = {
        "dataset_version": f"ds-{seed:016x}",
        "metrics": {"roc_auc": 0.8 + seed / 100, "pr_auc": 0.5},
        "blessing": {
            "blessed": blessed,
            "reasons": [
                f"roc_auc {0.8 + seed / 100:.2f} meets the floor 0.65" if blessed else "roc_auc below the floor 0.65"
            ],
        },
    }
    result = registry.register_model(
        store, USE_CASE, path, lineage=lineage, blessed=blessed, card_markdown="# card\n", card={"name": USE_CASE}
    )
    return result.ref.version


def state(repo: Path, store) -> tuple:
    """Everything a refused promotion must leave as it was."""
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "for-each-ref"),
        git(repo, "status", "--porcelain"),
        json.dumps(models.read_stages(store, USE_CASE).to_json(), sort_keys=True),
    )


def release_at(repo: Path, environment: str, revision: str = "HEAD") -> logic.Release:
    return logic.parse_release(git(repo, "show", f"{revision}:{logic.release_paths(environment)[0]}"), environment)


def rendered_model(kubectl: Path, repo: Path, environment: str) -> dict:
    out = subprocess.run(
        [str(kubectl), "kustomize", str(repo / "manifests/model/overlays" / environment)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (sdep,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "SeldonDeployment"]
    return sdep


def test_promote_to_staging_commits_the_overlay_and_records_the_stage(store, gitops_repo, kubectl, tmp_path):
    version = register(store, tmp_path, 1)
    outcome = gitops.promote(store, gitops_repo, USE_CASE, version, "staging", kubectl)

    assert outcome.commit == git(gitops_repo, "rev-parse", "HEAD").strip() and outcome.on_current_branch
    assert git(gitops_repo, "status", "--porcelain") == ""  # working tree follows the commit
    message = git(gitops_repo, "log", "-1", "--format=%B")
    assert message.startswith(f"Promote loans {version} to staging")
    for lineage in (f"ds-{1:016x}", "roc_auc 0.8100", "blessed:  yes: roc_auc 0.81 meets the floor 0.65"):
        assert lineage in message
    changed = git(gitops_repo, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == sorted(logic.release_paths("staging"))
    manifest = models.read_manifest(store, models.ModelRef(USE_CASE, version))
    predictor = rendered_model(kubectl, gitops_repo, "staging")["spec"]["predictors"][0]
    assert predictor["graph"]["modelUri"] == f"s3://{store.bucket('models')}/{USE_CASE}/{version}/"
    assert predictor["graph"]["parameters"][0]["value"] == manifest["model"]["sha256"]
    assert predictor["labels"]["model_version"] == version and "replicas" not in predictor
    assert models.current_version(store, USE_CASE, "staging") == version
    assert outcome.stage_recorded

    again = gitops.promote(store, gitops_repo, USE_CASE, version, "staging", kubectl)
    assert again.commit is None and git(gitops_repo, "rev-parse", "HEAD").strip() == outcome.commit


def test_canary_then_full_promotion_then_rollbacks_walk_back(store, gitops_repo, kubectl, tmp_path):
    first, second, third = (register(store, tmp_path, seed) for seed in (2, 3, 4))
    gitops.promote(store, gitops_repo, USE_CASE, first, "production", kubectl)

    canary = gitops.promote(store, gitops_repo, USE_CASE, second, "production", kubectl, canary_percent=10)
    assert not canary.stage_recorded and models.current_version(store, USE_CASE, "production") == first
    predictors = {p["name"]: p for p in rendered_model(kubectl, gitops_repo, "production")["spec"]["predictors"]}
    assert (predictors["main"]["traffic"], predictors["canary"]["traffic"]) == (90, 10)
    assert predictors["canary"]["labels"]["model_version"] == second

    gitops.promote(store, gitops_repo, USE_CASE, second, "production", kubectl)
    gitops.promote(store, gitops_repo, USE_CASE, third, "production", kubectl)
    assert release_at(gitops_repo, "production").versions() == (third, None)

    back = gitops.rollback(store, gitops_repo, "production", kubectl)
    assert back.release.versions() == (second, None)
    assert git(gitops_repo, "log", "-1", "--format=%s").strip() == f"Roll back production of loans to {second}"
    assert models.current_version(store, USE_CASE, "production") == second
    # The next rollback returns to the canary state before, not to the version rolled back from.
    back = gitops.rollback(store, gitops_repo, "production", kubectl)
    assert back.release.versions() == (first, second)
    back = gitops.rollback(store, gitops_repo, "production", kubectl)
    assert back.release.versions() == (first, None)
    assert models.current_version(store, USE_CASE, "production") == first
    with pytest.raises(PromotionError, match="no earlier model version"):
        gitops.rollback(store, gitops_repo, "production", kubectl)


def test_unknown_unblessed_and_tampered_versions_are_refused_and_nothing_is_written(
    store, gitops_repo, kubectl, tmp_path
):
    blessed = register(store, tmp_path, 5)
    gitops.promote(store, gitops_repo, USE_CASE, blessed, "production", kubectl)
    unblessed = register(store, tmp_path, 6, blessed=False)
    tampered = register(store, tmp_path, 7)
    ref = models.ModelRef(USE_CASE, tampered)
    store.put_bytes(store.bucket("models"), ref.model_key, b"not the registered model")
    before = state(gitops_repo, store)

    with pytest.raises(PromotionError, match="m-0000000000000000 of 'loans' does not exist"):
        gitops.promote(store, gitops_repo, USE_CASE, "m-0000000000000000", "production", kubectl)
    with pytest.raises(PromotionError, match=f"{unblessed} of 'loans' is not blessed.*below the floor"):
        gitops.promote(store, gitops_repo, USE_CASE, unblessed, "production", kubectl)
    with pytest.raises(IntegrityError, match=f"does not match the sha256 .* registered for {tampered}"):
        gitops.promote(store, gitops_repo, USE_CASE, tampered, "production", kubectl)
    assert state(gitops_repo, store) == before


def test_branch_for_a_pull_request_leaves_the_checked_out_branch_alone(store, gitops_repo, kubectl, tmp_path):
    version = register(store, tmp_path, 8)
    head = git(gitops_repo, "rev-parse", "HEAD")
    outcome = gitops.promote(store, gitops_repo, USE_CASE, version, "production", kubectl, branch="promote/loans")
    assert git(gitops_repo, "rev-parse", "HEAD") == head and git(gitops_repo, "status", "--porcelain") == ""
    assert git(gitops_repo, "rev-parse", "promote/loans").strip() == outcome.commit
    assert release_at(gitops_repo, "production", "promote/loans").versions() == (version, None)
    assert models.current_version(store, USE_CASE, "production") is None  # recorded once merged
    with pytest.raises(PromotionError, match="branch 'promote/loans' exists already"):
        gitops.promote(store, gitops_repo, USE_CASE, version, "production", kubectl, branch="promote/loans")


def test_an_overlay_that_no_longer_renders_is_not_committed(store, gitops_repo, kubectl, tmp_path):
    version = register(store, tmp_path, 9)
    kustomization = gitops_repo / "manifests/model/overlays/production/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("../../base", "../../missing-base"))
    git(gitops_repo, "commit", "-q", "-am", "break the overlay")
    before = state(gitops_repo, store)
    with pytest.raises(PromotionError, match="no longer renders"):
        gitops.promote(store, gitops_repo, USE_CASE, version, "production", kubectl)
    assert state(gitops_repo, store) == before


def test_uncommitted_edits_of_the_release_folder_are_refused(store, gitops_repo, kubectl, tmp_path):
    version = register(store, tmp_path, 10)
    release = gitops_repo / logic.release_paths("staging")[0]
    release.write_text(release.read_text() + "# a hand edit\n")
    before = state(gitops_repo, store)
    with pytest.raises(PromotionError, match="uncommitted changes"):
        gitops.promote(store, gitops_repo, USE_CASE, version, "staging", kubectl)
    assert state(gitops_repo, store) == before


def test_cli_promote_and_rollback(store, gitops_repo, s3_env, loans_config_path, tmp_path):
    first, second = register(store, tmp_path, 11), register(store, tmp_path, 12)
    mlcycle = str(REPO / ".venv/bin/mlcycle")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([mlcycle, *args], capture_output=True, text=True, env=s3_env, timeout=120)

    for version in (first, second):
        done = run("promote", version, "--to", "production", "--repo", str(gitops_repo), "-c", str(loans_config_path))
        assert done.returncode == 0, done.stderr
    assert f"production: {second}" in done.stdout and "registry: production stage is" in done.stdout
    done = run("rollback", "--to", "production", "--repo", str(gitops_repo))
    assert done.returncode == 0, done.stderr
    assert f"production: {first}" in done.stdout
    refused = run(
        "promote", "m-0000000000000000", "--to", "staging", "--repo", str(gitops_repo), "-c", str(loans_config_path)
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("error: cannot promote 'm-0000000000000000'")


def test_a_commit_landing_while_a_promotion_renders_makes_it_refuse_and_write_nothing(
    store, gitops_repo, kubectl, tmp_path, monkeypatch
):
    first, second = register(store, tmp_path, 13), register(store, tmp_path, 14)
    gitops.promote(store, gitops_repo, USE_CASE, first, "production", kubectl)
    rendering = gitops.render

    def render_while_someone_commits(kubectl_path, folder):
        (gitops_repo / "NOTES.md").write_text("a commit made by hand meanwhile\n")
        git(gitops_repo, "add", "NOTES.md")
        git(gitops_repo, "commit", "-q", "-m", "meanwhile")
        return rendering(kubectl_path, folder)

    monkeypatch.setattr(gitops, "render", render_while_someone_commits)
    with pytest.raises(PromotionRaceError) as refused:
        gitops.promote(store, gitops_repo, USE_CASE, second, "production", kubectl)
    other = git(gitops_repo, "rev-parse", "HEAD").strip()
    assert refused.value.exit_code == 4
    assert str(refused.value).startswith(f"another promotion committed first ({other[:12]}); nothing was written; run")
    assert git(gitops_repo, "log", "-1", "--format=%s").strip() == "meanwhile"
    assert release_at(gitops_repo, "production").versions() == (first, None)
    assert models.current_version(store, USE_CASE, "production") == first
    monkeypatch.undo()
    again = gitops.promote(store, gitops_repo, USE_CASE, second, "production", kubectl)
    assert git(gitops_repo, "rev-parse", "HEAD~1").strip() == other and again.stage == second


def test_nothing_to_commit_still_sets_a_registry_stage_that_disagrees_with_git(store, gitops_repo, kubectl, tmp_path):
    first, second = register(store, tmp_path, 15), register(store, tmp_path, 16)
    gitops.promote(store, gitops_repo, USE_CASE, first, "production", kubectl)
    registry.set_stage(store, USE_CASE, "production", second, reason="set by hand, not deployed")
    head = git(gitops_repo, "rev-parse", "HEAD")

    outcome = gitops.promote(store, gitops_repo, USE_CASE, first, "production", kubectl)
    assert outcome.commit is None and git(gitops_repo, "rev-parse", "HEAD") == head
    assert outcome.stage == first and outcome.stage_change.previous == second
    assert outcome.stage_change.reason.startswith("reconciled from git: production runs it at")
    assert models.current_version(store, USE_CASE, "production") == first
    # In agreement, nothing is written.
    assert gitops.promote(store, gitops_repo, USE_CASE, first, "production", kubectl).stage_change is None


def test_two_rollbacks_at_once_in_one_clone_take_turns(store, gitops_repo, kubectl, tmp_path):
    versions = [register(store, tmp_path, seed) for seed in (17, 18, 19)]
    for version in versions:
        gitops.promote(store, gitops_repo, USE_CASE, version, "production", kubectl)
    outcomes: list = [None, None]

    def roll_back(index: int) -> None:
        outcomes[index] = gitops.rollback(store, gitops_repo, "production", kubectl)

    threads = [threading.Thread(target=roll_back, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcome.release.versions()[0] for outcome in outcomes) == sorted(versions[:2])
    assert release_at(gitops_repo, "production").versions() == (versions[0], None)
    assert models.current_version(store, USE_CASE, "production") == versions[0]
    assert git(gitops_repo, "status", "--porcelain") == ""


def test_cli_promote_push_sends_the_branch_and_a_refusal_keeps_the_local_commit_with_exit_code_5(
    store, gitops_repo, s3_env, loans_config_path, tmp_path
):
    first, second = register(store, tmp_path, 15), register(store, tmp_path, 16)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(gitops_repo, "remote", "add", "origin", str(remote))
    branch = git(gitops_repo, "symbolic-ref", "--short", "HEAD").strip()
    mlcycle = str(REPO / ".venv/bin/mlcycle")

    def promote(version: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [mlcycle, "promote", version, "--to", "production", "--push"]
            + ["--repo", str(gitops_repo), "-c", str(loans_config_path)],
            capture_output=True,
            text=True,
            env=s3_env,
            timeout=120,
        )

    pushed = promote(first)
    assert pushed.returncode == 0, pushed.stderr
    head = git(gitops_repo, "rev-parse", "HEAD").strip()
    assert git(remote, "rev-parse", f"refs/heads/{branch}").strip() == head
    assert f"  pushed:   {branch} to origin" in pushed.stdout and "next:     git push" not in pushed.stdout

    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: open a pull request' >&2\nexit 1\n")
    hook.chmod(0o755)
    refused = promote(second)
    assert refused.returncode == 6
    assert len(refused.stderr.splitlines()) == 1 and refused.stderr.startswith("error: origin refused the push of ")
    committed = git(gitops_repo, "rev-parse", "HEAD").strip()
    assert committed != head and f"commit {committed[:12]} stays on {branch} here" in refused.stderr
    assert release_at(gitops_repo, "production").main.version == second  # the local commit is in place
    assert git(remote, "rev-parse", f"refs/heads/{branch}").strip() == head  # the remote has not moved
