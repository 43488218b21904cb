"""`mlcycle submit` and `mlcycle schedule` (and `make submit`) against a recording double of the KFP v2beta1 API.

A Kubeflow Pipelines API cannot run on the build machines (it needs a Kubernetes cluster, MySQL and
Argo Workflows), so a small HTTP server on 127.0.0.1 stands in for it: it answers the requests the
real kfp 2.17.3 client sends with the minimal v2beta1 responses and records every request. The tests
assert what reaches the API: the uploaded spec, the typed parameters, the cron and the schedule's
policy, the token; and that the usual mistakes end in one line and a non-zero exit.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from helpers import image_registry

from cli.main import main
from components.common.config import load_use_case
from components.images import PIPELINE_IMAGE, REGISTRY_ENDPOINT_VARIABLE
from pipelines.submit import DEFAULT_SPEC
from pipelines.usecases import DEMO_CONFIG

ROOT = Path(__file__).resolve().parents[3]
API = "/apis/v2beta1"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def upload(self) -> bytes:
        """The file of a multipart upload."""
        message = email.message_from_bytes(
            f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode() + self.body, policy=email.policy.HTTP
        )
        (part,) = [p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "uploadfile"]
        return part.get_payload(decode=True)


@dataclass
class FakeKfp:
    """State of the double: what exists and what was asked."""

    url: str = ""
    token: str | None = None
    fail: dict[tuple[str, str], int] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    pipelines: list[dict] = field(default_factory=list)
    versions: list[dict] = field(default_factory=list)
    experiments: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    recurring: list[dict] = field(default_factory=list)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.path)]

    def answer(self, request: Recorded) -> tuple[int, dict]:
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "Unauthenticated", "code": 16, "message": "request is not authenticated"}
        route = (
            request.method,
            re.sub(r"/[^/]+$", "/{id}", request.path) if request.method == "DELETE" else request.path,
        )
        if route in self.fail:
            return self.fail[route], {"error": "boom", "code": 13, "message": "the server failed on purpose"}
        wanted = _display_name(request.query.get("filter"))
        if route == ("GET", f"{API}/healthz"):
            return 200, {"multi_user": False}
        if route == ("GET", f"{API}/pipelines"):
            return 200, {"pipelines": [p for p in self.pipelines if wanted in (None, p["display_name"])]}
        if route == ("POST", f"{API}/pipelines"):
            pipeline = {**request.json(), "pipeline_id": f"p-{len(self.pipelines) + 1}"}
            self.pipelines.append(pipeline)
            return 200, pipeline
        if route == ("POST", f"{API}/pipelines/upload_version"):
            version = {
                "pipeline_id": request.query["pipelineid"],
                "pipeline_version_id": f"v-{len(self.versions) + 1}",
                "display_name": request.query["name"],
            }
            self.versions.append(version)
            return 200, version
        if route == ("GET", f"{API}/experiments"):
            return 200, {"experiments": [e for e in self.experiments if wanted in (None, e["display_name"])]}
        if route == ("POST", f"{API}/experiments"):
            experiment = {**request.json(), "experiment_id": f"e-{len(self.experiments) + 1}"}
            self.experiments.append(experiment)
            return 200, experiment
        if route == ("POST", f"{API}/runs"):
            run = {**request.json(), "run_id": f"r-{len(self.runs) + 1}"}
            self.runs.append(run)
            return 200, run
        if route == ("GET", f"{API}/recurringruns"):
            found = [
                r
                for r in self.recurring
                if wanted in (None, r["display_name"]) and r["experiment_id"] == request.query.get("experiment_id")
            ]
            return 200, {"recurringRuns": found}
        if route == ("POST", f"{API}/recurringruns"):
            recurring = {**request.json(), "recurring_run_id": f"rr-{len(self.requests)}"}
            self.recurring.append(recurring)
            return 200, recurring
        if route == ("DELETE", f"{API}/recurringruns/{{id}}"):
            self.recurring = [r for r in self.recurring if r["recurring_run_id"] != request.path.rsplit("/", 1)[1]]
            return 200, {}
        return 404, {"error": f"no route {route}", "code": 5}


def _display_name(raw: str | None) -> str | None:
    if not raw:
        return None
    predicates = json.loads(raw)["predicates"]
    return next(p["stringValue"] for p in predicates if p["key"] == "display_name")


@pytest.fixture
def kfp():
    state = FakeKfp()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            url = urlparse(self.path)
            length = int(self.headers.get("content-length") or 0)
            request = Recorded(
                self.command,
                url.path,
                {k: v[0] for k, v in parse_qs(url.query).items()},
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            state.requests.append(request)
            status, body = state.answer(request)
            if status == 0:  # the connection drops without an answer
                self.close_connection = True
                return
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """A clean environment: no KFP or S3 settings of the developer's shell, no local state."""
    for name in list(os.environ):
        if name.startswith(("KFP_", "AWS_", "KF_PIPELINES")) or name in (
            "PARAMS",
            "PARAMS_FILE",
            "CRON",
            "PIPELINE_SPEC",
            "SCHEDULE_NAME",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLCYCLE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # kfp.Client reads ~/.config/kfp/context.json
    return monkeypatch


def mlcycle(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exit:
        return exit.code
    return 0


def test_run_uploads_a_new_version_and_starts_a_run_with_typed_parameters(kfp, environment, capsys, tmp_path):
    environment.setenv("KFP_HOST", kfp.url)
    (tmp_path / "case.yaml").write_text(DEMO_CONFIG.read_text())
    environment.setenv(
        "PARAMS", f"""use_case=@{tmp_path / "case.yaml"} schema=text seed=7 'overrides={{"training.max_trials": 2}}'"""
    )

    assert mlcycle("submit") == 0

    (create,) = kfp.calls("POST", f"{API}/pipelines")
    assert create.json()["display_name"] == "mlcycle-training"
    (upload,) = kfp.calls("POST", f"{API}/pipelines/upload_version")
    assert upload.upload() == DEFAULT_SPEC.read_bytes()
    assert upload.query["pipelineid"] == "p-1"
    assert re.fullmatch(r"mlcycle-training-[a-z0-9-]+-\d{8}t\d{6}z", upload.query["name"])
    (experiment,) = kfp.calls("POST", f"{API}/experiments")
    assert experiment.json()["display_name"] == "mlcycle"
    (run,) = kfp.calls("POST", f"{API}/runs")
    body = run.json()
    assert body["experiment_id"] == "e-1" and body["display_name"] == upload.query["name"]
    assert body["pipeline_version_reference"] == {"pipeline_id": "p-1", "pipeline_version_id": "v-1"}
    assert "pipeline_spec" not in body, "the run refers to the uploaded version, not a copy of the spec"
    assert body["runtime_config"]["parameters"] == {
        "use_case": DEMO_CONFIG.read_text(),
        "schema": "text",
        "seed": 7,
        "overrides": {"training.max_trials": 2},
    }
    out = capsys.readouterr().out
    assert "pipeline  mlcycle-training (created p-1)" in out and f"{kfp.url}/#/runs/details/r-1" in out

    assert mlcycle("submit") == 0  # the second submission adds a version to the same pipeline
    assert len(kfp.calls("POST", f"{API}/pipelines")) == 1 and len(kfp.versions) == 2
    assert len(kfp.calls("POST", f"{API}/experiments")) == 1
    assert kfp.runs[-1]["pipeline_version_reference"]["pipeline_version_id"] == "v-2"
    assert "(existing p-1)" in capsys.readouterr().out


def test_without_params_the_demo_use_case_is_submitted(kfp, environment):
    environment.setenv("KFP_HOST", kfp.url)
    assert mlcycle("submit") == 0
    parameters = kfp.runs[0]["runtime_config"]["parameters"]
    assert parameters["use_case"] == (ROOT / "pipelines/usecases/flights.yaml").read_text()
    assert set(parameters) == {"use_case", "schema"}


def test_schedule_creates_a_recurring_run_and_replaces_the_previous_one(kfp, environment, capsys):
    environment.setenv("KFP_HOST", kfp.url)
    environment.setenv("CRON", "0 0 3 * * *")

    assert mlcycle("schedule") == 0
    (first,) = kfp.calls("POST", f"{API}/recurringruns")
    body = first.json()
    assert body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert int(body["max_concurrency"]) == 1 and body["no_catchup"] is True and body["mode"] == "ENABLE"
    assert body["display_name"] == "mlcycle-training-schedule" and body["experiment_id"] == "e-1"
    assert body["pipeline_version_reference"] == {"pipeline_id": "p-1", "pipeline_version_id": "v-1"}
    assert set(body["runtime_config"]["parameters"]) == {"use_case", "schema"}
    assert "one run at a time, no catch-up" in capsys.readouterr().out
    (old,) = [r["recurring_run_id"] for r in kfp.recurring]

    assert mlcycle("schedule", "--cron", "0 30 4 * * mon-fri") == 0
    assert len(kfp.recurring) == 1, "the older schedule of the same name is removed"
    assert kfp.recurring[0]["trigger"]["cron_schedule"]["cron"] == "0 30 4 * * mon-fri"
    assert kfp.recurring[0]["pipeline_version_reference"]["pipeline_version_id"] == "v-2"
    (delete,) = kfp.calls("DELETE", f"{API}/recurringruns/.+")
    assert delete.path == f"{API}/recurringruns/{old}"
    assert "replacing" in capsys.readouterr().out


def test_a_token_reaches_the_api_and_a_refused_one_is_one_line(kfp, environment, capsys):
    kfp.token = "good-token"
    environment.setenv("KFP_HOST", kfp.url)
    environment.setenv("KFP_TOKEN", "good-token")
    assert mlcycle("submit") == 0
    assert {r.headers.get("authorization") for r in kfp.requests} == {"Bearer good-token"}

    environment.setenv("KFP_TOKEN", "stale")
    assert mlcycle("submit") == 2
    err = capsys.readouterr().err
    assert (
        err.strip() == f"error: the KFP API at {kfp.url} refused the request (HTTP 401) "
        "(hint: set KFP_TOKEN to a valid token (multi-user installations also need KFP_NAMESPACE))"
    )


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda kfp, env: None, "error: KFP_HOST is not set"),
        (
            lambda kfp, env: env.setenv("KFP_HOST", "http://127.0.0.1:9"),
            "error: cannot reach the KFP API at http://127.0.0.1:9",
        ),
        (
            lambda kfp, env: (env.setenv("KFP_HOST", kfp.url), kfp.fail.update({("GET", f"{API}/healthz"): 404})),
            "does not answer as a KFP API (HTTP 404",
        ),
        (
            lambda kfp, env: (env.setenv("KFP_HOST", kfp.url), kfp.fail.update({("POST", f"{API}/runs"): 500})),
            "answered HTTP 500 Internal Server Error: the server failed on purpose",
        ),
        (
            lambda kfp, env: (env.setenv("KFP_HOST", kfp.url), env.setenv("PARAMS", "seed=x")),
            "'seed' must be an integer, got 'x'",
        ),
        (
            lambda kfp, env: (env.setenv("KFP_HOST", kfp.url), kfp.fail.update({("POST", f"{API}/runs"): 0})),
            "lost the KFP API at",
        ),
        (
            lambda kfp, env: (
                env.setenv("KFP_HOST", kfp.url),
                kfp.pipelines.extend([{"pipeline_id": i, "display_name": "mlcycle-training"} for i in ("a", "b")]),
            ),
            "Multiple pipelines with the name: mlcycle-training found",
        ),
    ],
    ids=["no-host", "unreachable", "not-kfp", "server-error", "bad-params", "dropped", "two-pipelines"],
)
def test_mistakes_end_in_one_line_and_a_non_zero_exit(kfp, environment, capsys, setup, expected):
    setup(kfp, environment)
    assert mlcycle("submit") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and expected in err, err


