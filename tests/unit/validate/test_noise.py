"""The noise floor: TFDV's distances reproduced exactly, and floors that shrink with sample size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from sklearn.datasets import load_wine

from components.validate.logic import split_statistics, statistics_in_process
from components.validate.noise import (
    Histogram,
    categorical_noise,
    equal_width_histograms,
    floor,
    generator,
    jensen_shannon,
    l_infinity,
    numeric_noise,
    standard_histogram,
    value_counts,
)


def tfdv_skew(train: pd.DataFrame, evaluation: pd.DataFrame) -> tuple[dict[str, float], dict, dict]:
    """TFDV's own skew distance of every column (L-infinity on text, Jensen-Shannon on numbers)."""
    stats = statistics_in_process({"train": train, "eval": evaluation})
    schema = tfdv.infer_schema(split_statistics(stats, "train"))
    for feature in schema.feature:
        if feature.type == 1:  # BYTES
            feature.skew_comparator.infinity_norm.threshold = 1.0
        else:
            feature.skew_comparator.jensen_shannon_divergence.threshold = 1.0
    anomalies = tfdv.validate_statistics(
        split_statistics(stats, "train"), schema, serving_statistics=split_statistics(stats, "eval")
    )
    measured = {".".join(i.path.step): i.skew_measurements[0].value for i in anomalies.drift_skew_info}
    by_name = [{f.path.step[0]: f for f in dataset.features} for dataset in stats.datasets]
    return measured, by_name[0], by_name[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distances_equal_tfdvs_on_real_data_with_text_and_missing_values(seed):
    wine = load_wine(as_frame=True).frame.assign(kind=lambda f: f["target"].map({0: "a", 1: "b", 2: "c"}))
    wine.loc[wine.index[:7], "ash"] = np.nan
    chosen = np.random.default_rng(seed).random(len(wine)) < 0.7
    measured, train, evaluation = tfdv_skew(wine[chosen], wine[~chosen])
    assert len(measured) == wine.shape[1]
    for name, value in measured.items():
        if train[name].HasField("string_stats"):
            mine = l_infinity(value_counts(train[name]), value_counts(evaluation[name]))
        else:
            mine = jensen_shannon(standard_histogram(train[name]), standard_histogram(evaluation[name]))
        assert mine == pytest.approx(value, abs=1e-12), name


def test_jensen_shannon_keeps_point_masses_apart_and_nan_never_matches():
    point = Histogram(np.array([2.0]), np.array([2.0]), np.array([10.0]))
    assert jensen_shannon(point, point) == 0.0
    assert jensen_shannon(point, Histogram(np.array([3.0]), np.array([3.0]), np.array([4.0]))) == pytest.approx(1.0)
    ranged = Histogram(np.array([0.0, 1.0]), np.array([1.0, 2.0]), np.array([5.0, 5.0]))
    with_nan = Histogram(ranged.lows, ranged.highs, ranged.counts, num_nan=5.0)
    assert jensen_shannon(ranged, ranged) == 0.0 and jensen_shannon(with_nan, with_nan) > 0.3


def test_equal_width_histograms_count_like_tfdv():
    values = np.array([[0.0, 0.5, 1.0, 10.0], [3.0, 3.0, 3.0, 3.0]])
    spread, single = equal_width_histograms(values)
    assert spread.counts.tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 1] and spread.highs[-1] == 10.0
    assert single.lows.tolist() == single.highs.tolist() == [3.0] and single.counts.tolist() == [4.0]


def test_vectorised_draws_equal_one_pair_at_a_time():
    values = np.random.default_rng(0).normal(size=300)
    fast = numeric_noise(values, 300, 40, 200, np.random.default_rng(1))
    rng = np.random.default_rng(1)
    first, second = rng.choice(values, size=(200, 300)), rng.choice(values, size=(200, 40))
    slow = [
        jensen_shannon(a, b) for a, b in zip(equal_width_histograms(first), equal_width_histograms(second), strict=True)
    ]
    assert np.allclose(fast, slow, atol=1e-12)


def test_floors_shrink_with_sample_size_and_repeat_with_the_seed():
    counts = {"a": 500, "b": 300, "c": 200}
    small = floor(categorical_noise(counts, 120, 20, 1000, generator(0, "x")), 0.995)
    large = floor(categorical_noise(counts, 100_000, 20_000, 1000, generator(0, "x")), 0.995)
    assert small > 0.2 and large < 0.015
    assert small == floor(categorical_noise(counts, 120, 20, 1000, generator(0, "x")), 0.995)
    values = np.random.default_rng(3).normal(size=2000)
    assert floor(numeric_noise(values, 300, 50, 500, generator(0, "v")), 0.99) > 0.1
    assert floor(numeric_noise(values, 200_000, 50_000, 500, generator(0, "v")), 0.99) < 0.03
    assert floor(np.zeros(0), 0.99) == 0.0
