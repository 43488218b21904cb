"""Submits a compiled pipeline to a Kubeflow Pipelines API: the work of `mlcycle submit` and `mlcycle schedule`.

Each submission uploads the compiled spec as a new version of its pipeline (the pipeline is created
the first time), named after the code version and the time, so every run points at exactly the spec
it ran. :func:`start_run` then starts a run in an experiment; :func:`schedule_runs` creates a
recurring run from a six-field cron expression (continuous training), at most one run at a time and
without catching up on missed times, and removes the recurring runs of the same name it replaces.
The command line (cli/submit.py, called by `make submit` and `make schedule`) prints the outcome.

Where the API is and how to reach it comes from the environment: KFP_HOST (the KFP UI or API
address, for example http://127.0.0.1:8080 on the kind cluster), KFP_TOKEN (a bearer token, when the
API asks for one) and KFP_NAMESPACE (the profile namespace of a multi-user installation).

S3 credentials never travel through here: the compiled spec gives the tasks the Kubernetes Secret
(kfp-kubernetes), and a submission whose spec or parameters contain the S3 keys known to this
process is refused. The parameters are checked against the inputs the spec declares before anything
is uploaded.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import re
import shlex
import urllib.error
import urllib.request
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from components.common.config import apply_overrides, load_use_case, parse_use_case, schema_path
from components.common.errors import ConfigError, UserError
from components.common.s3_settings import s3_settings
from pipelines.usecases import DEMO_CONFIG

HOST_VARIABLE = "KFP_HOST"
TOKEN_VARIABLE = "KFP_TOKEN"
NAMESPACE_VARIABLE = "KFP_NAMESPACE"
DEFAULT_SPEC = Path(__file__).with_name("training_pipeline.yaml")
DEFAULT_EXPERIMENT = "mlcycle"
# Secret values shorter than this are not searched for: they would match by chance.
_MIN_SECRET_LENGTH = 8


@dataclass(frozen=True)
class PipelineInput:
    """A parameter the compiled pipeline declares.

    Attributes:
        name: The parameter's name.
        type: KFP's parameter type: STRING, NUMBER_INTEGER, NUMBER_DOUBLE, BOOLEAN, STRUCT or LIST.
        required: Whether a run must give it (no default, not optional).
        description: What it is, from the pipeline's docstring.
    """

    name: str
    type: str
    required: bool
    description: str = ""


@dataclass(frozen=True)
class CompiledPipeline:
    """A compiled pipeline spec as the API receives it.

    Attributes:
        path: The spec file (the pipeline spec, then the Kubernetes platform spec, in one YAML file).
        name: The pipeline's name (``pipelineInfo.name``).
        description: Its description.
        inputs: Its parameters by name.
        text: The file's text, as uploaded.
        secret_env: Per task executor, the environment variables it gets from Kubernetes Secrets.
    """

    path: Path
    name: str
    description: str
    inputs: Mapping[str, PipelineInput]
    text: str
    secret_env: Mapping[str, frozenset[str]]


def read_pipeline(path: Path) -> CompiledPipeline:
    """Reads a compiled pipeline spec.

    Raises:
        UserError: If the file is missing or is not a compiled KFP pipeline.
    """
    try:
        text = path.read_text()
        documents = list(yaml.safe_load_all(text))
    except FileNotFoundError:
        raise UserError(
            f"pipeline spec {path} does not exist", hint="run `make compile`, or set PIPELINE_SPEC to a compiled spec"
        ) from None
    except yaml.YAMLError as error:
        raise UserError(
            f"pipeline spec {path} is not YAML: {str(error).splitlines()[0]}", hint="recompile it with `make compile`"
        ) from None
    spec = documents[0] if documents and isinstance(documents[0], dict) else {}
    if "pipelineInfo" not in spec or "root" not in spec:
        raise UserError(
            f"{path} is not a compiled KFP pipeline (no pipelineInfo/root)",
            hint="give the YAML that `make compile` writes",
        )
    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    inputs = {
        name: PipelineInput(
            name=name,
            type=definition.get("parameterType", "STRING"),
            required=not definition.get("isOptional", False) and "defaultValue" not in definition,
            description=" ".join(str(definition.get("description", "")).split()),
        )
        for name, definition in declared.items()
    }
    executors = {}
    for document in documents[1:]:
        found = (
            (document or {}).get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
        )
        for label, settings in found.items():
            executors[label] = frozenset(
                mapping["envVar"]
                for secret in settings.get("secretAsEnv", [])
                for mapping in secret.get("keyToEnv", [])
            )
    info = spec["pipelineInfo"]
    return CompiledPipeline(path, info["name"], info.get("description", ""), inputs, text, executors)


def parse_params(text: str, base: Path | None = None) -> dict[str, Any]:
    """Parses ``key=value`` pairs, separated by spaces, quoted like a shell.

    A value ``@path`` is the text of that file (relative to ``base``, default the working directory),
    for parameters such as the use-case YAML.

    Raises:
        UserError: If a pair has no ``=``, a key repeats, or a file cannot be read.
    """
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise UserError(
            f"PARAMS cannot be split: {error}", hint="quote values with spaces: PARAMS='key=\"a value\"'"
        ) from None
    params: dict[str, Any] = {}
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise UserError(
                f"PARAMS entry {word!r} is not key=value",
                hint="for example PARAMS='use_case=@pipelines/usecases/flights.yaml seed=7'",
            )
        if key in params:
            raise UserError(f"PARAMS gives {key!r} twice", hint="give each parameter once")
        params[key] = _file_value(value, base) if value.startswith("@") else value
    return params


def read_params_file(path: Path) -> dict[str, Any]:
    """Reads parameters from a YAML or JSON mapping; ``@path`` string values are read relative to it.

    Raises:
        UserError: If the file is missing, is not YAML or is not a mapping.
    """
    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(
            f"parameter file {path} does not exist", hint="give PARAMS_FILE as a path from the repository root"
        ) from None
    except yaml.YAMLError as error:
        raise UserError(
            f"parameter file {path} is not YAML: {str(error).splitlines()[0]}", hint="write one `name: value` per line"
        ) from None
    if not isinstance(loaded, dict):
        raise UserError(
            f"parameter file {path} is not a mapping of parameter names to values",
            hint="write one `name: value` per line",
        )
    return {
        str(k): _file_value(v, path.parent) if isinstance(v, str) and v.startswith("@") else v
        for k, v in loaded.items()
    }


def _file_value(reference: str, base: Path | None) -> str:
    path = (base or Path.cwd()) / reference[1:]
    try:
        return path.read_text()
    except OSError as error:
        raise UserError(
            f"cannot read {path} for a parameter: {error.strerror}",
            hint="@ takes a file path: use_case=@pipelines/usecases/flights.yaml",
        ) from None


def demo_params() -> dict[str, Any]:
    """The demo use case and its curated schema: what `make run` trains locally."""
    return {
        "use_case": DEMO_CONFIG.read_text(),
        "schema": schema_path(DEMO_CONFIG, load_use_case(DEMO_CONFIG)).read_text(),
    }


def typed_params(given: Mapping[str, Any], pipeline: CompiledPipeline) -> dict[str, Any]:
    """Checks parameters against the inputs the pipeline declares and gives each its declared type.

    Text values (from PARAMS) are converted: integers, numbers, ``true``/``false``, and JSON or YAML
    for STRUCT and LIST parameters. Values from a parameter file must have the type already.

    Raises:
        UserError: For an unknown name (with the closest declared one), a missing required
            parameter, or a value that does not fit the declared type.
    """
    declared = pipeline.inputs
    for name in given:
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            raise UserError(
                f"pipeline {pipeline.name} has no parameter {name!r} (it takes {', '.join(sorted(declared))})",
                hint=f"did you mean {close[0]!r}?" if close else "see the Inputs at the top of the compiled spec",
            )
    missing = [name for name, spec in declared.items() if spec.required and name not in given]
    if missing:
        raise UserError(
            f"pipeline {pipeline.name} needs {', '.join(repr(m) for m in missing)}",
            hint="give them in PARAMS, e.g. "
            + " ".join(f"{m}=@<file>" if declared[m].type == "STRING" else f"{m}=<value>" for m in missing),
        )
    return {name: _typed(name, value, declared[name].type) for name, value in given.items()}


def _typed(name: str, value: Any, kind: str) -> Any:
    def refuse(expected: str) -> UserError:
        shown = value if len(str(value)) <= 40 else f"{str(value)[:37]}..."
        return UserError(f"parameter {name!r} must be {expected}, got {shown!r}", hint=f"the spec declares it {kind}")

    if kind == "STRING":
        if not isinstance(value, str):
            raise refuse("text")
        return value
    if kind == "BOOLEAN":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise refuse("true or false")
    if kind == "NUMBER_INTEGER":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise refuse("an integer")
    if kind == "NUMBER_DOUBLE":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise refuse("a number") from None
    if kind in ("STRUCT", "LIST"):
        expected, label = (dict, "a mapping (JSON or YAML)") if kind == "STRUCT" else (list, "a list (JSON or YAML)")
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise refuse(label) from None
            if isinstance(value, dict) and any(":" in str(k) and v is None for k, v in value.items()):
                # {"a":1} with its quotes eaten by the shell reads as the YAML key "a:1".
                raise UserError(
                    f"parameter {name!r} looks like JSON that lost its quotes ({next(iter(value))!r} has no value)",
                    hint=f"""quote the pair: PARAMS='{name}={{"key": 1}}', """
                    f"""write YAML ({name}="{{key: 1}}"), or use PARAMS_FILE""",
                )
        if not isinstance(value, expected):
            raise refuse(label)
        return value
    raise UserError(
        f"parameter {name!r} has type {kind}, which submission does not support", hint="give it in the KFP UI instead"
    )


def check_no_credentials(pipeline: CompiledPipeline, params: Mapping[str, Any], secrets: set[str]) -> None:
    """Refuses a spec or parameters that contain an S3 key: credentials reach tasks from a Secret.

    Raises:
        UserError: Naming where a key was found (never the key).
    """
    secrets = {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}
    if any(secret in pipeline.text for secret in secrets):
        raise UserError(
            f"{pipeline.path.name} contains an S3 key of this environment",
            hint="credentials reach tasks from their role's Kubernetes Secret; recompile without them",
        )
    for name, value in params.items():
        if any(secret in json.dumps(value) for secret in secrets):
            raise UserError(
                f"parameter {name!r} contains an S3 key of this environment",
                hint="credentials reach tasks from their role's Kubernetes Secret, never through parameters",
            )


def known_secrets(environ: Mapping[str, str]) -> set[str]:
    """The S3 keys this process knows: from the environment, else the embedded server's."""
    found = {environ.get("AWS_ACCESS_KEY_ID", ""), environ.get("AWS_SECRET_ACCESS_KEY", "")}
    try:
        settings = s3_settings(environ)
        found |= {settings.access_key, settings.secret_key}
    except ConfigError:
        pass
    return {s for s in found if s}


