"""Small public data sets nobody tuned the gates for, end to end with default thresholds.

scikit-learn's bundled iris (150 rows, three classes), wine (178, three) and breast cancer (569, two),
written as CSV use cases with an id and a measurement date, each with a hash split and with a time split:
ingested, validated with default thresholds (only the schema is inferred), trained, blessed by the default
baseline rule and registered. Their corrupted twins (a single class, a leaked label, a shifted feature)
stop at validation with the finding that names the problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets as bundled

from components.common.config import load_use_case
from components.ingest.logic import ingest_dataset
from components.validate.logic import infer_schema_for_version, write_schema
from pipelines.inprocess import run_training

LOADERS = {"iris": bundled.load_iris, "wine": bundled.load_wine, "breast_cancer": bundled.load_breast_cancer}
SPLITS = {
    "hash": "split: {method: hash, key: [id]}",
    "time": 'split: {method: time, column: measured_at, train_end: "2021-03-01", eval_end: "2021-04-16"}',
}


def public_frame(name: str) -> pd.DataFrame:
    """The data set with an id, a measurement date and a text label.

    The dates are shuffled days of 2020-21: about 79, 9 and 12 per cent fall before, between and after the
    time split's bounds.
    """
    bunch = LOADERS[name](as_frame=True)
    frame = bunch.data.rename(columns=lambda c: "".join(ch if ch.isalnum() else "_" for ch in c).strip("_"))
    days = np.random.default_rng(7).permutation(len(frame)) * (540 / len(frame))
    return frame.assign(
        id=np.arange(1, len(frame) + 1),
        measured_at=pd.Timestamp("2020-01-01") + pd.to_timedelta(days.round(), unit="D"),
        label=np.asarray(bunch.target_names)[bunch.target.to_numpy()],
    )


def write_use_case(folder: Path, frame: pd.DataFrame, split: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "data.csv", index=False)
    features = ", ".join(c for c in frame.columns if c not in ("id", "measured_at", "label"))
    path = folder / "public.yaml"
    path.write_text(
        f"name: public\nsources: {{data: {{uri: {folder / 'data.csv'}}}}}\ntarget: {{name: label}}\n"
        f"features: {{numeric: [{features}]}}\n{SPLITS[split]}\n"
        "training:\n  search:\n    - {family: logistic_regression, params: {C: [0.3, 3.0]}}\n"
    )
    return path


def ingest_with_schema(config_path: Path, store, tmp_path: Path) -> str:
    config = load_use_case(config_path)
    schema_file = tmp_path / "public.schema.pbtxt"
    write_schema(infer_schema_for_version(config, store, ingest_dataset(config, store).ref.version), schema_file)
    return schema_file.read_text()


@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("name", list(LOADERS))
def test_clean_public_data_is_valid_trained_and_registered_by_default(store, tmp_path, name, split):
    config_path = write_use_case(tmp_path / name, public_frame(name), split)
    schema_text = ingest_with_schema(config_path, store, tmp_path)

    run = run_training(config_path.read_text(), schema_text, store, dataset_version=None)

    assert run.validation.is_valid, run.validation.summary()
    assert run.candidate.analysis.blessing.blessed, run.candidate.analysis.blessing.reasons
    assert any("baselines of this run decide" in r for r in run.candidate.analysis.blessing.reasons)
    assert run.candidate.servable and run.registered


def corrupted(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    if how == "LABEL_SINGLE_CLASS":
        return frame.assign(label=frame["label"].iloc[0])
    if how == "TARGET_LEAKAGE":
        codes = frame["label"].astype("category").cat.codes.to_numpy()
        return frame.assign(leak=codes + np.random.default_rng(1).normal(0, 0.05, len(frame)))
    # A shifted feature: everything measured after train_end moved by two standard deviations.
    column = frame.columns[0]
    later = frame["measured_at"] >= pd.Timestamp("2021-03-01")
    return frame.assign(**{column: frame[column] + later * 2 * frame[column].std()})


@pytest.mark.parametrize("how", ["LABEL_SINGLE_CLASS", "TARGET_LEAKAGE", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"])
@pytest.mark.parametrize("name", list(LOADERS))
def test_a_corrupted_twin_stops_at_validation_with_its_finding(store, tmp_path, name, how):
    clean = write_use_case(tmp_path / "clean", public_frame(name), "time")
    schema_text = ingest_with_schema(clean, store, tmp_path)
    twin = write_use_case(tmp_path / "twin", corrupted(public_frame(name), how), "time")

    run = run_training(twin.read_text(), schema_text, store, dataset_version=None)

    assert run.candidate is None and not run.validation.is_valid
    assert how in {finding.kind for finding in run.validation.errors}, run.validation.summary()
