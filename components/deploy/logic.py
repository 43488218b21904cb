"""Stage 7, pure part: which model version an environment runs, as files of a kustomize overlay.

Each environment's overlay (``manifests/model/overlays/<environment>``) includes a kustomize
component ``release/`` that belongs to ``mlcycle promote`` and ``mlcycle rollback``:

- ``release/release.yaml``: a ``ModelRelease`` document, never applied to a cluster
  (``config.kubernetes.io/local-config``), saying which version the main predictor and the optional
  canary run: model URI, sha256, traffic share, and the version's dataset for people reading a diff;
- ``release/kustomization.yaml``: the component that copies those values into the SeldonDeployment
  with kustomize replacements, and adds the canary predictor (a copy of main) when there is one.

Everything else in the overlay (namespace, replicas, resources) stays the people's. The functions
here turn a release into those two files and back, decide what a promotion or a rollback changes,
and write the commit message; they touch no file, git or S3 (see :mod:`components.deploy.gitops`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from components.common.errors import LostRaceError, UserError

ENVIRONMENTS = ("staging", "production")
OVERLAYS = "manifests/model/overlays"
RELEASE_DIR = "release"
RELEASE_FILE = "release.yaml"
COMPONENT_FILE = "kustomization.yaml"
SELDON_DEPLOYMENT = "mlcycle-model"
MAIN, CANARY = "main", "canary"
RELEASE_API = "mlcycle.io/v1alpha1"
RELEASE_KIND = "ModelRelease"
UNRELEASED = "unreleased"
# Trailers in promotion commits: rollback replays them to know which changes were undone.
ACTION_TRAILER = "Mlcycle-Action"
ENVIRONMENT_TRAILER = "Mlcycle-Environment"
VERSION_TRAILER = "Mlcycle-Model-Version"
HEADER = (
    "# Written by `mlcycle promote` and `mlcycle rollback`: edit it through them, so the model's digest\n"
    "# and lineage are checked against the registry. See manifests/README.md, section Promotion.\n"
)


class PromotionError(UserError):
    """A promotion or rollback that is refused: nothing was written."""


class PromotionRaceError(PromotionError, LostRaceError):
    """Another promotion (or commit) moved the branch first: nothing was written; running again starts from it."""


class PushRefusedError(UserError):
    """The remote refused (or could not take) the promotion branch: the local commit stays in place."""

    exit_code = 6  # 5 is a crashed task of `mlcycle run`: every exit code means one thing


@dataclass(frozen=True)
class Predictor:
    """One predictor's model.

    Attributes:
        version: The model version id (``m-`` and 16 hex digits).
        model_uri: The version's folder in the models bucket, ``s3://<bucket>/<use case>/<version>/``.
        sha256: The sha256 of its model.joblib, which the server checks before loading it.
        traffic: Its share of requests, in percent.
        dataset_version: The dataset version it was trained on (for people reading the diff).
    """

    version: str
    model_uri: str
    sha256: str
    traffic: int = 100
    dataset_version: str = ""


@dataclass(frozen=True)
class Release:
    """What one environment runs.

    Attributes:
        environment: ``staging`` or ``production``.
        use_case: The use case served, or "" before the first promotion.
        main: The main predictor's model, or None before the first promotion (then no replica runs).
        canary: The canary's model, or None.
    """

    environment: str
    use_case: str = ""
    main: Predictor | None = None
    canary: Predictor | None = None

    def versions(self) -> tuple[str | None, str | None]:
        """Returns (main version, canary version)."""
        return (self.main.version if self.main else None, self.canary.version if self.canary else None)


def check_environment(environment: str) -> None:
    """Refuses an environment other than staging and production."""
    if environment not in ENVIRONMENTS:
        raise PromotionError(f"unknown environment {environment!r}", hint=f"use one of: {', '.join(ENVIRONMENTS)}")


def release_dir(environment: str) -> str:
    """Returns the repository path of an environment's release component."""
    check_environment(environment)
    return f"{OVERLAYS}/{environment}/{RELEASE_DIR}"


def release_paths(environment: str) -> tuple[str, str]:
    """Returns the repository paths of (release.yaml, kustomization.yaml) of an environment."""
    folder = release_dir(environment)
    return f"{folder}/{RELEASE_FILE}", f"{folder}/{COMPONENT_FILE}"


def model_uri(bucket: str, use_case: str, version: str) -> str:
    """Returns the S3 folder of a model version (the registry's layout), as modelUri wants it."""
    return f"s3://{bucket}/{use_case}/{version}/"


# --- promotion and rollback decisions ----------------------------------------------------------


