"""The feature transformer on tiny frames: what production sends and training never saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.common.errors import ConfigError
from components.preprocess.logic import build_preprocessor, calendar_parts


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
