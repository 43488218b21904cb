"""The fast prediction path against scikit-learn itself, the reference, on synthetic use cases.

Every comparison runs the fitted scikit-learn pipeline on the same rows (as a DataFrame, or
``pd.DataFrame(columns)`` for a mapping) and requires probabilities equal to 1e-9, for every model
family, both encodings, binary and multiclass labels, missing values, unseen and infrequent
categories, single rows and batches, and each input form the fast readers accept or hand back to
pandas.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

from components.common.config import parse_use_case
from components.common.errors import DataError, UserError
from components.preprocess.logic import as_numbers, as_text, calendar_parts, model_pipeline
from components.serve import fastpath
from components.serve.fastpath import FastModel, UnsupportedModel, compile_model
from components.train.logic import Trial, fit, split_xy

# Convergence does not matter here: the fast path must equal whatever the estimator learned.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
TOLERANCE = 1e-9
COLORS = ["red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"]
COLOR_SHARES = [0.3, 0.25, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02]  # with max_categories 4 the tail is infrequent

CONFIG = """
name: synth
sources: {{rows: {{uri: rows.csv}}}}
target: {{name: label}}
features:
  numeric: [amount, count, ratio, blank]
  categorical: [color, level]
  datetime: [seen_at]
split: {{method: hash, key: [row_id]}}
preprocessing:
  scale_numeric: {scale}
  categorical_encoding: {encoding}
  max_categories: 4
  datetime_parts: [hour, dayofweek, month, dayofyear, weekend]
