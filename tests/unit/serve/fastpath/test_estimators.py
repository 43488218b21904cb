"""The compiled trees and linear models against scikit-learn's: chunked batches, both boosting paths, baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Lasso, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder
from unit.serve.synthetic import (
    FAMILIES,
    TOLERANCE,
    assert_same,
    config_for,
    features,
    fit_regressor,
    hard_rows,
    synthetic_rows,
)

from components.common.errors import DataError, UserError
from components.preprocess.logic import as_numbers, as_text, model_pipeline
from components.serve.fastpath import UnsupportedModel, compile_model, estimators
from components.train.logic import fit, split_xy
from components.train.trials import Trial

# Convergence does not matter here: the fast path must equal whatever the estimator learned.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "random_forest"])
def test_large_batches_in_small_chunks_and_both_boosting_paths_agree(family, monkeypatch):
    config = config_for("ordinal")
    pipeline, _ = fit(synthetic_rows(1200, seed=1, classes=3), config, Trial(family, FAMILIES[family]))
    fast = compile_model(pipeline)
    rows = features(synthetic_rows(700, seed=6, classes=3), config)
    expected = pipeline.predict_proba(rows)
    monkeypatch.setattr(estimators, "TREE_CELLS", 50)  # a few rows per chunk
    for numpy_rows, few_rows in ((0, 0), (10**9, 0), (10**9, 10**9)):
        # boosting: compiled predictors for all rows, then numpy for all (deciding reached nodes, then all nodes)
        monkeypatch.setattr(estimators, "HGB_NUMPY_ROWS", numpy_rows)
        monkeypatch.setattr(estimators, "FEW_ROWS", few_rows)
        np.testing.assert_allclose(fast.predict_proba(rows), expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "random_forest"])
def test_regressor_batches_in_small_chunks_and_both_boosting_paths_agree(family, monkeypatch):
    config = config_for("ordinal")
    pipeline = fit_regressor(family, config, synthetic_rows(1200, seed=1, regression=True))
    fast = compile_model(pipeline)
    rows = features(synthetic_rows(700, seed=6), config)
    expected = pipeline.predict(rows)
    monkeypatch.setattr(estimators, "TREE_CELLS", 50)
    for numpy_rows in (0, 10**9):
        monkeypatch.setattr(estimators, "HGB_NUMPY_ROWS", numpy_rows)
        np.testing.assert_allclose(fast.predict(rows), expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("loss", ["poisson", "gamma", "absolute_error"])
def test_boosted_regressors_with_a_log_link_or_another_loss_equal_scikit_learn(loss):
    config = config_for("onehot")
    rows = synthetic_rows(800, seed=1, regression=True)
    rows["label"] = rows["label"].clip(lower=0.5)  # poisson and gamma need positive targets
    model = HistGradientBoostingRegressor(max_iter=15, loss=loss, random_state=0)
    pipeline = model_pipeline(config, model).fit(features(rows, config), rows["label"])
    test = features(synthetic_rows(200, seed=3), config)
    assert_same(compile_model(pipeline), pipeline, test)
    assert_same(compile_model(pipeline), pipeline, test.iloc[[7]])


@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_mean_baselines_alone_and_after_preprocessing(strategy):
    config = config_for("onehot")
    x, y = split_xy(synthetic_rows(500, seed=1, regression=True), config)
    test = features(synthetic_rows(50, seed=2), config)
    alone = Pipeline([("model", DummyRegressor(strategy=strategy))]).fit(x, y)
    preprocessed = model_pipeline(config, DummyRegressor(strategy=strategy)).fit(x, y)
    for pipeline in (alone, preprocessed):
        assert_same(compile_model(pipeline), pipeline, test)
    np.testing.assert_array_equal(
        compile_model(alone).predict({"anything": [1, 2]}), np.full(2, y.mean() if strategy == "mean" else y.median())
    )


def test_ridge_refuses_a_missing_model_input_as_scikit_learn_does():
    config = config_for("onehot")
    x, y = split_xy(synthetic_rows(300, seed=1, regression=True), config)
    numeric = make_pipeline(FunctionTransformer(as_numbers))  # no imputer: a gap reaches the estimator
    pipeline = Pipeline([("preprocess", ColumnTransformer([("numeric", numeric, ["ratio"])])), ("model", Ridge())])
    pipeline.fit(x.assign(ratio=x["ratio"].fillna(0.5)), y)
    fast = compile_model(pipeline)
    with pytest.raises(ValueError):
        pipeline.predict(x.head(2).assign(ratio=[np.nan, 0.2]))
    with pytest.raises(DataError, match="row 0: a missing value, which the linear model refuses"):
        fast.predict(x.head(2).assign(ratio=[np.nan, 0.2]))


def test_native_categories_split_the_trees_and_both_boosting_paths_agree_on_unseen_and_missing_ones(monkeypatch):
    config = config_for("native")
    pipeline, _ = fit(
        synthetic_rows(1200, seed=1, classes=3),
        config,
        Trial("hist_gradient_boosting", FAMILIES["hist_gradient_boosting"]),
    )
    model = pipeline.named_steps["model"]
    assert model.is_categorical_.tolist()[:2] == [True, True] and not model.is_categorical_[2:].any()
    assert any(tree.nodes["is_categorical"].any() for trees in model._predictors for tree in trees)
    fast = compile_model(pipeline)
    rows = features(pd.concat([synthetic_rows(300, seed=6, classes=3), hard_rows()], ignore_index=True), config)
    expected = pipeline.predict_proba(rows)
    for numpy_rows, few_rows in ((0, 0), (10**9, 0), (10**9, 10**9)):
        # boosting: compiled predictors for all rows, then numpy for all (deciding reached nodes, then all nodes)
        monkeypatch.setattr(estimators, "HGB_NUMPY_ROWS", numpy_rows)
        monkeypatch.setattr(estimators, "FEW_ROWS", few_rows)
        np.testing.assert_allclose(fast.predict_proba(rows), expected, rtol=0, atol=TOLERANCE)
    for row in range(len(rows)):  # one row at a time, as single-row requests come
        one = rows.iloc[[row]]
        np.testing.assert_allclose(fast.predict_proba(one), expected[[row]], rtol=0, atol=TOLERANCE)


def test_a_category_code_the_trees_never_saw_takes_the_missing_side_as_in_scikit_learn():
    frame = pd.DataFrame({"code": np.tile([0.0, 1.0, 2.0, 3.0], 50), "amount": np.linspace(0, 1, 200)})
    labels = (frame["code"].isin([1.0, 3.0]) ^ (frame["amount"] > 0.8)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=10, categorical_features=[0]).fit(frame.to_numpy(), labels)
    compiled = estimators.compile_estimator(model, None)
    probes = np.array([[code, amount] for code in (-1.0, 0.0, 1.0, 2.5, 3.0, 7.0, np.nan) for amount in (0.1, 0.9)])
    np.testing.assert_allclose(compiled.predict_proba(probes), model.predict_proba(probes), rtol=0, atol=TOLERANCE)


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


# --- estimators the fast path refuses --------------------------------------------------------------


def refused_estimators():
    """Pipelines whose estimator the fast path does not know, by case (built when called)."""
    rows = synthetic_rows(300, seed=7)
    frame, labels = rows[["amount", "color"]], rows["label"]
    numeric = make_pipeline(FunctionTransformer(as_numbers), SimpleImputer())
    text = make_pipeline(FunctionTransformer(as_text), OrdinalEncoder())

    def pipeline(model):
        both = ColumnTransformer([("numeric", numeric, ["amount"]), ("categorical", text, ["color"])])
        return Pipeline([("preprocess", both), ("model", model)]).fit(frame, labels)

    return {
        "unknown estimator": lambda: pipeline(GradientBoostingClassifier(n_estimators=5)),
        "unknown regressor": lambda: pipeline(GradientBoostingRegressor(n_estimators=5)),
        "another linear regressor": lambda: pipeline(Lasso()),
    }


@pytest.mark.parametrize("case", list(refused_estimators()))
def test_an_estimator_it_cannot_reproduce_is_refused_with_a_reason(case):
    with pytest.raises(UnsupportedModel) as raised:
        compile_model(refused_estimators()[case]())
    assert isinstance(raised.value, UserError) and raised.value.reason and "scikit-learn" in raised.value.hint


def bitset(*codes):
    words = np.zeros(8, dtype=np.uint32)
    for code in codes:
        words[code >> 5] |= np.uint32(1 << (code & 31))
    return words


@pytest.mark.parametrize("few_rows", [0, 10**9], ids=["deciding-reached-nodes", "deciding-all-nodes"])
def test_a_category_split_reads_the_code_as_an_unsigned_byte_and_sends_unknown_ones_where_missing_values_go(
    few_rows, monkeypatch
):
    """scikit-learn's rule: left bitset left, another known category right; negative, unknown, NaN: the missing side."""
    stump = {
        "feature": np.array([1, 0, 0]),  # the split reads column 1; column 0 is a number no split reads
        "threshold": np.zeros(3),
        "left": np.array([1, -1, -1]),
        "right": np.array([2, -1, -1]),
        "depth": 1,
        "categorical": np.array([True, False, False]),
        "left_categories": np.stack([bitset(1, 40), np.zeros(8, np.uint32), np.zeros(8, np.uint32)]),
        "known_categories": np.stack([bitset(0, 1, 2, 40), np.zeros(8, np.uint32), np.zeros(8, np.uint32)]),
    }
    trees = estimators.Trees.build(
        [{**stump, "missing_left": np.array([1, 0, 0])}, {**stump, "missing_left": np.array([0, 0, 0])}]
    )
    codes = [0, 1, 2, 3, 40, 41, 255, -1, np.nan, 257, 296, 298]
    values = np.column_stack((np.full(len(codes), 1e30), codes))
    monkeypatch.setattr(estimators, "FEW_ROWS", few_rows)
    sides = trees.leaves(values) - np.array([0, 3])  # each tree's own leaf index: 1 left, 2 right
    expected = {0: 2, 1: 1, 2: 2, 40: 1, 257: 1, 296: 1}  # known: the same side whatever the missing side
    for row, code in enumerate(codes):
        if code in expected:
            assert sides[row].tolist() == [expected[code]] * 2, code
        else:  # unknown (3, 41, 255, 298 = 42), negative or missing: where missing values go
            assert sides[row].tolist() == [1, 2], code


