"""Stage 7, shell: promotion and rollback as git commits that Argo CD syncs.

A promotion checks the model version in the registry (it exists, it is blessed, its model file's
sha256 is the one in its manifest), writes the environment's release component, renders the overlay
with kubectl kustomize to prove it still builds, and commits; only then does it record the stage in
the registry, so the registry never claims a deployment that git does not hold. A refused
promotion writes nothing.

Commits are made with git's plumbing on a temporary index: the person's own index and other files
are never touched. The rendered tree is the committed tree (exported with ``git archive``), not the
working folder.

Promotions and rollbacks into one clone take turns (an flock in the git directory, which the kernel
releases if the process dies), from reading HEAD to recording the stage, so the checked-out files and
the registry follow the commits in their order: two at once make two commits. The branch moves by
compare-and-swap from the commit the release was read at, so a commit made meanwhile by anything else
(by hand, another tool) is never lost: the promotion is refused with "another promotion committed
first (<sha>); nothing was written; run again" and exit code 4.

Git is the deployed truth: after a commit the registry's stage is set, by compare-and-swap, to the
version the overlay runs, and a promotion that finds nothing to commit still sets a stage that
disagrees with git (reconciliation after a failed stage write, a stage set by hand, a merged branch).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from components.common import models
from components.common.errors import IntegrityError, NotFoundError, UserError
from components.common.storage import ObjectStore, sha256_file
from components.deploy import logic
from components.deploy.logic import Predictor, PromotionError, PromotionRaceError, PushRefusedError, Release
from components.register import logic as registry

GIT_TIMEOUT = 60
RENDER_TIMEOUT = 120
LOCK_FILE = "mlcycle-promote.lock"
LOCK_TIMEOUT = 300
# A stage write after a commit must not give up easily: losing it leaves the registry behind git. Other
# stage writers only ever delay it (each conflict is another writer's success); 30 tries wait ~12 s at most.
STAGE_ATTEMPTS = 30


@dataclass(frozen=True)
class Outcome:
    """What a promotion or rollback did.

    Attributes:
        environment: ``staging`` or ``production``.
        release: The release the environment now runs (in git).
        previous: The release it ran before.
        commit: The new commit's id, or None when nothing changed.
        branch: The branch that received the commit.
        on_current_branch: Whether that branch is the one checked out (its files were updated too).
        message: The commit message.
        stage: The version the registry's stage holds as this command wrote (or found) it: git's main
            version. None when the stage was left alone (a commit on a new branch).
        stage_change: The change this command made to the registry's stage, or None if it held it already.
    """

    environment: str
    release: Release
    previous: Release
    commit: str | None
    branch: str
    on_current_branch: bool
    message: str = ""
    stage: str | None = None
    stage_change: models.StageChange | None = None

    @property
    def stage_recorded(self) -> bool:
        """Whether the registry's stage names the release's only version (no canary running)."""
        main = self.release.main
        return main is not None and self.release.canary is None and self.stage == main.version


# --- git -------------------------------------------------------------------------------------


def _run(command: list[str], timeout: float = 0, **options: Any) -> subprocess.CompletedProcess:
    """Runs git or kubectl; a missing program or a hung one is a one-line PromotionError, not a traceback."""
    try:
        return subprocess.run(command, check=False, timeout=timeout or GIT_TIMEOUT, **options)
    except FileNotFoundError:
        raise PromotionError(
            f"{Path(command[0]).name} is not installed",
            hint=f"install {Path(command[0]).name}; promotions are git commits of rendered overlays",
        ) from None
    except subprocess.TimeoutExpired:
        raise PromotionError(
            f"`{Path(command[0]).name} {command[1]}` did not finish within {timeout or GIT_TIMEOUT:.0f} s",
            hint="run it by hand to see why; nothing was committed",
        ) from None


def git(
    repo: Path, *args: str, env: Mapping[str, str] | None = None, check: bool = True, data: bytes | None = None
) -> str:
    """Runs a git command in a repository and returns its standard output.

    Raises:
        PromotionError: If git is missing, or the command fails (and check is set).
    """
    done = _run(["git", *args], cwd=repo, capture_output=True, input=data, env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise PromotionError(
            f"git {args[0]} failed in {repo}: {detail[-1] if detail else done.returncode}", hint="see git's message"
        )
    return done.stdout.decode(errors="replace")


def repository_root(path: Path) -> Path:
    """Returns the top folder of the git repository holding a path.

    Raises:
        PromotionError: If the path is in no git repository.
    """
    path = Path(path)
    if not path.exists():
        raise PromotionError(f"{path} does not exist", hint="pass --repo with your clone of the GitOps repository")
    done = _run(["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True)
    if done.returncode != 0:
        raise PromotionError(
            f"{path} is not in a git repository", hint="pass --repo with your clone of the GitOps repository"
        )
    return Path(done.stdout.strip())


def current_branch(repo: Path) -> str:
    """Returns the checked-out branch.

    Raises:
        PromotionError: If HEAD is detached or has no commit yet.
    """
    name = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
    if not name or not git(repo, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip():
        raise PromotionError(
            f"{repo} has no checked-out branch with a commit", hint="check out the branch Argo CD syncs"
        )
    return name


def read_at(repo: Path, revision: str, path: str) -> str | None:
    """Returns a file's text at a revision, or None where it does not exist."""
    done = _run(["git", "show", f"{revision}:{path}"], cwd=repo, capture_output=True)
    return done.stdout.decode() if done.returncode == 0 else None


