"""Benchmark of validation on the full demo dataset version: import cost apart from the work itself.

Measured in one process after the one-time TensorFlow import: downloading the splits, in-process
statistics of the three splits, the duplicate-row check, schema validation with skew and drift, and
the HTML report; then TFDV's Beam path (DirectRunner) on the same Parquet files, for comparison.

Run with `make bench-validate`. A private embedded S3 server is started in a temporary folder.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from components.common import s3_server
from components.common.config import SPLITS, load_use_case, schema_path
from components.common.s3_server import ServerPaths
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from pipelines.usecases import DEMO_CONFIG


def timed(label: str, results: list, function, *args):
    started = time.perf_counter()
    value = function(*args)
    results.append((label, time.perf_counter() - started))
    return value


def main() -> None:
    results: list[tuple[str, float]] = []
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import importlib

    logic = timed("import TFDV (one-time, per process)", results, importlib.import_module, "components.validate.logic")
    from components.common import datasets
    from components.ingest.logic import ingest_dataset
    from components.validate.report import render_report

    config = load_use_case(DEMO_CONFIG)
    schema = logic.load_schema(schema_path(DEMO_CONFIG, config))
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-") as folder:
        folder = Path(folder)
        paths = ServerPaths(folder / "s3")
        state = s3_server.start(paths)
        try:
            os.environ.update(state.environment())
            store = ObjectStore.connect(s3_settings())
            store.ensure_buckets(("datasets",))
            manifest = ingest_dataset(config, store).manifest
            files = timed(
                "download splits (sha256 verified)",
                results,
                lambda: {s: datasets.download_split(store, manifest, s, folder / f"{s}.parquet") for s in SPLITS},
            )
            from components.common.arrow import pq

            frames = timed(
                "read Parquet into pandas", results, lambda: {s: pq.read_table(p).to_pandas() for s, p in files.items()}
            )
            duplicates = timed(
                "duplicate-row check", results, lambda: {s: logic.duplicate_fraction([f]) for s, f in frames.items()}
            )
            statistics = timed("statistics, in process (3 splits)", results, logic.statistics_in_process, frames)
            result = timed(
                "schema validation, skew, drift",
                results,
                logic.validate_statistics,
                statistics,
                schema,
                config,
                manifest["version"],
                statistics,
                manifest["version"],
                duplicates,
            )
            timed("HTML report", results, render_report, result, config.name)
            timed(
                "statistics, Beam DirectRunner (3 splits)",
                results,
                logic.statistics_with_beam,
                files,
                folder,
                ["--runner=DirectRunner"],
            )
        finally:
            s3_server.stop(paths)

    work = sum(seconds for label, seconds in results if not label.startswith(("import", "statistics, Beam")))
    in_process = dict(results)["statistics, in process (3 splits)"]
    beam = dict(results)["statistics, Beam DirectRunner (3 splits)"]
    print(
        f"\nvalidation of {manifest['rows']:,} rows ({manifest['version']}): "
        f"{'VALID' if result.is_valid else 'INVALID'}"
    )
    for label, seconds in results:
        print(f"  {label:<42} {seconds:7.2f} s")
    print(f"  {'the work itself (all but import and Beam)':<42} {work:7.2f} s")
    print(
        f"Beam path / in-process statistics: {beam / in_process:.1f}x; "
        f"import / work: {dict(results)['import TFDV (one-time, per process)'] / work:.1f}x"
    )


if __name__ == "__main__":
    main()
