"""Benchmark the validation gates on small clean public data sets and their corrupted twins.

False alarms: random splits (80/10/10, like the default hash split) of scikit-learn's bundled data
sets (no download), validated with default thresholds; any finding that blocks is a false alarm.
Detection: the same splits corrupted three ways (a single class, a feature that leaks the label, a
numeric feature of eval shifted by one standard deviation), each expected to block with its finding.

Run: ``make bench-gates`` (or ``python -m benchmarks.bench_gates --seeds 10``). Against another
checkout (e.g. main, for a before/after comparison): ``PYTHONPATH=/path/to/checkout python
benchmarks/bench_gates.py``; older code without the row checks is given no rows.
"""

from __future__ import annotations

import argparse
import inspect
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn import datasets as sklearn_datasets

from components.common.config import parse_use_case
from components.validate.logic import duplicate_fraction, infer_schema, statistics_in_process, validate_statistics

CORRUPTIONS = {
    "one class": "LABEL_SINGLE_CLASS",
    "leaked label": "TARGET_LEAKAGE",
    "shifted feature": "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
}


def public_data_sets() -> dict[str, pd.DataFrame]:
    """Small clean data sets bundled with scikit-learn, each with a ``label`` column."""
    found = {}
    for name, loader in {
        "iris": sklearn_datasets.load_iris,
        "wine": sklearn_datasets.load_wine,
        "breast_cancer": sklearn_datasets.load_breast_cancer,
    }.items():
        bunch = loader(as_frame=True)
        names = np.asarray(bunch.target_names)
        frame = bunch.data.rename(
            columns=lambda c: c.replace(" ", "_").replace("/", "_").replace("(", "").replace(")", "")
        )
        found[name] = frame.assign(label=names[bunch.target.to_numpy()])
    diabetes = sklearn_datasets.load_diabetes(as_frame=True)
    found["diabetes"] = diabetes.data.assign(label=(diabetes.target > diabetes.target.median()).astype(int))
    return found


def use_case(frame: pd.DataFrame) -> str:
    """A use case with default validation thresholds for a frame of numeric features and a label."""
    features = ", ".join(c for c in frame.columns if c != "label")
    return f"""
name: bench
sources: {{data: {{uri: data.csv}}}}
target: {{name: label}}
features: {{numeric: [{features}]}}
split: {{method: hash, key: [{frame.columns[0]}]}}
"""


def split(frame: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """A random 80/10/10 split (what a hash split does to rows in no particular order)."""
    draw = np.random.default_rng(seed).random(len(frame))
    parts = {"train": draw < 0.8, "eval": (draw >= 0.8) & (draw < 0.9), "test": draw >= 0.9}
    return {name: frame[mask].reset_index(drop=True) for name, mask in parts.items()}


def corrupt(splits: dict[str, pd.DataFrame], how: str, seed: int) -> dict[str, pd.DataFrame]:
    """The corrupted twin of clean splits."""
    rng = np.random.default_rng(seed)
    if how == "one class":
        only = splits["train"]["label"].iloc[0]
        return {name: part.assign(label=only) for name, part in splits.items()}
    if how == "leaked label":
        codes = {value: i for i, value in enumerate(sorted(map(str, splits["train"]["label"].unique())))}

        def leak(part: pd.DataFrame) -> pd.DataFrame:
            code = part["label"].astype(str).map(codes).fillna(-1).to_numpy()
            return part.assign(leak=code + rng.normal(0, 0.05, len(part)))

        return {name: leak(part) for name, part in splits.items()}
    if how == "shifted feature":
        column = next(c for c in splits["train"].columns if c != "label")
        shift = splits["train"][column].std()
        return {**splits, "eval": splits["eval"].assign(**{column: splits["eval"][column] + shift})}
    raise ValueError(how)


def validate(splits: dict[str, pd.DataFrame]) -> tuple[bool, set[str]]:
    """Validates splits with default thresholds; returns the verdict and the kinds of blocking findings."""
    frame = pd.concat(splits.values(), ignore_index=True)
    config = parse_use_case(use_case(frame))
    schema = infer_schema(statistics_in_process({"all": frame}), config)
    arguments: dict[str, object] = {"duplicates": {name: duplicate_fraction([part]) for name, part in splits.items()}}
    if "samples" in inspect.signature(validate_statistics).parameters:
        arguments["samples"] = splits
    result = validate_statistics(statistics_in_process(splits), schema, config, "bench", **arguments)
    return result.is_valid, {f.kind for f in result.errors}


def run(seeds: int, report: Callable[[str], None] = print) -> None:
    """Validates every data set's clean splits and corrupted twins under ``seeds`` seeds; prints rates."""
    false_alarms, clean_runs = 0, 0
    detected = dict.fromkeys(CORRUPTIONS, 0)
    for name, frame in public_data_sets().items():
        for seed in range(seeds):
            splits = split(frame, seed)
            valid, kinds = validate(splits)
            clean_runs += 1
            false_alarms += not valid
            sizes = "/".join(str(len(part)) for part in splits.values())
            verdict = "VALID" if valid else "INVALID " + ",".join(sorted(kinds))
            report(f"{name:14} seed {seed} rows {sizes:12} clean: {verdict}")
            for how, kind in CORRUPTIONS.items():
                valid, kinds = validate(corrupt(splits, how, seed))
                caught = not valid and kind in kinds
                detected[how] += caught
                report(f"{'':14} {how:16} {'caught' if caught else 'MISSED'} {','.join(sorted(kinds))}")
    runs = clean_runs
    report(f"\nfalse alarms on clean data: {false_alarms}/{runs} ({false_alarms / runs:.0%})")
    for how, count in detected.items():
        report(f"detected {how}: {count}/{runs} ({count / runs:.0%})")


def main() -> None:
    """Command line: ``--seeds N``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="random splits per data set")
    logging.disable(logging.WARNING)
    run(parser.parse_args().seeds)


if __name__ == "__main__":
    main()
