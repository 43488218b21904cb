"""Load benchmark of serving: wrk against the local Seldon server, with the floor and stock Seldon in the same run.

Trains the demo model (flights, the demo's histogram gradient boosting: 31 leaves, 150 iterations)
on the demo data in a private embedded S3 server, registers it with its serving schema, then measures:

- the floor: in-process ``predict_proba`` of the plain pipeline on the same rows (1 and 100 rows),
  and the same rows through the model class in process (validation and prediction path, no HTTP);
- stock seldon-core settings (1 worker, sync) serving the plain pipeline with the naive wrapper
  (components/serve/plain.py);
- our model class under a few gunicorn worker/thread settings at 2 connections with single rows,
  then the one the targets favour (the lowest single-row p99 among those with at least twice the
  stock throughput) on every case.

Each case: single-row or 100-row requests, 2 or 8 connections, a warm-up, then BENCH_SECONDS
(default 20) of closed-loop load with wrk; requests per second, p50 and p99 latency, errors
(non-2xx and socket errors) and server CPU per request (user+system time of the server's process
tree, the S3 server that receives request logs excluded). Run with `make bench-serving`.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
TRAIN_ROWS = int(os.environ.get("BENCH_TRAIN_ROWS", "100000"))
CANDIDATES = ((1, 1), (2, 1), (2, 2))
CASES = ((1, 2), (1, 8), (100, 2), (100, 8))
TICKS = os.sysconf("SC_CLK_TCK")
RESULTS = Path(".local") / "bench" / "serving.json"


@dataclass(frozen=True)
class Load:
    """One wrk run."""

    server: str
    rows: int
    connections: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (from /proc)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                pass
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process tree, in seconds."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / TICKS


def wrk(url: str, body: bytes, connections: int, seconds: int, folder: Path) -> dict:
    """Runs wrk with a POST body; returns requests, rps, p50/p99 in ms and errors."""
    body_path = folder / f"body-{len(body)}.json"
    body_path.write_bytes(body)
    script = folder / f"post-{len(body)}.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_path}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
    )
    command = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> dict:
    """Requests, requests/s, p50 and p99 (ms) and errors from wrk's --latency report."""

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    errors += int(next(iter(re.findall(r"Non-2xx or 3xx responses: (\d+)", output)), 0))
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": ms(percentiles["50"]),
        "p99_ms": ms(percentiles["99"]),
        "errors": errors,
    }


def measure(name: str, handle, bodies: dict[int, bytes], rows: int, connections: int, folder: Path) -> Load:
    from components.serve.client import PREDICT_PATH

    url = handle.url + PREDICT_PATH
    wrk(url, bodies[rows], connections, WARMUP, folder)
    before = cpu_seconds(handle.pid)
    result = wrk(url, bodies[rows], connections, SECONDS, folder)
    used = cpu_seconds(handle.pid) - before
    load = Load(
        name, rows, connections, cpu_ms_per_request=round(1000 * used / max(1, result["requests"]), 3), **result
    )
    print(
        f"  {name:<28} {rows:>3} row(s) x {connections} conn: {load.rps:8.1f} req/s  p50 {load.p50_ms:7.2f} ms  "
        f"p99 {load.p99_ms:7.2f} ms  errors {load.errors}  cpu {load.cpu_ms_per_request:.2f} ms/req",
        flush=True,
    )
    return load


def floor(model, frame, names, repeats: int) -> dict[str, float]:
    """Median and p99 of in-process calls, in ms."""
    timings = []
    rows = frame[list(names)]
    for _ in range(repeats):
        started = time.perf_counter()
        model(rows)
        timings.append((time.perf_counter() - started) * 1000.0)
    timings.sort()
    return {
        "median_ms": round(statistics.median(timings), 3),
        "p99_ms": round(timings[int(0.99 * (len(timings) - 1))], 3),
    }


