"""Tuning and training on tiny frames: trials, determinism, selection, the final fit, multiclass."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ORDERS_CONFIG, SHOP_TRAINING, learnable_orders

from components.common.config import parse_use_case
from components.common.errors import ConfigError, DataError
from components.common.metrics import classification_metrics
from components.evaluate.logic import analyse_model
from components.train.logic import (
    Trial,
    TrialResult,
    expand_trials,
    fit,
    predict_proba,
    run_trial,
    select_best,
    train_final,
    trial_sample,
)


def test_search_space_expands_to_trials_and_rejects_unknown_parameters(config):
    trials = expand_trials(config)
    assert [t.family for t in trials] == ["hist_gradient_boosting"] * 2 + ["logistic_regression", "random_forest"]
    assert len({t.id for t in trials}) == 4 and Trial.from_json(trials[0].to_json()) == trials[0]
    capped = parse_use_case(ORDERS_CONFIG + SHOP_TRAINING.replace("max_trials: 10", "max_trials: 2"))
    assert expand_trials(capped) == expand_trials(capped) and len(expand_trials(capped)) == 2
    wrong = parse_use_case(ORDERS_CONFIG + SHOP_TRAINING.replace("C: [0.5]", "depth: [3]"))
    with pytest.raises(ConfigError, match="logistic_regression has no parameter 'depth'"):
        expand_trials(wrong)


def test_training_is_deterministic_given_the_seed(config, frames):
    trial = Trial("random_forest", {"n_estimators": 20, "max_depth": 4})
    first, _ = fit(frames["train"], config, trial)
    second, _ = fit(frames["train"], config, trial)
    np.testing.assert_array_equal(
        predict_proba(first, frames["test"], config), predict_proba(second, frames["test"], config)
    )


def test_tuning_picks_the_best_eval_score_and_the_final_model_is_that_trial(config, frames):
    results = [run_trial(frames["train"], frames["eval"], config, trial) for trial in expand_trials(config)]
    best = select_best(results)
    assert best.score == max(r.score for r in results) and best.score > 0.75
    model, record = train_final(frames["train"], config, best)
    assert record["rows"] == 1500 and record["family"] == best.trial.family and record["classes"] == [0, 1]
    # Fitted on the train split only, with the same seed: the final model scores exactly as its trial did.
    again = classification_metrics(
        frames["eval"]["returned"].to_numpy(), predict_proba(model, frames["eval"], config), model.classes_
    )
    assert again == record["eval_metrics"] == best.eval_metrics


def test_a_row_budget_fits_trials_on_a_seeded_sample_and_the_final_model_on_all_rows(config, frames):
    budgeted = parse_use_case(
        ORDERS_CONFIG + SHOP_TRAINING.replace("max_trials: 10", "max_trials: 10\n  trial_rows: 400")
    )
    sample = trial_sample(frames["train"], budgeted)
    assert len(sample) == 400 and sample.index.is_monotonic_increasing
    assert (
        sample.equals(trial_sample(frames["train"], budgeted))
        and trial_sample(frames["train"], config) is frames["train"]
    )
    trial = Trial("hist_gradient_boosting", {"max_iter": 30, "max_leaf_nodes": 7})
    result = run_trial(frames["train"], frames["eval"], budgeted, trial)
    model, record = train_final(frames["train"], budgeted, result, frames["eval"])
    # The final model saw all 1,500 rows, so it is not the trial's: its own eval metrics are recorded.
    own = classification_metrics(
        frames["eval"]["returned"].to_numpy(), predict_proba(model, frames["eval"], budgeted), model.classes_
    )
    assert record["rows"] == 1500 and record["eval_metrics"] == own != result.eval_metrics


def test_losses_are_minimised_when_selecting():
    trial = Trial("logistic_regression")
    results = [
        run
        for run in (_result(trial, "log_loss", 0.5), _result(trial, "log_loss", 0.3), _result(trial, "log_loss", 0.3))
    ]
    assert select_best(results) is results[1]


def _result(trial, metric, score):
    return TrialResult(trial, metric, score, {}, 0.0)


def test_single_class_training_data_is_refused(config, frames):
    with pytest.raises(DataError, match="has a single class"):
        fit(frames["train"].assign(returned=0), config, Trial("logistic_regression"))


def test_multiclass_text_target_trains_and_is_analysed():
    config = parse_use_case(
        ORDERS_CONFIG.replace("target: {name: returned}", "target: {name: channel}")
        .replace("categorical: [channel]", "categorical: []")
        .replace("numeric: [quantity, price]", "numeric: [quantity, price, returned]")
        + SHOP_TRAINING.replace("slices: [channel]", "slices: []")
    )
    frames = {
        name: learnable_orders(rows, seed)
        for name, rows, seed in (("train", 1500, 1), ("eval", 600, 2), ("test", 900, 3))
    }
    result = run_trial(frames["train"], frames["eval"], config, Trial("logistic_regression", {"C": 1.0}))
    assert set(result.eval_metrics) >= {"roc_auc", "pr_auc", "log_loss", "brier", "f1"}
    model, record = train_final(
        frames["train"],
        config,
        run_trial(frames["train"], frames["eval"], config, Trial("hist_gradient_boosting", {"max_iter": 20})),
    )
    assert record["classes"] == ["phone", "shop", "web"]
    analysis = analyse_model(model, frames["train"], frames["test"], config)
    assert len(analysis.confusion) == 3 and analysis.baselines["majority_class"]["roc_auc"] == 0.5
    assert 0.5 < analysis.metrics["roc_auc"] <= 1.0


def test_nullable_integer_labels_stay_integer_classes(config, frames):
    model, _ = fit(frames["train"].astype({"returned": "Int64"}), config, Trial("logistic_regression"))
    assert list(model.classes_) == [0, 1] and model.classes_.dtype.kind == "i"
