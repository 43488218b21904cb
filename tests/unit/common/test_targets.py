"""Classification or regression: inferred from labels, or set in the config and checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.common.config import DeriveSpec, TargetSpec
from components.common.errors import DataError
from components.common.targets import MAX_INFERRED_CLASSES, infer_task, resolve_task


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        (pd.Series([True, False, True]), "classification"),
        (pd.Series(["a", "b", "a", None]), "classification"),
        (pd.Series(["x"] * 3, dtype="category"), "classification"),
        (pd.Series([0, 1, 1, 0]), "classification"),
        (pd.Series([3.0, 5.0, 7.0, np.nan]), "classification"),  # whole numbers, few values
        (pd.Series([1.5, 2.0, 2.0]), "regression"),  # a fraction
        (pd.Series(range(MAX_INFERRED_CLASSES + 1)), "regression"),
        (pd.Series(list(range(MAX_INFERRED_CLASSES)) * 3), "classification"),
        (pd.Series(list(range(16)) + [3, 5, 7, 9]), "regression"),  # most rows a value of their own
        (pd.Series(list(range(9))), "classification"),  # too few values to call it a quantity
        (pd.Series(list(range(50)) + [None], dtype="Int64"), "regression"),
    ],
)
def test_infer_task_reads_the_label_values(labels: pd.Series, task: str) -> None:
    choice = infer_task(labels)
    assert choice.task == task
    assert choice.reason


def test_a_config_task_wins_over_inference() -> None:
    labels = pd.Series(range(100))
    assert resolve_task(TargetSpec("y", task="classification"), labels).task == "classification"
    assert resolve_task(TargetSpec("y"), labels).task == "regression"
    assert "config" in resolve_task(TargetSpec("y", task="regression"), labels).reason


def test_a_derived_label_is_a_classification_with_its_rule_as_reason() -> None:
    choice = resolve_task(TargetSpec("late", derive=DeriveSpec("delay", ">", 15)), pd.Series([True, False]))
    assert choice.task == "classification"
    assert "delay > 15" in choice.reason


def test_regression_of_text_labels_is_refused_in_one_line() -> None:
    with pytest.raises(DataError, match="regression needs numbers") as caught:
        resolve_task(TargetSpec("y", task="regression"), pd.Series(["a", "b"]))
    assert "target.task: classification" in caught.value.hint
