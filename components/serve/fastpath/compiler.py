"""The compiled model: :func:`compile_model`, :class:`FastModel` and the self-check against scikit-learn.

:func:`compile_model` checks the pipeline's shape and scikit-learn's version, compiles its
ColumnTransformer (:mod:`~components.serve.fastpath.preprocessing`) and its estimator
(:mod:`~components.serve.fastpath.estimators`), then compares the result with the pipeline's own
answer (``predict_proba`` of a classifier, ``predict`` of a regressor) on probe rows built from what
the pipeline learned: any difference above :data:`TOLERANCE` refuses the model with
:class:`UnsupportedModel`, so callers keep scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.pipeline import Pipeline

from components.common.errors import DataError
from components.serve.fastpath.estimators import Estimator, compile_estimator
from components.serve.fastpath.preprocessing import (
    Block,
    CalendarBlock,
    CategoricalBlock,
    Impute,
    NumericBlock,
    compile_preprocessor,
)
from components.serve.fastpath.readers import Columns
from components.serve.fastpath.unsupported import UnsupportedModel

# The compiled path reads fitted attributes, some private (the boosted predictors, the loss), whose
# meaning was checked against these versions; another version is refused rather than trusted.
SUPPORTED_SKLEARN = ("1.6",)
TOLERANCE = 1e-9
CLASSIFICATION, REGRESSION = "classification", "regression"


class FastModel:
    """A fitted pipeline compiled to numpy: the same answers, without the per-call overhead.

    Immutable after :func:`compile_model`, so one instance may serve concurrent requests.

    Attributes:
        task: ``classification`` (answers :meth:`predict_proba`) or ``regression`` (answers :meth:`predict`).
        classes_: The class labels, in the column order of :meth:`predict_proba` (the pipeline's); None
            for a regressor.
        feature_names: The input columns the model reads, in the pipeline's order.
        n_features_out: Width of the preprocessed matrix the estimator takes.
    """

    def __init__(
        self,
        classes: np.ndarray | None,
        feature_names: tuple[str, ...],
        blocks: Sequence[tuple[Block, slice]],
        width: int,
        estimator: Estimator,
    ) -> None:
        self.task = REGRESSION if classes is None else CLASSIFICATION
        self.classes_ = classes
        self.feature_names = feature_names
        self.n_features_out = width
        self._blocks = tuple(blocks)
        self._estimator = estimator

    def transform(self, columns: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """The preprocessed features the estimator takes: the pipeline's ColumnTransformer output.

        Args:
            columns: The input rows (the forms :mod:`components.serve.fastpath.readers` describes).

        Raises:
            DataError: For input scikit-learn would refuse too.
        """
        data = Columns(columns, self.feature_names)
        features = np.empty((data.rows, self.n_features_out), dtype="float64")
        for block, out in self._blocks:
            features[:, out] = block.apply(data)
        return features

    def predict_proba(self, columns: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Class probabilities of a classifier, equal to ``pipeline.predict_proba(pd.DataFrame(columns))``.

        Args:
            columns: The input rows: a DataFrame, or a mapping of column name to 1-D values.

        Returns:
            An array of shape (rows, classes), columns in :attr:`classes_` order.

        Raises:
            DataError: For input scikit-learn would refuse too (see :mod:`components.serve.fastpath.readers`).
            TypeError: If the model is a regressor (it has no probabilities; use :meth:`predict`).
        """
        if self.task != CLASSIFICATION:
            raise TypeError("a regressor has no class probabilities: use predict")
        return self._estimator.predict_proba(self.transform(columns))

    def predict(self, columns: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Predictions: a regressor's values, equal to ``pipeline.predict(pd.DataFrame(columns))``.

        For a classifier, the class of the highest probability of each row (the first on a tie).

        Args:
            columns: The input rows: a DataFrame, or a mapping of column name to 1-D values.

        Returns:
            An array of shape (rows,).

        Raises:
            DataError: For input scikit-learn would refuse too (see :mod:`components.serve.fastpath.readers`).
        """
        if self.task == REGRESSION:
            return self._estimator.predict(self.transform(columns))
        return self.classes_.take(np.argmax(self.predict_proba(columns), axis=1))

    def outputs(self, columns: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """What the model answers: a classifier's probabilities (rows, classes), a regressor's values (rows,)."""
        return self.predict(columns) if self.task == REGRESSION else self.predict_proba(columns)

    def __repr__(self) -> str:
        estimator = type(self._estimator).__name__
        shape = f"{len(self.feature_names)} features -> {self.n_features_out} columns"
        answers = "regression" if self.task == REGRESSION else f"classes {list(self.classes_)}"
        return f"FastModel({estimator}, {shape}, {answers})"


def pipeline_outputs(pipeline: Any, frame: pd.DataFrame) -> np.ndarray:
    """The pipeline's own answer, which the fast path must equal: ``predict`` of a regressor, else ``predict_proba``."""
    return pipeline.predict(frame) if is_regressor(pipeline) else pipeline.predict_proba(frame)


def compile_model(pipeline: Any, *, check_rows: pd.DataFrame | None = None) -> FastModel:
    """Compiles a fitted model pipeline into a :class:`FastModel`.

    After compiling, the fast path is compared with the pipeline's own answer (``predict_proba``, or
    ``predict`` of a regressor) on probe rows built from what the pipeline learned (every category, an
    unseen one where allowed, missing values, timestamps) and on ``check_rows`` if given; any difference
    above 1e-9 refuses the model.

    Args:
        pipeline: A fitted scikit-learn Pipeline, as the project trains it.
        check_rows: Optional further rows (a DataFrame of the features) to compare on.

    Returns:
        The compiled model.

    Raises:
        UnsupportedModel: If any part cannot be reproduced exactly; predict with the pipeline then.
    """
    version = ".".join(sklearn.__version__.split(".")[:2])
    if version not in SUPPORTED_SKLEARN:
        raise UnsupportedModel(
            f"scikit-learn {sklearn.__version__} is not a version the fast path was verified against "
            f"({', '.join(SUPPORTED_SKLEARN)})"
        )
    if not isinstance(pipeline, Pipeline):
        raise UnsupportedModel(f"{type(pipeline).__name__} is not a scikit-learn Pipeline")
    steps = [step for _, step in pipeline.steps if step not in (None, "passthrough")]
    if not steps:
        raise UnsupportedModel("the pipeline has no estimator")
    *transforms, estimator = steps
    if len(transforms) > 1 or (transforms and not isinstance(transforms[0], ColumnTransformer)):
        raise UnsupportedModel("only a ColumnTransformer may come before the estimator")
    regressor = is_regressor(estimator)
    if not regressor and not (is_classifier(estimator) and hasattr(estimator, "classes_")):
        raise UnsupportedModel(f"the estimator {type(estimator).__name__} is not a fitted classifier or regressor")
    if transforms:
        names, blocks, width = compile_preprocessor(transforms[0])
        compiled = compile_estimator(estimator, width)
    elif isinstance(estimator, (DummyClassifier, DummyRegressor)):
        names, blocks, width = (), [], 0
        compiled = compile_estimator(estimator, None)
    else:
        raise UnsupportedModel("the pipeline has no ColumnTransformer to read its columns")
    classes = None if regressor else np.asarray(estimator.classes_)
    model = FastModel(classes, names, blocks, width, compiled)
    _verify(model, pipeline, check_rows)
    return model


# --- the compile-time check ------------------------------------------------------------------------


def _verify(model: FastModel, pipeline: Pipeline, check_rows: pd.DataFrame | None) -> None:
    frames = [_probe_rows(model)]
    if check_rows is not None and len(check_rows):
        frames.append(check_rows)
    for frame in frames:
        try:
            expected = pipeline_outputs(pipeline, frame)
        except Exception as error:  # the probe is for comparing, not for judging the pipeline
            raise UnsupportedModel(f"scikit-learn failed on the check rows ({type(error).__name__}: {error})") from None
        try:
            actual = model.outputs(frame)
        except DataError as error:
            raise UnsupportedModel(f"the fast path refused rows scikit-learn accepted ({error.message})") from None
        if actual.shape != expected.shape or not np.allclose(actual, expected, rtol=0, atol=TOLERANCE):
            gap = np.max(np.abs(actual - expected)) if actual.shape == expected.shape else "shape"
            raise UnsupportedModel(
                f"the compiled path differs from scikit-learn on check rows (largest difference {gap})"
            )


def _probe_rows(model: FastModel) -> pd.DataFrame:
    """Rows that exercise what a pipeline learned: each category, unseen and missing values, timestamps."""
    count = 4
    for block, _ in model._blocks:
        if isinstance(block, CategoricalBlock):
            count = max(count, *(len(lookup.codes) + 2 for lookup in block.lookups))
    columns: dict[str, list[Any]] = {}
    for block, _ in model._blocks:
        if isinstance(block, CategoricalBlock):
            for lookup in block.lookups:
                values: list[Any] = [None if c == block.missing else c for c in lookup.codes]
                values += [None] + ([] if lookup.unknown is None else ["\x00never seen"])
                columns[lookup.name] = [values[i % len(values)] for i in range(count)]
        elif isinstance(block, CalendarBlock):
            moments = ["2013-01-05T23:30:00Z", None, "2024-02-29T06:15:00+01:00", "1999-12-31"]
            for name in block.columns:
                columns[name] = [moments[i % len(moments)] for i in range(count)]
        else:
            centres = _numeric_centres(block)
            for i, name in enumerate(block.columns):
                centre = centres[i] if i < len(centres) else 0.0
                values = [centre, centre + 1.5, centre - 2.25, 0.0] + ([np.nan] if block.function is not None else [])
                columns[name] = [values[k % len(values)] for k in range(count)]
    return pd.DataFrame(
        {name: columns[name] for name in model.feature_names}, columns=list(model.feature_names), index=range(count)
    )


def _numeric_centres(block: NumericBlock) -> np.ndarray:
    for step in block.steps:
        if isinstance(step, Impute):
            return step.statistics
        if step.mean is not None:
            return step.mean
    return np.zeros(len(block.columns))
