"""The compiled model against scikit-learn itself, the reference, and the self-check at compile time.

Every comparison runs the fitted scikit-learn pipeline on the same rows and requires probabilities
(a regressor's predicted values) equal to 1e-9, for every model family, both encodings, binary and
multiclass labels and regression, missing values, unseen and infrequent categories, single rows and batches.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingClassifier
from unit.serve.synthetic import assert_same, config_for, features, fit_regressor, synthetic_rows

from components.common.config import parse_use_case
from components.common.errors import UserError
from components.serve import fastpath
from components.serve.fastpath import UnsupportedModel, compile_model, compiler, preprocessing, unsupported
from components.train.logic import fit
from components.train.trials import Trial

# Convergence does not matter here: the fast path must equal whatever the estimator learned.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_the_package_exports_the_names_its_importers_use():
    # components/serve/model.py, benchmarks/bench_predict.py and the tests import these from the package
    assert {"compile_model", "FastModel", "UnsupportedModel"} <= set(fastpath.__all__)
    assert all(hasattr(fastpath, name) for name in fastpath.__all__)
    assert fastpath.compile_model is compiler.compile_model
    assert fastpath.UnsupportedModel is unsupported.UnsupportedModel


# --- equality with scikit-learn --------------------------------------------------------------


def test_batch_probabilities_equal_scikit_learn(fitted):
    pipeline, fast, config, test = fitted
    assert_same(fast, pipeline, features(test, config))


def test_single_rows_equal_scikit_learn_including_unseen_missing_and_infrequent(fitted):
    pipeline, fast, config, test = fitted
    rows = features(test, config)
    for index in [*range(len(rows) - 8, len(rows)), 0, 1, 2, 3]:  # every hard row, and some plain ones
        assert_same(fast, pipeline, rows.iloc[[index]])


def test_reports_classes_and_feature_names_of_the_pipeline(fitted):
    pipeline, fast, config, _ = fitted
    np.testing.assert_array_equal(fast.classes_, pipeline.classes_)
    assert fast.feature_names == tuple(config.features.all())


def test_regressor_predictions_equal_scikit_learn_in_batches_and_single_rows(fitted_regressor):
    pipeline, fast, config, test = fitted_regressor
    rows = features(test, config)
    assert_same(fast, pipeline, rows)
    for index in [*range(len(rows) - 8, len(rows)), 0, 1]:  # every hard row, and some plain ones
        assert_same(fast, pipeline, rows.iloc[[index]])
    assert fast.predict(rows).shape == (len(rows),) and fast.predict(rows).dtype == np.float64


def test_a_regressor_answers_values_and_has_neither_classes_nor_probabilities(fitted_regressor):
    pipeline, fast, config, test = fitted_regressor
    rows = features(test, config).head(5)
    assert fast.task == "regression" and fast.classes_ is None
    np.testing.assert_array_equal(fast.outputs(rows), fast.predict(rows))
    with pytest.raises(TypeError, match="regressor"):
        fast.predict_proba(rows)
    assert "regression" in repr(fast)
    assert fastpath.pipeline_outputs(pipeline, rows).shape == (5,)


def test_a_classifier_predicts_the_class_scikit_learn_predicts(fitted):
    pipeline, fast, config, test = fitted
    rows = features(test, config)
    assert fast.task == "classification"
    np.testing.assert_array_equal(fast.predict(rows), pipeline.predict(rows))
    np.testing.assert_array_equal(fast.outputs(rows), fast.predict_proba(rows))


# --- what the compiler refuses ------------------------------------------------------------------


def test_what_is_not_a_pipeline_is_refused_with_a_reason():
    rows = synthetic_rows(300, seed=7)
    model = HistGradientBoostingClassifier(max_iter=5).fit(rows[["amount"]], rows["label"])
    with pytest.raises(UnsupportedModel) as raised:
        compile_model(model)
    assert isinstance(raised.value, UserError) and raised.value.reason and "scikit-learn" in raised.value.hint


def test_a_compiled_path_that_disagrees_with_scikit_learn_is_refused_at_compile_time(monkeypatch):
    config = config_for("onehot")
    pipeline, _ = fit(synthetic_rows(600, seed=1), config, Trial("logistic_regression", {"C": 0.5}))
    compile_model(pipeline)  # agrees as it is
    original = preprocessing.Scale.apply
    monkeypatch.setattr(
        preprocessing.Scale, "apply", lambda self, values, columns: original(self, values, columns) * (1 + 1e-7)
    )
    with pytest.raises(UnsupportedModel, match="differs from scikit-learn"):
        compile_model(pipeline)


def test_another_scikit_learn_version_is_refused(monkeypatch):
    config = config_for("onehot")
    pipeline, _ = fit(synthetic_rows(300, seed=1), config, Trial("logistic_regression", {}))
    monkeypatch.setattr(compiler.sklearn, "__version__", "1.7.0")
    with pytest.raises(UnsupportedModel, match="1.7.0"):
        compile_model(pipeline)


def test_a_regressor_that_disagrees_with_scikit_learn_is_refused_at_compile_time(monkeypatch):
    config = config_for("onehot")
    pipeline = fit_regressor("linear", config, synthetic_rows(600, seed=1, regression=True))
    compile_model(pipeline)  # agrees as it is
    original = preprocessing.Scale.apply
    monkeypatch.setattr(
        preprocessing.Scale, "apply", lambda self, values, columns: original(self, values, columns) * (1 + 1e-7)
    )
    with pytest.raises(UnsupportedModel, match="differs from scikit-learn"):
        compile_model(pipeline)


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "random_forest", "linear"])
def test_regressors_on_the_diabetes_data_equal_scikit_learn(family):
    # Real data nobody shaped for the fast path: scikit-learn's bundled diabetes progression (442 patients).
    data = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    data["sex"] = data["sex"].astype(int).astype(str)
    data["row_id"] = range(len(data))
    config = parse_use_case(
        "name: diabetes\nsources: {rows: {uri: diabetes.csv}}\n"
        "target: {name: progression, task: regression}\n"
        "features: {numeric: [age, bmi, bp, s1, s2, s3, s4, s5, s6], categorical: [sex]}\n"
        "split: {method: hash, key: [row_id]}\n"
    )
    train, test = data.iloc[:330], data.iloc[330:]
    pipeline = fit_regressor(family, config, train)
    fast = compile_model(pipeline, check_rows=features(test, config))
    assert_same(fast, pipeline, features(test, config))
    assert_same(fast, pipeline, features(test, config).iloc[[0]])
