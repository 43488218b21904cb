"""The dependency policy (security/dependency-policy.toml) checked against the lock files.

A floor is the lowest version of a package the project accepts, with the advisories that set it. A
locked version below a floor, or in a floor's ``excluded`` specifiers, is a violation unless an accepted
exception names that package, version and lock, and the packages the exception's mitigation needs are
in the same lock. An exception that matches nothing locked any more is a violation too: the table must
say what is true. Run ``python -m security.dependency_policy`` for the same check as the test.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
POLICY_FILE = ROOT / "security" / "dependency-policy.toml"
LOCK_FILES = {"pipeline": ROOT / "uv.lock", "serving": ROOT / "serving" / "uv.lock"}
ADVISORY_ID = re.compile(r"^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+)$")

LockedVersions = Mapping[NormalizedName, frozenset[Version]]


class PolicyError(ValueError):
    """The policy file is malformed: an entry lacks a field, names an unknown lock or a bad version."""


@dataclass(frozen=True)
class Floor:
    """The lowest version of a package accepted in the named locks.

    Attributes:
        package: The package's normalised name.
        lowest_safe: Versions below it fail.
        excluded: Versions at or above the floor that are vulnerable all the same.
        advisories: The advisories the floor closes (empty only when the note says why it is there).
        locks: The lock names (keys of LOCK_FILES) it applies to.
        note: What the advisories are about and why the package is here.
    """

    package: NormalizedName
    lowest_safe: Version
    excluded: SpecifierSet
    advisories: tuple[str, ...]
    locks: tuple[str, ...]
    note: str

    def allows(self, version: Version) -> bool:
        """Returns whether a locked version satisfies the floor."""
        return version >= self.lowest_safe and not (self.excluded and self.excluded.contains(version, prereleases=True))


@dataclass(frozen=True)
class AcceptedException:
    """A known-vulnerable version kept on purpose, with its mitigation.

    Attributes:
        package: The package's normalised name.
        version: The exact version accepted.
        advisories: The advisories it remains open to.
        locks: The locks it is accepted in.
        requires: Packages the mitigation needs in the same lock (for example pyarrow-hotfix).
        mitigation: What defends against the advisories meanwhile.
        tested_by: Test files that show the mitigation works.
    """

    package: NormalizedName
    version: Version
    advisories: tuple[str, ...]
    locks: tuple[str, ...]
    requires: tuple[Requirement, ...]
    mitigation: str
    tested_by: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """The whole policy file."""

    floors: tuple[Floor, ...]
    exceptions: tuple[AcceptedException, ...]

    def ignored_advisories(self, lock: str) -> tuple[str, ...]:
        """The advisories of the exceptions accepted in a lock (what `make audit` tells pip-audit to ignore)."""
        return tuple(sorted({a for e in self.exceptions if lock in e.locks for a in e.advisories}))


def load_policy(path: Path = POLICY_FILE, lock_names: tuple[str, ...] = tuple(LOCK_FILES)) -> Policy:
    """Reads and validates the policy file.

    Args:
        path: The TOML file.
        lock_names: The lock names entries may use.

    Returns:
        The policy.

    Raises:
        PolicyError: If an entry is malformed (with the entry and the problem).
    """
    document = tomllib.loads(path.read_text())
    unknown = set(document) - {"floor", "exception"}
    if unknown:
        raise PolicyError(f"{path.name}: unknown tables {sorted(unknown)} (expected [[floor]] and [[exception]])")
    floors = tuple(_floor(entry, lock_names) for entry in document.get("floor", []))
    exceptions = tuple(_exception(entry, lock_names) for entry in document.get("exception", []))
    names = [floor.package for floor in floors]
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise PolicyError(f"{path.name}: more than one floor for {doubled}")
    return Policy(floors, exceptions)


def read_lock(path: Path) -> dict[NormalizedName, frozenset[Version]]:
    """The versions a uv lock file pins, by normalised package name (a fork by markers may pin several)."""
    found: dict[NormalizedName, set[Version]] = {}
    for package in tomllib.loads(path.read_text()).get("package", []):
        found.setdefault(canonicalize_name(package["name"]), set()).add(Version(package["version"]))
    return {name: frozenset(versions) for name, versions in found.items()}


def check_lock(policy: Policy, lock: str, locked: LockedVersions) -> list[str]:
    """The violations of the policy in one lock.

    Args:
        policy: The policy.
        lock: The lock's name (a key of LOCK_FILES).
        locked: Its versions (read_lock).

    Returns:
        One line per violation: a version below its floor or excluded without a recorded exception, an
        exception whose mitigation lacks a required package, an exception for a version no longer locked.
    """
    problems: list[str] = []
    exceptions = [e for e in policy.exceptions if lock in e.locks]
    for floor in policy.floors:
        if lock not in floor.locks:
            continue
        for version in sorted(locked.get(floor.package, ())):
            if floor.allows(version):
                continue
            accepted = [e for e in exceptions if e.package == floor.package and e.version == version]
            if not accepted:
                where = f"below {floor.lowest_safe}" if version < floor.lowest_safe else f"excluded ({floor.excluded})"
                reason = f"advisories {', '.join(floor.advisories)}" if floor.advisories else floor.note
                problems.append(
                    f"{lock} lock: {floor.package} {version} is {where}, the policy's floor ({reason}); upgrade "
                    f"it, or record an accepted exception with its mitigation in {POLICY_FILE.relative_to(ROOT)}"
                )
    for exception in exceptions:
        if exception.version not in locked.get(exception.package, ()):
            pinned = ", ".join(str(v) for v in sorted(locked.get(exception.package, ()))) or "nothing"
            problems.append(
                f"{lock} lock: the accepted exception for {exception.package} {exception.version} is stale "
                f"(the lock pins {pinned}): remove it from the policy or correct its version"
            )
            continue
        for requirement in exception.requires:
            present = locked.get(canonicalize_name(requirement.name), frozenset())
            if not any(requirement.specifier.contains(v, prereleases=True) for v in present):
                problems.append(
                    f"{lock} lock: {exception.package} {exception.version} is accepted only with {requirement} "
                    f"in the same lock ({', '.join(exception.advisories)}), which it lacks"
                )
    return problems


def check(policy: Policy, locks: Mapping[str, LockedVersions]) -> list[str]:
    """The violations of the policy in every lock, and floors that match no package in their locks.

    Args:
        policy: The policy.
        locks: Each lock's versions by lock name.

    Returns:
        One line per violation; empty when every lock complies.
    """
    problems = [problem for name, locked in locks.items() for problem in check_lock(policy, name, locked)]
    for floor in policy.floors:
        if not any(floor.package in locks[name] for name in floor.locks if name in locks):
            problems.append(
                f"the floor for {floor.package} matches no package in the {' or '.join(floor.locks)} lock "
                "(a misspelt name, or a package that left: remove the floor)"
            )
    return problems


def check_repository(policy_file: Path = POLICY_FILE, lock_files: Mapping[str, Path] = LOCK_FILES) -> list[str]:
    """The violations of the repository's policy in the repository's lock files."""
    policy = load_policy(policy_file, tuple(lock_files))
    return check(policy, {name: read_lock(path) for name, path in lock_files.items()})


def main(policy_file: Path = POLICY_FILE, lock_files: Mapping[str, Path] = LOCK_FILES) -> int:
    """Prints the violations (exit 1) or one line saying both locks comply (exit 0); 2 for a malformed policy."""
    try:
        policy = load_policy(policy_file, tuple(lock_files))
    except PolicyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    problems = check(policy, {name: read_lock(path) for name, path in lock_files.items()})
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    names = " and ".join(
        path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path) for path in lock_files.values()
    )
    counts = f"{len(policy.floors)} floors and {len(policy.exceptions)} accepted exceptions"
    print(f"dependency policy: {counts}; {names} comply")
    return 0


def _floor(entry: dict, lock_names: tuple[str, ...]) -> Floor:
    package = _package(entry)
    _require(entry, {"package", "lowest_safe", "advisories", "locks", "note"}, {"excluded"}, package)
    try:
        excluded = SpecifierSet(",".join(entry.get("excluded", [])))
    except InvalidSpecifier as error:
        raise PolicyError(f"floor {package}: {error}") from None
    advisories = _advisories(entry, package)  # may be empty: the note then says why the floor is there
    return Floor(
        package=package,
        lowest_safe=_version(entry["lowest_safe"], package),
        excluded=excluded,
        advisories=advisories,
        locks=_locks(entry, package, lock_names),
        note=_text(entry, "note", package),
    )


def _exception(entry: dict, lock_names: tuple[str, ...]) -> AcceptedException:
    package = _package(entry)
    _require(
        entry, {"package", "version", "advisories", "locks", "requires", "mitigation", "tested_by"}, set(), package
    )
    try:
        requires = tuple(Requirement(text) for text in entry["requires"])
    except InvalidRequirement as error:
        raise PolicyError(f"exception {package}: {error}") from None
    advisories = _advisories(entry, package)
    if not advisories:
        raise PolicyError(f"exception {package}: name the advisories it stays open to")
    tested_by = tuple(entry["tested_by"])
    if not tested_by:
        raise PolicyError(f"exception {package}: name the tests that show the mitigation works")
    return AcceptedException(
        package=package,
        version=_version(entry["version"], package),
        advisories=advisories,
        locks=_locks(entry, package, lock_names),
        requires=requires,
        mitigation=_text(entry, "mitigation", package),
        tested_by=tested_by,
    )


def _package(entry: dict) -> NormalizedName:
    if not isinstance(entry.get("package"), str) or not entry["package"]:
        raise PolicyError(f"an entry without a package name: {entry}")
    return canonicalize_name(entry["package"])


def _require(entry: dict, needed: set[str], optional: set[str], package: str) -> None:
    missing, unknown = needed - set(entry), set(entry) - needed - optional
    if missing or unknown:
        raise PolicyError(f"{package}: missing fields {sorted(missing)}, unknown fields {sorted(unknown)}")


def _version(text: object, package: str) -> Version:
    try:
        return Version(str(text))
    except InvalidVersion:
        raise PolicyError(f"{package}: {text!r} is not a version") from None


def _advisories(entry: dict, package: str) -> tuple[str, ...]:
    advisories = tuple(entry["advisories"])
    malformed = [a for a in advisories if not ADVISORY_ID.match(a)]
    if malformed:
        raise PolicyError(f"{package}: {malformed} are not CVE, GHSA or PYSEC ids")
    return advisories


def _locks(entry: dict, package: str, lock_names: tuple[str, ...]) -> tuple[str, ...]:
    locks = tuple(entry["locks"])
    if not locks or set(locks) - set(lock_names):
        raise PolicyError(f"{package}: locks {list(locks)} must be a non-empty subset of {list(lock_names)}")
    return locks


def _text(entry: dict, field: str, package: str) -> str:
    text = entry[field]
    if not isinstance(text, str) or not text.strip():
        raise PolicyError(f"{package}: {field} must say something")
    return text


if __name__ == "__main__":
    sys.exit(main())
