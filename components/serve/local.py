"""Local serving: Seldon Core's own REST app under gunicorn, bound to 127.0.0.1.

``seldon-core-microservice`` binds 0.0.0.0 (hard-coded), so on one machine this module runs the
same pieces Seldon's microservice runs (its Flask app from ``seldon_core.wrapper``, its gunicorn
application class that calls the model's ``load`` in every worker, its metrics server and its
worker hooks) bound to loopback. The model is loaded and digest-checked once in the main process
before gunicorn forks, so a bad model stops the start with one line instead of crashing workers.

Command line (in the serving environment; ``make serve`` runs it)::

    python -m components.serve.local --use-case flights --model production --port 9000

Python API (any environment): :func:`start_server` starts that command as a subprocess in
``.venv-serving``, waits until the model answers, and returns a handle whose ``stop()`` ends it by
PID with SIGTERM (a graceful shutdown: the request and feedback logs are flushed).

Against the embedded S3 server both run with its ``serving`` identity (read models, write logs and
feedback), whatever keys the caller holds; an endpoint of another store keeps the keys it comes with.
"""

from __future__ import annotations

import argparse
import bisect
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.common.errors import NotFoundError, UserError
from components.common.s3_settings import embedded_server_environment

ROOT = Path(__file__).resolve().parents[2]
SERVING_PYTHON = ROOT / ".venv-serving" / "bin" / "python"
DEFAULT_INTERFACE = "components.serve.model.Model"
HOST = "127.0.0.1"
# Chosen from `make bench-serving` on 2 cores (see serving/README.md): two single-threaded workers.
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 1
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger(__name__)


class ServerError(UserError):
    """The local server did not start or answer."""


# --- the server process (serving environment) ---------------------------------------------------


def serve(
    interface: str,
    parameters: Mapping[str, Any],
    port: int,
    metrics_port: int,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    log_level: str = "info",
    host: str = HOST,
) -> None:
    """Runs Seldon's REST app and metrics app under gunicorn on ``host`` until SIGTERM or SIGINT.

    Args:
        interface: The model class as ``module.Class`` (as seldon-core-microservice takes it).
        parameters: Keyword arguments of the class (Seldon's graph parameters).
        port: The REST port.
        metrics_port: The Prometheus metrics port (path /metrics).
        workers: gunicorn worker processes.
        threads: Threads per worker (1: gunicorn's sync worker).
        log_level: gunicorn's log level.
        host: The address to bind; loopback unless you mean otherwise.

    Raises:
        UserError: If the model cannot be loaded or a port is taken.
    """
    import importlib
    import multiprocessing
    from functools import partial

    from seldon_core import wrapper
    from seldon_core.gunicorn_utils import StandaloneApplication, UserModelApplication, post_worker_init, worker_exit
    from seldon_core.metrics import BINS, SeldonMetrics

    for number in (port, metrics_port):
        _check_port_free(host, number)
    module_name, class_name = interface.rsplit(".", 1)
    user_object = getattr(importlib.import_module(module_name), class_name)(**parameters)
    if hasattr(user_object, "load_model"):
        user_object.load_model()  # once, before the fork: errors surface here and workers share the memory
    seldon_metrics = buffered_metrics(SeldonMetrics, histogram_bins=BINS)()
    app = wrapper.get_rest_microservice(user_object, seldon_metrics)

    def metrics_server() -> None:
        options = {
            "bind": f"{host}:{metrics_port}",
            "workers": 1,
            "loglevel": log_level,
            "post_worker_init": post_worker_init,
            "control_socket_disable": True,  # why: see the REST options below
        }
        StandaloneApplication(wrapper.get_metrics_microservice(seldon_metrics), options=options).run()

    def on_worker_exit(server: Any, worker: Any) -> None:
        worker_exit(server, worker, seldon_metrics=seldon_metrics)
        if hasattr(user_object, "close"):
            user_object.close()  # flush the logs while the worker can still write

    metrics = multiprocessing.Process(target=metrics_server, daemon=True, name="seldon-metrics")
    metrics.start()
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "loglevel": log_level,
        "timeout": 60,
        "graceful_timeout": 30,
        "keepalive": 2,
        "post_worker_init": post_worker_init,
        "worker_exit": partial(on_worker_exit),
        # gunicorn >= 25.1 opens a management socket at one path per user ($HOME/.gunicorn/gunicorn.ctl):
        # every local server (REST, metrics, parallel tests) would take it over from the last; none uses it.
        "control_socket_disable": True,
    }
    print(
        f"serving {interface} on http://{host}:{port} (metrics on http://{host}:{metrics_port}/metrics), "
        f"{workers} worker(s) x {threads} thread(s)",
        flush=True,
    )
    UserModelApplication(app, user_object, 0, None, interface, options=options).run()


