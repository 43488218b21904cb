"""What kind of supervised problem a use case is: classification or regression.

The config may say so (``target.task``); when it does not, the training labels decide, with the same
answer in every stage because every stage sees the same train split. The reason is kept, so
``check-config``, the model card and ``mlcycle init`` can say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from components.common.config import TargetSpec
from components.common.errors import DataError

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")

# Integer labels with at most this many distinct values are classes (ratings, counts of a few kinds);
# more distinct values are read as a quantity. A config's target.task overrides either way.
MAX_INFERRED_CLASSES = 20
# ...unless most rows hold a value of their own: classes seen about once cannot be learned, so a small
# table of whole numbers (20 weights in kilograms) is a quantity too.
MIN_DISTINCT_FOR_UNIQUE_RULE = 10


@dataclass(frozen=True)
class TaskChoice:
    """A problem kind and why it was chosen.

    Attributes:
        task: ``classification`` or ``regression``.
        reason: One sentence a person can check against the data ("set in the config", "text labels", ...).
    """

    task: Task
    reason: str


def infer_task(labels: pd.Series) -> TaskChoice:
    """Classification or regression, from the label values alone (missing values ignored).

    Text, categorical and boolean labels are classes; numbers are a regression when they hold a
    fraction, more than :data:`MAX_INFERRED_CLASSES` distinct values, or at least
    :data:`MIN_DISTINCT_FOR_UNIQUE_RULE` distinct values covering more than half the rows; classes otherwise.
    """
    present = labels.dropna()
    dtype = labels.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return TaskChoice("classification", "true/false labels")
    if not pd.api.types.is_numeric_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return TaskChoice("classification", f"non-numeric labels ({present.nunique()} distinct values)")
    distinct = present.nunique()
    values = present.to_numpy(dtype="float64")
    if len(values) and not (values == values.round()).all():
        return TaskChoice("regression", f"numeric labels with fractions ({distinct} distinct values)")
    if distinct > MAX_INFERRED_CLASSES:
        return TaskChoice("regression", f"numeric labels with {distinct} distinct values (> {MAX_INFERRED_CLASSES})")
    if distinct >= MIN_DISTINCT_FOR_UNIQUE_RULE and distinct > len(values) / 2:
        return TaskChoice("regression", f"whole-number labels with {distinct} distinct values in {len(values)} rows")
    return TaskChoice(
        "classification", f"whole-number labels with {distinct} distinct values (<= {MAX_INFERRED_CLASSES})"
    )


def resolve_task(target: TargetSpec, labels: pd.Series) -> TaskChoice:
    """The config's ``target.task`` when set (checked against the labels), else :func:`infer_task`.

    Raises:
        DataError: If a regression is asked of labels that are not numbers.
    """
    if target.derive is not None and target.task is None:
        return TaskChoice(
            "classification",
            f"a true/false label derived by {target.derive.column} {target.derive.op} {target.derive.value!r}",
        )
    if target.task is None:
        return infer_task(labels)
    if target.task == "regression" and (
        not pd.api.types.is_numeric_dtype(labels.dtype)
        or pd.api.types.is_bool_dtype(labels.dtype)
        or isinstance(labels.dtype, pd.CategoricalDtype)
    ):
        raise DataError(
            f"the label {target.name!r} holds {labels.dtype} values, and a regression needs numbers",
            hint="set target.task: classification, or point target.name at a numeric column",
        )
    return TaskChoice(target.task, "set in the config (target.task)")
