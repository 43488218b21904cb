"""Slices, the blessing decision, analysis against a champion, and the model card: classification and regression."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from helpers import ORDERS_CONFIG, SHOP_TRAINING
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from unit.evaluate.spend import SPEND_CONFIG, fit_regressor

from components.common.config import BlessingSpec, parse_use_case
from components.common.errors import ConfigError, DataError
from components.common.metrics import CLASSIFICATION_METRICS, classification_metrics, regression_metrics
from components.evaluate.logic import (
    ChampionTraining,
    analyse_model,
    bless,
    interval_groups,
    overlap_columns,
    predicted_vs_actual,
    regression_slice_metrics,
    rows_in,
    slice_metrics,
)
from components.evaluate.model_card import model_card, render_markdown
from components.train.logic import fit, predict_proba
from components.train.trials import Trial


@pytest.mark.parametrize(
    "candidate, champion, blessed, reason",
    [
        ({"roc_auc": 0.70}, None, True, "no model in production: the floors alone decide"),
        ({"roc_auc": 0.55}, None, False, "roc_auc 0.5500 misses the floor 0.6"),
        ({"roc_auc": 0.70}, {"roc_auc": 0.705}, True, "within the allowed loss 0.01"),
        (
            {"roc_auc": 0.70},
            {"roc_auc": 0.75},
            False,
            "roc_auc 0.7000 against the champion's 0.7500: worse than the allowed loss 0.01",
        ),
        ({"roc_auc": 0.80}, {"roc_auc": 0.75}, True, "not worse"),
        ({"roc_auc": math.nan}, None, False, "misses the floor"),
    ],
)
def test_blessing_against_floors_and_the_champion(candidate, champion, blessed, reason):
    decision = bless(candidate, champion, BlessingSpec(floors={"roc_auc": 0.6}, max_regression={"roc_auc": 0.01}))
    assert decision.blessed is blessed
    assert any(reason in line for line in decision.reasons), decision.reasons


@pytest.mark.parametrize(
    "candidate, champion, missing",
    [
        ({"roc_auc": math.nan}, {"roc_auc": 0.75}, "roc_auc is missing (NaN) for the candidate"),
        ({"roc_auc": 0.70, "f1": math.nan}, {"roc_auc": 0.70, "f1": 0.5}, "f1 is missing (NaN) for the candidate"),
        ({"roc_auc": 0.70, "f1": 0.5}, {"roc_auc": 0.70, "f1": math.nan}, "f1 is missing (NaN) for the champion"),
    ],
)
def test_a_refusal_caused_by_a_missing_metric_says_the_metric_is_missing(candidate, champion, missing):
    spec = BlessingSpec(floors={}, max_regression={"roc_auc": 0.01, "f1": 0.01})
    decision = bless(candidate, champion, spec)
    assert decision.blessed is False
    refusals = [line for line in decision.reasons if missing in line]
    assert refusals and all("not blessed" in line for line in refusals), decision.reasons
    assert not any(("not worse" in line or "within" in line) and "NaN" in line for line in decision.reasons)


def test_a_missing_metric_under_a_floor_is_named_as_missing():
    decision = bless({"roc_auc": math.nan}, None, BlessingSpec(floors={"roc_auc": 0.6}))
    assert not decision.blessed
    assert decision.reasons[0] == "roc_auc is missing (NaN): it misses the floor 0.6, not blessed"


def test_loss_ceilings_are_ceilings():
    assert bless({"log_loss": 0.4}, None, BlessingSpec(floors={"log_loss": 0.5})).blessed
    assert not bless({"log_loss": 0.6}, None, BlessingSpec(floors={"log_loss": 0.5})).blessed


def test_slices_skip_small_groups_and_report_the_largest_gap():
    frame = pd.DataFrame({"shop": ["x"] * 6 + ["y"] * 6 + ["z"]})
    labels = np.array([0, 1] * 6 + [1])
    good = np.column_stack([1 - labels, labels]).astype(float)
    proba = np.vstack([good[:6], 1 - good[6:12], good[12:]])
    slices, gaps = slice_metrics(frame, labels, proba, [0, 1], ("shop",), min_rows=5)
    assert [s["value"] for s in slices["shop"]] == ["x", "y"]
    assert gaps["shop"]["roc_auc"] == {"gap": 1.0, "best": "x", "worst": "y"}


def test_analysis_scores_the_champion_on_the_same_rows_and_the_card_says_why(config, frames):
    candidate, _ = fit(frames["train"], config, Trial("hist_gradient_boosting", {"max_iter": 30}))
    weak, _ = fit(frames["train"].assign(price=50.0), config, Trial("logistic_regression"))
    analysis = analyse_model(
        candidate, frames["train"], frames["test"], config, champion=weak, champion_version="m-weak"
    )
    assert analysis.blessing.blessed and analysis.champion["version"] == "m-weak"
    assert analysis.champion["metrics"]["roc_auc"] < analysis.metrics["roc_auc"]
    assert analysis.baselines["majority_class"]["roc_auc"] == 0.5
    assert analysis.rows == 900 and sum(map(sum, analysis.confusion)) == 900
    figures = analysis.scalar_metrics()
    assert figures["roc_auc"] == analysis.metrics["roc_auc"] and figures["baseline_majority_class_roc_auc"] == 0.5
    assert figures["champion_roc_auc"] == analysis.champion["metrics"]["roc_auc"]
    assert {s["value"] for s in analysis.slices["channel"]} == {"web", "shop", "phone"}
    card = model_card(
        config, analysis, {"dataset_version": "ds-1", "training": {"family": "hist_gradient_boosting", "params": {}}}
    )
    text = render_markdown(card)
    assert "**BLESSED**" in text and "champion m-weak" in text and "baseline: majority class" in text
    assert "| channel | rows | roc_auc" in text and "dataset version: `ds-1`" in text
    # Each gap comes with its paired interval, on the same rows as the figures it is the difference of.
    against_champion = analysis.champion["difference"]
    assert against_champion["first"] == pytest.approx(analysis.champion["candidate_metrics"]["roc_auc"])
    assert against_champion["second"] == pytest.approx(analysis.champion["metrics"]["roc_auc"])
    assert set(analysis.baseline_differences) == {"majority_class", "logistic_regression"}
    for name, found in analysis.baseline_differences.items():
        assert found["first"] == pytest.approx(analysis.metrics["roc_auc"])
        assert found["second"] == pytest.approx(analysis.baselines[name]["roc_auc"])
        assert found["rows"] == 900 and found["low"] <= found["difference"] <= found["high"]
    assert "| the champion m-weak | ROC-AUC " in text and "| the logistic regression baseline | ROC-AUC " in text
    # The shop's hash split is by order: each order its own group, as many groups as test rows.
    assert analysis.differences_grouped_by == "the split key (order_id)"
    assert all(found["groups"] == 900 for found in analysis.baseline_differences.values())
    assert "Rows that share the split key (order_id) move together" in text
    gap = analysis.baseline_differences["logistic_regression"]
    assert figures["baseline_logistic_regression_roc_auc_gap"] == gap["difference"]
    assert (figures["baseline_logistic_regression_roc_auc_gap_low"], figures["champion_roc_auc_gap_high"]) == (
        gap["low"],
        against_champion["high"],
    )


def test_a_champion_using_a_feature_the_candidate_dropped_is_scored_with_its_own_features(config, frames):
    # Issue 18, bug 8: the champion was scored with the candidate's feature list ("columns are missing").
    wider = parse_use_case(
        ORDERS_CONFIG.replace("numeric: [quantity, price]", "numeric: [quantity, price, discount]") + SHOP_TRAINING
    )
    train, test = (frame.assign(discount=frame["price"] / 10) for frame in (frames["train"], frames["test"]))
    champion, _ = fit(train, wider, Trial("logistic_regression"))
    candidate, _ = fit(train, config, Trial("logistic_regression"))
    analysis = analyse_model(candidate, train, test, config, champion=champion, champion_version="m-wide")
    assert analysis.champion["compared"] is True and "discount" in analysis.champion["features"]
    expected = champion.predict_proba(test[list(wider.features.all())])
    assert analysis.champion["metrics"]["log_loss"] == pytest.approx(
        classification_metrics(test["returned"].to_numpy(), expected, champion.classes_)["log_loss"]
    )


def test_a_champion_whose_feature_the_dataset_no_longer_holds_is_not_compared_and_says_so(config, frames):
    wider = parse_use_case(
        ORDERS_CONFIG.replace("numeric: [quantity, price]", "numeric: [quantity, price, discount]") + SHOP_TRAINING
    )
    champion, _ = fit(frames["train"].assign(discount=1.0), wider, Trial("logistic_regression"))
    candidate, _ = fit(frames["train"], config, Trial("logistic_regression"))
    analysis = analyse_model(
        candidate, frames["train"], frames["test"], config, champion=champion, champion_version="m-wide"
    )
    assert analysis.champion["compared"] is False and analysis.champion["metrics"] is None
    assert "discount" in analysis.champion["not_compared"]
    assert analysis.blessing.blessed  # the floors alone decide, and the reasons say why
    assert any("not compared with the champion m-wide" in r and "floors alone" in r for r in analysis.blessing.reasons)
    assert "champion_roc_auc" not in analysis.scalar_metrics()
    text = render_markdown(model_card(config, analysis, {"dataset_version": "ds-1", "training": {}}))
    assert "not compared with the champion m-wide" in text and "| champion" not in text


def test_test_rows_the_champion_was_trained_on_are_counted_and_left_out_of_the_comparison(config, frames):
    # Another dataset version put 100 of today's test rows into the champion's train split (its key read as text).
    seen = pd.concat([frames["train"], frames["test"].iloc[:100]], ignore_index=True)
    champion, _ = fit(seen, config, Trial("random_forest", {"n_estimators": 20}))
    candidate, _ = fit(frames["train"], config, Trial("logistic_regression"))
    trained = ChampionTraining("ds-old", seen.assign(order_id=seen["order_id"].astype(str)))
    analysis = analyse_model(
        candidate, frames["train"], frames["test"], config, champion, "m-old", champion_training=trained
    )
    record = analysis.champion
    assert record["training_overlap"] == {"dataset_version": "ds-old", "rows": 100, "matched_by": ["order_id"]}
    assert record["compared"] and record["rows"] == 800
    unseen = frames["test"].iloc[100:]
    assert record["metrics"]["roc_auc"] == pytest.approx(
        classification_metrics(
            unseen["returned"].to_numpy(), champion.predict_proba(unseen[list(config.features.all())]), [0, 1]
        )["roc_auc"]
    )
    assert record["candidate_metrics"]["roc_auc"] == pytest.approx(
        classification_metrics(unseen["returned"].to_numpy(), predict_proba(candidate, unseen, config), [0, 1])[
            "roc_auc"
        ]
    )
    assert any("100 of 900 test rows were in the champion's training split" in r for r in analysis.blessing.reasons)
    assert record["difference"]["rows"] == 800
    assert record["difference"]["first"] == pytest.approx(record["candidate_metrics"]["roc_auc"])
    text = render_markdown(model_card(config, analysis, {"dataset_version": "ds-1", "training": {}}))
    assert "candidate on the champion's 800 rows" in text and "100 test rows were in its training split" in text
    assert "| the champion m-old (on its 800 rows) | ROC-AUC " in text


def test_a_champion_trained_on_every_test_row_is_not_compared(config, frames):
    seen = pd.concat([frames["train"], frames["test"]], ignore_index=True)
    champion, _ = fit(seen, config, Trial("logistic_regression"))
    analysis = analyse_model(
        champion, frames["train"], frames["test"], config, champion, "m-all", ChampionTraining("ds-all", seen)
    )
    assert not analysis.champion["compared"] and analysis.champion["training_overlap"]["rows"] == 900
    assert any(
        "every test row was in its training split" in r and "floors alone" in r for r in analysis.blessing.reasons
    )


@pytest.mark.parametrize(
    "training, unknown",
    [
        (ChampionTraining(None, unknown="the manifest of m-x names no dataset version"), "names no dataset version"),
        (ChampionTraining("ds-x", pd.DataFrame({"other": [1]})), "order_id are not in both"),
    ],
)
def test_unknown_champion_training_rows_flag_the_comparison(config, frames, training, unknown):
    model, _ = fit(frames["train"], config, Trial("logistic_regression"))
    analysis = analyse_model(model, frames["train"], frames["test"], config, model, "m-x", training)
    assert analysis.champion["compared"] and analysis.champion["rows"] == 900
    assert unknown in analysis.champion["training_overlap"]["unknown"]
    assert any(
        "whether the champion was trained on test rows is unknown" in r and "may favour it" in r
        for r in analysis.blessing.reasons
    )


def test_a_time_split_matches_rows_by_every_shared_column_but_the_label():
    config = parse_use_case(
        ORDERS_CONFIG.replace(
            "{method: hash, key: [order_id]}",
            "{method: time, column: ordered_at, train_end: '2024-03-01', eval_end: '2024-04-01'}",
        )
    )
    test = pd.DataFrame({"order_id": [1, 2, 3], "price": [1.5, 2.0, 3.0], "returned": [0, 1, 1]})
    trained = pd.DataFrame({"order_id": [1.0, 2.0, 3.0], "price": [1.5, 2.5, 3.0], "returned": [1, 1, 1]})
    assert overlap_columns(config, test, trained) == ["order_id", "price"]
    assert rows_in(test, trained, ["order_id", "price"]).tolist() == [True, False, True]
    # Keys typed differently by two versions still match; huge, infinite and missing values do not break it.
    keys = pd.DataFrame({"k": pd.array([1, 2, None, 4], dtype="Int64"), "f": [1.5, 1e20, np.inf, 2.0]})
    other = pd.DataFrame({"k": ["1", "2", "x", "4"], "f": [1.5, 1e20, np.inf, 2]})
    assert rows_in(keys, other, ["k", "f"]).tolist() == [True, True, False, True]


def test_a_whole_row_hash_split_matches_rows_by_every_shared_column_but_the_label():
    config = parse_use_case(ORDERS_CONFIG.replace("{method: hash, key: [order_id]}", "{method: hash, key: ['*']}"))
    test = pd.DataFrame({"order_id": [1, 2], "price": [1.5, 2.0], "returned": [0, 1]})
    trained = pd.DataFrame({"order_id": [1, 2], "price": [1.5, 2.5], "returned": [1, 1]})
    assert overlap_columns(config, test, trained) == ["order_id", "price"]


def test_the_candidate_is_held_against_the_champion_on_the_rows_both_were_scored_on():
    spec = BlessingSpec(floors={"roc_auc": 0.6}, max_regression={"roc_auc": 0.01})
    decision = bless({"roc_auc": 0.80}, {"roc_auc": 0.75}, spec, compared_candidate={"roc_auc": 0.70})
    assert not decision.blessed
    assert "roc_auc 0.7000 against the champion's 0.7500: worse than the allowed loss 0.01" in decision.reasons


BASELINES = {"majority_class": {"roc_auc": 0.5}, "logistic_regression": {"roc_auc": 0.70}}


@pytest.mark.parametrize(
    ("roc_auc", "blessed", "reason"),
    [
        (0.72, True, "roc_auc 0.7200 against the logistic-regression baseline's 0.7000: not worse"),
        (0.69, True, "within the allowed loss 0.02"),
        (0.67, False, "worse than the allowed loss 0.02"),
        (0.50, False, "does not beat the majority-class baseline's 0.5000"),
    ],
)
def test_without_floors_the_baselines_of_the_run_decide(roc_auc, blessed, reason):
    decision = bless({"roc_auc": roc_auc}, None, BlessingSpec(), baselines=BASELINES)

    assert decision.blessed is blessed
    assert decision.reasons[0].startswith("no floors configured, so the baselines of this run decide: roc_auc")
    assert any(reason in line for line in decision.reasons), decision.reasons
    assert decision.reasons[-1] == "no model in production: the baselines alone decide"


def test_configured_floors_replace_the_baseline_rule():
    decision = bless({"roc_auc": 0.61}, None, BlessingSpec(floors={"roc_auc": 0.6}), baselines=BASELINES)

    assert decision.blessed
    assert not any("baseline" in line for line in decision.reasons)


def test_the_baseline_rule_follows_a_loss_metric_and_its_margin():
    spec = BlessingSpec(baseline_metric="log_loss", max_loss_to_baseline=0.05)
    baselines = {"majority_class": {"log_loss": 0.69}, "logistic_regression": {"log_loss": 0.50}}

    assert bless({"log_loss": 0.54}, None, spec, baselines=baselines).blessed
    assert not bless({"log_loss": 0.56}, None, spec, baselines=baselines).blessed
    assert not bless({"log_loss": 0.70}, None, spec, baselines=baselines).blessed


# --- regression ----------------------------------------------------------------------------------------------


def test_a_regressor_is_analysed_with_regression_metrics_baselines_and_residuals(spend_config, spend_frames, boosted):
    train, test = spend_frames["train"], spend_frames["test"]
    analysis = analyse_model(boosted, train, test, spend_config)

    truth = test["spend"].to_numpy()
    predicted = boosted.predict(test[list(spend_config.features.all())])
    assert analysis.task == "regression" and "fractions" in analysis.task_reason
    assert analysis.metrics == pytest.approx(regression_metrics(truth, predicted))
    assert analysis.classes == [] and analysis.confusion == [] and analysis.roc == []
    # The mean baseline predicts the train mean for every row; the linear one is far better, the candidate more so.
    mean_rmse = float(np.sqrt(np.mean((truth - train["spend"].mean()) ** 2)))
    assert analysis.baselines["mean"]["rmse"] == pytest.approx(mean_rmse)
    assert analysis.metrics["rmse"] < analysis.baselines["linear_regression"]["rmse"] < mean_rmse
    assert analysis.blessing.blessed
    assert analysis.blessing.reasons[0].startswith("no floors configured, so the baselines of this run decide: rmse ")
    assert "beats the mean baseline's" in analysis.blessing.reasons[0]
    assert "against the linear-regression baseline's" in analysis.blessing.reasons[1]
    # Residuals by slice are actual minus predicted of that slice's rows.
    phone = test["channel"].to_numpy() == "phone"
    entry = next(e for e in analysis.slices["channel"] if e["value"] == "phone")
    assert entry["rows"] == phone.sum()
    assert entry["residuals"]["mean"] == pytest.approx(float(np.mean(truth[phone] - predicted[phone])))
    assert entry["metrics"] == pytest.approx(regression_metrics(truth[phone], predicted[phone]))
    gap = analysis.slice_gaps["channel"]["rmse"]
    by_value = {e["value"]: e["metrics"]["rmse"] for e in analysis.slices["channel"]}
    assert gap["gap"] == pytest.approx(max(by_value.values()) - min(by_value.values())) and gap["gap"] > 0
    assert by_value[gap["worst"]] == max(by_value.values()) and by_value[gap["best"]] == min(by_value.values())
    picture = analysis.predicted_vs_actual
    assert picture["rows"] == 900 and len(picture["points"]) == 400 and len(picture["bins"]) == 10
    assert sum(b["rows"] for b in picture["bins"]) == 900
    gaps = ("gap", "gap_low", "gap_high")  # the candidate's, with the 95% interval
    assert set(analysis.scalar_metrics()) == {
        "rmse", "mae", "r2",
        *(f"baseline_{name}_{m}" for name in ("mean", "linear_regression") for m in ("rmse", "mae", "r2")),
        *(f"baseline_{name}_rmse_{gap}" for name in ("mean", "linear_regression") for gap in gaps),
    }  # fmt: skip


def test_a_regressor_worse_than_the_mean_is_not_blessed(spend_config, spend_frames):
    train, test = spend_frames["train"], spend_frames["test"]
    # Trained on shuffled spend: it learned noise, and predicts worse than the train mean.
    shuffled = train.assign(spend=np.random.default_rng(0).permutation(train["spend"].to_numpy()))
    noise = fit_regressor(shuffled, spend_config, HistGradientBoostingRegressor(max_iter=100, random_state=0))
    analysis = analyse_model(noise, train, test, spend_config)

    assert not analysis.blessing.blessed
    assert "does not beat the mean baseline's" in analysis.blessing.reasons[0]
    assert "worse than the allowed loss" in analysis.blessing.reasons[1]


REGRESSION_BASELINES = {"mean": {"rmse": 20.0}, "linear_regression": {"rmse": 10.0}}


@pytest.mark.parametrize(
    ("rmse", "blessed", "reason"),
    [
        (9.0, True, "rmse 9.0000 against the linear-regression baseline's 10.0000: not worse"),
        (10.15, True, "within the allowed loss 0.2 (2% of the linear baseline's rmse)"),
        (10.3, False, "worse than the allowed loss 0.2 (2% of the linear baseline's rmse)"),
        (20.5, False, "rmse 20.5000 does not beat the mean baseline's 20.0000"),
    ],
)
def test_without_floors_a_regression_must_beat_the_mean_and_stay_near_the_linear_baseline(rmse, blessed, reason):
    decision = bless({"rmse": rmse}, None, BlessingSpec(), baselines=REGRESSION_BASELINES, task="regression")

    assert decision.blessed is blessed
    assert any(reason in line for line in decision.reasons), decision.reasons


def test_a_configured_allowed_loss_to_the_baseline_is_in_the_metric_units():
    spec = BlessingSpec(max_loss_to_baseline=0.5)
    assert bless({"rmse": 10.4}, None, spec, baselines=REGRESSION_BASELINES, task="regression").blessed
    decision = bless({"rmse": 10.6}, None, spec, baselines=REGRESSION_BASELINES, task="regression")
    assert not decision.blessed and "worse than the allowed loss 0.5" in decision.reasons[1]
    assert "% of" not in decision.reasons[1]


def test_the_baseline_rule_of_a_regression_follows_a_metric_where_higher_is_better():
    spec = BlessingSpec(baseline_metric="r2")
    baselines = {"mean": {"r2": -0.01}, "linear_regression": {"r2": 0.60}}
    assert bless({"r2": 0.59}, None, spec, baselines=baselines, task="regression").blessed
    decision = bless({"r2": 0.57}, None, spec, baselines=baselines, task="regression")
    assert (
        not decision.blessed
        and "r2 0.5700 against the linear-regression baseline's 0.6000: worse than the allowed loss 0.02"
        in decision.reasons
    )  # noqa: E501


@pytest.mark.parametrize(
    ("candidate", "champion", "blessed", "reason"),
    [
        ({"rmse": 9.0, "r2": 0.8}, None, True, "rmse 9.0000 meets the ceiling 10"),
        ({"rmse": 11.0, "r2": 0.8}, None, False, "rmse 11.0000 misses the ceiling 10"),
        ({"rmse": 9.0, "r2": 0.6}, None, False, "r2 0.6000 misses the floor 0.7"),
        ({"rmse": 9.2, "r2": 0.8}, {"rmse": 9.0, "r2": 0.8}, True, "rmse 9.2000 against the champion's 9.0000: within"),
        (
            {"rmse": 9.5, "r2": 0.8},
            {"rmse": 9.0, "r2": 0.8},
            False,
            "rmse 9.5000 against the champion's 9.0000: worse than the allowed loss 0.3",
        ),
        (
            {"rmse": 8.0, "r2": 0.8},
            {"rmse": 9.0, "r2": 0.8},
            True,
            "rmse 8.0000 against the champion's 9.0000: not worse",
        ),
        ({"rmse": 9.0, "r2": 0.78}, {"rmse": 9.0, "r2": 0.8}, False, "r2 0.7800 against the champion's 0.8000: worse"),
    ],
)
def test_regression_floors_are_ceilings_for_errors_and_the_champion_comparison_is_sign_aware(
    candidate, champion, blessed, reason
):
    spec = BlessingSpec(floors={"rmse": 10.0, "r2": 0.7}, max_regression={"rmse": 0.3, "r2": 0.01})
    decision = bless(candidate, champion, spec, task="regression")

    assert decision.blessed is blessed
    assert any(reason in line for line in decision.reasons), decision.reasons


def test_a_regressor_champion_is_scored_on_the_same_rows(spend_config, spend_frames, boosted, ridge):
    train, test = spend_frames["train"], spend_frames["test"]
    analysis = analyse_model(boosted, train, test, spend_config, champion=ridge, champion_version="m-ridge")

    record = analysis.champion
    assert record["compared"] and record["rows"] == 900
    truth = test["spend"].to_numpy()
    features = test[list(spend_config.features.all())]
    assert record["metrics"] == pytest.approx(regression_metrics(truth, ridge.predict(features)))
    assert record["candidate_metrics"] == pytest.approx(analysis.metrics)
    assert analysis.scalar_metrics()["champion_rmse"] == record["metrics"]["rmse"]
    assert analysis.scalar_metrics()["champion_rmse_gap_high"] == record["difference"]["high"]
    # A regressor's gaps are RMSE differences, each on the rows of the figures it is the difference of.
    assert record["difference"]["metric"] == "rmse"
    assert record["difference"]["first"] == pytest.approx(analysis.metrics["rmse"])
    assert record["difference"]["second"] == pytest.approx(record["metrics"]["rmse"])
    assert record["difference"]["high"] < 0  # the boosted trees beat the ridge champion beyond noise
    assert set(analysis.baseline_differences) == {"mean", "linear_regression"}
    for name, found in analysis.baseline_differences.items():
        assert found["second"] == pytest.approx(analysis.baselines[name]["rmse"])
    text = render_markdown(model_card(spend_config, analysis, {"training": {}}))
    assert "| the champion m-ridge | RMSE -" in text and "| the linear regression baseline | RMSE -" in text
    assert "lower, beyond the rows' noise |" in text


def test_a_regressor_champion_of_the_train_rows_is_compared_on_the_rest(spend_config, spend_frames, boosted):
    train, test = spend_frames["train"], spend_frames["test"]
    seen = pd.concat([train, test.iloc[:300]], ignore_index=True)
    champion = fit_regressor(seen, spend_config, Ridge())
    analysis = analyse_model(boosted, train, test, spend_config, champion, "m-seen", ChampionTraining("ds-0", seen))

    assert analysis.champion["rows"] == 600 and analysis.champion["training_overlap"]["rows"] == 300
    rest = test.iloc[300:]
    expected = regression_metrics(rest["spend"].to_numpy(), champion.predict(rest[list(spend_config.features.all())]))
    assert analysis.champion["metrics"] == pytest.approx(expected)


def test_a_champion_of_the_other_task_is_not_compared_and_says_why(config, frames, spend_config, spend_frames, boosted):
    classifier, _ = fit(frames["train"], config, Trial("logistic_regression"))
    test = spend_frames["test"]
    analysis = analyse_model(boosted, spend_frames["train"], test, spend_config, classifier, "m-classes")

    assert analysis.champion["compared"] is False and analysis.champion["metrics"] is None
    assert "it is a classification model and the candidate a regression one" in analysis.champion["not_compared"]
    assert analysis.blessing.blessed  # the baselines decide, and the reasons say the champion was not compared
    assert any("not compared with the champion m-classes" in r for r in analysis.blessing.reasons)
    # And the other way round: a classifier candidate facing a regressor in production.
    reverse = analyse_model(
        fit(frames["train"], config, Trial("logistic_regression"))[0],
        frames["train"],
        frames["test"].assign(spend=1.0),
        config,
        boosted,
        "m-spend",
    )
    assert "it is a regression model and the candidate a classification one" in reverse.champion["not_compared"]


def test_a_candidate_of_the_wrong_task_is_refused(spend_config, spend_frames, config, frames):
    classifier, _ = fit(frames["train"], config, Trial("logistic_regression"))
    with pytest.raises(DataError, match="the candidate is a classification model, but 'shop' is a regression"):
        analyse_model(classifier, spend_frames["train"], spend_frames["test"], spend_config)


def test_a_blessing_naming_a_classification_metric_is_refused_for_a_regression(spend_frames, boosted):
    config = parse_use_case(SPEND_CONFIG + "  blessing: {floors: {roc_auc: 0.7}}\n")
    with pytest.raises(ConfigError, match="names roc_auc, which a regression does not have"):
        analyse_model(boosted, spend_frames["train"], spend_frames["test"], config)


def test_a_configured_task_wins_over_inference(spend_frames, boosted):
    config = parse_use_case(SPEND_CONFIG.replace("{name: spend}", "{name: spend, task: regression}"))
    analysis = analyse_model(boosted, spend_frames["train"], spend_frames["test"], config)
    assert analysis.task == "regression" and analysis.task_reason == "set in the config (target.task)"


def test_a_classification_analysis_keeps_its_shape(config, frames):
    model, _ = fit(frames["train"], config, Trial("logistic_regression"))
    analysis = analyse_model(model, frames["train"], frames["test"], config)
    assert analysis.task == "classification" and analysis.predicted_vs_actual == {}
    assert set(analysis.baselines) == {"majority_class", "logistic_regression"}
    assert set(analysis.metrics) == set(CLASSIFICATION_METRICS)


def test_regression_slices_report_metrics_residuals_and_the_largest_error_gap():
    frame = pd.DataFrame({"shop": ["x"] * 4 + ["y"] * 4 + ["z"]})
    truth = np.array([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    predicted = np.array([1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 2.0, 2.0, 5.0])
    slices, gaps = regression_slice_metrics(frame, truth, predicted, ("shop",), min_rows=3)

    assert [s["value"] for s in slices["shop"]] == ["x", "y"]
    x, y = slices["shop"]
    assert x["metrics"]["rmse"] == 0.0 and x["residuals"]["mean"] == 0.0
    assert y["metrics"]["mae"] == pytest.approx(1.5) and y["residuals"]["mean"] == pytest.approx(1.5)
    assert y["residuals"]["median"] == pytest.approx(1.5) and y["residuals"]["p90"] == pytest.approx(2.0)
    assert gaps["shop"]["rmse"] == {"gap": pytest.approx(np.sqrt(2.5)), "best": "x", "worst": "y"}
    assert gaps["shop"]["mae"] == {"gap": pytest.approx(1.5), "best": "x", "worst": "y"}


def test_predicted_vs_actual_bins_every_row_by_prediction_and_samples_points():
    truth = np.arange(100, dtype=float)
    predicted = truth / 2
    picture = predicted_vs_actual(truth, predicted, points=30, bins=4)

    assert picture["rows"] == 100 and len(picture["points"]) == 30
    assert all(p == a / 2 for a, p in picture["points"])
    assert [b["rows"] for b in picture["bins"]] == [25, 25, 25, 25]
    assert picture["bins"][0] == {"predicted": pytest.approx(6.0), "actual": pytest.approx(12.0), "rows": 25}
    assert picture == predicted_vs_actual(truth, predicted, points=30, bins=4)  # seeded: the card is reproducible
    assert predicted_vs_actual(truth[:3], predicted[:3], bins=10)["bins"][2]["rows"] == 1


def test_on_scikit_learns_diabetes_data_boosted_trees_lose_to_the_linear_baseline_and_are_not_blessed():
    # Data nobody shaped for this code: 442 patients, a disease progression score one year on.
    frame = load_diabetes(as_frame=True).frame.rename_axis("patient").reset_index()
    frame["sex"] = np.where(frame["sex"] > 0, "one", "two")  # scaled in the bundle; a category here
    numeric = [c for c in frame.columns if c not in ("patient", "sex", "target")]
    config = parse_use_case(
        "name: diabetes\nsources: {d: {uri: d.csv}}\ntarget: {name: target}\n"
        f"features: {{numeric: [{', '.join(numeric)}], categorical: [sex]}}\n"
        "split: {method: hash, key: [patient]}\nanalysis: {slices: [sex], min_slice_rows: 20}\n"
    )
    train, test = frame[frame["patient"] % 10 < 7], frame[frame["patient"] % 10 >= 7]
    forest = fit_regressor(train, config, HistGradientBoostingRegressor(random_state=0))
    linear = fit_regressor(train, config, Ridge())

    trees = analyse_model(forest, train, test, config)
    plain = analyse_model(linear, train, test, config)

    assert trees.task == "regression" and "distinct values" in trees.task_reason
    mean, ridge = trees.baselines["mean"], trees.baselines["linear_regression"]
    assert ridge["rmse"] < trees.metrics["rmse"] < mean["rmse"] and mean["r2"] < 0.01 < trees.metrics["r2"]
    assert not trees.blessing.blessed
    assert (
        "worse than the allowed loss" in trees.blessing.reasons[1] and "2% of the linear" in trees.blessing.reasons[1]
    )
    assert plain.blessing.blessed and plain.metrics == pytest.approx(ridge)
    assert {e["value"] for e in trees.slices["sex"]} == {"one", "two"}


def test_interval_groups_are_the_local_days_of_a_time_split_and_the_key_of_a_hash_split(config):
    rows = pd.DataFrame(
        {
            # 03:00 UTC is still September 30 in New York; 05:00 and 23:00 UTC are October 1 there.
            "opened_at": pd.to_datetime(["2024-10-01T03:00Z", "2024-10-01T05:00Z", "2024-10-01T23:00Z"], utc=True),
            "order_id": [7, 8, 7],
            "step": [1, 2, 3],
        }
    )
    by_time = dataclasses.replace(config.split, method="time", column="opened_at", key=())
    groups, said = interval_groups(rows, dataclasses.replace(config, split=by_time, timezone="America/New_York"))
    assert said == "the day of `opened_at`"
    assert groups[0] != groups[1] and groups[1] == groups[2]
    utc_groups, _ = interval_groups(rows, dataclasses.replace(config, split=by_time, timezone="UTC"))
    assert utc_groups[0] == utc_groups[1] == utc_groups[2]
    groups, said = interval_groups(rows, config)  # the shop's hash split by order_id
    assert said == "the split key (order_id)" and groups[0] == groups[2] != groups[1]
    # An ordered column that is not a time has no days; a whole-row hash has no key: rows stand alone.
    by_step = dataclasses.replace(config.split, method="time", column="step", key=())
    assert interval_groups(rows, dataclasses.replace(config, split=by_step)) == (None, "")
    whole_row = dataclasses.replace(config.split, key=("*",))
    assert interval_groups(rows, dataclasses.replace(config, split=whole_row)) == (None, "")