# --- cron -----------------------------------------------------------------------------------------

_CRON_FIELDS = (
    ("seconds", 0, 59, {}),
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}),
    ("day of week", 0, 6, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
)
_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_GO_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")


def validate_cron(expression: str) -> str:
    """Checks a KFP cron expression: six fields, seconds first (robfig/cron), or a descriptor.

    KFP's scheduler also accepts five fields, but reads them as seconds to months: `0 3 * * *` would
    run at minute 3 of every hour rather than at 03:00. Five fields are therefore refused.

    Returns:
        The expression with its fields separated by single spaces.

    Raises:
        UserError: Naming the field that is wrong and what it allows.
    """
    fields = expression.split()
    if not fields:
        raise UserError("CRON is empty", hint='a six-field cron, seconds first: CRON="0 0 3 * * *" runs daily at 03:00')
    if fields[0].startswith("@"):
        if fields[0] in _CRON_DESCRIPTORS and len(fields) == 1:
            return fields[0]
        if fields[0] == "@every" and len(fields) == 2 and _GO_DURATION.fullmatch(fields[1]):
            return " ".join(fields)
        raise UserError(
            f"CRON {expression!r} is not a cron descriptor",
            hint=f"use one of {', '.join(_CRON_DESCRIPTORS)} or '@every 6h'",
        )
    if len(fields) == 5:
        raise UserError(
            f"CRON {expression!r} has five fields, but KFP takes six with seconds first "
            "(it would read these as seconds to months)",
            hint=f'prepend the seconds: CRON="0 {" ".join(fields)}"',
        )
    if len(fields) != 6:
        raise UserError(
            f"CRON {expression!r} has {len(fields)} fields, not six",
            hint='seconds minutes hours day-of-month month day-of-week, e.g. "0 0 3 * * *"',
        )
    for text, (label, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            problem = _cron_part_problem(part.lower(), low, high, names)
            if problem:
                raise UserError(
                    f"CRON field {label} {text!r}: {problem}",
                    hint=f"{label} takes {low}-{high}{', names' if names else ''}, *, ?, ranges a-b and steps /n",
                )
    return " ".join(fields)


def _cron_part_problem(part: str, low: int, high: int, names: Mapping[str, int]) -> str | None:
    span, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        return f"step {step!r} is not a positive integer"
    if span in ("*", "?"):
        return None
    ends = span.split("-")
    if len(ends) > 2 or not all(ends):
        return f"{span!r} is not a value or a range a-b"
    values = []
    for end in ends:
        value = names.get(end, int(end) if end.isdigit() else None)
        if value is None:
            return f"{end!r} is not a number{' or a name' if names else ''}"
        if not low <= value <= high:
            return f"{value} is outside {low}-{high}"
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        return f"range {span!r} runs backwards"
    return None


# --- talking to the API ---------------------------------------------------------------------------


def version_name(pipeline: str, code: str, now: datetime) -> str:
    """The name of a new pipeline version: the pipeline, the code version and the UTC time.

    Example: ``mlcycle-training-3f2a9c1b7d4e-dirty-20260301t120000z``.
    """
    code = re.sub(r"[^a-z0-9]+", "-", code.removeprefix("git:").lower()).strip("-") or "unknown"
    return f"{pipeline}-{code}-{now.astimezone(timezone.utc):%Y%m%dt%H%M%Sz}"


def check_api(host: str, token: str | None, timeout: float = 10.0) -> None:
    """Asks the API's health endpoint once, to turn the usual set-up mistakes into one clear line.

    Raises:
        UserError: If the host is unreachable, refuses the token, or is not a KFP API.
    """
    url = f"{host.rstrip('/')}/apis/v2beta1/healthz"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise UserError(
                f"the KFP API at {host} refused the request (HTTP {error.code})",
                hint=f"set {TOKEN_VARIABLE} to a valid token (multi-user installations also need {NAMESPACE_VARIABLE})",
            ) from None
        raise UserError(
            f"{host} does not answer as a KFP API (HTTP {error.code} on /apis/v2beta1/healthz)",
            hint=f"set {HOST_VARIABLE} to the KFP UI or ml-pipeline address, e.g. http://127.0.0.1:8080",
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(
            f"cannot reach the KFP API at {host}: {reason}",
            hint="is the cluster up and the address forwarded? "
            "e.g. kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80",
        ) from None
    except json.JSONDecodeError:
        raise UserError(
            f"{host} does not answer as a KFP API (its health endpoint returned no JSON)", hint=f"check {HOST_VARIABLE}"
        ) from None


def connect(host: str, token: str | None, namespace: str | None):
    """Returns a kfp.Client for the API, after a health check.

    Raises:
        UserError: See :func:`check_api`.
    """
    check_api(host, token)
    from kfp import Client

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2 and later"
        return Client(host=host, existing_token=token or None, namespace=namespace or "kubeflow")


@dataclass(frozen=True)
class PublishedVersion:
    """A pipeline version the API holds.

    Attributes:
        pipeline_id: The pipeline's id.
        version_id: The new version's id.
        name: The version's name.
        created_pipeline: Whether this submission created the pipeline.
    """

    pipeline_id: str
    version_id: str
    name: str
    created_pipeline: bool


def publish_version(client, pipeline: CompiledPipeline, name: str) -> PublishedVersion:
    """Uploads the spec as a new version of its pipeline, creating the pipeline the first time."""
    with contextlib.redirect_stdout(io.StringIO()):
        pipeline_id = client.get_pipeline_id(pipeline.name)
        created = pipeline_id is None
        if created:
            body = client.api_models.V2beta1Pipeline(display_name=pipeline.name, description=pipeline.description)
            pipeline_id = client.pipelines.pipeline_service_create_pipeline(pipeline=body).pipeline_id
        version = client.upload_pipeline_version(
            str(pipeline.path),
            pipeline_version_name=name,
            pipeline_id=pipeline_id,
            description=f"{pipeline.path.name}, submitted by make",
        )
    return PublishedVersion(pipeline_id, version.pipeline_version_id, name, created)


def experiment_id(client, name: str, namespace: str | None) -> str:
    """The id of the experiment of that name, created if missing."""
    with contextlib.redirect_stdout(io.StringIO()):
        return client.create_experiment(name=name, namespace=namespace or None).experiment_id


def start_run(client, experiment: str, version: PublishedVersion, params: Mapping[str, Any]) -> str:
    """Starts one run of the version; returns the run id."""
    with contextlib.redirect_stdout(io.StringIO()):
        run = client.run_pipeline(
            experiment_id=experiment,
            job_name=version.name,
            params=dict(params),
            pipeline_id=version.pipeline_id,
            version_id=version.version_id,
        )
    return run.run_id


def schedule_runs(
    client, experiment: str, version: PublishedVersion, params: Mapping[str, Any], cron: str, name: str
) -> tuple[str, list[str]]:
    """Creates a recurring run of the version and removes the older ones of the same name.

    At most one run at a time, and no catching up on times missed while paused: continuous
    training wants the latest data once, not a backlog. The new schedule is created before the old
    ones are deleted, so a failure leaves the old schedule running.

    Returns:
        The new recurring run's id and the ids of the ones it replaced.
    """
    name_filter = json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})
    older = client.list_recurring_runs(experiment_id=experiment, filter=name_filter, page_size=100).recurring_runs or []
    recurring = client.create_recurring_run(
        experiment_id=experiment,
        job_name=name,
        description=f"{version.name} on cron {cron!r}",
        cron_expression=cron,
        max_concurrency=1,
        no_catchup=True,
        params=dict(params),
        pipeline_id=version.pipeline_id,
        version_id=version.version_id,
        enabled=True,
    )
    replaced = [old.recurring_run_id for old in older if old.recurring_run_id != recurring.recurring_run_id]
    for old in replaced:
        client.delete_recurring_run(old)
    return recurring.recurring_run_id, replaced