"""

FAMILIES = {
    "hist_gradient_boosting": {"max_iter": 25, "max_leaf_nodes": 7},
    "logistic_regression": {"C": 0.5},
    "random_forest": {"n_estimators": 12},  # no depth limit: deep, uneven trees
}
ENCODINGS = {"onehot": True, "ordinal": False}  # encoding -> scale_numeric


def synthetic_rows(rows: int, seed: int, classes: int = 2) -> pd.DataFrame:
    """Rows with every kind of feature, gaps in each, a skewed category and a learnable label."""
    rng = np.random.default_rng(seed)
    color = rng.choice(COLORS, size=rows, p=COLOR_SHARES).astype(object)
    color[rng.random(rows) < 0.05] = None
    level = pd.array(rng.integers(1, 5, size=rows), dtype="Int64")
    level[rng.random(rows) < 0.05] = pd.NA
    amount = rng.normal(100, 30, size=rows)
    amount[rng.random(rows) < 0.08] = np.nan
    count = pd.array(rng.integers(0, 20, size=rows), dtype="Int64")
    count[rng.random(rows) < 0.05] = pd.NA
    seconds = rng.integers(0, 400 * 86_400, size=rows)
    seen_at = pd.Series(pd.Timestamp("2023-06-01", tz="UTC") + pd.to_timedelta(seconds, unit="s"))
    seen_at[rng.random(rows) < 0.05] = pd.NaT
    score = (
        np.nan_to_num(amount - 100) / 25
        + np.isin(color, ["red", "cyan", "black"]) * 1.2
        - (level == 2).to_numpy(dtype=bool, na_value=False) * 0.8
        + (seen_at.dt.hour.fillna(0).to_numpy() >= 12) * 0.7
        + rng.normal(0, 0.7, size=rows)
    )
    label = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    return pd.DataFrame(
        {
            "row_id": np.arange(rows),
            "amount": amount,
            "count": count,
            "ratio": rng.random(rows),
            "blank": np.full(rows, np.nan),  # never seen in training: imputed as 0 with an indicator
            "color": color,
            "level": level,
            "seen_at": seen_at,
            "label": label,
        }
    )


def hard_rows() -> pd.DataFrame:
    """Rows production sends and training never saw: unseen and rare categories, gaps everywhere."""
    rows = synthetic_rows(8, seed=99)
    rows.loc[0, "color"] = "purple"  # unseen
    rows.loc[1, "color"] = "white"  # infrequent
    rows.loc[2, ["amount", "count", "color", "level", "seen_at"]] = [np.nan, pd.NA, None, pd.NA, pd.NaT]
    rows.loc[3, "level"] = 9  # unseen integer category
    rows.loc[4, "blank"] = 3.5  # a value where training had none
    rows.loc[5, "amount"] = 1e6  # far outside the training range
    rows.loc[6, "seen_at"] = pd.Timestamp("1969-12-31T23:59:59", tz="UTC")  # before the epoch
    rows.loc[7, "color"] = "__missing__"  # the missing marker itself, sent as text
    return rows


def config_for(encoding: str):
    return parse_use_case(CONFIG.format(scale=str(ENCODINGS[encoding]).lower(), encoding=encoding))


@pytest.fixture(
    scope="module",
    params=[(f, e, c) for f in FAMILIES for e in ENCODINGS for c in (2, 3)],
    ids=lambda p: f"{p[0]}-{p[1]}-{p[2]}class",
)
def fitted(request):
    """(pipeline, fast model, config, test rows) for one family, encoding and number of classes."""
    family, encoding, classes = request.param
    config = config_for(encoding)
    pipeline, _ = fit(synthetic_rows(1200, seed=1, classes=classes), config, Trial(family, FAMILIES[family]))
    test = pd.concat([synthetic_rows(300, seed=2, classes=classes), hard_rows()], ignore_index=True)
    return pipeline, compile_model(pipeline), config, test


def features(frame: pd.DataFrame, config) -> pd.DataFrame:
    return frame[list(config.features.all())]


def assert_same(fast: FastModel, pipeline: Pipeline, columns) -> None:
    """The fast path's probabilities equal scikit-learn's on the same rows, to 1e-9."""
    frame = columns if isinstance(columns, pd.DataFrame) else pd.DataFrame(columns)
    expected = pipeline.predict_proba(frame)
    actual = fast.predict_proba(columns)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE)


# --- equality with scikit-learn --------------------------------------------------------------


def test_batch_probabilities_equal_scikit_learn(fitted):
    pipeline, fast, config, test = fitted
    assert_same(fast, pipeline, features(test, config))


def test_single_rows_equal_scikit_learn_including_unseen_missing_and_infrequent(fitted):
    pipeline, fast, config, test = fitted
    rows = features(test, config)
    for index in [*range(len(rows) - 8, len(rows)), 0, 1, 2, 3]:  # every hard row, and some plain ones
        assert_same(fast, pipeline, rows.iloc[[index]])


def test_preprocessed_matrix_is_bit_for_bit_the_column_transformers(fitted):
    pipeline, fast, config, test = fitted
    rows = features(test, config)
    expected = pipeline[:-1].transform(rows)
    assert fast.n_features_out == expected.shape[1]
    np.testing.assert_array_equal(fast.transform(rows), expected)


def test_reports_classes_and_feature_names_of_the_pipeline(fitted):
    pipeline, fast, config, _ = fitted
    np.testing.assert_array_equal(fast.classes_, pipeline.classes_)
    assert fast.feature_names == tuple(config.features.all())


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


# --- input forms ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boosted():
    """A boosted model (one-hot, scaled) of the synthetic use case, and its fast path."""
    config = config_for("onehot")
    pipeline, _ = fit(
        synthetic_rows(1200, seed=1), config, Trial("hist_gradient_boosting", FAMILIES["hist_gradient_boosting"])
    )
    return pipeline, compile_model(pipeline)


SERVING_FORM = {  # what request validation hands over: typed numpy arrays
    "amount": np.array([120.5, np.nan, 80.0]),
    "count": np.array([3.0, 7.0, np.nan]),
    "ratio": np.array([0.1, 0.5, 0.9]),
    "blank": np.array([np.nan, np.nan, 1.0]),
    "color": np.array(["red", None, "purple"], dtype=object),
    "level": np.array([2, None, 4], dtype=object),
    "seen_at": np.array(["2024-01-05T13:00:00", "NaT", "2023-07-01T08:30:00"], dtype="datetime64[ns]"),
}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"amount": [120.5, None, 80], "count": [3, 7, None], "ratio": [0.1, 0.5, 0.9], "blank": [None, None, 1]},
        {"color": ["red", None, "purple"], "level": [2, None, 4]},  # ints with a gap: pandas makes "2.0"
        {"level": np.array([2, 3, 4]), "color": np.array(["red", "blue", "cyan"])},
        {"level": np.array([2.0, np.nan, 4.0]), "color": np.array(["white", np.nan, pd.NA], dtype=object)},
        {"level": pd.Series([2, None, 4], dtype="Int64"), "count": pd.Series([3, None, 7], dtype="Int64")},
        {
            "amount": np.array([120.5, 3.0, 80.0], dtype=np.float32),
            "count": np.array([1, 2, 3], dtype=np.uint8),
            "ratio": np.array([True, False, True]),
        },
        {
            "amount": np.array([12, None, 7.5], dtype=object),
            "count": np.array([np.int64(3), np.nan, pd.NA], dtype=object),
        },
        {"seen_at": ["2024-01-05T13:00:00Z", None, "2023-07-01 08:30:00+02:00"]},
        {"seen_at": np.array(["2024-02-29", "2023-12-31T23:30:00-05:00", "2024-03-31T01:59:59.123456Z"], dtype=object)},
        {
            "seen_at": pd.Series(
                pd.to_datetime(["2024-01-05 13:00", None, "2023-07-01 08:30"]).tz_localize("America/New_York")
            )
        },
        {
            "seen_at": np.array(
                ["1960-02-29T10:00:00", "2199-12-31T23:00:00", "1970-01-01T00:00:00"], dtype="datetime64[ns]"
            )
        },
        # forms the fast readers hand to the pipeline's own functions (pandas decides)
        {"amount": ["12.5", "abc", None], "ratio": np.array(["1e-3", " 7 ", "nan"], dtype=object)},
        {
            "color": pd.Series(["red", None, "teal"], dtype="category"),
            "level": pd.Series(["2", None, "x"], dtype="string"),
        },
        {"level": np.array([dt.datetime(2024, 1, 1), None, 3], dtype=object)},
        {"seen_at": ["01/02/2024 10:00", "2024-02-30T00:00:00", "not a time"]},
        {"seen_at": ["1500-01-01T00:00:00", "2024-01-05T13:00:00Z", None]},
        {"seen_at": np.array([dt.datetime(2024, 1, 5, 13), pd.Timestamp("2024-01-05T13:00Z"), None], dtype=object)},
        {"seen_at": np.array(["2024-01-05T13:00", "2024-01-05", "NaT"], dtype="datetime64[s]")},
    ],
    ids=lambda change: "+".join(f"{k}:{type(v).__name__}" for k, v in change.items()) or "serving-form",
)
def test_every_input_form_gives_what_scikit_learn_gives_on_the_same_frame(boosted, change):
    pipeline, fast = boosted
    assert_same(fast, pipeline, {**SERVING_FORM, **change})


def test_typed_serving_columns_never_go_through_pandas(boosted, monkeypatch):
    pipeline, fast = boosted
    expected = pipeline.predict_proba(pd.DataFrame(SERVING_FORM))

    def refuse(name, values):
        raise AssertionError(f"column {name!r} fell back to pandas")

    monkeypatch.setattr(fastpath, "_as_frame", refuse)
    np.testing.assert_allclose(fast.predict_proba(SERVING_FORM), expected, rtol=0, atol=TOLERANCE)
    text_times = {
        **SERVING_FORM,
        "seen_at": np.array(["2024-01-05T13:00:00Z", None, "2023-07-01 08:30:00"], dtype=object),
    }
    np.testing.assert_allclose(fast.predict_proba(text_times), expected, rtol=0, atol=TOLERANCE)


def test_a_dataframe_with_extra_and_reordered_columns_is_read_by_name(boosted):
    pipeline, fast = boosted
    frame = pd.DataFrame(SERVING_FORM)[["seen_at", "level", "color", "amount", "count", "ratio", "blank"]].assign(
        extra="x"
    )
    assert_same(fast, pipeline, frame)


def test_iso_timestamps_give_pandas_calendar_parts_on_many_instants(boosted):
    pipeline, fast = boosted
    rng = np.random.default_rng(5)
    seconds = rng.integers(-60 * 365 * 86_400, 200 * 365 * 86_400, size=400)  # 1910 to 2170
    moments = pd.Timestamp("1970-01-01") + pd.to_timedelta(seconds, unit="s")
    offsets = rng.integers(-12 * 4, 14 * 4, size=400) * 15
    texts = []
    for moment, offset, style in zip(moments, offsets, rng.integers(0, 5, size=400), strict=True):
        if style == 0:
            texts.append(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        elif style == 1:
            texts.append(moment.strftime("%Y-%m-%d %H:%M:%S"))
        elif style == 2:
            texts.append(moment.strftime("%Y-%m-%d"))
        elif style == 3:
            texts.append(moment.strftime("%Y-%m-%dT%H:%M"))
        else:
            sign, minutes = ("+" if offset >= 0 else "-"), abs(int(offset))
            texts.append(moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}")
    columns = {**{k: np.resize(v, 400) for k, v in SERVING_FORM.items()}, "seen_at": np.array(texts, dtype=object)}
    fast_parts = fast.transform(columns)
    np.testing.assert_array_equal(fast_parts, pipeline[:-1].transform(pd.DataFrame(columns)))
    expected = calendar_parts(pd.DataFrame({"t": texts}), parts=("hour", "dayofweek", "month", "dayofyear", "weekend"))
    np.testing.assert_array_equal(
        fastpath._calendar(
            fastpath._read_instants(np.array(texts, dtype=object)),
            ("hour", "dayofweek", "month", "dayofyear", "weekend"),
        ),
        expected,
    )


# --- bad input: refused where scikit-learn refuses it -----------------------------------------


def test_absent_columns_unequal_lengths_and_no_rows_are_data_errors(boosted):
    _, fast = boosted
    without = {k: v for k, v in SERVING_FORM.items() if k != "color"}
    with pytest.raises(DataError, match="'color' is absent"):
        fast.predict_proba(without)
    with pytest.raises(DataError, match="different lengths"):
        fast.predict_proba({**SERVING_FORM, "ratio": np.array([0.1, 0.2])})
    with pytest.raises(DataError, match="1-D"):
        fast.predict_proba({**SERVING_FORM, "ratio": 0.5})
    with pytest.raises(DataError, match="no rows"):
        fast.predict_proba(pd.DataFrame(SERVING_FORM).iloc[:0])
    with pytest.raises(DataError, match="DataFrame or a mapping"):
        fast.predict_proba([[1, 2, 3]])


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


# --- passthrough, drop, missing values reaching the trees, many rows -------------------------


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
        with pytest.raises(DataError, match="missing or infinite"):
            fast.predict_proba(frame.assign(raw=np.nan))


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "random_forest"])
def test_large_batches_in_small_chunks_and_both_boosting_paths_agree(family, monkeypatch):
    config = config_for("ordinal")
    pipeline, _ = fit(synthetic_rows(1200, seed=1, classes=3), config, Trial(family, FAMILIES[family]))
    fast = compile_model(pipeline)
    rows = features(synthetic_rows(700, seed=6, classes=3), config)
    expected = pipeline.predict_proba(rows)
    monkeypatch.setattr(fastpath, "_TREE_CELLS", 50)  # a few rows per chunk
    for numpy_rows in (0, 10**9):  # boosting: compiled predictors for all rows, then the numpy walk for all
        monkeypatch.setattr(fastpath, "_HGB_NUMPY_ROWS", numpy_rows)
        np.testing.assert_allclose(fast.predict_proba(rows), expected, rtol=0, atol=TOLERANCE)


# --- baselines ---------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["prior", "most_frequent", "uniform"])
def test_majority_baselines_alone_and_after_preprocessing(strategy):
    config = config_for("onehot")
    train = synthetic_rows(500, seed=1, classes=3)
    x, y = split_xy(train, config)
    test = features(synthetic_rows(50, seed=2), config)
    alone = Pipeline([("model", DummyClassifier(strategy=strategy))]).fit(x, y)
    preprocessed = model_pipeline(config, DummyClassifier(strategy=strategy)).fit(x, y)
    for pipeline in (alone, preprocessed):
        fast = compile_model(pipeline)
        assert_same(fast, pipeline, test)
        assert_same(fast, pipeline, test.iloc[[3]])
    assert compile_model(alone).predict_proba({"anything": [1, 2]}).shape == (2, 3)


# --- models the fast path refuses ------------------------------------------------------------


def refused_pipelines():
    rows = synthetic_rows(300, seed=7)
    frame, labels = rows[["amount", "color"]], rows["label"]
    numeric = make_pipeline(FunctionTransformer(as_numbers), SimpleImputer())
    text = make_pipeline(FunctionTransformer(as_text), OrdinalEncoder())

    def pipeline(preprocess, model):
        return Pipeline([("preprocess", preprocess), ("model", model)]).fit(frame, labels)

    both = ColumnTransformer([("numeric", numeric, ["amount"]), ("categorical", text, ["color"])])
    return {
        "not a pipeline": HistGradientBoostingClassifier(max_iter=5).fit(frame[["amount"]], labels),
        "unknown estimator": pipeline(both, GradientBoostingClassifier(n_estimators=5)),
        "unknown step": pipeline(
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
        "unknown function": pipeline(
            ColumnTransformer([("numeric", FunctionTransformer(np.log1p), ["amount"])]),
            HistGradientBoostingClassifier(max_iter=5),
        ),
        "native categories": pipeline(both, HistGradientBoostingClassifier(max_iter=5, categorical_features=[1])),
        "sparse output": pipeline(
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
        "fitted on an array": Pipeline(
            [("preprocess", ColumnTransformer([("numeric", "passthrough", [0])])), ("model", LogisticRegression())]
        ).fit(np.c_[np.arange(300.0)], labels),
    }


@pytest.mark.parametrize("case", list(refused_pipelines()))
def test_what_it_cannot_reproduce_is_refused_with_a_reason(case):
    with pytest.raises(UnsupportedModel) as raised:
        compile_model(refused_pipelines()[case])
    assert isinstance(raised.value, UserError) and raised.value.reason and "scikit-learn" in raised.value.hint


def test_a_compiled_path_that_disagrees_with_scikit_learn_is_refused_at_compile_time(monkeypatch):
    config = config_for("onehot")
    pipeline, _ = fit(synthetic_rows(600, seed=1), config, Trial("logistic_regression", {"C": 0.5}))
    compile_model(pipeline)  # agrees as it is
    original = fastpath._Scale.apply
    monkeypatch.setattr(
        fastpath._Scale, "apply", lambda self, values, columns: original(self, values, columns) * (1 + 1e-7)
    )
    with pytest.raises(UnsupportedModel, match="differs from scikit-learn"):
        compile_model(pipeline)


def test_another_scikit_learn_version_is_refused(monkeypatch):
    config = config_for("onehot")
    pipeline, _ = fit(synthetic_rows(300, seed=1), config, Trial("logistic_regression", {}))
    monkeypatch.setattr(fastpath.sklearn, "__version__", "1.7.0")
    with pytest.raises(UnsupportedModel, match="1.7.0"):
        compile_model(pipeline)
