"""Planning and selection of trials: pure, and light enough for their own quick tasks."""

from __future__ import annotations

import subprocess
import sys

from helpers import ORDERS_CONFIG, SHOP_TRAINING

from components.common.config import parse_use_case
from components.train.logic import expand_trials
from components.train.trials import Trial, TrialResult, search_trials, select_best


def _result(trial, metric, score):
    return TrialResult(trial, metric, score, {}, 0.0)


def test_the_search_space_is_every_combination_cut_to_max_trials_in_a_seeded_order(config):
    trials = search_trials(config)
    assert [t.family for t in trials] == ["hist_gradient_boosting"] * 2 + ["logistic_regression", "random_forest"]
    assert trials == expand_trials(config)  # the checked expansion plans the same trials
    assert [t.params["max_leaf_nodes"] for t in trials[:2]] == [7, 15]
    capped = parse_use_case(ORDERS_CONFIG + SHOP_TRAINING.replace("max_trials: 10", "max_trials: 2"))
    assert search_trials(capped) == search_trials(capped) and len(search_trials(capped)) == 2
    reseeded = parse_use_case(
        ORDERS_CONFIG + SHOP_TRAINING.replace("max_trials: 10", "max_trials: 2").replace("seed: 7", "seed: 8")
    )
    assert {t.id for t in search_trials(capped)} <= {t.id for t in trials}
    assert len(search_trials(reseeded)) == 2


def test_a_trial_and_its_result_survive_their_json():
    trial = Trial("hist_gradient_boosting", {"max_iter": 30, "max_leaf_nodes": 7})
    assert Trial.from_json(trial.to_json()) == trial and trial.id.startswith("hist-gradient-boosting-")
    result = TrialResult(trial, "roc_auc", 0.7, {"roc_auc": 0.7}, 1.5, "classification")
    assert TrialResult.from_dict(result.to_dict()) == result


def test_losses_are_minimised_when_selecting():
    trial = Trial("logistic_regression")
    results = [_result(trial, "log_loss", 0.5), _result(trial, "log_loss", 0.3), _result(trial, "log_loss", 0.3)]
    assert select_best(results) is results[1]


def test_higher_r2_wins_and_a_nan_score_ranks_last():
    trial = Trial("linear")
    results = [_result(trial, "r2", float("nan")), _result(trial, "r2", 0.4), _result(trial, "r2", 0.7)]
    assert select_best(results) is results[2]
    errors = [_result(trial, "mae", float("nan")), _result(trial, "mae", 3.0), _result(trial, "mae", 2.0)]
    assert select_best(errors) is errors[2]


def test_planning_and_selection_tasks_import_neither_scikit_learn_nor_pandas():
    # Each is its own process in a pipeline: a second of imports would be most of its time.
    code = "import sys, components.train.task; print(sorted({'sklearn', 'pandas'} & set(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
