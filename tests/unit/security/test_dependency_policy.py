"""The dependency policy against both lock files: the real locks comply, and a lock that slips back fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.version import Version

from security.dependency_policy import (
    LOCK_FILES,
    ROOT,
    PolicyError,
    check,
    check_repository,
    load_policy,
    main,
    read_lock,
)


def locked_copy(tmp_path: Path, edits: dict[str, dict[str, str | None]]) -> dict[str, Path]:
    """Copies of both locks with package versions changed ({lock: {package: version, or None to drop it}})."""
    copies = {}
    for lock, path in LOCK_FILES.items():
        copy = tmp_path / f"{lock}-uv.lock"
        text = path.read_text()
        for package, version in edits.get(lock, {}).items():
            block = re.compile(rf'(\[\[package\]\]\nname = ")({re.escape(package)})("\nversion = ")([^"]+)(")')
            assert block.search(text), f"{package} is not in the {lock} lock"
            if version is None:  # the package leaves the lock (its name changes to one nobody depends on)
                text = block.sub(r"\g<1>removed-\g<2>\g<3>\g<4>\g<5>", text)
            else:
                text = block.sub(rf"\g<1>\g<2>\g<3>{version}\g<5>", text)
        copy.write_text(text)
        copies[lock] = copy
    return copies


def test_both_lock_files_comply_with_the_dependency_policy():
    assert check_repository() == []


def test_the_policy_covers_the_patched_serving_stack_and_the_pyarrow_hotfix():
    policy = load_policy()
    floors = {floor.package: floor for floor in policy.floors}
    fixed_in = {"gunicorn": "23.0.0", "werkzeug": "3.0.6", "urllib3": "2.5.0", "flask": "2.3.0", "click": "8.1.0"}
    for package, fix in fixed_in.items():
        assert "serving" in floors[package].locks and floors[package].lowest_safe >= Version(fix), package
    assert {"CVE-2024-1135", "CVE-2024-6827"} <= set(floors["gunicorn"].advisories)
    assert {"CVE-2023-46136", "CVE-2024-49767"} <= set(floors["werkzeug"].advisories)
    assert "CVE-2025-50181" in floors["urllib3"].advisories
    (pyarrow,) = [e for e in policy.exceptions if e.package == "pyarrow"]
    assert pyarrow.version < floors["pyarrow"].lowest_safe == Version("14.0.1")
    assert set(pyarrow.locks) == {"pipeline", "serving"} and [r.name for r in pyarrow.requires] == ["pyarrow-hotfix"]
    assert policy.ignored_advisories("serving") == ("CVE-2023-47248", "CVE-2025-4565")
    assert policy.ignored_advisories("pipeline") == ("CVE-2023-47248",)


SLIPS = {
    "gunicorn back to Seldon's 20.1.0": (
        "serving",
        "gunicorn",
        "20.1.0",
        ["gunicorn 20.1.0 is below 23.0.0", "CVE-2024-1135"],
    ),
    "werkzeug back to 2.2.3": ("serving", "werkzeug", "2.2.3", ["werkzeug 2.2.3 is below 3.0.6", "CVE-2024-49767"]),
    "urllib3 back to 1.26.20": ("serving", "urllib3", "1.26.20", ["urllib3 1.26.20", "CVE-2025-50181"]),
    "flask back to 2.2.5": ("serving", "flask", "2.2.5", ["flask 2.2.5 is below 2.3.2", "CVE-2023-30861"]),
    "flask on the one bad 3.1": ("serving", "flask", "3.1.0", ["flask 3.1.0 is excluded", "CVE-2025-47278"]),
    "click back to 8.0.4": ("serving", "click", "8.0.4", ["click 8.0.4 is below 8.1.3", "Flask >= 2.3"]),
    "cryptography back to 41.0.7": ("serving", "cryptography", "41.0.7", ["cryptography 41.0.7", "CVE-2023-50782"]),
    "urllib3 of the pipeline to 2.4.0": ("pipeline", "urllib3", "2.4.0", ["pipeline lock: urllib3 2.4.0"]),
    "werkzeug of the pipeline to 3.0.5": ("pipeline", "werkzeug", "3.0.5", ["pipeline lock: werkzeug 3.0.5"]),
}


@pytest.mark.parametrize(("lock", "package", "version", "expected"), SLIPS.values(), ids=SLIPS.keys())
def test_a_lock_that_slips_back_fails(tmp_path, lock, package, version, expected):
    (problem,) = check_repository(lock_files=locked_copy(tmp_path, {lock: {package: version}}))
    assert problem.startswith(f"{lock} lock: ") and all(text in problem for text in expected), problem


def test_a_vulnerable_version_without_a_recorded_exception_fails_even_where_another_is_accepted(tmp_path):
    # pyarrow 10.0.1 is accepted with its hotfix; 11.0.0 is not, and the 10.0.1 exception then names nothing
    problems = check_repository(lock_files=locked_copy(tmp_path, {"serving": {"pyarrow": "11.0.0"}}))
    assert len(problems) == 2, problems
    assert "serving lock: pyarrow 11.0.0 is below 14.0.1" in problems[0] and "CVE-2023-47248" in problems[0]
    assert "accepted exception for pyarrow 10.0.1 is stale (the lock pins 11.0.0)" in problems[1]


@pytest.mark.parametrize("lock", ["pipeline", "serving"])
def test_pyarrow_below_the_fix_is_accepted_only_with_the_hotfix_in_the_same_lock(tmp_path, lock):
    (problem,) = check_repository(lock_files=locked_copy(tmp_path, {lock: {"pyarrow-hotfix": None}}))
    assert problem == (
        f"{lock} lock: pyarrow 10.0.1 is accepted only with pyarrow-hotfix in the same lock (CVE-2023-47248), "
        "which it lacks"
    )


def test_an_exception_for_a_version_no_longer_locked_fails(tmp_path):
    (problem,) = check_repository(lock_files=locked_copy(tmp_path, {"pipeline": {"pyarrow": "14.0.1"}}))
    assert "pipeline lock: the accepted exception for pyarrow 10.0.1 is stale" in problem


def test_every_version_of_a_package_locked_twice_is_checked(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\n\n[[package]]\nname = "urllib3"\nversion = "2.8.0"\n\n'
        '[[package]]\nname = "URLLib3"\nversion = "1.26.20"\n'  # a fork by markers; names are normalised
    )
    assert read_lock(lock) == {"urllib3": frozenset({Version("2.8.0"), Version("1.26.20")})}
    problems = check(load_policy(), {"serving": read_lock(lock), "pipeline": {}})
    urllib3 = [problem for problem in problems if problem.startswith("serving lock: urllib3")]
    assert len(urllib3) == 1 and "urllib3 1.26.20 is below 2.6.0" in urllib3[0], urllib3


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


GOOD_FLOOR = '[[floor]]\npackage = "gunicorn"\nlowest_safe = "23.0.0"\nadvisories = ["CVE-2024-1135"]\n'


def test_a_floor_that_matches_no_locked_package_fails(tmp_path):
    path = policy_file(tmp_path, GOOD_FLOOR.replace("gunicorn", "gunicorm") + 'locks = ["serving"]\nnote = "x"\n')
    (problem,) = check_repository(policy_file=path)
    assert problem.startswith("the floor for gunicorm matches no package in the serving lock")


MALFORMED = {
    "an unknown lock": (GOOD_FLOOR + 'locks = ["staging"]\nnote = "x"\n', "must be a non-empty subset"),
    "no note": (GOOD_FLOOR + 'locks = ["serving"]\n', "missing fields ['note']"),
    "a misspelt field": (GOOD_FLOOR + 'locks = ["serving"]\nnote = "x"\nexclude = []\n', "unknown fields ['exclude']"),
    "a bad version": (GOOD_FLOOR.replace("23.0.0", "twenty") + 'locks = ["serving"]\nnote = "x"\n', "not a version"),
    "a bad advisory id": (GOOD_FLOOR.replace("CVE-2024-1135", "CVE-24") + 'locks = ["serving"]\nnote = "x"\n', "ids"),
    "two floors for one package": (2 * (GOOD_FLOOR + 'locks = ["serving"]\nnote = "x"\n'), "more than one floor"),
    "an exception without tests": (
        '[[exception]]\npackage = "pyarrow"\nversion = "10.0.1"\nadvisories = ["CVE-2023-47248"]\nlocks = ["serving"]\n'
        'requires = []\nmitigation = "m"\ntested_by = []\n',
        "name the tests",
    ),
    "an unknown table": ('[[floors]]\npackage = "x"\n', "unknown tables ['floors']"),
}


@pytest.mark.parametrize(("text", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_policy_is_refused_naming_the_problem(tmp_path, text, expected):
    with pytest.raises(PolicyError, match=re.escape(expected)):
        load_policy(policy_file(tmp_path, text))


def test_every_accepted_exception_names_tests_that_exist():
    for exception in load_policy().exceptions:
        assert exception.tested_by and all((ROOT / test).is_file() for test in exception.tested_by), exception


def test_the_command_line_says_both_locks_comply(capsys):
    assert main() == 0
    out = capsys.readouterr().out.strip()  # blanks from a thread an earlier test left, seen in the whole suite
    assert out.startswith("dependency policy: ") and out.rstrip().endswith("uv.lock and serving/uv.lock comply")


def test_the_command_line_lists_the_violations_and_fails(tmp_path, capsys):
    assert main(lock_files=locked_copy(tmp_path, {"serving": {"gunicorn": "20.1.0"}})) == 1
    assert "serving lock: gunicorn 20.1.0 is below 23.0.0" in capsys.readouterr().err


def test_the_command_line_names_a_malformed_policy(tmp_path, capsys):
    assert main(policy_file=policy_file(tmp_path, '[[floor]]\npackage = "x"\n')) == 2
    assert capsys.readouterr().err.startswith("error: x: missing fields")
