"""Load benchmark of serving: wrk against the local Seldon server, with the floor and stock Seldon in the same run.

Trains a model of the demo's family (flights, histogram gradient boosting: 31 leaves, 150 iterations, the
demo's choice before issue 16 and kept for comparable runs; the dearer to serve of it and the demo's 7 leaves
x 300 iterations) on the demo data in a private embedded S3 server, registers it with its serving schema,
then measures:

- the floor: in-process ``predict_proba`` of the plain pipeline on the same rows (1 and 100 rows),
  and the same rows through the model class in process (validation and prediction path, no HTTP);
- stock seldon-core settings (1 worker, sync) serving the plain pipeline with the naive wrapper
  (components/serve/plain.py), on every case;
- our model class under a few gunicorn worker/thread settings at 2 connections with single rows,
  then the one the targets favour (the lowest single-row p99 among those with at least ten times
  the stock throughput) on every case, the single-row case again (the key case, measured twice);
- the cost of request logging: the chosen setting with request logs off (``request_log_rate=0``)
  at 1 and 100 rows, against the same setting with logs at the default rate.

Each case: single-row or 100-row requests, 2 or 8 connections, a warm-up, then BENCH_SECONDS
(default 20) of closed-loop load with wrk; requests per second, p50/p90/p99/p99.9 latency (wrk's
own histogram, read by a Lua ``done`` hook), errors (non-2xx and socket errors) and server CPU per
request (user+system time of the server's process tree, the S3 server that receives request logs
excluded). Targets (issue 16): single-row p99 at 2 connections <= 3 ms with >= 10x stock's
throughput; 100 rows at 2 connections p99 <= stock's and >= 3x its throughput; request logging costs
<= 10% of throughput; no errors. Run with `make bench-serving`.
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
CANDIDATES = ((1, 1), (2, 1), (1, 2), (2, 2))  # threads > 1: gunicorn's gthread worker, with keep-alive
CASES = ((1, 2), (1, 8), (100, 2), (100, 8))
KEY_CASE = (1, 2)
LARGE_CASE = (100, 2)
LOGGING_CASES = (KEY_CASE, LARGE_CASE)
# Targets of issue 16 (the ratios are to stock Seldon measured in the same run).
KEY_P99_MS = 3.0
KEY_RPS_VS_STOCK = 10.0
LARGE_RPS_VS_STOCK = 3.0
LOGGING_MAX_COST = 0.10
TICKS = os.sysconf("SC_CLK_TCK")
RESULTS = Path(".local") / "bench" / "serving.json"
# wrk's summary prints no p99.9: its done() hook reads any percentile of the full latency histogram.
PERCENTILES_HOOK = """
done = function(summary, latency, requests)
  io.write(string.format("percentiles-us %d %d %d %d\\n", latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


@dataclass(frozen=True)
class Load:
    """One wrk run."""

    server: str
    rows: int
    connections: int
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
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


def wrk_script(body_path: Path) -> str:
    """wrk's Lua script: POST the body as JSON, then print the latency percentiles."""
    return (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_path}", "rb")\nwrk.body = f:read("*all")\nf:close()\n' + PERCENTILES_HOOK
    )


def wrk(url: str, body: bytes, connections: int, seconds: int, folder: Path) -> dict:
    """Runs wrk with a POST body; returns requests, rps, p50/p90/p99/p99.9 in ms and errors."""
    body_path = folder / f"body-{len(body)}.json"
    body_path.write_bytes(body)
    script = folder / f"post-{len(body)}.lua"
    script.write_text(wrk_script(body_path))
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
    """Requests, requests/s, p50/p90/p99/p99.9 (ms) and errors from wrk's report and the percentiles hook."""
    percentiles = re.search(r"^percentiles-us (\d+) (\d+) (\d+) (\d+)$", output, re.MULTILINE)
    if percentiles is None:
        raise ValueError(f"wrk printed no percentiles (is the done() hook in its script?):\n{output}")
    p50, p90, p99, p999 = (int(value) / 1000.0 for value in percentiles.groups())
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    errors += int(next(iter(re.findall(r"Non-2xx or 3xx responses: (\d+)", output)), 0))
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "p999_ms": p999,
        "errors": errors,
    }


def measure(name: str, handle, bodies: dict[int, bytes], rows: int, connections: int, folder: Path) -> Load:
    """Warms up, then measures one case against a running server."""
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
        f"  {name:<34} {rows:>3} row(s) x {connections} conn: {load.rps:8.1f} req/s  p50 {load.p50_ms:6.2f}  "
        f"p90 {load.p90_ms:6.2f}  p99 {load.p99_ms:6.2f}  p99.9 {load.p999_ms:7.2f} ms  errors {load.errors}  "
        f"cpu {load.cpu_ms_per_request:.2f} ms/req",
        flush=True,
    )
    return load


def choose(trials: dict[tuple[int, int], Load], stock_rps: float) -> tuple[int, int]:
    """The setting the targets favour: the lowest single-row p99 among those with >= 10x stock's throughput.

    When none has, the highest throughput.
    """
    fast_enough = [key for key, load in trials.items() if load.rps >= KEY_RPS_VS_STOCK * stock_rps]
    if fast_enough:
        return min(fast_enough, key=lambda key: (trials[key].p99_ms, -trials[key].rps))
    return max(trials, key=lambda key: trials[key].rps)


