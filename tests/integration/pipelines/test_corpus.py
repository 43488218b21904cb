"""The smallest sets of the corpus (benchmarks/corpus.py), as `make corpus` runs them.

The three smallest classification sets and the two smallest regression sets (diabetes, and linnerud's 20
rows, where init fits one regularised linear model instead of choosing among trials on 3 eval rows).

Each goes through `mlcycle init` and `mlcycle run --no-serve` with defaults only, in its own state folder
(its own embedded S3 server): the data is valid, a model is trained, blessed against the run's baselines
and registered.
"""

from __future__ import annotations

import pytest

from benchmarks.corpus import CORPUS, SMALLEST_CLASSIFICATION, mlcycle, private_env, run_set


@pytest.mark.parametrize("name", SMALLEST_CLASSIFICATION)
def test_a_small_public_data_set_goes_from_file_to_registered_model_with_defaults_only(tmp_path, name):
    result = _run_with_defaults(tmp_path, name)
    assert result.task == "classification" and result.rows > 100, result
    assert result.validation == "VALID", result
    assert result.blessed and result.registered, result
    assert result.score >= max(result.baselines.values()) - 0.02, result


SMALLEST_REGRESSION = ("diabetes", "linnerud")


@pytest.mark.parametrize("name", SMALLEST_REGRESSION)
def test_a_small_public_regression_set_goes_from_file_to_registered_model_with_defaults_only(tmp_path, name):
    result = _run_with_defaults(tmp_path, name)
    assert result.task == "regression" and result.metric == "rmse", result
    assert result.validation == "VALID", result
    assert result.blessed and result.registered, result
    mean, linear = result.baselines["mean"], result.baselines["linear_regression"]
    assert result.score < mean and result.score <= linear * 1.02, result


def _run_with_defaults(tmp_path, name):
    """`mlcycle init` then `mlcycle run --no-serve` on a corpus set, in a private state folder."""
    corpus_set = next(s for s in CORPUS if s.name == name)
    env = private_env(tmp_path / "state")
    try:
        return run_set(corpus_set, tmp_path / name, env, timeout=900)
    finally:
        mlcycle(["s3", "down"], env, 120)
