"""Slices, the blessing decision, analysis against a champion, and the model card."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from components.common.config import BlessingSpec
from components.evaluate.logic import analyse_model, bless, slice_metrics
from components.evaluate.model_card import model_card, render_markdown
from components.train.logic import Trial, fit


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