def test_a_spec_whose_tasks_get_no_s3_secret_is_submitted_with_a_warning(kfp, environment, capsys, tmp_path):
    bare = tmp_path / "bare.yaml"
    bare.write_text(DEFAULT_SPEC.read_text().split("\n---\n")[0])  # the pipeline spec without its platform spec
    environment.setenv("KFP_HOST", kfp.url)
    environment.setenv("PIPELINE_SPEC", str(bare))
    assert mlcycle("submit") == 0
    assert "warning: no task of bare.yaml gets S3 credentials from a Kubernetes Secret" in capsys.readouterr().err
    assert kfp.calls("POST", f"{API}/pipelines/upload_version")[0].upload() == bare.read_bytes()
    environment.setenv("PIPELINE_SPEC", str(DEFAULT_SPEC))
    assert mlcycle("submit") == 0
    assert "warning" not in capsys.readouterr().err


def test_a_five_field_cron_is_refused_before_anything_is_sent(kfp, environment, capsys):
    environment.setenv("KFP_HOST", kfp.url)
    assert mlcycle("schedule", "--cron", "0 3 * * *") == 2
    assert "five fields, but KFP takes six" in capsys.readouterr().err
    assert kfp.requests == []
    assert mlcycle("schedule") == 2
    assert "CRON" in capsys.readouterr().err


