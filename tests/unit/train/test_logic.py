"""Tuning and training on tiny frames: trials, determinism, selection, the final fit, multiclass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ORDERS_CONFIG, SHOP_TRAINING, learnable_orders
from sklearn.base import is_regressor
from sklearn.datasets import load_diabetes
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from components.common.config import parse_use_case
from components.common.errors import ConfigError, DataError
from components.common.metrics import classification_metrics, regression_metrics
from components.evaluate.logic import analyse_model
from components.preprocess.logic import model_pipeline
from components.train.logic import (
    NEWTON_MAX_COEFFICIENTS,
    expand_trials,
    fit,
    fit_model,
    make_estimator,
    predict_proba,
    predict_values,
    run_trial,
    split_xy,
    train_final,
    trial_sample,
)
from components.train.trials import Trial, TrialResult, select_best


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


# --- regression ---------------------------------------------------------------------------------

REGRESSION_TRAINING = """
training:
  seed: 7
  search:
    - family: hist_gradient_boosting
      params: {max_iter: [40], max_leaf_nodes: [7]}
    - family: linear
      params: {alpha: [1.0]}
    - family: random_forest
      params: {n_estimators: [20], max_depth: [6]}
"""


def _regression_config(task: str = "", training: str = REGRESSION_TRAINING):
    target = f"target: {{name: amount{', task: ' + task if task else ''}}}"
    return parse_use_case(
        ORDERS_CONFIG.replace("target: {name: returned}", target).replace(
            "numeric: [quantity, price]", "numeric: [quantity, price, returned]"
        )
        + training
    )


def _amounts(frame):
    """What an order is worth: quantity times price, more by phone, plus noise: a quantity to predict."""
    rng = np.random.default_rng(len(frame))
    phone = np.where(frame["channel"] == "phone", 40.0, 0.0)
    return frame.assign(amount=frame["quantity"] * frame["price"] + phone + rng.normal(0, 10, len(frame)))


@pytest.fixture(scope="module")
def amounts(frames):
    return {name: _amounts(frame) for name, frame in frames.items()}


def test_families_are_the_regressors_of_a_regression_by_the_same_names(amounts):
    config = _regression_config()
    fitted = {t.family: fit(amounts["train"], config, t)[0][-1] for t in expand_trials(config)}
    assert {family: type(model).__name__ for family, model in fitted.items()} == {
        "hist_gradient_boosting": "HistGradientBoostingRegressor",
        "linear": "Ridge",
        "random_forest": "RandomForestRegressor",
    }
    assert all(is_regressor(model) and not hasattr(model, "predict_proba") for model in fitted.values())
    classifier, _ = fit(learnable_orders(), parse_use_case(ORDERS_CONFIG + SHOP_TRAINING), Trial("linear"))
    assert type(classifier[-1]).__name__ == "LogisticRegression"


def test_a_regression_is_tuned_on_rmse_by_default_and_the_lowest_wins(amounts):
    config = _regression_config()
    results = [run_trial(amounts["train"], amounts["eval"], config, trial) for trial in expand_trials(config)]
    assert {r.metric for r in results} == {"rmse"} and {r.task for r in results} == {"regression"}
    assert all(set(r.eval_metrics) == {"rmse", "mae", "r2"} for r in results)
    best = select_best(results)
    assert best.score == min(r.score for r in results) and best.eval_metrics["r2"] > 0.9
    # noise of sd 10 around amounts of ~250: a good model's error is near the noise
    assert 8 < best.score < 25
    assert TrialResult.from_dict(best.to_dict()) == best


def test_the_final_regressor_is_its_trial_and_records_its_task_without_classes(amounts):
    config = _regression_config()
    results = [run_trial(amounts["train"], amounts["eval"], config, trial) for trial in expand_trials(config)]
    model, record = train_final(amounts["train"], config, select_best(results))
    assert "classes" not in record and record["metric"] == "rmse"
    assert record["task"] == "regression"
    assert record["task_reason"].startswith("numeric labels with fractions")
    again = regression_metrics(amounts["eval"]["amount"].to_numpy(), predict_values(model, amounts["eval"], config))
    assert again == record["eval_metrics"]


def test_a_metric_or_family_of_the_other_task_is_refused_once_the_labels_decide(amounts):
    wrong_metric = _regression_config(training=REGRESSION_TRAINING + "  metric: roc_auc\n")
    with pytest.raises(ConfigError, match=r"training.metric roc_auc does not score a regression \(numeric labels"):
        run_trial(amounts["train"], amounts["eval"], wrong_metric, Trial("linear"))
    with pytest.raises(ConfigError, match="family logistic_regression cannot fit a regression"):
        fit(amounts["train"], _regression_config(), Trial("logistic_regression"))
    # class_weight is a classifier's parameter: planning (no labels yet) accepts it, fitting a regressor does not
    weighted = REGRESSION_TRAINING.replace("max_depth: [6]", "class_weight: [balanced]")
    assert len(expand_trials(_regression_config(training=weighted))) == 3
    with pytest.raises(ConfigError, match="random_forest has no parameter 'class_weight' for a regression"):
        fit(amounts["train"], _regression_config(), Trial("random_forest", {"class_weight": "balanced"}))
    # a config that says regression is checked when planning
    with pytest.raises(ConfigError, match="random_forest has no parameter 'class_weight'"):
        expand_trials(_regression_config("regression", weighted))


def test_a_declared_regression_learns_whole_numbers_and_refuses_unusable_labels(amounts):
    config = _regression_config("regression")
    whole = amounts["train"].assign(amount=(amounts["train"]["amount"] // 40).astype("int64"))  # 0 to ~15
    model, record = train_final(whole, config, _result(Trial("linear"), "rmse", 1.0))
    assert record["task"] == "regression" and record["task_reason"] == "set in the config (target.task)"
    assert predict_values(model, amounts["eval"], config).dtype == np.float64
    with pytest.raises(DataError, match="has a single value .15. in the training data"):
        fit(whole.assign(amount=15), config, Trial("linear"))
    broken = amounts["train"].copy()
    broken.loc[broken.index[:3], "amount"] = [np.inf, -np.inf, np.nan]
    with pytest.raises(DataError, match="'amount' has 3 missing or infinite values"):
        fit(broken, config, Trial("linear"))
    with pytest.raises(DataError, match="a regression needs numbers"):
        fit(amounts["train"].assign(amount="many"), config, Trial("linear"))


def test_diabetes_data_nobody_shaped_is_inferred_a_regression_and_learned_better_than_the_mean():
    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    draw = np.random.default_rng(0).random(len(frame))
    train, evaluation = frame[draw < 0.8], frame[draw >= 0.8]
    numeric = ", ".join(c for c in frame.columns if c not in ("progression", "sex"))
    config = parse_use_case(
        f"name: diabetes\nsources: {{d: {{uri: d.csv}}}}\ntarget: {{name: progression}}\n"
        f"features: {{numeric: [{numeric}], categorical: [sex]}}\nsplit: {{method: hash, key: [age]}}\n"
        "training: {search: [{family: linear, params: {alpha: [1.0]}}, "
        "{family: hist_gradient_boosting, params: {max_iter: [50], max_leaf_nodes: [7]}}]}\n"
    )
    results = [run_trial(train, evaluation, config, trial) for trial in expand_trials(config)]
    best = select_best(results)
    truth = evaluation["progression"].to_numpy(dtype="float64")
    mean = regression_metrics(truth, np.full(len(truth), train["progression"].mean()))
    # measured: the train mean's RMSE 78.2 on these 107 rows; Ridge 56.7 (R² 0.46), boosting 60.1 (R² 0.40)
    assert best.trial.family == "linear" and best.metric == "rmse" and best.task == "regression"
    assert best.score < 0.8 * mean["rmse"] and best.eval_metrics["r2"] > 0.35
    _, record = train_final(train, config, best)
    assert record["task_reason"] == "numeric labels with 188 distinct values (> 20)"


def _result(trial, metric, score):
    return TrialResult(trial, metric, score, {}, 0.0)


def test_a_logistic_regression_gets_its_solver_from_the_width_of_its_columns(config, frames):
    features, labels = split_xy(frames["train"], config)
    narrow = fit(frames["train"], config, Trial("logistic_regression"))[0]
    assert narrow[-1].solver == "newton-cholesky"
    chosen = fit(frames["train"], config, Trial("logistic_regression", {"solver": "liblinear"}))[0]
    assert chosen[-1].solver == "liblinear"
    # Newton-Cholesky reaches the optimum: lbfgs run to a tight tolerance agrees with it
    tight = model_pipeline(config, LogisticRegression(max_iter=5000, tol=1e-10)).fit(features, labels)
    np.testing.assert_allclose(
        predict_proba(narrow, frames["eval"], config), predict_proba(tight, frames["eval"], config), atol=1e-5
    )


def test_wide_or_multiclass_logistic_regressions_keep_lbfgs_beyond_the_coefficient_limit(config, frames):
    features, labels = split_xy(frames["train"], config)
    width = model_pipeline(config, LogisticRegression())[:-1].fit_transform(features, labels).shape[1]
    binary = fit_model(model_pipeline(config, LogisticRegression()), features, labels)
    assert binary[-1].solver == ("newton-cholesky" if width <= NEWTON_MAX_COEFFICIENTS else "lbfgs")
    # with as many classes as it takes to pass the limit, the Hessian would be too large
    classes = NEWTON_MAX_COEFFICIENTS // width + 1
    many = pd.Series(np.arange(len(labels)) % classes, index=labels.index)
    wide = fit_model(model_pipeline(config, LogisticRegression(max_iter=50)), features, many)
    assert wide[-1].solver == "lbfgs" and len(wide[-1].classes_) == classes


def test_fit_model_fits_like_pipeline_fit(config, frames):
    features, labels = split_xy(frames["train"], config)
    trial = Trial("hist_gradient_boosting", {"max_iter": 20})
    ours = fit_model(model_pipeline(config, make_estimator(trial, 7)), features, labels)
    theirs = model_pipeline(config, make_estimator(trial, 7)).fit(features, labels)
    np.testing.assert_array_equal(
        predict_proba(ours, frames["eval"], config), predict_proba(theirs, frames["eval"], config)
    )
    prior = fit_model(Pipeline([("model", DummyClassifier(strategy="prior"))]), features, labels)
    np.testing.assert_allclose(prior.predict_proba(features)[0], labels.value_counts(normalize=True).sort_index())