@contextlib.contextmanager
def api_errors(host: str):
    """Turns the KFP client's exceptions into one-line UserErrors."""
    import kfp_server_api
    import urllib3

    try:
        yield
    except kfp_server_api.ApiException as error:
        detail = ""
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            body = json.loads(error.body)
            detail = body.get("message") or body.get("error") or ""
        detail = f": {' '.join(str(detail).split())[:200]}" if detail else ""
        if error.status in (401, 403):
            raise UserError(
                f"the KFP API at {host} refused the request (HTTP {error.status}){detail}",
                hint=f"set {TOKEN_VARIABLE} to a valid token",
            ) from None
        raise UserError(
            f"the KFP API at {host} answered HTTP {error.status} {error.reason}{detail}",
            hint="see the ml-pipeline server's log",
        ) from None
    except urllib3.exceptions.HTTPError as error:
        raise UserError(
            f"lost the KFP API at {host}: {type(error).__name__}", hint="is the port-forward still running?"
        ) from None
    except ValueError as error:  # the client's own checks, e.g. two pipelines of one name
        raise UserError(f"the KFP API at {host}: {error}", hint="resolve it in the KFP UI") from None


# --- one submission ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """What one submission sends: the spec, typed parameters and where."""

    pipeline: CompiledPipeline
    params: dict[str, Any]
    host: str
    token: str | None
    namespace: str | None
    experiment: str