def promoted(current: Release, use_case: str, model: Predictor, canary_percent: int | None = None) -> Release:
    """Returns the release after promoting a model, as main or as a canary.

    Without a canary the model becomes main with all traffic and any canary ends. With a canary
    percentage the current main keeps ``100 - percent`` and the model gets ``percent``.

    Raises:
        PromotionError: If a canary is asked outside production, with a percentage outside 1..99,
            with no main to share traffic with, of another use case, or of the version main runs.
    """
    check_environment(current.environment)
    if canary_percent is None:
        return Release(current.environment, use_case, replace(model, traffic=100), None)
    if current.environment != "production":
        raise PromotionError(
            f"a canary runs in production only, not in {current.environment}",
            hint="promote to staging without --canary",
        )
    if not 1 <= canary_percent <= 99:
        raise PromotionError(
            f"canary percentage {canary_percent} is not between 1 and 99", hint="for example --canary 10"
        )
    if current.main is None:
        raise PromotionError(
            "production runs no model yet, so there is nothing to split traffic with",
            hint="promote the first version without --canary",
        )
    if current.use_case != use_case:
        raise PromotionError(
            f"production serves use case {current.use_case!r}, so a canary of {use_case!r} cannot share its traffic",
            hint="promote it without --canary to replace the model",
        )
    if current.main.version == model.version:
        raise PromotionError(
            f"{model.version} is production's main version already, so it cannot be its canary",
            hint="pick another version, or promote without --canary to end the canary",
        )
    return Release(
        current.environment,
        use_case,
        replace(current.main, traffic=100 - canary_percent),
        replace(model, traffic=canary_percent),
    )


def release_stack(states: Sequence[tuple[str, Release]]) -> list[Release]:
    """Replays an environment's release history into the states a rollback returns to.

    Args:
        states: Oldest first, each commit's action (``promote``, ``rollback`` or ``edit`` for a
            commit without our trailer) and the release it left.

    Returns:
        The stack of releases, the current one last: a change pushes its release, a rollback pops
        one, so repeated rollbacks walk further back and never return to what was rolled back.
    """
    stack: list[Release] = []
    for action, release in states:
        if action == "rollback":
            if len(stack) > 1:
                stack.pop()
            if not stack or stack[-1] != release:
                # A rollback landed somewhere the replay does not know: trust the file.
                stack.append(release)
        elif not stack or stack[-1] != release:
            stack.append(release)
    return stack


def rollback_target(stack: Sequence[Release]) -> Release:
    """Returns the release a rollback restores: the one before the current.

    Raises:
        PromotionError: If there is no earlier release, or the earlier one ran no model.
    """
    if len(stack) < 2 or stack[-2].main is None:
        environment = stack[-1].environment if stack else "the environment"
        raise PromotionError(
            f"{environment} has no earlier model version to return to",
            hint="promote a version instead (mlcycle promote VERSION --to ...)",
        )
    return stack[-2]


# --- files -----------------------------------------------------------------------------------


def release_document(release: Release) -> dict[str, Any]:
    """Returns the ModelRelease document of a release."""
    spec: dict[str, Any] = {"environment": release.environment, "useCase": release.use_case or None}
    for role, predictor in ((MAIN, release.main), (CANARY, release.canary)):
        if predictor is not None:
            spec[role] = {
                "version": predictor.version,
                "modelUri": predictor.model_uri,
                "sha256": predictor.sha256,
                "traffic": predictor.traffic,
                "datasetVersion": predictor.dataset_version,
            }
        elif role == MAIN:
            spec[role] = None
    return {
        "apiVersion": RELEASE_API,
        "kind": RELEASE_KIND,
        "metadata": {"name": SELDON_DEPLOYMENT, "annotations": {"config.kubernetes.io/local-config": "true"}},
        "spec": spec,
    }


def parse_release(text: str, environment: str, origin: str = RELEASE_FILE) -> Release:
    """Reads a release.yaml.

    Raises:
        PromotionError: If it is not a ModelRelease of that environment or misses a field.
    """
    hint = f"restore {origin} from git history, or re-run mlcycle promote"
    try:
        document = yaml.safe_load(text)
        if document.get("kind") != RELEASE_KIND or document["spec"]["environment"] != environment:
            raise PromotionError(f"{origin} is not the {RELEASE_KIND} of {environment}", hint=hint)
        spec = document["spec"]
        predictors = {}
        for role in (MAIN, CANARY):
            entry = spec.get(role)
            predictors[role] = (
                None
                if entry is None
                else Predictor(
                    version=str(entry["version"]),
                    model_uri=str(entry["modelUri"]),
                    sha256=str(entry["sha256"]),
                    traffic=int(entry["traffic"]),
                    dataset_version=str(entry.get("datasetVersion") or ""),
                )
            )
        return Release(environment, str(spec.get("useCase") or ""), predictors[MAIN], predictors[CANARY])
    except PromotionError:
        raise
    except (yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError) as error:
        raise PromotionError(f"{origin} is malformed ({error})", hint=hint) from None


