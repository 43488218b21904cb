"""Slices, the blessing decision, analysis against a champion, and the model card."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import ORDERS_CONFIG, SHOP_TRAINING

from components.common.config import BlessingSpec, parse_use_case
from components.common.metrics import classification_metrics
from components.evaluate.logic import ChampionTraining, analyse_model, bless, overlap_columns, rows_in, slice_metrics
from components.evaluate.model_card import model_card, render_markdown
from components.train.logic import Trial, fit, predict_proba


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
    text = render_markdown(model_card(config, analysis, {"dataset_version": "ds-1", "training": {}}))
    assert "candidate on the champion's 800 rows" in text and "100 test rows were in its training split" in text


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