def main() -> None:
    import joblib
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from components.common import datasets, s3_server
    from components.common.config import load_use_case, schema_path
    from components.common.s3_server import ServerPaths
    from components.common.s3_settings import s3_settings
    from components.common.storage import ObjectStore
    from components.ingest.logic import ingest_dataset
    from components.register import logic as registry
    from components.serve.client import payload
    from components.serve.local import start_server
    from components.serve.model import Model
    from components.serve.schema import build_serving_schema
    from components.train.logic import Trial, fit
    from pipelines.usecases import DEMO_CONFIG

    config = load_use_case(DEMO_CONFIG)
    tfdv_schema = text_format.Parse(schema_path(DEMO_CONFIG, config).read_text(), schema_pb2.Schema())
    serving_schema = build_serving_schema(config, tfdv_schema)
    names = serving_schema.names
    results: dict = {
        "seconds": SECONDS,
        "warmup": WARMUP,
        "cores": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "loads": [],
    }
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-serving-") as scratch:
        folder = Path(scratch)
        paths = ServerPaths(folder / "s3")
        state = s3_server.start(paths)
        try:
            os.environ.update(state.environment())
            os.environ["MLCYCLE_STATE_DIR"] = str(folder / "state")
            store = ObjectStore.connect(s3_settings())
            store.ensure_buckets()
            started = time.perf_counter()
            manifest = ingest_dataset(config, store).manifest
            train = datasets.load_split(store, manifest, "train", folder)
            test = datasets.load_split(store, manifest, "test", folder)
            train = train.sample(n=min(TRAIN_ROWS, len(train)), random_state=0)
            trial = Trial(
                "hist_gradient_boosting",
                {"learning_rate": 0.1, "max_leaf_nodes": 31, "max_iter": 150, "l2_regularization": 1.0},
            )
            pipeline, _ = fit(train, config, trial)
            model_path = folder / "model.joblib"
            joblib.dump(pipeline, model_path)
            version = registry.register_model(
                store,
                config.name,
                model_path,
                lineage={"bench": "serving", "rows": len(train)},
                blessed=True,
                card_markdown="# benchmark\n",
                card={},
                serving_schema=serving_schema.to_dict(),
            ).ref.version
            registry.set_stage(store, config.name, "production", version, reason="benchmark")
            print(
                f"setup: ingested, trained on {len(train):,} rows and registered {version} "
                f"in {time.perf_counter() - started:.0f} s",
                flush=True,
            )

            rows = {1: test.head(1), 100: test.head(100)}
            bodies = {n: json.dumps(payload(frame, names)).encode() for n, frame in rows.items()}
            served = Model(model_uri=f"s3://models/{config.name}/{version}/", request_log_rate=0.0, feedback=False)
            served.load()
            print(
                f"floor (in process, {served.health_status()['prediction_path']} path for the model class):", flush=True
            )
            results["floor"] = {}
            for n, frame in rows.items():
                repeats = 400 if n == 1 else 100
                plain = floor(pipeline.predict_proba, frame, names, repeats)
                body = json.loads(bodies[n])
                through = floor(lambda _, body=body: served.predict_raw(body), frame, names, repeats)
                results["floor"][n] = {"plain_pipeline": plain, "model_class": through}
                print(
                    f"  {n:>3} row(s): plain pipeline predict_proba median {plain['median_ms']:.3f} ms "
                    f"(p99 {plain['p99_ms']:.3f}); model class (validation + prediction) median "
                    f"{through['median_ms']:.3f} ms (p99 {through['p99_ms']:.3f})",
                    flush=True,
                )

            def run(name, cases, **server_args):
                loads = []
                with start_server(
                    env=dict(os.environ), log_path=folder / f"{name}.log", timeout=180, **server_args
                ) as handle:
                    for n, connections in cases:
                        loads.append(measure(name, handle, bodies, n, connections, folder))
                results["loads"].extend(asdict(load) for load in loads)
                return loads

            print("load (wrk):", flush=True)
            stock = run(
                "stock seldon 1x1 plain",
                CASES,
                interface="components.serve.plain.PlainModel",
                parameters={"model_file": str(model_path)},
                workers=1,
                threads=1,
            )
            trials = {}
            for workers, threads in CANDIDATES:
                trials[(workers, threads)] = run(
                    f"mlcycle {workers} worker(s) x {threads}",
                    [(1, 2)],
                    use_case=config.name,
                    model="production",
                    workers=workers,
                    threads=threads,
                )[0]
            # The targets decide: among settings with at least twice stock's single-row throughput, the
            # lowest single-row p99 (if none has, the highest throughput).
            stock_rps = stock[0].rps
            fast_enough = [key for key, load in trials.items() if load.rps >= 2 * stock_rps]
            if fast_enough:
                choice = min(fast_enough, key=lambda key: (trials[key].p99_ms, -trials[key].rps))
            else:
                choice = max(trials, key=lambda key: trials[key].rps)
            chosen = run(
                f"mlcycle {choice[0]} worker(s) x {choice[1]}",
                CASES[1:],
                use_case=config.name,
                model="production",
                workers=choice[0],
                threads=choice[1],
            )
            ours = {(1, 2): trials[choice], **{(load.rows, load.connections): load for load in chosen}}
        finally:
            s3_server.stop(paths)

    stock_by_case = {(load.rows, load.connections): load for load in stock}
    plain_single = results["floor"][1]["plain_pipeline"]["median_ms"]
    ratio = ours[(1, 2)].rps / stock_by_case[(1, 2)].rps
    p99_ratio = ours[(1, 2)].p99_ms / plain_single
    errors = sum(load["errors"] for load in results["loads"])
    results["load_average_after"] = os.getloadavg()
    print(
        f"\nmachine: {os.cpu_count()} cores; load average (1, 5, 15 min) before {results['load_average_before']}, "
        f"after {results['load_average_after']}: other work shares these cores"
    )
    results.update(
        choice={"workers": choice[0], "threads": choice[1]},
        single_row_rps_vs_stock=round(ratio, 2),
        single_row_p99_vs_in_process=round(p99_ratio, 2),
        errors=errors,
    )
    print("\nsummary (same run, same machine):")
    for key in CASES:
        mine, theirs = ours[key], stock_by_case[key]
        print(
            f"  {key[0]:>3} row(s) x {key[1]} conn: mlcycle {mine.rps:8.1f} req/s vs stock {theirs.rps:8.1f} "
            f"({mine.rps / theirs.rps:.2f}x); p99 {mine.p99_ms:.2f} vs {theirs.p99_ms:.2f} ms; "
            f"cpu {mine.cpu_ms_per_request:.2f} vs {theirs.cpu_ms_per_request:.2f} ms/req"
        )
    print(f"  chosen: GUNICORN_WORKERS={choice[0]} GUNICORN_THREADS={choice[1]}")
    print(
        f"  target single-row throughput >= 2x stock at 2 connections: {ratio:.2f}x {'MET' if ratio >= 2 else 'MISSED'}"
    )
    print(
        f"  target single-row p99 <= 3x in-process ({plain_single:.3f} ms): "
        f"{ours[(1, 2)].p99_ms:.2f} ms = {p99_ratio:.2f}x "
        f"{'MET' if p99_ratio <= 3 else 'MISSED'}"
    )
    print(f"  target zero errors: {errors} {'MET' if errors == 0 else 'MISSED'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"  figures written to {RESULTS}")


if __name__ == "__main__":
    main()
