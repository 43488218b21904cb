"""Preprocessing, tuning, training, metrics, analysis, blessing and the model card on tiny frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import ORDERS_CONFIG, make_orders

from components.common.config import BlessingSpec, parse_use_case
from components.common.errors import ConfigError, DataError
from components.evaluate.logic import analyse_model, bless, slice_metrics
from components.evaluate.metrics import classification_metrics, confusion, roc_points
from components.evaluate.model_card import model_card, render_markdown
from components.preprocess.logic import build_preprocessor, calendar_parts
from components.train.logic import Trial, expand_trials, fit, predict_proba, run_trial, select_best, train_final

TRAINING = """
training:
  seed: 7
  max_trials: 10
  search:
    - family: hist_gradient_boosting
      params: {max_iter: [30], max_leaf_nodes: [7, 15]}
    - family: logistic_regression
      params: {C: [0.5]}
    - family: random_forest
      params: {n_estimators: [20], max_depth: [4]}
analysis:
  slices: [channel]
  min_slice_rows: 50
  blessing:
    floors: {roc_auc: 0.6}
    max_regression: {roc_auc: 0.01}
"""


def learnable_orders(rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Orders whose return depends on price and channel, so a model can learn something."""
    frame = make_orders(rows, seed=seed)
    rng = np.random.default_rng(seed + 100)
    logit = (frame["price"] - 50) / 8 + np.where(frame["channel"] == "phone", 1.5, -0.5)
    frame["returned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


@pytest.fixture(scope="module")
def config():
    return parse_use_case(ORDERS_CONFIG + TRAINING)


@pytest.fixture(scope="module")
def frames():
    return {"train": learnable_orders(seed=1), "eval": learnable_orders(600, seed=2), "test": learnable_orders(900, seed=3)}


def test_preprocessor_tolerates_unseen_categories_missing_values_and_text_timestamps(config, frames):
    preprocessor = build_preprocessor(config).fit(frames["train"])
    width = preprocessor.transform(frames["train"].head(3)).shape[1]
    odd = frames["test"].head(3).copy().astype({"quantity": "float64"})
    odd.loc[odd.index[0], "channel"] = "carrier pigeon"
    odd.loc[odd.index[1], ["price", "quantity"]] = np.nan
    odd["ordered_at"] = odd["ordered_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    odd.loc[odd.index[2], "ordered_at"] = None
    transformed = preprocessor.transform(odd)
    assert transformed.shape == (3, width) and np.isfinite(transformed).all()


def test_preprocessor_refuses_a_numeric_feature_the_schema_types_as_text(config):
    with pytest.raises(ConfigError, match="feature 'price' is listed as numeric but the schema types it as text"):
        build_preprocessor(config, {"price": "BYTES"})


def test_calendar_parts_from_text_and_datetimes():
    frame = pd.DataFrame({"t": ["2024-03-02T10:00:00Z", None]})
    parts = calendar_parts(frame, ("hour", "dayofweek", "weekend"))
    assert parts[0].tolist() == [10.0, 5.0, 1.0] and np.isnan(parts[1]).all()


def test_search_space_expands_to_trials_and_rejects_unknown_parameters(config):
    trials = expand_trials(config)
    assert [t.family for t in trials] == ["hist_gradient_boosting"] * 2 + ["logistic_regression", "random_forest"]
    assert len({t.id for t in trials}) == 4 and Trial.from_json(trials[0].to_json()) == trials[0]
    capped = parse_use_case(ORDERS_CONFIG + TRAINING.replace("max_trials: 10", "max_trials: 2"))
    assert expand_trials(capped) == expand_trials(capped) and len(expand_trials(capped)) == 2
    wrong = parse_use_case(ORDERS_CONFIG + TRAINING.replace("C: [0.5]", "depth: [3]"))
    with pytest.raises(ConfigError, match="logistic_regression has no parameter 'depth'"):
        expand_trials(wrong)


def test_training_is_deterministic_given_the_seed(config, frames):
    trial = Trial("random_forest", {"n_estimators": 20, "max_depth": 4})
    first, _ = fit(frames["train"], config, trial)
    second, _ = fit(frames["train"], config, trial)
    np.testing.assert_array_equal(predict_proba(first, frames["test"], config), predict_proba(second, frames["test"], config))


def test_tuning_picks_the_best_eval_score_and_the_final_model_is_that_trial(config, frames):
    results = [run_trial(frames["train"], frames["eval"], config, trial) for trial in expand_trials(config)]
    best = select_best(results)
    assert best.score == max(r.score for r in results) and best.score > 0.75
    model, record = train_final(frames["train"], config, best)
    assert record["rows"] == 1500 and record["family"] == best.trial.family and record["classes"] == [0, 1]
    # Fitted on the train split only, with the same seed: the final model scores exactly as its trial did.
    again = classification_metrics(frames["eval"]["returned"].to_numpy(), predict_proba(model, frames["eval"], config), model.classes_)
    assert again == record["eval_metrics"] == best.eval_metrics


def test_losses_are_minimised_when_selecting():
    trial = Trial("logistic_regression")
    results = [run for run in (_result(trial, "log_loss", 0.5), _result(trial, "log_loss", 0.3), _result(trial, "log_loss", 0.3))]
    assert select_best(results) is results[1]


def _result(trial, metric, score):
    from components.train.logic import TrialResult

    return TrialResult(trial, metric, score, {}, 0.0)


def test_single_class_training_data_is_refused(config, frames):
    with pytest.raises(DataError, match="has a single class"):
        fit(frames["train"].assign(returned=0), config, Trial("logistic_regression"))


def test_binary_metrics_match_known_values():
    labels = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.35, 0.65], [0.2, 0.8]])
    metrics = classification_metrics(labels, proba, [0, 1])
    assert metrics["roc_auc"] == 0.75 and metrics["accuracy"] == 0.75
    assert metrics["precision"] == pytest.approx(2 / 3) and metrics["recall"] == 1.0
    assert metrics["brier"] == pytest.approx(np.mean([0.01, 0.49, 0.1225, 0.04]))
    assert confusion(labels, proba, [0, 1]) == [[1, 1], [0, 2]]
    points = roc_points(labels, proba, [0, 1])
    assert points[0][:2] == (0.0, 0.0) and points[-1][:2] == (1.0, 1.0)