@pytest.fixture
def registry():
    """The registry double, holding the pipeline image."""
    with image_registry(PIPELINE_IMAGE) as server:
        yield server


def make(target: str, *variables: str, kfp: FakeKfp, home: Path, registry=None) -> subprocess.CompletedProcess:
    """Runs a make target as a person would, with KFP_HOST set to the double and no KFP, AWS or make settings."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KFP_", "AWS_", "MAKEFLAGS", "MFLAGS"))}
    environ.update(HOME=str(home), MLCYCLE_STATE_DIR=str(home / "state"), KFP_HOST=kfp.url)
    environ[REGISTRY_ENDPOINT_VARIABLE] = registry.url if registry else "http://127.0.0.1:9"
    return subprocess.run(
        ["make", "--no-print-directory", target, *variables],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_make_submit_passes_params_through_to_the_api(kfp, tmp_path, registry):
    result = make(
        "submit",
        "PARAMS=use_case=@pipelines/usecases/flights.yaml schema='a b' seed=3",
        kfp=kfp,
        home=tmp_path,
        registry=registry,
    )
    assert result.returncode == 0, result.stderr
    assert kfp.runs[0]["runtime_config"]["parameters"]["schema"] == "a b"
    assert kfp.runs[0]["runtime_config"]["parameters"]["seed"] == 3
    assert "run       r-1" in result.stdout


def test_make_continuous_training_schedules_the_monitoring_pipeline_on_the_use_cases_cron(kfp, tmp_path):
    result = make("continuous-training", kfp=kfp, home=tmp_path)
    assert result.returncode == 0, result.stderr
    (upload,) = kfp.calls("POST", f"{API}/pipelines/upload_version")
    assert upload.upload() == (ROOT / "pipelines" / "monitoring_pipeline.yaml").read_bytes()
    (recurring,) = kfp.recurring
    assert recurring["display_name"] == "mlcycle-continuous-training"
    assert recurring["trigger"]["cron_schedule"]["cron"] == load_use_case(DEMO_CONFIG).monitoring.schedule
    parameters = recurring["runtime_config"]["parameters"]
    assert parameters["use_case"] == DEMO_CONFIG.read_text() and parameters["retrain"] is True
    assert "schedule  mlcycle-continuous-training on " in result.stdout


def test_make_submit_stops_before_kfp_when_the_pipeline_image_is_not_in_the_registry(kfp, tmp_path, registry):
    registry.held.clear()

    result = make("submit", kfp=kfp, home=tmp_path, registry=registry)

    assert result.returncode != 0
    assert "not in the registry the cluster pulls from" in result.stderr and "make images push-images" in result.stderr
    assert kfp.requests == []