def buffered_metrics(base: type, flush_seconds: float = 1.0, histogram_bins: Sequence[float] = ()) -> type:
    """Seldon's metrics store with updates batched per worker and published every ``flush_seconds``.

    Seldon's SeldonMetrics sends every update, even an empty one, through a multiprocessing manager
    (six round trips per request: about 40% of a single-row request's time in the worker). Here a
    worker keeps its updates and a thread publishes them in one update per second, so Prometheus
    sees the same counters and histograms at most a second later. A worker's last updates are
    published before Seldon's worker_exit hook clears the worker's metrics.

    Seldon adds each timer value to its histogram with one ``numpy.histogram`` call (measured: 30 ms of
    CPU to publish a second of 1,000 requests, holding the interpreter lock while requests wait). Given
    Seldon's ``histogram_bins``, each value is counted with :func:`add_to_histogram` instead: the
    same counts, a bisection each.

    Args:
        base: Seldon's ``SeldonMetrics`` (or a stand-in with ``update`` and ``clear``).
        flush_seconds: How often the buffered updates are published.
        histogram_bins: The bin edges of ``base``'s histograms (seldon_core.metrics.BINS); empty: ``base``
            counts timer values itself.
    """
    import threading

    class BufferedSeldonMetrics(base):  # type: ignore[misc, valid-type]
        if histogram_bins:

            @staticmethod
            def _update_hist(value: float, counts: Sequence[float], total: float) -> tuple[list[float], float]:
                return add_to_histogram(value, counts, total, histogram_bins)

        def __init__(self) -> None:
            super().__init__(worker_id_func=os.getpid)
            self._buffer: list[tuple[list[dict], str]] = []
            self._buffer_lock = threading.Lock()
            self._publisher_pid: int | None = None

        def update(self, custom_metrics: list[dict], method: str) -> None:
            if not custom_metrics:
                return
            if self._publisher_pid != os.getpid():  # threads do not survive gunicorn's fork
                self._publisher_pid = os.getpid()
                self._buffer_lock = threading.Lock()
                self._buffer = []
                threading.Thread(target=self._publish_forever, name="metrics-publisher", daemon=True).start()
            with self._buffer_lock:
                self._buffer.append((list(custom_metrics), method))

        def publish(self) -> None:
            with self._buffer_lock:
                pending, self._buffer = self._buffer, []
            by_method: dict[str, list[dict]] = {}
            for metrics, method in pending:
                by_method.setdefault(method, []).extend(metrics)
            for method, metrics in by_method.items():
                base.update(self, metrics, method)

        def clear(self) -> None:
            self.publish()
            super().clear()

        def _publish_forever(self) -> None:
            while True:
                time.sleep(flush_seconds)
                try:
                    self.publish()
                except Exception:  # the manager went away at shutdown
                    return

    return BufferedSeldonMetrics


