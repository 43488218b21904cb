"""Stage 3: turn features into model inputs with a scikit-learn ColumnTransformer.

The transformer is built from the use-case config (which column is which kind) checked against the
curated schema (which type each column has), fitted on the training split only, and shipped inside
the final scikit-learn Pipeline, so serving applies exactly the transforms training used. Every step
tolerates what production sends and training never saw: missing values, unseen categories, and
timestamps as ISO text or as datetime values (read in the use case's time zone).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from components.common.config import UseCaseConfig
from components.common.errors import ConfigError
from components.common.timezones import DEFAULT_TIMEZONE
from components.common.wallclock import local_times

MISSING = "__missing__"


def as_text(frame: pd.DataFrame) -> np.ndarray:
    """Categorical columns as text, missing values as one explicit category (None is not NaN to sklearn)."""
    frame = pd.DataFrame(frame)
    return frame.astype(object).where(frame.notna(), MISSING).astype(str).to_numpy()


def as_numbers(frame: pd.DataFrame) -> np.ndarray:
    """Numeric columns as float (nullable integers and None become NaN)."""
    return pd.DataFrame(frame).apply(pd.to_numeric, errors="coerce").astype("float64").to_numpy()


def calendar_parts(
    frame: pd.DataFrame, parts: Sequence[str] = ("hour", "dayofweek", "month"), timezone: str = DEFAULT_TIMEZONE
) -> np.ndarray:
    """Calendar features of timestamp columns (datetime values or ISO text) in a time zone.

    Aware timestamps are converted to the zone, naive ones are read as its local times
    (:func:`components.common.timezones.local_times`). The fitted pipeline holds the zone, so
    serving computes the parts training computed without reading the use case.

    Unparseable or missing timestamps give NaN, imputed afterwards.
    """
    columns = []
    for name in pd.DataFrame(frame).columns:
        times = local_times(pd.DataFrame(frame)[name], timezone)
        for part in parts:
            if part == "weekend":
                values = (times.dt.dayofweek >= 5).astype("float64").where(times.notna())
            else:
                values = getattr(times.dt, part).astype("float64")
            columns.append(values.to_numpy())
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def splits_on_categories(estimator: object) -> bool:
    """Whether an estimator splits on categories itself (HistGradientBoosting's ``categorical_features``)."""
    get_params = getattr(estimator, "get_params", None)
    return get_params is not None and "categorical_features" in get_params()


def build_preprocessor(
    config: UseCaseConfig, column_types: dict[str, str] | None = None, native_categories: bool = False
) -> ColumnTransformer:
    """Builds the (unfitted) feature transformer of a use case.

    Args:
        config: The use case: feature kinds and preprocessing settings.
        column_types: Schema type per column (INT, FLOAT, BYTES); when given, a numeric feature the
            schema types as text is refused, since it would silently become all-missing.
        native_categories: Give the estimator the categories themselves: one ordinal code per categorical
            feature (unseen become -1, which HistGradientBoosting reads as missing), in the first columns,
            so the estimator's ``categorical_features`` are ``0 .. len(categorical) - 1``. Otherwise the
            configured ``categorical_encoding`` applies (``native`` meaning one-hot).

    Raises:
        ConfigError: If a feature's kind contradicts the schema.
    """
    spec = config.preprocessing
    features = config.features
    for name in features.numeric:
        if column_types and column_types.get(name) == "BYTES":
            raise ConfigError(
                f"feature {name!r} is listed as numeric but the schema types it as text",
                hint="move it to features.categorical, or fix the data",
            )
    numeric_steps = [
        FunctionTransformer(as_numbers, feature_names_out="one-to-one"),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
    ]
    if spec.scale_numeric:
        numeric_steps.append(StandardScaler())
    if not native_categories and spec.categorical_encoding in ("onehot", "native"):
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=spec.max_categories, sparse_output=False
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, max_categories=spec.max_categories
        )
    transformers = []
    categorical = (
        "categorical",
        make_pipeline(FunctionTransformer(as_text, feature_names_out="one-to-one"), encoder),
        list(features.categorical),
    )
    if features.categorical and native_categories:
        transformers.append(categorical)
    if features.numeric:
        transformers.append(("numeric", make_pipeline(*numeric_steps), list(features.numeric)))
    if features.categorical and not native_categories:
        transformers.append(categorical)
    if features.datetime and spec.datetime_parts:
        calendar = FunctionTransformer(
            calendar_parts, kw_args={"parts": tuple(spec.datetime_parts), "timezone": config.timezone}
        )
        calendar_steps = [calendar, SimpleImputer(strategy="most_frequent", keep_empty_features=True)]
        if spec.scale_numeric:  # unscaled day-of-year next to scaled numbers slows linear models tenfold
            calendar_steps.append(StandardScaler())
        transformers.append(("datetime", make_pipeline(*calendar_steps), list(features.datetime)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def model_pipeline(config: UseCaseConfig, estimator: object, column_types: dict[str, str] | None = None) -> Pipeline:
    """The full model: the feature transformer followed by the estimator, fitted as one.

    With ``categorical_encoding: native``, an estimator that splits on categories itself gets them as
    ordinal codes and its ``categorical_features`` set to them (on a copy: the estimator passed in is left as
    it is); any other estimator gets one-hot columns.
    """
    native = (
        config.preprocessing.categorical_encoding == "native"
        and bool(config.features.categorical)
        and splits_on_categories(estimator)
    )
    if native:
        estimator = clone(estimator).set_params(categorical_features=list(range(len(config.features.categorical))))
    return Pipeline(
        [("preprocess", build_preprocessor(config, column_types, native_categories=native)), ("model", estimator)]
    )