def test_multiclass_metrics_with_text_labels():
    labels = np.array(["a", "b", "c", "a"], dtype=object)
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    metrics = classification_metrics(labels, proba, ["a", "b", "c"])
    assert metrics["accuracy"] == 0.75 and metrics["roc_auc"] == pytest.approx(1.0)
    assert confusion(labels, proba, ["a", "b", "c"]) == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize(
    "candidate, champion, blessed, reason",
    [
        ({"roc_auc": 0.70}, None, True, "no model in production: the floors alone decide"),
        ({"roc_auc": 0.55}, None, False, "roc_auc 0.5500 misses the floor 0.6"),
        ({"roc_auc": 0.70}, {"roc_auc": 0.705}, True, "within the allowed loss 0.01"),
        ({"roc_auc": 0.70}, {"roc_auc": 0.75}, False, "roc_auc 0.7000 against the champion's 0.7500: worse than the allowed loss 0.01"),
        ({"roc_auc": 0.80}, {"roc_auc": 0.75}, True, "not worse"),
        ({"roc_auc": math.nan}, None, False, "misses the floor"),
    ],
)
def test_blessing_against_floors_and_the_champion(candidate, champion, blessed, reason):
    decision = bless(candidate, champion, BlessingSpec(floors={"roc_auc": 0.6}, max_regression={"roc_auc": 0.01}))
    assert decision.blessed is blessed
    assert any(reason in line for line in decision.reasons), decision.reasons


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
    analysis = analyse_model(candidate, frames["train"], frames["test"], config, champion=weak, champion_version="m-weak")
    assert analysis.blessing.blessed and analysis.champion["version"] == "m-weak"
    assert analysis.champion["metrics"]["roc_auc"] < analysis.metrics["roc_auc"]
    assert analysis.baselines["majority_class"]["roc_auc"] == 0.5
    assert analysis.rows == 900 and sum(map(sum, analysis.confusion)) == 900
    assert {s["value"] for s in analysis.slices["channel"]} == {"web", "shop", "phone"}
    card = model_card(config, analysis, {"dataset_version": "ds-1", "training": {"family": "hist_gradient_boosting", "params": {}}})
    text = render_markdown(card)
    assert "**BLESSED**" in text and "champion m-weak" in text and "baseline: majority class" in text
    assert "| channel | rows | roc_auc" in text and "dataset version: `ds-1`" in text


def test_multiclass_text_target_trains_and_is_analysed():
    config = parse_use_case(ORDERS_CONFIG.replace("target: {name: returned}", "target: {name: channel}").replace("categorical: [channel]", "categorical: []").replace("numeric: [quantity, price]", "numeric: [quantity, price, returned]") + TRAINING.replace("slices: [channel]", "slices: []"))
    frames = {name: learnable_orders(rows, seed) for name, rows, seed in (("train", 1500, 1), ("eval", 600, 2), ("test", 900, 3))}
    result = run_trial(frames["train"], frames["eval"], config, Trial("logistic_regression", {"C": 1.0}))
    assert set(result.eval_metrics) >= {"roc_auc", "pr_auc", "log_loss", "brier", "f1"}
    model, record = train_final(frames["train"], config, run_trial(frames["train"], frames["eval"], config, Trial("hist_gradient_boosting", {"max_iter": 20})))
    assert record["classes"] == ["phone", "shop", "web"]
    analysis = analyse_model(model, frames["train"], frames["test"], config)
    assert len(analysis.confusion) == 3 and analysis.baselines["majority_class"]["roc_auc"] == 0.5
    assert 0.5 < analysis.metrics["roc_auc"] <= 1.0


def test_nullable_integer_labels_stay_integer_classes(config, frames):
    model, _ = fit(frames["train"].astype({"returned": "Int64"}), config, Trial("logistic_regression"))
    assert list(model.classes_) == [0, 1] and model.classes_.dtype.kind == "i"