def check_trials(params: Mapping[str, Any]) -> None:
    """Checks the use case's search space against the estimators, as a local run does before it starts.

    The pipeline's plan-trials task does not import scikit-learn (it starts in a tenth of a second), so
    without this a parameter no estimator takes would surface in every tune-model task of the run.

    Raises:
        ConfigError: If the use case (with the run's overrides) is invalid or a trial's family or parameter is.
    """
    if "use_case" not in params:
        return
    from components.train.logic import expand_trials  # deferred: scikit-learn, which only this check needs

    overrides = params.get("overrides") or {}
    expand_trials(parse_use_case(apply_overrides(params["use_case"], overrides)))


def prepare(
    spec: Path, params_text: str | None, params_file: Path | None, experiment: str, environ: Mapping[str, str]
) -> Submission:
    """Everything that can be checked before talking to the API.

    Raises:
        UserError: If KFP_HOST is unset, or the spec or parameters are wrong.
    """
    host = environ.get(HOST_VARIABLE, "").strip()
    if not host:
        raise UserError(
            f"{HOST_VARIABLE} is not set",
            hint=f"export {HOST_VARIABLE}=http://127.0.0.1:8080 (the KFP UI or API address)",
        )
    if not re.match(r"https?://", host):
        raise UserError(f"{HOST_VARIABLE}={host!r} is not an http(s) URL", hint="for example http://127.0.0.1:8080")
    pipeline = read_pipeline(spec)
    given: dict[str, Any] = {}
    if params_file:
        given.update(read_params_file(params_file))
    if params_text and params_text.strip():
        given.update(parse_params(params_text))
    demo = {name: value for name, value in demo_params().items() if name in pipeline.inputs}
    if not demo.keys() & given.keys():  # no use case given: the demo's, with its schema
        given = {**demo, **given}
    params = typed_params(given, pipeline)
    check_no_credentials(pipeline, params, known_secrets(environ))
    check_trials(params)
    return Submission(
        pipeline,
        params,
        host.rstrip("/"),
        environ.get(TOKEN_VARIABLE) or None,
        environ.get(NAMESPACE_VARIABLE) or None,
        experiment,
    )