def verdicts(
    ours: dict[tuple[int, int], list[Load]], stock: dict[tuple[int, int], Load], unlogged: dict[tuple[int, int], Load]
) -> list[tuple[str, bool]]:
    """Each target of issue 16 as a line and whether it is met (every measurement of a case must meet it)."""
    lines = []
    for load in ours[KEY_CASE]:
        ratio = load.rps / stock[KEY_CASE].rps
        lines.append(
            (
                f"single row x 2 conn: p99 {load.p99_ms:.2f} ms (<= {KEY_P99_MS:g}) and {ratio:.1f}x stock's "
                f"throughput (>= {KEY_RPS_VS_STOCK:g}x)",
                load.p99_ms <= KEY_P99_MS and ratio >= KEY_RPS_VS_STOCK,
            )
        )
    for load in ours[LARGE_CASE]:
        ratio = load.rps / stock[LARGE_CASE].rps
        lines.append(
            (
                f"100 rows x 2 conn: p99 {load.p99_ms:.2f} ms (<= stock's {stock[LARGE_CASE].p99_ms:.2f}) and "
                f"{ratio:.1f}x stock's throughput (>= {LARGE_RPS_VS_STOCK:g}x)",
                load.p99_ms <= stock[LARGE_CASE].p99_ms and ratio >= LARGE_RPS_VS_STOCK,
            )
        )
    for case, off in unlogged.items():
        on = ours[case][-1]
        cost = 1.0 - on.rps / off.rps
        lines.append(
            (
                f"request logging at the default rate, {case[0]} row(s) x {case[1]} conn: {on.rps:.1f} vs "
                f"{off.rps:.1f} req/s without, costs {100 * cost:.1f}% of throughput (<= {100 * LOGGING_MAX_COST:g}%)",
                cost <= LOGGING_MAX_COST,
            )
        )
    return lines


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
    from components.train.logic import fit
    from components.train.trials import Trial
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
                    env=dict(os.environ),
                    log_path=folder / (re.sub(r"\W+", "-", name) + ".log"),
                    timeout=180,
                    **server_args,
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
            stock_by_case = {(load.rows, load.connections): load for load in stock}
            trials = {}
            for workers, threads in CANDIDATES:
                trials[(workers, threads)] = run(
                    f"mlcycle {workers} worker(s) x {threads}",
                    [KEY_CASE],
                    use_case=config.name,
                    model="production",
                    workers=workers,
                    threads=threads,
                )[0]
            choice = choose(trials, stock_by_case[KEY_CASE].rps)
            chosen_name = f"mlcycle {choice[0]} worker(s) x {choice[1]}"
            ours: dict[tuple[int, int], list] = {KEY_CASE: [trials[choice]]}
            for load in run(
                chosen_name, CASES, use_case=config.name, model="production", workers=choice[0], threads=choice[1]
            ):
                ours.setdefault((load.rows, load.connections), []).append(load)
            unlogged = {
                (load.rows, load.connections): load
                for load in run(
                    f"{chosen_name}, no request log",
                    LOGGING_CASES,
                    use_case=config.name,
                    model="production",
                    workers=choice[0],
                    threads=choice[1],
                    parameters={"request_log_rate": 0},
                )
            }
        finally:
            s3_server.stop(paths)

    results["load_average_after"] = os.getloadavg()
    errors = sum(load["errors"] for load in results["loads"])
    targets = verdicts(ours, stock_by_case, unlogged)
    targets.append((f"zero errors: {errors}", errors == 0))
    print(
        f"\nmachine: {os.cpu_count()} cores; load average (1, 5, 15 min) before {results['load_average_before']}, "
        f"after {results['load_average_after']}: other work shares these cores"
    )
    print("\nsummary (same run, same machine; ratios to stock Seldon):")
    for key in CASES:
        theirs = stock_by_case[key]
        for mine in ours[key]:
            print(
                f"  {key[0]:>3} row(s) x {key[1]} conn: mlcycle {mine.rps:8.1f} req/s vs stock {theirs.rps:7.1f} "
                f"({mine.rps / theirs.rps:5.1f}x); p50/p90/p99/p99.9 {mine.p50_ms:.2f}/{mine.p90_ms:.2f}/"
                f"{mine.p99_ms:.2f}/{mine.p999_ms:.2f} vs {theirs.p50_ms:.2f}/{theirs.p90_ms:.2f}/"
                f"{theirs.p99_ms:.2f}/{theirs.p999_ms:.2f} ms (p99 {mine.p99_ms / theirs.p99_ms:.2f}x); "
                f"cpu {mine.cpu_ms_per_request:.2f} vs {theirs.cpu_ms_per_request:.2f} ms/req"
            )
    print(f"  chosen: GUNICORN_WORKERS={choice[0]} GUNICORN_THREADS={choice[1]}")
    for text, met in targets:
        print(f"  target {text}: {'MET' if met else 'MISSED'}")
    results.update(
        choice={"workers": choice[0], "threads": choice[1]},
        targets=[{"target": text, "met": met} for text, met in targets],
        errors=errors,
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"  figures written to {RESULTS}")


if __name__ == "__main__":
    main()
