"""The feature transformer on tiny frames: what production sends and training never saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ORDERS_CONFIG, SHOP_TRAINING

from components.common.config import parse_use_case
from components.common.errors import ConfigError
from components.preprocess.logic import build_preprocessor, calendar_parts, model_pipeline


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


def test_native_encoding_gives_categories_to_the_trees_and_one_hot_columns_to_the_others(frames):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    config = parse_use_case(ORDERS_CONFIG + "preprocessing: {categorical_encoding: native}\n" + SHOP_TRAINING)
    categorical = list(config.features.categorical)
    given = HistGradientBoostingClassifier(max_iter=5)
    trees = model_pipeline(config, given).fit(frames["train"], frames["train"]["returned"])
    assert trees.named_steps["model"] is not given and given.categorical_features == "from_dtype"  # a copy is set
    assert trees.named_steps["model"].categorical_features == list(range(len(categorical)))
    assert trees.named_steps["preprocess"].transformers_[0][2] == categorical  # first: columns 0 .. k - 1
    assert trees.named_steps["model"].is_categorical_.sum() == len(categorical)
    linear = model_pipeline(config, LogisticRegression()).fit(frames["train"], frames["train"]["returned"])
    width = linear.named_steps["preprocess"].transform(frames["train"].head(2)).shape[1]
    assert width > trees.named_steps["preprocess"].transform(frames["train"].head(2)).shape[1]


def test_calendar_parts_from_text_and_datetimes():
    frame = pd.DataFrame({"t": ["2024-03-02T10:00:00Z", None]})
    parts = calendar_parts(frame, ("hour", "dayofweek", "weekend"))
    assert parts[0].tolist() == [10.0, 5.0, 1.0] and np.isnan(parts[1]).all()


def test_calendar_parts_are_those_of_the_use_cases_time_zone():
    # 02:30 UTC on Saturday 31 August 2013 is 22:30 on Friday 30 August in New York.
    frame = pd.DataFrame({"t": pd.to_datetime(["2013-08-31T02:30:00Z", "2013-08-31T16:00:00Z"], utc=True)})
    parts = calendar_parts(frame, ("hour", "dayofweek", "weekend", "month"), timezone="America/New_York")
    assert parts.tolist() == [[22.0, 4.0, 0.0, 8.0], [12.0, 5.0, 1.0, 8.0]]


def test_naive_timestamps_are_local_times_of_the_zone_and_aware_ones_are_converted():
    frame = pd.DataFrame({"t": ["2013-08-30 22:30:00", "2013-08-31T02:30:00Z", "2013-08-31T04:30:00+02:00"]})
    parts = calendar_parts(frame, ("hour", "dayofweek"), timezone="America/New_York")
    assert parts.tolist() == [[22.0, 4.0], [22.0, 4.0], [22.0, 4.0]]


def test_naive_times_at_daylight_saving_edges_keep_the_calendar_parts_they_name():
    # 02:30 on 10 March 2013 never showed on a New York clock (spring forward), 01:30 on 3 November twice.
    frame = pd.DataFrame(
        {"t": ["2013-03-10 02:30:00", "2013-11-03 01:30:00", "2013-11-03T05:30:00Z", "2013-11-03T06:30:00Z"]}
    )
    parts = calendar_parts(frame, ("hour", "dayofweek", "month"), timezone="America/New_York")
    assert parts.tolist() == [[2.0, 6.0, 3.0], [1.0, 6.0, 11.0], [1.0, 6.0, 11.0], [1.0, 6.0, 11.0]]


def test_the_fitted_preprocessor_holds_the_use_cases_time_zone(frames):
    config = parse_use_case(ORDERS_CONFIG + SHOP_TRAINING + "timezone: Asia/Tokyo\n")
    fitted = build_preprocessor(config).fit(frames["train"])
    calendar = fitted.named_transformers_["datetime"].steps[0][1]
    assert calendar.kw_args["timezone"] == "Asia/Tokyo"
    # 20:00 UTC on Saturday 2 March 2024 is 05:00 on Sunday 3 March in Tokyo.
    saturday_evening_utc = pd.DataFrame({"ordered_at": pd.to_datetime(["2024-03-02T20:00:00Z"], utc=True)})
    assert calendar.transform(saturday_evening_utc)[0].tolist() == [5.0, 6.0, 3.0]
