"""A fast prediction path for fitted model pipelines, equal to scikit-learn's own.

A single-row ``pipeline.predict_proba(frame)`` of the project's models spends most of its time in
pandas and in scikit-learn's per-call machinery (input validation, ColumnTransformer dispatch, one
DataFrame per transformer, a Python call per boosted tree), not in the arithmetic. :func:`compile_model`
reads everything the fitted pipeline learned once (imputer statistics, scaler means and scales,
encoder lookups probed from the fitted encoder itself, tree node arrays, coefficients) and returns a
:class:`FastModel` that evaluates the same transforms with numpy and dictionaries.

Exactness: every step repeats scikit-learn's floating-point operations in the same order (the same
imputed values, ``(x - mean) / scale``, the same tree comparisons in float64, or float32 for random
forests, leaf values summed in tree order, scikit-learn's own link functions), so probabilities
are bit-for-bit equal in practice; the contract, checked by the tests, is 1e-9. Inputs the fast
readers do not know (pandas categoricals, numbers as text, dates that are not ISO 8601, ...) go
through the pipeline's own functions, so they are exact too, only slower. What cannot be
reproduced exactly raises :class:`UnsupportedModel` at compile time, so callers keep scikit-learn.

Accepted input (``FastModel.predict_proba(columns)`` of a classifier, ``FastModel.predict(columns)`` of a
regressor, or ``FastModel.outputs(columns)`` for either): a pandas DataFrame, or a mapping of column
name to a 1-D array-like, each column holding one value per row; extra columns are ignored. The
result equals ``pipeline.predict_proba(pd.DataFrame(columns))`` (``pipeline.predict`` of a regressor).
Input that scikit-learn rejects is rejected with :class:`~components.common.errors.DataError`: an
absent column, columns of unequal length, no rows, an infinite number where the pipeline's imputer or
scaler refuses it, an unseen category under ``handle_unknown="error"``, non-finite model input for
estimators that refuse it.

Supported pipelines: ``Pipeline([ColumnTransformer, estimator])`` as
:func:`components.preprocess.logic.model_pipeline` builds them (numeric: ``as_numbers`` then
SimpleImputer/StandardScaler; categorical: ``as_text`` then OneHotEncoder or OrdinalEncoder, with
infrequent categories; datetime: ``calendar_parts`` then SimpleImputer/StandardScaler;
``passthrough`` and ``drop``), with HistGradientBoostingClassifier, RandomForestClassifier,
LogisticRegression or DummyClassifier, or the regressors HistGradientBoostingRegressor,
RandomForestRegressor, Ridge, LinearRegression or DummyRegressor; and ``Pipeline([DummyClassifier])``
or ``Pipeline([DummyRegressor])`` (the majority and mean baselines).

The package, from the request inwards:

- :mod:`~components.serve.fastpath.readers`: request columns and frames into typed numpy columns
  (the accepted forms per feature kind);
- :mod:`~components.serve.fastpath.preprocessing`: the ColumnTransformer as a whole (imputers,
  scaler, encoder lookups with infrequent and unseen categories, calendar parts);
- :mod:`~components.serve.fastpath.estimators`: trees and linear models;
- :mod:`~components.serve.fastpath.compiler`: :func:`compile_model`, :class:`FastModel` and the
  self-check against scikit-learn at build time;
- :mod:`~components.serve.fastpath.unsupported`: :class:`UnsupportedModel`, the compile-time refusal.
"""

from components.serve.fastpath.compiler import (
    SUPPORTED_SKLEARN,
    TOLERANCE,
    FastModel,
    compile_model,
    pipeline_outputs,
)
from components.serve.fastpath.preprocessing import CALENDAR_PARTS
from components.serve.fastpath.unsupported import UnsupportedModel

__all__ = [
    "CALENDAR_PARTS",
    "SUPPORTED_SKLEARN",
    "TOLERANCE",
    "FastModel",
    "UnsupportedModel",
    "compile_model",
    "pipeline_outputs",
]
