"""The compiled ColumnTransformer against scikit-learn's: imputers, scaler, encoder lookups, calendar parts.

The preprocessed matrix must be bit for bit the ColumnTransformer's; infrequent and unseen
categories, passthrough and dropped columns, infinite numbers and unknown categories are handled
(or refused) exactly where scikit-learn handles (or refuses) them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler
from unit.serve.synthetic import (
    FAMILIES,
    SERVING_FORM,
    assert_same,
    config_for,
    features,
    hard_rows,
    synthetic_rows,
)

from components.common.errors import DataError, UserError
from components.preprocess.logic import as_numbers, as_text
from components.serve.fastpath import UnsupportedModel, compile_model
from components.train.logic import fit
from components.train.trials import Trial

# Convergence does not matter here: the fast path must equal whatever the estimator learned.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_preprocessed_matrix_is_bit_for_bit_the_column_transformers(fitted):
    pipeline, fast, config, test = fitted
    rows = features(test, config)
    expected = pipeline[:-1].transform(rows)
    assert fast.n_features_out == expected.shape[1]
    np.testing.assert_array_equal(fast.transform(rows), expected)


def test_unseen_category_is_encoded_like_the_infrequent_group():
    config = config_for("onehot")
    pipeline, _ = fit(synthetic_rows(1200, seed=1), config, Trial("logistic_regression", {"C": 0.5}))
    fast = compile_model(pipeline)
    row = features(hard_rows(), config).iloc[[1]]
    unseen, rare, common = (fast.transform(row.assign(color=color)) for color in ("purple", "white", "red"))
    np.testing.assert_array_equal(unseen, rare)
    assert not np.array_equal(unseen, common)
    encoder = pipeline.named_steps["preprocess"].named_transformers_["categorical"][-1]
    assert "white" in encoder.infrequent_categories_[0]  # the case is what it claims to be


# --- refused where scikit-learn refuses ----------------------------------------------------------


def test_an_infinite_number_is_refused_like_the_pipelines_imputer_refuses_it(boosted):
    pipeline, fast = boosted
    columns = {**SERVING_FORM, "amount": np.array([np.inf, 1.0, 2.0])}
    with pytest.raises(ValueError, match="infinity"):
        pipeline.predict_proba(pd.DataFrame(columns))
    with pytest.raises(DataError, match="'amount'.*infinite"):
        fast.predict_proba(columns)


def test_an_unseen_category_is_refused_where_the_encoder_refuses_it():
    rows = synthetic_rows(400, seed=3)
    encoder = make_pipeline(FunctionTransformer(as_text), OneHotEncoder(handle_unknown="error", sparse_output=False))
    pipeline = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("categorical", encoder, ["color"]),
                        ("numeric", make_pipeline(FunctionTransformer(as_numbers), SimpleImputer()), ["ratio"]),
                    ]
                ),
            ),
            ("model", LogisticRegression()),
        ]
    ).fit(rows[["color", "ratio"]], rows["label"])
    fast = compile_model(pipeline)
    assert_same(fast, pipeline, rows[["color", "ratio"]])
    unseen = pd.DataFrame({"color": ["purple"], "ratio": [0.5]})
    with pytest.raises(ValueError, match="unknown categor"):
        pipeline.predict_proba(unseen)
    with pytest.raises(DataError, match="'color'.*'purple'"):
        fast.predict_proba(unseen)


# --- passthrough, drop, missing values reaching the estimator -------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        HistGradientBoostingClassifier(max_iter=20, random_state=0),
        RandomForestClassifier(n_estimators=8, random_state=0),
        LogisticRegression(),
    ],
    ids=type,
)
def test_passthrough_and_drop_columns_and_missing_values_in_the_trees(estimator):
    rows = synthetic_rows(800, seed=4)
    rows["raw"] = np.where(rows["amount"].isna(), np.nan, rows["ratio"] * 10)  # NaN reaches the estimator
    frame = rows[["amount", "color", "raw"]]
    numeric = make_pipeline(
        FunctionTransformer(as_numbers), SimpleImputer(strategy="mean"), StandardScaler(with_mean=False)
    )
    preprocess = ColumnTransformer(
        [("numeric", numeric, ["amount"]), ("gone", "drop", ["color"])], remainder="passthrough"
    )  # raw by position
    if isinstance(estimator, LogisticRegression):
        frame = frame.assign(raw=frame["raw"].fillna(0.0))
    pipeline = Pipeline([("preprocess", preprocess), ("model", estimator)]).fit(frame, rows["label"])
    fast = compile_model(pipeline)
    assert fast.feature_names == ("amount", "raw")
    assert_same(fast, pipeline, frame)
    assert_same(fast, pipeline, frame.iloc[[int(np.flatnonzero(rows["raw"].isna())[0])]])
    if isinstance(estimator, LogisticRegression):
        with pytest.raises(ValueError):
            pipeline.predict_proba(frame.assign(raw=np.nan))
        with pytest.raises(DataError, match="row 0: a missing value, which logistic regression refuses"):
            fast.predict_proba(frame.assign(raw=np.nan))


# --- preprocessing the fast path refuses -----------------------------------------------------------


def refused_preprocessing():
    """Pipelines whose ColumnTransformer the fast path does not know, by case (built when called)."""
    rows = synthetic_rows(300, seed=7)
    frame, labels = rows[["amount", "color"]], rows["label"]

    def pipeline(preprocess, model):
        return Pipeline([("preprocess", preprocess), ("model", model)]).fit(frame, labels)

    return {
        "unknown step": lambda: pipeline(
            ColumnTransformer(
                [
                    (
                        "numeric",
                        make_pipeline(FunctionTransformer(as_numbers), SimpleImputer(), MinMaxScaler()),
                        ["amount"],
                    )
                ]
            ),
            LogisticRegression(),
        ),
        "unknown function": lambda: pipeline(
            ColumnTransformer([("numeric", FunctionTransformer(np.log1p), ["amount"])]),
            HistGradientBoostingClassifier(max_iter=5),
        ),
        "sparse output": lambda: pipeline(
            ColumnTransformer(
                [
                    (
                        "categorical",
                        make_pipeline(FunctionTransformer(as_text), OneHotEncoder(sparse_output=True)),
                        ["color"],
                    )
                ],
                sparse_threshold=1.0,
            ),
            LogisticRegression(),
        ),
        "fitted on an array": lambda: Pipeline(
            [("preprocess", ColumnTransformer([("numeric", "passthrough", [0])])), ("model", LogisticRegression())]
        ).fit(np.c_[np.arange(300.0)], labels),
    }


@pytest.mark.parametrize("case", list(refused_preprocessing()))
def test_preprocessing_it_cannot_reproduce_is_refused_with_a_reason(case):
    with pytest.raises(UnsupportedModel) as raised:
        compile_model(refused_preprocessing()[case]())
    assert isinstance(raised.value, UserError) and raised.value.reason and "scikit-learn" in raised.value.hint


# --- calendar parts in the model's time zone ----------------------------------------------------


@pytest.fixture(scope="module")
def new_york():
    """A model of the synthetic use case whose calendar parts are New York's, and its fast path."""
    config = dataclasses.replace(config_for("onehot"), timezone="America/New_York")
    pipeline, _ = fit(
        synthetic_rows(1200, seed=1), config, Trial("logistic_regression", FAMILIES["logistic_regression"])
    )
    return pipeline, compile_model(pipeline)


