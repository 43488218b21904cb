"""Retraining data against a real S3 server: base data plus the window's labelled feedback, and its lineage."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta

import pytest
from integration.monitor.serving_logs import FEATURES, serve, traffic, write_object

from components.common import datasets
from components.common.config import FeedbackSpec, ServingSpec
from components.common.errors import ConfigError, DataError
from components.common.serving_logs import FEEDBACK, REQUESTS, Window, read_logs
from components.ingest.task import ingest_use_case
from components.monitor.retraining import schema_for_feedback
from components.validate.logic import load_schema, validate_dataset


def with_feedback(config, window: Window):
    return dataclasses.replace(config, feedback=FeedbackSpec(**window.to_json()))


def test_the_reader_takes_the_window_from_the_date_prefixes_and_nothing_else(served, window_day):
    def at(offset: timedelta, amount: int) -> dict:
        return {
            "time": (window_day + offset).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "model_version": "m-a",
            "features": {"amount": amount},
        }

    day, second = timedelta(days=1), timedelta(seconds=1)
    store = served.store
    write_object(store, "loans", REQUESTS, [at(-2 * second, 0)], window_day - second, 1)  # before the window: not read
    inside = write_object(
        store, "loans", REQUESTS, [at(timedelta(hours=3), 1)], window_day + timedelta(hours=3, seconds=1), 2
    )
    # Received before midnight, written just after it, under the next date; its last line is after the window.
    late = write_object(
        store,
        "loans",
        REQUESTS,
        [at(day - 2 * second, 2), at(day - second / 2, 3), at(day + second / 2, 4)],
        window_day + day + second,
        3,
    )
    store.put_bytes(store.bucket("feedback"), late.replace(".jsonl.gz", ".txt"), b"not a log object")
    write_object(store, "loans", REQUESTS, [at(2 * day, 5)], window_day + 2 * day, 4)  # two days on: not listed

    rows = read_logs(store, "loans", REQUESTS, Window(window_day, window_day + day))

    assert f"date={(window_day + day):%Y-%m-%d}" in late
    assert [line["features"]["amount"] for line in rows.lines] == [1, 2, 3]
    digests = {
        key: hashlib.sha256(store.get_bytes(store.bucket("feedback"), key)).hexdigest() for key in (inside, late)
    }
    assert rows.objects == [
        {"key": inside, "sha256": digests[inside], "lines": 1},
        {"key": late, "sha256": digests[late], "lines": 2},
    ]
    assert rows.malformed == {}


def test_retraining_data_is_base_plus_feedback_with_the_window_in_its_lineage(served, window_day):
    frame = traffic(300, seed=31)
    serve(served, frame, window_day + timedelta(hours=1))
    window = Window(window_day, window_day + timedelta(days=1))
    config = with_feedback(served.config, window)

    first = ingest_use_case(config, served.store)
    again = ingest_use_case(config, served.store)

    feedback = first.manifest["feedback"]
    logged = read_logs(served.store, "loans", FEEDBACK, window)
    assert first.created and not again.created and again.ref == first.ref  # content addressed
    assert first.ref.version != served.dataset_version and first.manifest["parent"] == served.dataset_version
    assert feedback["window"] == window.to_json() and feedback["rows"] == len(frame)
    assert feedback["objects"] == logged.objects and all(len(o["sha256"]) == 64 for o in feedback["objects"])
    assert feedback["rows_by_split"] == {
        "train": round(len(frame) * 0.6),
        "eval": round(len(frame) * 0.8) - round(len(frame) * 0.6),
        "test": len(frame) - round(len(frame) * 0.8),
    }
    base = datasets.read_manifest(served.store, datasets.DatasetRef("loans", served.dataset_version))
    assert {s: e["rows"] - base["splits"][s]["rows"] for s, e in first.manifest["splits"].items()} == feedback[
        "rows_by_split"
    ]
    test_rows = datasets.load_split(served.store, first.manifest, "test", served.config_path.parent)
    newest = test_rows.tail(feedback["rows_by_split"]["test"])
    assert newest["loan_id"].isna().all() and newest["opened_at"].isna().all()  # feedback knows only what was served
    assert newest[FEATURES + ["defaulted"]].notna().all().all()
    assert list(newest["amount"]) == list(frame["amount"].tail(len(newest)))  # the newest feedback tests

    # Feedback rows lack the identifiers the curated schema requires everywhere: the schema for
    # feedback lifts that constraint only; features and label keep theirs.
    schema = load_schema(served.schema_path)
    assert not validate_dataset(config, schema, served.store, first.ref.version).is_valid
    assert validate_dataset(config, schema_for_feedback(schema, config), served.store, first.ref.version).is_valid


def test_a_window_without_labelled_feedback_cannot_become_retraining_data(served, window_day):
    serve(served, traffic(100, seed=32), window_day + timedelta(hours=1), feedback=False)
    config = with_feedback(served.config, Window(window_day, window_day + timedelta(days=1)))
    with pytest.raises(DataError) as error:
        ingest_use_case(config, served.store)
    assert "holds no labelled rows (0 feedback lines, 0 without truth)" in str(error.value)
    assert "retrain once ground truth has arrived" in str(error.value)


def test_feedback_lacking_a_feature_kept_out_of_the_logs_cannot_become_retraining_data(served, window_day):
    serve(served, traffic(200, seed=33), window_day + timedelta(hours=1), redacted=("age",))
    config = with_feedback(served.config, Window(window_day, window_day + timedelta(days=1)))
    with pytest.raises(ConfigError, match=r"^cannot retrain 'loans' on feedback: age is in serving.log_exclude"):
        ingest_use_case(dataclasses.replace(config, serving=ServingSpec(log_exclude=("age",))), served.store)
    with pytest.raises(DataError) as error:  # the exclusion lifted: these lines still lack age
        ingest_use_case(config, served.store)
    assert str(error.value).startswith(
        "cannot retrain 'loans' on this feedback window: its lines were logged without age"
    )
