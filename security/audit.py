"""`make audit`: pip-audit against both lock files, where a vulnerability service answers.

Each lock is exported to a pinned requirements file (``uv export --frozen --no-hashes``) and audited
without installing anything (``--no-deps --disable-pip``), with ``--strict`` so that a package the
service does not know fails the audit instead of being skipped in silence. The advisories of the
accepted exceptions in security/dependency-policy.toml are ignored in the locks they are accepted in;
everything else pip-audit finds fails.

Before that, the service is asked about a release with known advisories (Werkzeug 2.2.3): a service
that cannot be reached, or answers without advisories (a mirror without them), is not used. Where
neither PyPI's JSON API nor OSV answers, one line says so and nothing is audited.

Exit codes:
    0: no known vulnerability outside the accepted exceptions, or no service reachable (the line
       starting "audit NOT RUN" says which);
    1: pip-audit found vulnerabilities, or packages the service could not audit (listed above it);
    2: the audit could not run (a lock did not export, pip-audit failed, the policy is malformed);
    3: no service reachable and --require-service given (for CI that must audit).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from security.dependency_policy import LOCK_FILES, ROOT, PolicyError, load_policy

EXIT_FOUND = 1
EXIT_FAILED = 2
EXIT_NO_SERVICE = 3
CANARY = ("werkzeug", "2.2.3")  # CVE-2023-46136 and others: any working service reports something


@dataclass(frozen=True)
class Service:
    """A vulnerability service pip-audit can use, and how to ask it about the canary release.

    Attributes:
        name: pip-audit's name for it (``--vulnerability-service``).
        url: Where pip-audit asks about one release (the canary's here).
        body: The POST body, or None for a GET.
        field: The answer's list of advisories.
    """

    name: str
    url: str
    body: bytes | None
    field: str


SERVICES = (
    Service("pypi", f"https://pypi.org/pypi/{CANARY[0]}/{CANARY[1]}/json", None, "vulnerabilities"),
    Service(
        "osv",
        "https://api.osv.dev/v1/query",
        json.dumps({"package": {"name": CANARY[0], "ecosystem": "PyPI"}, "version": CANARY[1]}).encode(),
        "vulns",
    ),
)


def probe(service: Service, timeout: float = 10.0) -> str | None:
    """Asks a service about the canary release.

    Returns:
        None when it answers with advisories; otherwise why it cannot be used, in a few words.
    """
    headers = {"Content-Type": "application/json"} if service.body is not None else {}
    request = urllib.request.Request(service.url, data=service.body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            document = json.load(answer)
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code} for {CANARY[0]} {CANARY[1]}"
    except urllib.error.URLError as error:
        return f"unreachable ({error.reason})"
    except (OSError, ValueError) as error:
        return f"no usable answer ({type(error).__name__}: {error})"
    if not isinstance(document, dict) or not document.get(service.field):
        return f"answers without advisories for {CANARY[0]} {CANARY[1]}"
    return None


def export_lock(uv: Path, project: Path, requirements: Path) -> None:
    """Writes a lock's pinned requirements (every group, no hashes, without the project itself)."""
    subprocess.run(
        [str(uv), "export", "--frozen", "--no-hashes", "--no-emit-project", "--all-groups", "--quiet"]
        + ["--project", str(project), "--output-file", str(requirements)],
        check=True,
        capture_output=True,
        text=True,
    )


def pip_audit_command(requirements: Path, service: str, ignored: Sequence[str]) -> list[str]:
    """The pip-audit command for one exported lock."""
    command = [sys.executable, "-m", "pip_audit", "--requirement", str(requirements), "--no-deps", "--disable-pip"]
    command += ["--strict", "--progress-spinner", "off", "--vulnerability-service", service]
    for advisory in ignored:
        command += ["--ignore-vuln", advisory]
    return command


def audit(
    uv: Path,
    require_service: bool = False,
    services: Sequence[Service] = SERVICES,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    say: Callable[[str], None] = print,
) -> int:
    """Audits both locks with the first service that answers.

    Args:
        uv: The uv binary that exports the locks.
        require_service: Exit with EXIT_NO_SERVICE instead of 0 when no service answers.
        services: The services to try, in order.
        run: Runs pip-audit (subprocess.run; tests pass a recorder).
        say: Where the lines go.

    Returns:
        The exit code (see the module's docstring).
    """
    reasons = {}
    for service in services:
        reasons[service.name] = probe(service)
        if reasons[service.name] is None:
            break
    else:
        why = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
        say(
            f"audit NOT RUN: no vulnerability service reachable ({why}); the offline check of both locks is "
            "tests/unit/security (security/dependency-policy.toml)"
        )
        return EXIT_NO_SERVICE if require_service else 0
    try:
        policy = load_policy()
    except PolicyError as error:
        say(f"audit FAILED: {error}")
        return EXIT_FAILED
    worst = 0
    with tempfile.TemporaryDirectory(prefix="mlcycle-audit-") as scratch:
        for lock, lock_file in LOCK_FILES.items():
            requirements = Path(scratch) / f"{lock}-requirements.txt"
            try:
                export_lock(uv, lock_file.parent, requirements)
            except (OSError, subprocess.CalledProcessError) as error:
                detail = getattr(error, "stderr", None) or error
                say(f"audit FAILED: {lock_file.relative_to(ROOT)} did not export: {str(detail).strip()}")
                return EXIT_FAILED
            ignored = policy.ignored_advisories(lock)
            say(
                f"== {lock_file.relative_to(ROOT)} ({service.name}; accepted exceptions ignored: "
                f"{', '.join(ignored) or 'none'})"
            )
            result = run(pip_audit_command(requirements, service.name, ignored))
            if result.returncode not in (0, EXIT_FOUND):
                say(f"audit FAILED: pip-audit exited {result.returncode} on {lock_file.relative_to(ROOT)}")
                return EXIT_FAILED
            worst = max(worst, result.returncode)
    if worst:
        say("audit FOUND problems: known vulnerabilities, or packages the service could not audit (listed above)")
    else:
        say("audit: no known vulnerability in either lock outside the accepted exceptions")
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    """The command line of `make audit`."""
    parser = argparse.ArgumentParser(prog="python -m security.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--uv", type=Path, default=ROOT / ".tools" / "bin" / "uv", help="the uv binary")
    parser.add_argument(
        "--require-service",
        action="store_true",
        help=f"exit {EXIT_NO_SERVICE} instead of 0 when no vulnerability service is reachable",
    )
    args = parser.parse_args(argv)
    return audit(args.uv, require_service=args.require_service)


if __name__ == "__main__":
    sys.exit(main())