def add_to_histogram(
    value: float, counts: Sequence[float], total: float, bins: Sequence[float]
) -> tuple[list[float], float]:
    """One observation added to histogram counts, counted as ``numpy.histogram([value], bins)`` counts it.

    Bins are half-open ``[bins[i], bins[i + 1])`` but the last, which holds its right edge too; a
    value outside ``[bins[0], bins[-1]]`` is not counted (its sum is still added, as Seldon does).

    Args:
        value: The observation.
        counts: The counts per bin (``len(bins) - 1`` of them); not modified.
        total: The sum of the observations so far.
        bins: Increasing bin edges.

    Returns:
        The new counts and sum.
    """
    counts = list(counts)
    index = bisect.bisect_right(bins, value) - 1
    if index == len(bins) - 1 and value == bins[-1]:
        index -= 1
    if 0 <= index < len(counts):
        counts[index] += 1
    return counts, total + value


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            raise UserError(
                f"port {port} on {host} is in use",
                hint="choose another with --port / --metrics-port (PORT=... for make serve)",
            ) from None


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (the OS's choice)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def parse_parameter(text: str) -> tuple[str, str]:
    """``name=value`` of a --param option."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UserError(f"--param {text!r} is not name=value", hint="for example --param request_log_rate=0.1")
    return name.strip(), value


def run_server(argv: Sequence[str] | None = None) -> int:
    """The command line: serve a registered model on 127.0.0.1."""
    parser = argparse.ArgumentParser(prog="python -m components.serve.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--use-case", default="", help="the use case whose model to serve (from the registry)")
    parser.add_argument(
        "--model", default="production", help="production, staging, latest or a version id (default: production)"
    )
    parser.add_argument(
        "--model-uri", default="", help="a version folder or s3://<models bucket>/<use_case>/<version>/ instead"
    )
    parser.add_argument("--model-sha256", default="", help="refuse to load unless the model file has this sha256")
    parser.add_argument("--port", type=int, default=9000, help="REST port (default 9000)")
    parser.add_argument("--metrics-port", type=int, default=0, help="metrics port (default: REST port + 1)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", DEFAULT_WORKERS)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", DEFAULT_THREADS)))
    parser.add_argument("--interface", default=DEFAULT_INTERFACE, help="the model class, module.Class")
    parser.add_argument(
        "--param", action="append", default=[], help="a further model parameter, name=value (repeatable)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    # Before numpy loads: one OpenMP thread per worker (measured: unpinned threads double CPU per request).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    try:
        os.environ.update(embedded_server_environment("serving"))
        parameters: dict[str, Any] = dict(parse_parameter(p) for p in args.param)
        if args.interface == DEFAULT_INTERFACE:
            if not args.use_case and not args.model_uri:
                raise UserError("nothing to serve", hint="pass --use-case NAME (and --model) or --model-uri")
            given = {
                "use_case": args.use_case,
                "model": args.model,
                "model_uri": args.model_uri,
                "model_sha256": args.model_sha256,
            }
            parameters = {**{k: v for k, v in given.items() if v}, **parameters}
        serve(
            args.interface,
            parameters,
            args.port,
            args.metrics_port or args.port + 1,
            args.workers,
            args.threads,
            args.log_level,
        )
    except NotFoundError as error:
        hint = "train and promote one with `make run`, or name another with --model (MODEL=... for make serve)"
        print(f"error: {error.message} (hint: {hint})", file=sys.stderr, flush=True)
        return error.exit_code
    except UserError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return error.exit_code
    return 0


# --- the client side (any environment) -----------------------------------------------------------


@dataclass
class ServerHandle:
    """A running local server.

    Attributes:
        url: Its REST base URL.
        metrics_url: Its Prometheus endpoint.
        pid: The gunicorn master's process id.
        log_path: Its stdout and stderr.
    """

    url: str
    metrics_url: str
    pid: int
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def stop(self, timeout: float = 40.0) -> int:
        """Stops the server by its PID with SIGTERM (graceful: logs are flushed); SIGKILL after ``timeout``.

        Returns:
            The exit code.
        """
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("server %d did not stop within %.0f s: killing it", self.pid, timeout)
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()


def ensure_serving_env(root: Path = ROOT) -> Path:
    """Returns the serving environment's Python, creating or updating it with `make serving-env` when needed.

    The environment is brought up to date when it is missing or older than its lock file, so a re-lock
    (a patched dependency) reaches the next server started.

    Raises:
        ServerError: If it cannot be created.
    """
    python = root / ".venv-serving" / "bin" / "python"
    stamp = root / ".venv-serving" / ".installed"
    locks = [root / "serving" / "uv.lock", root / "serving" / "pyproject.toml"]
    stale = not stamp.exists() or any(lock.exists() and lock.stat().st_mtime > stamp.stat().st_mtime for lock in locks)
    if not python.exists() or stale:
        print(
            "creating or updating the serving environment (.venv-serving) with `make serving-env`",
            file=sys.stderr,
            flush=True,
        )
        result = subprocess.run(["make", "-C", str(root), "serving-env"], capture_output=True, text=True)
        if result.returncode != 0 or not python.exists():
            raise ServerError(
                f"could not create .venv-serving: {(result.stderr or result.stdout).strip().splitlines()[-1:]}",
                hint="run `make serving-env` and read its output",
            )
    return python


def start_server(
    use_case: str = "",
    model: str = "production",
    *,
    model_uri: str = "",
    parameters: Mapping[str, Any] | None = None,
    interface: str = DEFAULT_INTERFACE,
    port: int = 0,
    metrics_port: int = 0,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = 120.0,
) -> ServerHandle:
    """Starts a local server in the serving environment and waits until it answers.

    Args:
        use_case: The use case (with ``model``: the registry version to serve).
        model: production, staging, latest or a version id.
        model_uri: A version folder or s3:// URI instead of use case and model.
        parameters: Further model parameters (for example ``{"request_log_rate": 0.1}``).
        interface: The model class.
        port: The REST port (0: a free one).
        metrics_port: The metrics port (0: a free one).
        workers: gunicorn workers.
        threads: Threads per worker.
        env: The server's environment (default: this process's); S3 settings are read from it, with the
            embedded server's serving identity when they point at it.
        log_path: Where the server's output goes (default: a file under .local/serving/).
        timeout: Seconds to wait for the model to answer.

    Returns:
        A handle with the URL and PID; stop it with ``handle.stop()``.

    Raises:
        ServerError: If the server exits or does not answer in time; the message quotes its error.
    """
    python = ensure_serving_env()
    port = port or free_port()
    metrics_port = metrics_port or free_port()
    command = [
        str(python),
        "-m",
        "components.serve.local",
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--interface",
        interface,
        "--model",
        model,
    ]
    if use_case:
        command += ["--use-case", use_case]
    if model_uri:
        command += ["--model-uri", model_uri]
    for name, value in (parameters or {}).items():
        command += ["--param", f"{name}={value}"]
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH", "")]))
    environment.setdefault("OMP_NUM_THREADS", "1")
    environment.update(embedded_server_environment("serving", environment))
    if log_path is None:
        log_path = ROOT / ".local" / "serving" / f"server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    handle = ServerHandle(
        f"http://{HOST}:{port}", f"http://{HOST}:{metrics_port}/metrics", process.pid, log_path, process
    )
    try:
        wait_until_ready(handle, timeout)
    except BaseException:
        handle.stop(10)
        raise
    return handle


def wait_until_ready(handle: ServerHandle, timeout: float) -> None:
    """Polls /health/status until the model answers.

    Raises:
        ServerError: If the process exits first or the time runs out.
    """
    from components.serve.client import get

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            raise ServerError(
                f"the model server exited with code {handle.process.returncode}: {_last_error(handle.log_path)}",
                hint=f"its log is {handle.log_path}",
            )
        try:
            if get(handle.url + "/health/status", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise ServerError(f"the model server did not answer within {timeout:.0f} s", hint=f"its log is {handle.log_path}")


def _last_error(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(no output)"])[-1].strip()


def demo_requests(
    url: str, frame: Any, names: Sequence[str], truth_column: str | None = None, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Sends a few requests (both payload shapes) and one feedback message, and says the answers.

    A classifier's answers are said as classes and probabilities, a regressor's as the target and its number.

    Args:
        url: The server's base URL.
        frame: Rows with the features (and the label, for feedback).
        names: The feature names.
        truth_column: The label column; feedback is sent for the first row when given.
        say: Receives one line per answer.

    Returns:
        The answers: ``single``, ``batch`` and (when sent) ``feedback``.
    """
    from components.serve.client import FEEDBACK_PATH, PREDICT_PATH, feedback_message, payload, post

    answers: dict[str, Any] = {}
    single = payload(frame.head(1), names)
    reply = post(url + PREDICT_PATH, single)
    answers["single"] = reply.body
    if reply.status != 200:
        raise ServerError(f"the server answered a prediction with HTTP {reply.status}: {reply.body}")
    data, meta = reply.body["data"], reply.body["meta"]
    regressor = len(data["ndarray"][0]) == 1  # a classifier answers a probability for each of its 2+ classes
    answered = (
        f"{data['names'][0]} {round(data['ndarray'][0][0], 4)}"
        if regressor
        else f"classes {data['names']} probabilities {[round(p, 4) for p in data['ndarray'][0]]}"
    )
    say(f"predict   1 row (ndarray): {answered} (model {meta['tags'].get('model_version')}, puid {meta['puid']})")
    batch = post(url + PREDICT_PATH, payload(frame.head(3), names, "jsonData"))
    answers["batch"] = batch.body
    if batch.status != 200:
        raise ServerError(f"the server answered a prediction with HTTP {batch.status}: {batch.body}")
    for row, prediction in enumerate(batch.body["jsonData"]["predictions"]):
        if regressor:
            say(f"predict   row {row} (jsonData): {data['names'][0]} {round(prediction['prediction'], 4)}")
            continue
        say(
            f"predict   row {row} (jsonData): class {prediction['prediction']} "
            f"probabilities { {k: round(v, 4) for k, v in prediction['probabilities'].items()} }"
        )
    bad = post(url + PREDICT_PATH, payload(frame.head(1), list(names)[1:]))
    say(
        f"refused   a request without {list(names)[0]!r}: HTTP {bad.status}: "
        f"{bad.body['status']['info'] if isinstance(bad.body, dict) else bad.body}"
    )
    if truth_column is not None:
        truth = frame[truth_column].head(1).tolist()
        feedback = post(url + FEEDBACK_PATH, feedback_message(single, reply.body, truth))
        answers["feedback"] = feedback.body
        if feedback.status != 200:
            raise ServerError(f"the server answered feedback with HTTP {feedback.status}: {feedback.body}")
        say(
            f"feedback  truth {truth[0]!r} for puid {meta['puid']}: "
            f"stored {int(feedback.body['jsonData']['stored'])} row(s)"
        )
    return answers


if __name__ == "__main__":
    sys.exit(run_server())