def zoned_texts(count: int, seed: int) -> list[str]:
    """ISO timestamps of every style (UTC, offsets, naive, dates), around both daylight-saving nights too."""
    rng = np.random.default_rng(seed)
    seconds = rng.integers(-30 * 365 * 86_400, 150 * 365 * 86_400, size=count)
    moments = list(pd.Timestamp("1970-01-01") + pd.to_timedelta(seconds, unit="s"))
    moments += [
        pd.Timestamp(f"2013-{day} {hour}") for day in ("03-10", "11-03") for hour in ("01:30", "02:30", "06:30")
    ]
    texts = []
    for i, moment in enumerate(moments):
        style = i % 5
        offset = int(rng.integers(-12 * 4, 14 * 4)) * 15
        if style == 0:
            texts.append(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        elif style == 1:
            texts.append(moment.strftime("%Y-%m-%d %H:%M:%S"))
        elif style == 2:
            texts.append(moment.strftime("%Y-%m-%d"))
        elif style == 3:
            texts.append(moment.strftime("%Y-%m-%dT%H:%M"))
        else:
            sign, minutes = ("+" if offset >= 0 else "-"), abs(offset)
            texts.append(moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}")
    return texts


def test_calendar_parts_in_a_time_zone_are_bit_for_bit_the_pipelines_on_text_and_datetime_columns(new_york):
    pipeline, fast = new_york
    texts = zoned_texts(406, seed=11)
    rows = {k: np.resize(v, len(texts)) for k, v in SERVING_FORM.items()}
    naive = pd.to_datetime(pd.Series(texts), utc=True).dt.tz_localize(None).to_numpy()
    aware = pd.Series(pd.to_datetime(pd.Series(texts), utc=True))
    for seen_at in (np.array(texts, dtype=object), naive, aware):
        frame = pd.DataFrame({**rows, "seen_at": seen_at})
        np.testing.assert_array_equal(fast.transform(frame), pipeline[:-1].transform(frame))
        assert_same(fast, pipeline, frame)


def test_the_fast_path_reads_aware_times_in_the_models_zone_and_naive_ones_as_its_local_times(new_york):
    pipeline, fast = new_york
    calendar = pipeline.named_steps["preprocess"].named_transformers_["datetime"].steps[0][1]
    utc_evening = {
        **{k: v[:2] for k, v in SERVING_FORM.items()},
        "seen_at": ["2013-08-31T02:30:00Z", "2013-08-30 22:30"],
    }
    parts = calendar.transform(pd.DataFrame({"seen_at": utc_evening["seen_at"]}))
    assert parts[:, :2].tolist() == [[22.0, 4.0], [22.0, 4.0]]  # Friday 22:30 in New York, both
    np.testing.assert_array_equal(fast.transform(utc_evening), pipeline[:-1].transform(pd.DataFrame(utc_evening)))


def test_a_model_trained_before_time_zones_reads_its_times_in_utc(boosted):
    pipeline, fast = boosted
    calendar = pipeline.named_steps["preprocess"].named_transformers_["datetime"].steps[0][1]
    calendar.kw_args.pop("timezone")  # as pickled before models held a time zone
    rows = {**{k: v[:1] for k, v in SERVING_FORM.items()}, "seen_at": np.array(["2013-08-31T02:30:00Z"], dtype=object)}
    try:
        assert compile_model(pipeline).transform(rows).tolist() == fast.transform(rows).tolist()
        assert calendar.transform(pd.DataFrame({"seen_at": rows["seen_at"]}))[0, :2].tolist() == [2.0, 5.0]
    finally:
        calendar.kw_args["timezone"] = "UTC"
