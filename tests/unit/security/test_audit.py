"""`make audit`: the service probe, the plain line when no service answers, and pip-audit's commands.

The vulnerability services are stood in for by an HTTP server on 127.0.0.1; the locks are exported
with the real uv; pip-audit itself runs only offline (--dry-run), since no service is reachable here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from security.audit import EXIT_FAILED, EXIT_FOUND, EXIT_NO_SERVICE, Service, audit, pip_audit_command, probe
from security.dependency_policy import ROOT

UV = ROOT / ".tools" / "bin" / "uv"
ANSWERS = {
    "/advisories": (200, {"vulnerabilities": [{"id": "PYSEC-2023-221", "aliases": ["CVE-2023-46136"]}]}),
    "/osv": (200, {"vulns": [{"id": "GHSA-hrfv-mqp8-q5rw"}]}),
    "/mirror": (200, {"vulnerabilities": []}),
    "/missing": (404, {"message": "Not Found"}),
    "/text": (200, "not json"),
}


class StandIn(BaseHTTPRequestHandler):
    def answer(self) -> None:
        status, body = ANSWERS[self.path]
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.answer()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answer()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def stand_in():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    import socket

    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe_socket.getsockname()[1]}/advisories"


def test_probe_accepts_only_a_service_that_reports_the_canarys_advisories(stand_in):
    assert probe(Service("pypi", f"{stand_in}/advisories", None, "vulnerabilities")) is None
    assert probe(Service("osv", f"{stand_in}/osv", b"{}", "vulns")) is None
    assert probe(Service("pypi", f"{stand_in}/missing", None, "vulnerabilities")) == "HTTP 404 for werkzeug 2.2.3"
    mirror = probe(Service("pypi", f"{stand_in}/mirror", None, "vulnerabilities"))
    assert mirror == "answers without advisories for werkzeug 2.2.3"
    assert probe(Service("pypi", f"{stand_in}/text", None, "vulnerabilities")).startswith("no usable answer")
    assert probe(Service("osv", closed_port_url(), b"{}", "vulns")).startswith("unreachable (")


class Recorder:
    """Stands in for subprocess.run of pip-audit: keeps each command and the requirements it was given."""

    def __init__(self, codes: list[int]):
        self.codes = codes
        self.commands: list[list[str]] = []
        self.requirements: list[str] = []

    def __call__(self, command: list[str]) -> subprocess.CompletedProcess:
        self.commands.append(command)
        self.requirements.append(Path(command[command.index("--requirement") + 1]).read_text())
        return subprocess.CompletedProcess(command, self.codes[len(self.commands) - 1])


@pytest.mark.parametrize("require_service", [False, True])
def test_without_a_reachable_service_one_line_says_so_and_nothing_is_audited(stand_in, require_service):
    lines: list[str] = []
    run = Recorder([])
    services = [
        Service("pypi", f"{stand_in}/missing", None, "vulnerabilities"),
        Service("osv", closed_port_url(), b"{}", "vulns"),
    ]
    code = audit(UV, require_service=require_service, services=services, run=run, say=lines.append)
    assert code == (EXIT_NO_SERVICE if require_service else 0)
    assert len(lines) == 1 and run.commands == []
    assert lines[0].startswith("audit NOT RUN: no vulnerability service reachable (pypi: HTTP 404 for werkzeug 2.2.3; ")
    assert "osv: unreachable (" in lines[0]


def test_both_locks_are_exported_and_audited_strictly_with_the_accepted_exceptions_ignored(stand_in):
    lines: list[str] = []
    run = Recorder([0, 0])
    services = [
        Service("pypi", f"{stand_in}/mirror", None, "vulnerabilities"),  # skipped: a mirror without advisories
        Service("osv", f"{stand_in}/osv", b"{}", "vulns"),
    ]
    assert audit(UV, services=services, run=run, say=lines.append) == 0
    pipeline, serving = run.commands
    for command in (pipeline, serving):
        assert command[:3] == [sys.executable, "-m", "pip_audit"]
        assert {"--no-deps", "--disable-pip", "--strict"} <= set(command)
        assert command[command.index("--vulnerability-service") + 1] == "osv"
    assert ignored(pipeline) == ["CVE-2023-47248"]
    assert ignored(serving) == ["CVE-2023-47248", "CVE-2025-4565"]
    assert "\nkfp==" in run.requirements[0] and "\npip-audit==" in run.requirements[0]  # dev tools too
    assert "\ngunicorn==27.0.1" in run.requirements[1] and "kfp==" not in run.requirements[1]
    assert not any(line.startswith(("-e", ".", "mlcycle")) for text in run.requirements for line in text.splitlines())
    assert lines[-1] == "audit: no known vulnerability in either lock outside the accepted exceptions"


@pytest.mark.parametrize(("codes", "expected"), [([0, EXIT_FOUND], EXIT_FOUND), ([EXIT_FOUND, 0], EXIT_FOUND)])
def test_a_finding_in_either_lock_fails_the_audit(stand_in, codes, expected):
    lines: list[str] = []
    service = Service("pypi", f"{stand_in}/advisories", None, "vulnerabilities")
    assert audit(UV, services=[service], run=Recorder(codes), say=lines.append) == expected
    assert lines[-1].startswith("audit FOUND problems")


def test_pip_audit_failing_to_run_is_its_own_exit_code(stand_in):
    lines: list[str] = []
    service = Service("pypi", f"{stand_in}/advisories", None, "vulnerabilities")
    assert audit(UV, services=[service], run=Recorder([2]), say=lines.append) == EXIT_FAILED
    assert lines[-1] == "audit FAILED: pip-audit exited 2 on uv.lock"


def test_a_lock_that_does_not_export_fails_the_audit(stand_in, tmp_path):
    lines: list[str] = []
    service = Service("pypi", f"{stand_in}/advisories", None, "vulnerabilities")
    assert audit(tmp_path / "no-uv", services=[service], run=Recorder([]), say=lines.append) == EXIT_FAILED
    assert lines[-1].startswith("audit FAILED: uv.lock did not export")


def ignored(command: list[str]) -> list[str]:
    return [command[i + 1] for i, word in enumerate(command) if word == "--ignore-vuln"]


def test_pip_audit_accepts_the_command_and_reads_every_exported_requirement(tmp_path):
    # --dry-run: pip-audit parses its options and the requirements file but asks no service
    requirements = tmp_path / "serving.txt"
    subprocess.run(
        [str(UV), "export", "--frozen", "--no-hashes", "--no-emit-project", "--all-groups", "--quiet"]
        + ["--project", str(ROOT / "serving"), "--output-file", str(requirements)],
        check=True,
    )
    command = pip_audit_command(requirements, "pypi", ["CVE-2023-47248"]) + ["--dry-run"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    pinned = sum(1 for line in requirements.read_text().splitlines() if "==" in line and not line.startswith("#"))
    assert f"Dry run: would have audited {pinned} packages" in result.stderr + result.stdout
