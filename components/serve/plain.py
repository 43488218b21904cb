"""The plain Seldon wrapper of a scikit-learn pipeline: the baseline of `make bench-serving`.

What a Seldon Core user writes first (and what Seldon's SKLEARN_SERVER does): unpickle the model,
turn ``X`` and ``names`` into a DataFrame, call ``predict_proba``. No request validation, no
digest check, no logging, no fast path. Not for production; the benchmark serves it with stock
seldon-core settings (one worker, sync) to measure what the real model class gains or costs.
"""

from __future__ import annotations

from typing import Any

import joblib
import numpy as np
import pandas as pd


class PlainModel:
    """Seldon model class around a joblib file.

    Args:
        model_file: Path of the pickled pipeline.
    """

    def __init__(self, model_file: str) -> None:
        self.model_file = model_file
        self.pipeline: Any = None

    def load(self) -> None:
        """Unpickles the pipeline (Seldon calls this in every worker)."""
        self.pipeline = joblib.load(self.model_file)

    def predict(self, X: np.ndarray, names: list[str], meta: dict | None = None) -> np.ndarray:
        """Class probabilities of the rows of ``X`` (columns named by ``names``)."""
        return self.pipeline.predict_proba(pd.DataFrame(X, columns=names))

    def class_names(self) -> list[str]:
        """The class labels as text."""
        return [str(c) for c in self.pipeline.classes_]
