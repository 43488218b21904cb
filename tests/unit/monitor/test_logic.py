"""Monitoring's core with real TFDV on small frames: typing served values, drift, live quality, the decision."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from helpers import ORDERS_CONFIG, make_orders

from components.common.config import DriftTrigger, LiveQualitySpec, MonitoringSpec, parse_use_case
from components.common.errors import DataError
from components.common.serving_logs import FEATURE_PREFIX
from components.monitor.logic import (
    decide,
    live_quality,
    live_regression_quality,
    measure_drift,
    quality_reasons,
    regression_slices,
    sample_rows,
    serving_frame,
)
from components.monitor.results import (
    DRIFT_WITHOUT_FEEDBACK,
    HEALTHY,
    INSUFFICIENT,
    RETRAIN,
    RETRAIN_BLOCKED,
    LiveQuality,
)
from components.validate.logic import infer_schema, prepare_frame, split_statistics, statistics_in_process
from components.validate.results import Distance

FEATURES = ["quantity", "price", "channel", "ordered_at"]


@pytest.fixture(scope="module")
def config():
    return parse_use_case(
        ORDERS_CONFIG + "monitoring: {drift: {numeric: 0.1, categorical: 0.1}}\nanalysis: {slices: [channel]}\n"
    )


@pytest.fixture(scope="module")
def schema(config):
    return infer_schema(statistics_in_process({"all": make_orders(6000, seed=9)}), config)


@pytest.fixture(scope="module")
def training(schema):
    return split_statistics(statistics_in_process({"train": make_orders(3000, seed=1)}, schema), "train")


def as_logged(frame: pd.DataFrame) -> pd.DataFrame:
    """Feature values as JSON carries them: numbers, text, ISO timestamps, null."""
    logged = frame[FEATURES].astype(object)
    logged["ordered_at"] = frame["ordered_at"].map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return logged


def served_statistics(frame, config, schema):
    return statistics_in_process({"serving": serving_frame(as_logged(frame), config, schema)}, schema)


def test_served_values_get_the_types_training_data_has(config, schema):
    orders = make_orders(50, seed=3)
    logged = as_logged(orders)
    logged.loc[0, "price"] = None
    logged.loc[1, "quantity"] = "many"  # does not fit: missing, and the schema check reports the presence
    frame = serving_frame(logged, config, schema)
    expected = prepare_frame(orders[FEATURES])
    assert str(frame["quantity"].dtype) == "Int64" and frame["quantity"].isna().sum() == 1
    assert frame["price"].dtype == "float64" and math.isnan(frame["price"][0])
    assert (
        frame["ordered_at"].tolist() == expected["ordered_at"].tolist()
    )  # ISO text and timestamps give the same epoch seconds
    assert frame["channel"].tolist() == orders["channel"].tolist()
    assert list(frame.columns) == list(config.features.all())


def test_drift_of_served_data_is_measured_for_every_feature_in_the_serving_environment(config, schema, training):
    distances, unmeasured, findings = measure_drift(
        served_statistics(make_orders(800, seed=5), config, schema), training, schema, config
    )
    assert {d.feature: d.measure for d in distances} == {
        "quantity": "jensen_shannon",
        "price": "jensen_shannon",
        "channel": "l_infinity",
        "ordered_at": "jensen_shannon",
    }
    assert unmeasured == [] and [d for d in distances if d.alerts] == []
    assert findings == []  # no label served, and the SERVING environment does not ask for it
    assert {d.feature: d.threshold for d in distances}["ordered_at"] == 1.0  # datetime: measured, never alerts


def test_drift_names_exactly_the_features_that_moved(config, schema, training):
    shifted = make_orders(800, seed=6, price_shift=25, mix=(0.1, 0.1, 0.8))
    distances, _, findings = measure_drift(served_statistics(shifted, config, schema), training, schema, config)
    assert sorted(d.feature for d in distances if d.alerts) == ["channel", "price"]
    assert {(f.feature, f.kind) for f in findings if f.check == "drift"} == {
        ("price", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"),
        ("channel", "COMPARATOR_L_INFTY_HIGH"),
    }


def test_a_feature_never_served_has_no_distance_and_is_named(config, schema, training):
    frame = make_orders(300, seed=7)
    logged = as_logged(frame).assign(price=None)
    statistics = statistics_in_process({"serving": serving_frame(logged, config, schema)}, schema)
    distances, unmeasured, findings = measure_drift(statistics, training, schema, config)
    assert unmeasured == ["price"] and "price" not in {d.feature for d in distances}
    assert any(f.check == "schema" and f.feature == "price" for f in findings)  # presence falls below the schema's


def test_a_feature_not_logged_gets_no_statistics_no_distance_and_no_anomaly(config, schema, training):
    logged = as_logged(make_orders(800, seed=6, price_shift=25, mix=(0.1, 0.1, 0.8))).drop(columns=["channel"])
    frame = serving_frame(logged, config, schema, unlogged=("channel",))
    assert list(frame.columns) == ["quantity", "price", "ordered_at"]
    statistics = statistics_in_process({"serving": frame}, schema)
    distances, unmeasured, findings = measure_drift(statistics, training, schema, config, unlogged=("channel",))
    # channel moved as much as price did: not logged, it is neither measured nor alerted on (not even as 0)
    assert {d.feature for d in distances} == {"quantity", "price", "ordered_at"}
    assert [d.feature for d in distances if d.alerts] == ["price"]
    assert unmeasured == [] and "channel" not in {f.feature for f in findings}
    # the same rows judged without the exclusion: the absent column is a missing feature, and no distance either
    _, unmeasured, findings = measure_drift(statistics, training, schema, config)
    assert unmeasured == ["channel"] and "channel" in {f.feature for f in findings}


def feedback(truth, positive_proba, channel=None):
    rows = len(truth)
    return pd.DataFrame(
        {
            "truth": pd.Series(list(truth), dtype=object),
            "probabilities": [{"0": 1 - p, "1": p} for p in positive_proba],
            FEATURE_PREFIX + "channel": channel if channel is not None else ["web"] * rows,
        }
    )


def test_live_quality_uses_the_metrics_and_slices_of_model_analysis(config):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 400)
    proba = np.clip(truth * 0.6 + rng.random(400) * 0.4, 0, 1)
    channel = np.where(np.arange(400) < 300, "web", "phone")
    quality = live_quality(feedback(truth, proba, channel), [0, 1], {"roc_auc": 0.9, "pr_auc": 0.8}, config)
    assert quality.rows == 400 and quality.metrics["roc_auc"] > 0.95
    assert set(quality.metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier"}
    assert [(s["value"], s["rows"]) for s in quality.slices["channel"]] == [("web", 300), ("phone", 100)]
    assert sum(map(sum, quality.confusion)) == 400 and quality.offline == {"roc_auc": 0.9, "pr_auc": 0.8}


def test_rows_that_cannot_be_scored_are_counted_not_scored(config):
    frame = feedback([1, 0, 2, 1], [0.9, 0.2, 0.5, 0.7])
    frame.at[3, "probabilities"] = {"1": 0.7}  # a class without a probability
    quality = live_quality(frame, [0, 1], {}, config)
    assert quality.rows == 2 and quality.excluded == {"truth_not_a_class": 1, "without_probabilities": 1}


def spec(**changes) -> MonitoringSpec:
    base = MonitoringSpec(
        min_requests=100,
        retrain_on_drift=DriftTrigger(count=2, features=("channel",)),
        quality=LiveQualitySpec(min_rows=50, floors={"roc_auc": 0.7, "log_loss": 0.6}, max_drop={"pr_auc": 0.05}),
    )
    return dataclasses.replace(base, **changes)


def distance(feature, value, threshold=0.1):
    return Distance("drift", feature, "jensen_shannon", value, threshold)


def quality(rows=100, **metrics):
    values = {"roc_auc": 0.8, "pr_auc": 0.6, "log_loss": 0.5, **metrics}
    return LiveQuality(rows, values, {"roc_auc": 0.8, "pr_auc": 0.6}, [0, 1], [[50, 0], [0, 50]], [], {}, {})


CALM = [distance("price", 0.02), distance("channel", 0.01), distance("quantity", 0.05)]


@pytest.mark.parametrize(
    "requests, labelled, own, distances, live, status, reason",
    [
        (500, 100, 100, CALM, quality(), HEALTHY, None),
        (
            500,
            100,
            100,
            [distance("price", 0.3), distance("quantity", 0.2)],
            quality(),
            RETRAIN,
            "2 features drifted (retrain_on_drift.count 2)",
        ),
        (
            500,
            100,
            100,
            [distance("channel", 0.4)],
            quality(),
            RETRAIN,
            "channel drifted: jensen_shannon 0.400 > 0.1 (named in retrain_on_drift.features)",
        ),
        (500, 100, 100, [distance("price", 0.3)], quality(), HEALTHY, None),  # one feature, unnamed: below the count
        (500, 100, 100, CALM, quality(roc_auc=0.65), RETRAIN, "live roc_auc 0.6500 is below the floor 0.7"),
        (500, 100, 100, CALM, quality(log_loss=0.9), RETRAIN, "live log_loss 0.9000 is above the ceiling 0.6"),
        (
            500,
            100,
            100,
            CALM,
            quality(pr_auc=0.5),
            RETRAIN,
            "live pr_auc 0.5000 is 0.1000 worse than offline 0.6000, more than the allowed 0.05",
        ),
        (500, 0, 0, [distance("channel", 0.4)], None, DRIFT_WITHOUT_FEEDBACK, "channel drifted"),
        (
            50,
            100,
            100,
            [distance("channel", 0.4)],
            quality(),
            HEALTHY,
            None,
        ),  # too few requests: drift not judged, quality is
        (50, 10, 10, [distance("channel", 0.4)], quality(rows=10, roc_auc=0.1), INSUFFICIENT, None),
        (0, 0, 0, [], None, INSUFFICIENT, None),
    ],
)
def test_the_decision_follows_the_thresholds(requests, labelled, own, distances, live, status, reason):
    decision = decide(requests, labelled, own, distances, [], live, spec())
    assert decision.status == status, decision
    assert decision.retrain == (status == RETRAIN)
    if reason:
        assert any(r.startswith(reason) for r in decision.reasons), decision.reasons
    elif status != DRIFT_WITHOUT_FEEDBACK:
        assert decision.reasons == ()


def test_what_cannot_be_judged_is_said_in_a_note():
    empty = decide(0, 0, 0, [], [], None, spec())
    assert empty.notes == (
        "the window holds no logged requests: drift not judged",
        "no ground truth arrived in the window for the monitored model: live quality not judged",
    )
    one_class = decide(500, 100, 100, CALM, ["price"], quality(roc_auc=float("nan")), spec())
    assert one_class.status == HEALTHY
    assert "no values served for price: their drift is not measured" in one_class.notes
    assert any(n.startswith("live roc_auc is undefined") for n in one_class.notes)


def test_features_not_logged_are_a_note_and_block_retraining_from_feedback():
    calm = decide(500, 100, 100, CALM, [], quality(), spec(), unlogged=["email"])
    assert calm.status == HEALTHY and "email not logged (serving.log_exclude): drift not measured" in calm.notes
    due = decide(500, 100, 100, CALM, [], quality(roc_auc=0.65), spec(), unlogged=["email"])
    assert due.status == RETRAIN_BLOCKED and not due.retrain
    assert due.reasons == ("live roc_auc 0.6500 is below the floor 0.7",)
    assert any(
        n.startswith("retraining would be due, but feedback rows lack email (serving.log_exclude)") for n in due.notes
    )
    assert decide(500, 100, 100, CALM, [], quality(roc_auc=0.65), spec()).status == RETRAIN


def test_sampling_is_seeded_and_bounded():
    frame = pd.DataFrame({"x": range(1000)})
    assert sample_rows(frame, 0, 1) is frame and sample_rows(frame, 2000, 1) is frame
    assert sample_rows(frame, 100, 1).equals(sample_rows(frame, 100, 1)) and len(sample_rows(frame, 100, 1)) == 100


def test_whole_numbers_served_for_a_float_feature_stay_floats(config, schema):
    logged = as_logged(make_orders(20, seed=8)).assign(price=lambda f: [50] * len(f), channel=lambda f: [3] * len(f))
    frame = serving_frame(logged, config, schema)
    assert frame["price"].dtype == "float64" and frame["channel"].tolist() == ["3"] * 20


# --- regressors: live RMSE, MAE and R² from logged numbers; ceilings and drops in the metric's direction ---


def regression_feedback(truth, predicted, channel=None):
    rows = len(truth)
    return pd.DataFrame(
        {
            "truth": pd.Series(list(truth), dtype=object),
            "prediction": pd.Series(list(predicted), dtype=object),
            "probabilities": [None] * rows,
            FEATURE_PREFIX + "channel": channel if channel is not None else ["web"] * rows,
        }
    )


def test_live_regression_quality_scores_the_logged_numbers_overall_and_by_slice(config):
    rng = np.random.default_rng(0)
    truth = rng.normal(100, 20, 400)
    channel = np.where(np.arange(400) < 300, "web", "phone")
    error = np.where(channel == "web", rng.normal(0, 2, 400), rng.normal(0, 10, 400))  # phone is served worse
    offline = {"rmse": 4.0, "mae": 3.0, "r2": 0.95, "note": "text is not a metric"}
    quality = live_regression_quality(regression_feedback(truth, truth + error, channel), offline, config)
    assert quality.task == "regression" and quality.rows == 400 and set(quality.metrics) == {"rmse", "mae", "r2"}
    assert quality.metrics["rmse"] == pytest.approx(np.sqrt(np.mean(error**2)))
    assert quality.metrics["mae"] == pytest.approx(np.mean(np.abs(error)))
    assert quality.offline == {"rmse": 4.0, "mae": 3.0, "r2": 0.95}
    assert quality.classes == [] and quality.confusion == [] and quality.roc == []
    assert [(s["value"], s["rows"]) for s in quality.slices["channel"]] == [("web", 300), ("phone", 100)]
    assert (
        quality.slice_gaps["channel"]["rmse"]["worst"] == "phone" and quality.slice_gaps["channel"]["rmse"]["gap"] > 5
    )
    assert quality.shown_metrics == ("rmse", "mae", "r2")


def test_regression_rows_without_a_number_are_counted_not_scored(config):
    frame = regression_feedback([10, "late", 12.5, True, 3], [11.0, 9.0, None, 2.0, 3.5])
    quality = live_regression_quality(frame, {}, config)
    assert quality.rows == 2 and quality.excluded == {"truth_not_a_number": 2, "without_prediction": 1}
    assert quality.metrics["mae"] == pytest.approx((1.0 + 0.5) / 2)
    with pytest.raises(DataError, match="no feedback row has both a number as truth and a predicted number"):
        live_regression_quality(regression_feedback(["a"], [1.0]), {}, config)


def test_regression_slices_skip_small_ones_and_name_the_worst():
    frame = pd.DataFrame({"channel": ["web"] * 4 + ["phone"] * 4 + [None] * 4 + ["shop"]})
    truth = np.zeros(13)
    predictions = np.array([1.0] * 4 + [3.0] * 4 + [2.0] * 4 + [9.0])
    slices, gaps = regression_slices(frame, truth, predictions, ("channel",), min_rows=4)
    assert [(e["value"], e["metrics"]["rmse"]) for e in slices["channel"]] == [
        ("web", 1.0),
        ("phone", 3.0),
        ("(missing)", 2.0),
    ]
    assert gaps["channel"]["rmse"] == {"gap": 2.0, "best": "web", "worst": "phone"}


def regression_quality(rows=100, **metrics):
    values = {"rmse": 5.0, "mae": 4.0, "r2": 0.8, **metrics}
    offline = {"rmse": 5.0, "mae": 4.0, "r2": 0.8}
    return LiveQuality(rows, values, offline, [], [], [], {}, {}, task="regression")


def regression_spec(floors=None, max_drop=None) -> MonitoringSpec:
    return spec(quality=LiveQualitySpec(min_rows=50, floors=floors or {}, max_drop=max_drop or {}))


@pytest.mark.parametrize(
    "live, floors, max_drop, reason",
    [
        ({}, {"rmse": 6.0, "r2": 0.5}, {"rmse": 0.5, "mae": 0.5, "r2": 0.05}, None),
        ({"rmse": 6.5}, {"rmse": 6.0}, {}, "live rmse 6.5000 is above the ceiling 6"),
        ({"r2": 0.4}, {"r2": 0.5}, {}, "live r2 0.4000 is below the floor 0.5"),
        ({"mae": 4.8}, {}, {"mae": 0.5}, "live mae 4.8000 is 0.8000 worse than offline 4.0000, more than the allowed"),
        ({"r2": 0.7}, {}, {"r2": 0.05}, "live r2 0.7000 is 0.1000 worse than offline 0.8000, more than the allowed"),
        ({"rmse": 3.0, "mae": 1.0}, {}, {"rmse": 0.5, "mae": 0.5}, None),  # better than offline: no drop
    ],
)
def test_a_regressors_ceilings_floors_and_drops_are_judged_in_each_metrics_direction(live, floors, max_drop, reason):
    decision = decide(500, 100, 100, CALM, [], regression_quality(**live), regression_spec(floors, max_drop))
    if reason:
        assert decision.status == RETRAIN and any(r.startswith(reason) for r in decision.reasons), decision.reasons
    else:
        assert decision.status == HEALTHY and decision.reasons == (), decision.reasons


def test_a_regressors_unjudgeable_metrics_are_notes():
    constant_truth = regression_quality(r2=float("nan"))
    reasons, notes = quality_reasons(constant_truth, regression_spec({"r2": 0.5, "roc_auc": 0.7}))
    assert reasons == []
    assert notes == [
        "live r2 is undefined on the window's labelled rows (all true values equal): its floor is not judged",
        "live roc_auc is not a metric of a regression model: its floor is not judged",
    ]
    unscorable = decide(500, 100, 100, CALM, [], None, regression_spec(), task="regression")
    assert any("none scorable (truth not a number, or no predicted number)" in n for n in unscorable.notes)