@pytest.mark.parametrize(
    "categories",
    [
        ([0.0, 1.0, 2.0, 5.0], [3.0], []),  # an ordinal encoder's codes, one unseen in fit: the dense table
        ([0.5, 1.0], [-2.0, 7.0], [1.0, 5000.0]),  # not all whole numbers from 0 up: a search per column
    ],
    ids=["dense-table", "search"],
)
def test_categories_are_re_coded_to_their_index_among_those_seen_and_others_to_nan(categories):
    codes = estimators.CategoryCodes(
        categorical=np.array([0, 2, 3]),
        numeric=np.array([1]),
        categories=tuple(np.array(seen) for seen in categories),
    )
    assert (codes._dense is not None) == (categories[0][0] == 0.0)
    probes = [0.0, -0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, -2.0, 5000.0, 4095.0, 1e300, -1.0, np.nan, np.inf]
    features = np.column_stack([probes, np.arange(len(probes)), probes[::-1], probes])
    out = codes.apply(features)
    np.testing.assert_array_equal(out[:, 3], np.arange(len(probes)))  # the number, after the categories
    for position, (column, seen) in enumerate(zip([0, 2, 3], categories, strict=True)):
        expected = [float(seen.index(value)) if value in seen else np.nan for value in features[:, column]]
        np.testing.assert_array_equal(out[:, position], expected)