def commit_files(repo: Path, parent: str, files: Mapping[str, str], message: str) -> str:
    """Makes a commit of ``parent`` with some files replaced, without touching index or work tree.

    Returns:
        The new commit's id (no branch points at it yet).
    """
    with tempfile.TemporaryDirectory(prefix="mlcycle-index-") as folder:
        env = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
        git(repo, "read-tree", parent, env=env)
        for path, text in files.items():
            blob = git(repo, "hash-object", "-w", "--stdin", data=text.encode()).strip()
            git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = git(repo, "write-tree", env=env).strip()
    return git(repo, "commit-tree", tree, "-p", parent, data=message.encode()).strip()


def export_tree(repo: Path, commit: str, subfolder: str, destination: Path) -> Path:
    """Writes a commit's ``subfolder`` into ``destination`` and returns the exported folder."""
    archive = _run(["git", "archive", "--format=tar", commit, subfolder], cwd=repo, capture_output=True)
    if archive.returncode != 0:
        raise PromotionError(
            f"{subfolder} is not in commit {commit[:12]}", hint="run promote from the repository's root commit history"
        )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    return destination / subfolder


def render(kubectl: Path, folder: Path) -> str:
    """Renders a kustomization with kubectl kustomize and returns the YAML.

    Raises:
        PromotionError: If it does not build.
    """
    done = _run([str(kubectl), "kustomize", str(folder)], RENDER_TIMEOUT, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise PromotionError(f"the overlay no longer renders: {detail}", hint="fix the overlay; nothing was committed")
    return done.stdout


def release_history(repo: Path, revision: str, environment: str) -> list[tuple[str, Release]]:
    """Returns (action, release) of every commit that changed an environment's release, oldest first."""
    release_path, _ = logic.release_paths(environment)
    log = git(repo, "log", "--reverse", "--format=%H%x00%B%x1e", revision, "--", release_path)
    states = []
    for entry in filter(None, (chunk.strip("\n") for chunk in log.split("\x1e"))):
        commit, _, message = entry.partition("\x00")
        text = read_at(repo, commit, release_path)
        if text is None:
            continue
        action = logic.trailer(message, logic.ACTION_TRAILER) or "edit"
        states.append((action, logic.parse_release(text, environment, f"{release_path} at {commit[:12]}")))
    return states


# --- registry checks -------------------------------------------------------------------------


def verified_model(
    store: ObjectStore, use_case: str, reference: str, work_dir: Path
) -> tuple[models.ModelRef, dict[str, Any]]:
    """Returns a blessed, untampered model version and its manifest, or refuses it.

    The model file is downloaded and hashed: its sha256 must be the manifest's, which the serving
    container checks again before loading it.

    Raises:
        PromotionError: If the version is unknown or not blessed.
        IntegrityError: If its model file is not the registered one.
    """
    try:
        ref = models.resolve(store, use_case, reference)
    except NotFoundError as error:
        raise PromotionError(
            f"cannot promote {reference!r}: {error.message}", hint="`mlcycle models list` shows the versions"
        ) from None
    manifest = models.read_manifest(store, ref)
    if not manifest.get("blessed"):
        reasons = manifest.get("lineage", {}).get("blessing", {}).get("reasons", [])
        raise PromotionError(
            f"model version {ref.version} of {use_case!r} is not blessed, so it cannot be deployed"
            + (f" ({'; '.join(reasons)})" if reasons else ""),
            hint="train a model that passes evaluation",
        )
    expected = manifest["model"]["sha256"]
    uri = f"s3://{store.bucket('models')}/{ref.model_key}"
    local = Path(work_dir) / models.MODEL_FILE
    try:
        store.get_file(store.bucket("models"), ref.model_key, local, expected_sha256=expected)
        actual = sha256_file(local)
    except IntegrityError:
        actual = None
    except NotFoundError:
        raise PromotionError(
            f"{uri} is missing although version {ref.version} is registered", hint="register the model again"
        ) from None
    if actual != expected:
        raise IntegrityError(
            f"{uri} does not match the sha256 {expected[:12]}… registered for {ref.version}: refusing to deploy it",
            hint="the file was altered after registration; register the model again from its training run",
        )
    return ref, manifest


# --- promotion and rollback ------------------------------------------------------------------


def promote(
    store: ObjectStore,
    repo: Path,
    use_case: str,
    reference: str,
    environment: str,
    kubectl: Path,
    canary_percent: int | None = None,
    branch: str | None = None,
) -> Outcome:
    """Promotes a model version to an environment by a commit of its overlay.

    Args:
        store: The object store holding the registry.
        repo: A folder inside the GitOps repository (a clone of this project).
        use_case: The use case.
        reference: The version: an id, ``latest``, ``staging`` or ``production``.
        environment: ``staging`` or ``production``.
        kubectl: The kubectl that renders the overlay.
        canary_percent: Run the version as production's canary with this share of traffic.
        branch: Commit on this new branch (for a pull request) instead of the checked-out one.

    Returns:
        What was done; ``commit`` is None when the environment ran that release already.

    Raises:
        PromotionError: If the version or the request is refused, or the overlay does not render.
        IntegrityError: If the model file is not the registered one.
    """
    logic.check_environment(environment)
    root = repository_root(repo)
    with tempfile.TemporaryDirectory(prefix="mlcycle-promote-") as folder:
        ref, manifest = verified_model(store, use_case, reference, Path(folder))
    with promotion_lock(root):
        head_branch, parent = _checked_repository(root, environment, branch)
        return _promote_from(
            store, root, head_branch, parent, use_case, ref, manifest, environment, kubectl, canary_percent, branch
        )


def _promote_from(
    store: ObjectStore,
    root: Path,
    head_branch: str,
    parent: str,
    use_case: str,
    ref: models.ModelRef,
    manifest: dict[str, Any],
    environment: str,
    kubectl: Path,
    canary_percent: int | None,
    branch: str | None,
) -> Outcome:
    current = _release_at(root, parent, environment)
    model = Predictor(
        version=ref.version,
        model_uri=logic.model_uri(store.bucket("models"), use_case, ref.version),
        sha256=manifest["model"]["sha256"],
        dataset_version=str(manifest.get("lineage", {}).get("dataset_version", "")),
    )
    target = logic.promoted(current, use_case, model, canary_percent)
    manifests = {ref.version: manifest}
    if target.main is not None and target.main.version not in manifests:
        manifests[target.main.version] = _manifest_or_empty(store, use_case, target.main.version)
    return _commit_release(
        store, root, head_branch, parent, environment, "promote", target, current, manifests, kubectl, branch
    )


def rollback(store: ObjectStore, repo: Path, environment: str, kubectl: Path, branch: str | None = None) -> Outcome:
    """Returns an environment to the release before its current one, by a commit.

    The previous release is read from git history, not from the registry: git is what Argo CD
    deploys, so it is the record of what ran. Commits are replayed as a stack (a promotion pushes,
    a rollback pops), so repeated rollbacks walk further back. The release is restored as it was,
    canary included; its versions were checked when they were promoted and their digests are in
    the restored files, which the serving container checks before loading.

    Raises:
        PromotionError: If there is no earlier release, or the overlay does not render.
    """
    logic.check_environment(environment)
    root = repository_root(repo)
    with promotion_lock(root):
        head_branch, parent = _checked_repository(root, environment, branch)
        states = release_history(root, parent, environment)
        current = _release_at(root, parent, environment)
        stack = logic.release_stack(states)
        if not stack or stack[-1] != current:
            stack.append(current)
        target = logic.rollback_target(stack)
        manifests = {v: _manifest_or_empty(store, target.use_case, v) for v in target.versions() if v}
        return _commit_release(
            store, root, head_branch, parent, environment, "rollback", target, current, manifests, kubectl, branch
        )


@contextmanager
def promotion_lock(root: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Holds the repository's promotion lock: one promotion or rollback at a time in a clone and its worktrees.

    Two at once would fight over git's index lock while updating the checked-out files, take each other's
    half-updated files for uncommitted changes, and record stages in another order than they committed.

    Raises:
        PromotionRaceError: If another promotion holds the lock for longer than ``timeout`` seconds.
    """
    common = Path(git(root, "rev-parse", "--git-common-dir").strip())
    with open((root / common) / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PromotionRaceError(
                        f"another promotion or rollback in {root} has been running for {timeout:.0f} s; "
                        "nothing was written",
                        hint="wait for it to finish, then run again",
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _commit_release(
    store: ObjectStore,
    root: Path,
    head_branch: str,
    parent: str,
    environment: str,
    action: str,
    target: Release,
    current: Release,
    manifests: Mapping[str, Mapping[str, Any]],
    kubectl: Path,
    branch: str | None,
) -> Outcome:
    on_current = branch is None
    name = head_branch if on_current else branch
    if target == current:
        outcome = Outcome(environment, target, current, None, name, on_current)
        if not on_current or target.main is None:
            return outcome
        # Nothing to commit, but the registry may disagree with git (a stage write that failed after an
        # earlier commit, a stage set by hand, a pull request merged): git is what runs.
        stage, change = _record_stage(
            store, target, environment, f"reconciled from git: {environment} runs it at {parent[:12]}"
        )
        return Outcome(environment, target, current, None, name, on_current, stage=stage, stage_change=change)
    folder = logic.release_dir(environment)
    files = {f"{folder}/{file}": text for file, text in logic.release_files(target).items()}
    message = logic.commit_message(action, target, current, manifests)
    commit = commit_files(root, parent, files, message)
    with tempfile.TemporaryDirectory(prefix="mlcycle-render-") as scratch:
        exported = export_tree(root, commit, "manifests", Path(scratch))
        render(kubectl, exported / "model" / "overlays" / environment)
    move_branch(root, name, commit, parent if on_current else None, f"mlcycle {action}")
    outcome = Outcome(environment, target, current, commit, name, on_current, message)
    if not on_current:
        return outcome  # deployed only when the pull request merges; the stage follows then
    # Bring the checked-out files and the index up to the commit, for these paths only.
    git(root, "checkout", commit, "--", *files)
    try:
        stage, change = _record_stage(store, target, environment, f"{action} by git commit {commit[:12]}")
    except UserError as error:
        raise PromotionError(
            f"committed {commit[:12]} on {name}, but the registry's {environment} stage was not updated: "
            f"{error.message}",
            hint="run the same `mlcycle promote` (or `rollback`) again once S3 is reachable: with nothing left to "
            "commit it sets the stage from git (git holds the commit, and git is what runs)",
        ) from None
    return Outcome(environment, target, current, commit, name, on_current, message, stage, change)


def push_branch(repo: Path, branch: str, commit: str) -> str:
    """Pushes a promotion branch to its remote (its configured one, else ``origin``), never forced.

    Args:
        repo: A folder inside the GitOps repository.
        branch: The branch that received the promotion commit.
        commit: That commit, named in the message if the push fails.

    Returns:
        The remote's name.

    Raises:
        PushRefusedError: If the remote refuses or cannot be reached; the local commit stays where it is.
    """
    root = repository_root(repo)
    remote = git(root, "config", "--get", f"branch.{branch}.remote", check=False).strip() or "origin"
    command = ["git", "push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}"]
    keep = f"commit {commit[:12]} stays on {branch} here"
    try:
        # No prompt for credentials: a push that needs them fails now instead of hanging.
        done = _run(command, cwd=root, capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except PromotionError as error:
        raise PushRefusedError(f"{error.message}: {keep}", hint=f"git push {remote} {branch}") from None
    if done.returncode != 0:
        detail = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = next((line for line in detail if "rejected" in line or "denied" in line), detail[-1] if detail else "")
        raise PushRefusedError(
            f"{remote} refused the push of {branch} ({reason or f'git push exit {done.returncode}'}); {keep}",
            hint=f"fix what the remote says, then `git push {remote} {branch}`",
        )
    return remote


def move_branch(root: Path, name: str, commit: str, expected: str | None, reason: str) -> None:
    """Points a branch at a commit if it still points at ``expected`` (None: if it does not exist yet).

    Raises:
        PromotionRaceError: If the branch moved (or was created) since: another promotion committed first.
        PromotionError: If git refuses for another reason.
    """
    ref = f"refs/heads/{name}"
    done = _run(["git", "update-ref", "-m", reason, ref, commit, expected or "0" * 40], cwd=root, capture_output=True)
    if done.returncode == 0:
        return
    now = git(root, "rev-parse", "--verify", "--quiet", ref, check=False).strip() or None
    if now != expected:
        raise PromotionRaceError(
            f"another promotion committed first ({(now or 'the branch was deleted')[:12]}); nothing was written; "
            "run again",
            hint=f"{name} moved while this one was being prepared; the next run starts from that commit"
            if expected
            else f"branch {name!r} was created meanwhile; pick another branch name",
        )
    detail = done.stderr.decode(errors="replace").strip().splitlines()
    raise PromotionError(
        f"git update-ref failed in {root}: {detail[-1] if detail else done.returncode}; nothing was written",
        hint="see git's message",
    )


def _record_stage(
    store: ObjectStore, release: Release, environment: str, reason: str
) -> tuple[str, models.StageChange | None]:
    """Sets the registry's stage to the release's main version (compare-and-swap); returns it and the change."""
    version = release.main.version
    change = registry.set_stage(store, release.use_case, environment, version, reason=reason, attempts=STAGE_ATTEMPTS)
    return version, change


def _checked_repository(root: Path, environment: str, branch: str | None) -> tuple[str, str]:
    """Returns the checked-out branch and its commit, or refuses a request the repository cannot take."""
    head = current_branch(root)
    release_path, component_path = logic.release_paths(environment)
    if read_at(root, "HEAD", release_path) is None:
        raise PromotionError(
            f"{root} has no {release_path} at HEAD", hint="run promote in a clone of this project's repository"
        )
    if branch is not None:
        if git(root, "check-ref-format", "--branch", branch, check=False).strip() == "":
            raise PromotionError(f"{branch!r} is not a valid branch name", hint="for example promote/flights-m-0123")
        if git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).strip():
            raise PromotionError(
                f"branch {branch!r} exists already", hint="pick a new branch name for the pull request"
            )
    elif git(root, "status", "--porcelain", "--", release_path, component_path).strip():
        raise PromotionError(
            f"{logic.release_dir(environment)} has uncommitted changes",
            hint="commit or discard them first; promote owns that folder",
        )
    return head, git(root, "rev-parse", "HEAD").strip()


def _release_at(root: Path, revision: str, environment: str) -> Release:
    release_path, _ = logic.release_paths(environment)
    return logic.parse_release(read_at(root, revision, release_path) or "", environment, release_path)


def _manifest_or_empty(store: ObjectStore, use_case: str, version: str) -> dict[str, Any]:
    try:
        return models.read_manifest(store, models.ModelRef(use_case, version))
    except UserError:
        return {}