def component_document(release: Release) -> dict[str, Any]:
    """Returns the kustomize Component that applies a release to the SeldonDeployment.

    With no main model the predictor runs no replica (the base's placeholder URI is never fetched);
    the predictor's own replicas win over the overlays' deployment-wide ``spec.replicas``.
    """
    target = {"kind": "SeldonDeployment", "name": SELDON_DEPLOYMENT}
    source = {"kind": RELEASE_KIND, "name": SELDON_DEPLOYMENT}
    operations: list[dict[str, Any]] = []
    replacements: list[dict[str, Any]] = []
    if release.main is None:
        operations.append({"op": "add", "path": "/spec/predictors/0/replicas", "value": 0})
    if release.canary is not None:
        operations += [
            {"op": "copy", "from": "/spec/predictors/0", "path": "/spec/predictors/1"},
            {"op": "replace", "path": "/spec/predictors/1/name", "value": CANARY},
        ]
    for role, predictor in ((MAIN, release.main), (CANARY, release.canary)):
        if predictor is None:
            continue
        where = f"spec.predictors.[name={role}]"
        for field, paths in (
            ("modelUri", [f"{where}.graph.modelUri"]),
            ("sha256", [f"{where}.graph.parameters.[name=model_sha256].value"]),
            ("version", [f"{where}.labels.model_version", f"{where}.componentSpecs.0.metadata.labels.model_version"]),
            ("traffic", [f"{where}.traffic"]),
        ):
            replacements.append(
                {
                    "source": {**source, "fieldPath": f"spec.{role}.{field}"},
                    "targets": [{"select": target, "fieldPaths": paths}],
                }
            )
    document: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "resources": [RELEASE_FILE],
    }
    if operations:
        document["patches"] = [{"target": target, "patch": yaml.safe_dump(operations, sort_keys=False)}]
    if replacements:
        document["replacements"] = replacements
    return document


def release_files(release: Release) -> dict[str, str]:
    """Returns the release component's files (name -> text) for a release, deterministically."""
    return {
        RELEASE_FILE: HEADER + _dump(release_document(release)),
        COMPONENT_FILE: HEADER + _dump(component_document(release)),
    }


# --- commit messages -------------------------------------------------------------------------


def commit_message(
    action: str,
    release: Release,
    previous: Release,
    manifests: Mapping[str, Mapping[str, Any]],
) -> str:
    """Returns the commit message of a promotion or rollback, carrying each version's lineage.

    Args:
        action: ``promote`` or ``rollback``.
        release: The release the commit makes.
        previous: The release it replaces.
        manifests: Registry manifests by version id, for every version the release runs.
    """
    main, canary = release.versions()
    before = _describe_versions(previous)
    if action == "rollback":
        subject = f"Roll back {release.environment} of {release.use_case} to {main}"
    elif canary:
        subject = f"Canary {canary} at {release.canary.traffic}% in {release.environment} of {release.use_case}"
    else:
        subject = f"Promote {release.use_case} {main} to {release.environment}"
    lines = [subject, "", f"{release.environment}: {_describe_versions(release)} (was {before})."]
    for predictor in (release.main, release.canary):
        if predictor is None:
            continue
        lineage = manifests.get(predictor.version, {}).get("lineage", {})
        blessing = lineage.get("blessing", {})
        lines += [
            "",
            f"{predictor.version} ({predictor.traffic}% of traffic):",
            f"  dataset:  {lineage.get('dataset_version', predictor.dataset_version or 'unknown')}",
            f"  metrics:  {format_metrics(lineage.get('metrics', {}))}",
            f"  blessed:  {'yes' if manifests.get(predictor.version, {}).get('blessed') else 'NO'}"
            + (f": {'; '.join(blessing.get('reasons', []))}" if blessing.get("reasons") else ""),
            f"  model:    {predictor.model_uri}model.joblib sha256 {predictor.sha256}",
        ]
    lines += [
        "",
        f"{ACTION_TRAILER}: {action}",
        f"{ENVIRONMENT_TRAILER}: {release.environment}",
        f"{VERSION_TRAILER}: {main}",
    ]
    return "\n".join(lines) + "\n"


def format_metrics(metrics: Mapping[str, Any], limit: int = 8) -> str:
    """Returns the numeric metrics as ``name value`` pairs (nested names dotted), at most ``limit``."""
    flat: list[tuple[str, float]] = []

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(inner, f"{prefix}.{key}" if prefix else str(key))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat.append((prefix, float(value)))

    walk(metrics, "")
    return ", ".join(f"{name} {value:.4f}" for name, value in flat[:limit]) or "none recorded"


def trailer(message: str, name: str) -> str | None:
    """Returns the value of a ``Name: value`` trailer line of a commit message, or None."""
    for line in reversed(message.strip().splitlines()):
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return None


def _describe_versions(release: Release) -> str:
    main, canary = release.versions()
    if main is None:
        return "no model"
    return f"{main}" + (f" + canary {canary} at {release.canary.traffic}%" if release.canary else "")


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the inline patches) as literal blocks, for readable diffs."""


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _literal)


def _dump(document: Mapping[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=200)
