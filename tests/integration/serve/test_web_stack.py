"""The patched web stack under Seldon's wrapper (serving/pyproject.toml's overrides), on the real server.

Each behaviour here is one the old stack pinned by seldon-core 1.17.1 lacked: gunicorn 20.1 passed
ambiguous request framing on to the app (CVE-2024-1135, CVE-2024-6827) and Werkzeug 2.2 held multipart
form fields of any size in memory (CVE-2024-49767). The compatibility checks guard the overrides
themselves: Seldon drops gunicorn settings it does not know without a word, and its tracing needs a
Flask that still has ``_request_ctx_stack``.
"""

from __future__ import annotations

import ast
import json
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from components.serve.client import PREDICT_PATH, payload, post

LOCAL_SERVER = Path(__file__).resolve().parents[3] / "components" / "serve" / "local.py"

AMBIGUOUS_FRAMING = {
    "Content-Length and Transfer-Encoding": "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding not ending in chunked": "Transfer-Encoding: chunked, identity\r\n",
    "Transfer-Encoding twice": "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    "an unsupported Transfer-Encoding": "Transfer-Encoding: gzip\r\nContent-Length: 2\r\n",
}


def exchange(url: str, request: bytes) -> tuple[str, str]:
    """Sends raw bytes to the server; returns its status line and body (no client rewrites the framing)."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body.decode(errors="replace")


def post_raw(url: str, headers: str, body: bytes) -> tuple[str, str]:
    request = f"POST {PREDICT_PATH} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n".encode()
    return exchange(url, request + body)


def assert_still_serves(server, registered) -> None:
    reply = post(server.url + PREDICT_PATH, payload(registered.rows.head(2), registered.schema.names))
    assert reply.status == 200, reply.body


@pytest.mark.parametrize("headers", AMBIGUOUS_FRAMING.values(), ids=AMBIGUOUS_FRAMING.keys())
def test_ambiguous_request_framing_is_refused_by_gunicorn_before_the_app_sees_it(server, registered, headers):
    status, body = post_raw(server.url, headers, b"0\r\n\r\n")
    assert status.startswith("HTTP/1.1 400"), (status, body)
    # gunicorn's own page, not Seldon's JSON: the request never reached the model (gunicorn 20.1 passed it on)
    assert "Invalid HTTP Header" in body and "MICROSERVICE" not in body, body
    assert_still_serves(server, registered)


@pytest.mark.parametrize(
    "fields",
    [{"strData": "x" * 600_000}, {f"field{n}": "1" for n in range(1500)}],
    ids=["a 600 kB field", "1500 fields"],
)
def test_an_oversized_multipart_form_is_refused_before_it_is_parsed(server, registered, fields):
    boundary = "mlcycle-test-boundary"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    body = f"{parts}--{boundary}--\r\n".encode()
    headers = f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
    status, answer = post_raw(server.url, headers, body)
    # Werkzeug's limits: 500 kB per field (from 3.0.6; 2.2 held any size) and 1000 parts (from 2.2.3,
    # CVE-2023-25577). Seldon's catch-all error handler answers every HTTP error the app raises as a 500,
    # so the 413 is in the message.
    assert status.split()[1] in {"413", "500"}, (status, answer)
    assert "413 Request Entity Too Large" in json.loads(answer)["status"]["info"], answer
    assert_still_serves(server, registered)


def serving_env_facts(serving_python: Path) -> dict:
    script = (
        "import json, os, seldon_core\n"
        "from gunicorn.config import Config\n"
        "print(json.dumps({'settings': sorted(Config().settings),\n"
        "                  'seldon': os.path.dirname(seldon_core.__file__)}))\n"
    )
    result = subprocess.run([str(serving_python), "-c", script], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def gunicorn_option_names(source: Path) -> set[str]:
    """The string keys of every ``options = {...}`` dict literal in a module, and of ``options[...] = ...``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id == "options" and isinstance(node.value, ast.Dict):
                names |= {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
            if isinstance(target, ast.Subscript) and getattr(target.value, "id", None) == "options":
                names.add(target.slice.value)
    return names


def test_every_gunicorn_setting_seldon_and_the_local_server_pass_exists_in_the_locked_gunicorn(serving_python):
    facts = serving_env_facts(serving_python)
    seldon = gunicorn_option_names(Path(facts["seldon"]) / "microservice.py")
    local = gunicorn_option_names(LOCAL_SERVER)
    assert {"bind", "workers", "threads", "timeout", "keepalive", "worker_exit"} <= seldon | local  # found them
    # Seldon's StandaloneApplication.load_config keeps only the keys gunicorn knows: a renamed setting
    # would vanish without a word.
    assert sorted((seldon | local) - set(facts["settings"])) == []


def test_seldon_tracing_still_imports_with_the_locked_flask(serving_python):
    # seldon-core-microservice --tracing (TRACING=1) imports flask_opentracing 1.1, which needs
    # flask._request_ctx_stack: gone in Flask 3.0, the reason serving/pyproject.toml stays on Flask 2.3.
    script = "import flask_opentracing, seldon_core.utils; print(flask_opentracing.FlaskTracing.__name__)"
    result = subprocess.run([str(serving_python), "-W", "ignore", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "FlaskTracing", result.stderr
