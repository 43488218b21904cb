"""A drafted use case rendered as commented YAML loads with the project's loader, every choice explained."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from components.common.config import parse_use_case
from components.common.config.draft_yaml import render_use_case
from components.common.config.drafting import RaisedThreshold, draft_use_case
from components.common.targets import infer_task


def drafted(frame: pd.DataFrame, target: str = "label", task: str = "classification"):
    return draft_use_case(frame, target, "shop", "/data/shop orders.csv", task, "text with 2 values")


def shop(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "price (EUR)": rng.normal(10, 2, rows),
            "colour": rng.choice(["red", "blue"], rows),
            "constant": np.ones(rows),
            "label": rng.choice(["yes", "no"], rows),
        }
    )


def test_the_rendered_yaml_loads_with_the_drafted_choices():
    draft = drafted(shop())
    config = parse_use_case(render_use_case(draft, "shop.schema.pbtxt"), origin="shop.yaml")
    assert config.name == "shop" and config.sources["data"].uri == "/data/shop orders.csv"
    assert config.target.name == "label"
    assert config.features == draft.features
    assert config.features.numeric == ("price (EUR)",) and config.features.categorical == ("colour",)
    assert config.drop == ("constant",)
    assert (config.split.method, config.split.key, config.split.salt) == ("hash", ("*",), "shop")
    assert config.training.search == draft.search and config.training.max_trials == draft.max_trials
    assert config.analysis.slices == ("colour",) and config.analysis.min_slice_rows == draft.min_slice_rows
    assert config.validation.min_rows == draft.min_rows


def test_every_choice_carries_its_reason_as_a_comment():
    text = render_use_case(drafted(shop()), "shop.schema.pbtxt")
    assert (
        "#   id: ID-like: a different whole number in each row (consecutive whole numbers) (kept: it identifies" in text
    )
    assert "#   constant: constant: every present value is 1.0" in text
    assert '"colour"' in text and "# text with 2 distinct values" in text
    assert "# text with 2 values" in text  # the task's reason
    assert "no timestamp column: a salted hash of each row's content" in text
    assert "shop.schema.pbtxt" in text


def test_a_time_split_renders_its_bounds_and_loads():
    frame = shop().assign(ordered_at=pd.date_range("2024-01-01", periods=120, freq="6h"))
    config = parse_use_case(render_use_case(drafted(frame), "shop.schema.pbtxt"), origin="shop.yaml")
    assert (config.split.method, config.split.column) == ("time", "ordered_at")
    assert (config.split.train_end, config.split.eval_end) == ("2024-01-25 00:00:00", "2024-01-28 00:00:00")
    assert config.features.datetime == ("ordered_at",)
    assert config.preprocessing.datetime_parts == ("hour", "dayofweek", "weekend")
    assert (config.validation.skew.numeric, config.validation.skew.categorical) == (0.25, 0.15)
    hashed = parse_use_case(render_use_case(drafted(shop()), "shop.schema.pbtxt"), origin="shop.yaml")
    assert hashed.validation.skew.numeric == 0.1  # a hash split: the defaults


def test_a_numeric_target_with_many_values_is_drafted_as_a_regression_with_its_reason():
    frame = shop()
    choice = infer_task(frame["price (EUR)"])
    draft = draft_use_case(frame, "price (EUR)", "shop", "/data/shop.csv", choice.task, choice.reason)
    text = render_use_case(draft, "shop.schema.pbtxt")
    config = parse_use_case(text, origin="shop.yaml")
    assert config.target.task == "regression" and config.target.name == "price (EUR)"
    assert "task: regression" in text and "# numeric labels with fractions (120 distinct values)" in text
    assert config.features.categorical == ("colour", "label") and config.features.numeric == ()
    assert [space.family for space in config.training.search] == ["linear", "random_forest"]


def test_raised_skew_thresholds_load_as_per_feature_thresholds_with_the_measured_distance_and_the_periods():
    frame = shop().assign(ordered_at=pd.date_range("2024-01-01", periods=120, freq="6h"))
    raised = (RaisedThreshold("price (EUR)", 0.64, 0.8), RaisedThreshold("label", 0.26, 0.35))
    text = render_use_case(replace(drafted(frame), raised_skew=raised), "shop.schema.pbtxt")
    config = parse_use_case(text, origin="shop.yaml")
    assert dict(config.validation.skew.features) == {"price (EUR)": 0.8, "label": 0.35}
    assert (config.validation.skew.numeric, config.validation.skew.categorical) == (0.25, 0.15)
    assert "# measured 0.640 train vs eval" in text and "# measured 0.260 train vs eval" in text
    assert (
        "a time split across seasons (train before 2024-01-25 00:00:00 vs eval from 2024-01-25 00:00:00 "
        "to before 2024-01-28 00:00:00); a larger gap blocks" in text
    )
    unraised = parse_use_case(render_use_case(drafted(frame), "shop.schema.pbtxt"), origin="shop.yaml")
    assert dict(unraised.validation.skew.features) == {}
