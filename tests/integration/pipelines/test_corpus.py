"""The smallest sets of the corpus (benchmarks/corpus.py), as `make corpus` runs them.

The three smallest classification sets and the smallest regression set that registers with defaults
(diabetes; linnerud, 20 rows, is refused by the baseline rule: see SMALLEST_REGRESSION).

Each goes through `mlcycle init` and `mlcycle run --no-serve` with defaults only, in its own state folder
(its own embedded S3 server): the data is valid, a model is trained, blessed against the run's baselines
and registered.
"""

from __future__ import annotations

import pytest

from benchmarks.corpus import CORPUS, SMALLEST_CLASSIFICATION, mlcycle, private_env, run_set


@pytest.mark.parametrize("name", SMALLEST_CLASSIFICATION)
def test_a_small_public_data_set_goes_from_file_to_registered_model_with_defaults_only(tmp_path, name):
    corpus_set = next(s for s in CORPUS if s.name == name)
    env = private_env(tmp_path / "state")
    try:
        result = run_set(corpus_set, tmp_path / name, env, timeout=900)
    finally:
        mlcycle(["s3", "down"], env, 120)
    assert result.task == "classification" and result.rows > 100, result
    assert result.validation == "VALID", result
    assert result.blessed and result.registered, result
    assert result.score >= max(result.baselines.values()) - 0.02, result


# linnerud (20 rows, 3 test rows) is left out: its tuned Ridge (alpha chosen on 3 eval rows) has a test RMSE of
# 16.1 against the plain Ridge baseline's 14.7, beyond the default 2% (and beyond the paired sampling error of
# the difference), so it is validated and trained but not blessed. Reported to the integrator.
SMALLEST_REGRESSION = ("diabetes",)


@pytest.mark.parametrize("name", SMALLEST_REGRESSION)
def test_a_small_public_regression_set_goes_from_file_to_registered_model_with_defaults_only(tmp_path, name):
    corpus_set = next(s for s in CORPUS if s.name == name)
    env = private_env(tmp_path / "state")
    try:
        result = run_set(corpus_set, tmp_path / name, env, timeout=900)
    finally:
        mlcycle(["s3", "down"], env, 120)
    assert result.task == "regression" and result.rows > 100 and result.metric == "rmse", result
    assert result.validation == "VALID", result
    assert result.blessed and result.registered, result
    mean, linear = result.baselines["mean"], result.baselines["linear_regression"]
    assert result.score < mean and result.score <= linear * 1.02, result
