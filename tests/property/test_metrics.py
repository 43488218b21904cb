"""Every metric of components.common.metrics equals scikit-learn's on generated predictions.

Binary and multiclass problems, classes as text, booleans and integers (labels in the forms the stages
hand over: numpy arrays of the classes' type, or objects), ties in the scores, probabilities of
exactly 0 and 1, and test rows holding one class only (where ranking scores are undefined: NaN).
The reference is scikit-learn called directly with the classes named; the multiclass Brier score,
which scikit-learn 1.6 does not compute, is its definition (mean squared distance to the one-hot truth).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from components.common.metrics import classification_metrics, confusion, roc_points

CLASS_SETS = [
    ["no", "yes"],
    [False, True],
    [0, 1],
    [1, 0],  # a model's classes are sorted, but nothing here may rely on it
    [-1, 1],
    ["a", "b", "c"],
    [1, 2, 3, 4],
    ["0", "1", "10"],  # text that sorts differently from the numbers it spells
]
# Few distinct values make ties in the scores; exact 0 and 1 are the edges of log loss.
TIED = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])
ANY = st.floats(0, 1)


@st.composite
def predictions(draw, class_sets=CLASS_SETS):
    """(labels, probabilities, classes): probabilities in the classes' order, each row summing to 1."""
    classes = draw(st.sampled_from(class_sets))
    rows = draw(st.integers(1, 40))
    picks = draw(st.lists(st.integers(0, len(classes) - 1), min_size=rows, max_size=rows))
    scores = st.one_of(TIED, ANY) if draw(st.booleans()) else TIED
    if len(classes) == 2:
        positive = np.array(draw(st.lists(scores, min_size=rows, max_size=rows)))
        proba = np.column_stack([1 - positive, positive])
    else:
        weights = np.array(
            draw(
                st.lists(
                    st.lists(st.integers(0, 4), min_size=len(classes), max_size=len(classes)),
                    min_size=rows,
                    max_size=rows,
                )
            ),
            dtype="float64",
        )
        empty = weights.sum(axis=1) == 0
        weights[empty, 0] = 1.0
        proba = weights / weights.sum(axis=1, keepdims=True)
    values = [classes[i] for i in picks]
    form = draw(st.sampled_from(["native", "object"]))
    labels = np.array(values, dtype=object) if form == "object" else np.array(values)
    return labels, proba, classes


def _reference(labels, proba, classes) -> dict[str, float]:
    truth = np.array(list(labels), dtype=object)
    predicted = np.array([classes[i] for i in proba.argmax(axis=1)], dtype=object)
    # scikit-learn refuses object arrays mixing types; every value here is one of the classes, so their
    # positions are exact stand-ins.
    position = {value: i for i, value in enumerate(classes)}
    y, y_hat = np.array([position[v] for v in truth]), np.array([position[v] for v in predicted])
    indices = list(range(len(classes)))
    onehot = np.eye(len(classes))[y]
    both = len(set(y.tolist())) > 1
    if len(classes) == 2:
        scores = {
            name: function(y, y_hat, pos_label=1, average="binary", zero_division=0)
            for name, function in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score))
        }
        scores["roc_auc"] = roc_auc_score(y == 1, proba[:, 1]) if both else math.nan
        scores["pr_auc"] = average_precision_score(y == 1, proba[:, 1]) if both else math.nan
        scores["brier"] = brier_score_loss(y == 1, proba[:, 1])
    else:
        # scikit-learn's default: the macro average runs over the classes in the truth or the predictions
        scores = {
            name: function(y, y_hat, average="macro", zero_division=0)
            for name, function in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score))
        }
        usable = [i for i in indices if 0 < onehot[:, i].sum() < len(y)]
        scores["roc_auc"] = (
            float(np.mean([roc_auc_score(onehot[:, i], proba[:, i]) for i in usable])) if usable else math.nan
        )
        scores["pr_auc"] = (
            float(np.mean([average_precision_score(onehot[:, i], proba[:, i]) for i in usable])) if usable else math.nan
        )
        if len(usable) == len(classes):  # scikit-learn's own one-vs-rest macro average needs every class
            assert scores["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", labels=indices))
        scores["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    scores["accuracy"] = accuracy_score(y, y_hat)
    scores["log_loss"] = log_loss(y, proba, labels=indices)
    return scores


@given(predictions())
def test_every_metric_equals_scikit_learns(case):
    labels, proba, classes = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one class only: scikit-learn warns where it is undefined
        expected = _reference(labels, proba, classes)
        actual = classification_metrics(labels, proba, classes)
    assert set(actual) == set(expected)
    for name, value in expected.items():
        if math.isnan(value):
            assert math.isnan(actual[name]), name
        else:
            assert actual[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


@given(predictions())
def test_the_confusion_matrix_equals_scikit_learns(case):
    labels, proba, classes = case
    position = {value: i for i, value in enumerate(classes)}
    y = [position[v] for v in labels]
    y_hat = proba.argmax(axis=1)
    expected = confusion_matrix(y, y_hat, labels=list(range(len(classes)))).tolist()
    assert confusion(labels, proba, classes) == expected


@given(predictions())
def test_roc_points_lie_on_scikit_learns_curve_from_its_first_point_to_its_last(case):
    labels, proba, classes = case
    last = np.array([v == classes[-1] for v in labels])
    assume(0 < last.sum() < len(last))
    fpr, tpr, _ = roc_curve(last, proba[:, -1])
    points = roc_points(labels, proba, classes)
    curve = set(zip(fpr.tolist(), tpr.tolist(), strict=True))
    assert all((x, y) in curve for x, y, _ in points)
    assert points[0][:2] == (fpr[0], tpr[0]) and points[-1][:2] == (fpr[-1], tpr[-1])
    assert all(0 <= threshold <= 1 for *_, threshold in points)


def test_a_confidently_wrong_row_costs_what_it_costs_in_scikit_learn():
    # Bug 10's edge, kept as a plain example next to the generated ones.
    labels = np.array([1] * 5 + [0] * 495)
    proba = np.column_stack([np.ones(500), np.zeros(500)])
    proba[5:] = [0.9, 0.1]
    assert classification_metrics(labels, proba, [0, 1])["log_loss"] == pytest.approx(
        log_loss(labels, proba, labels=[0, 1]), rel=1e-12
    )
