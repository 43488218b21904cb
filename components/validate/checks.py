"""Checks TFDV lacks, on the rows themselves: the label's classes, correlated features, target leakage.

Each returns findings (:class:`components.validate.results.Finding`) graded by the caller's
severities, and what it measured, so the report shows also what passed.

- **Label**: a split with a single class (nothing to learn or to score), classes in eval or test that
  train lacks, a class's share shifted between train and another split beyond
  ``max(label.max_share_shift, noise floor)`` (L-infinity of the class shares, the floor drawn at the
  splits' sizes as for skew), and classes with fewer than ``label.min_class_rows`` training rows.
  A regression's label has no classes: missing, NaN or infinite values and a constant train label are
  checked instead; its distribution's skew and drift are measured like any numeric feature's.
- **Correlation**: numeric pairs by absolute Pearson correlation, categorical pairs by bias-corrected
  Cramér's V (Bergsma 2013: the plain V of two many-valued columns on few rows is near 1 by chance),
  on the train split. A warning by default: redundant features cost little, but a person should know.
- **Leakage**: a feature that alone predicts the label (a shallow tree on a numeric feature, the
  majority class of each value of a categorical one) with a balanced accuracy of at least
  ``correlation.leakage_score`` on train *and* eval, or a numeric feature whose absolute correlation
  with a numeric label reaches ``correlation.leakage_correlation``. Balanced accuracy, so that a rare
  class does not make every feature look perfect; both splits, so that an identifier (perfect on the
  rows it has seen) does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from components.common.config import CorrelationSpec, LabelSpec, NoiseSpec
from components.validate.noise import categorical_noise, floor, generator
from components.validate.results import Finding, LabelShares, Relation

Grade = Callable[[str], str]
LEAKAGE_ROWS = 20_000  # rows of train and of eval a one-feature model reads: plenty to see a perfect predictor


def as_floats(values: pd.Series) -> np.ndarray:
    """A column as float64 with NaN for missing values (nullable integers, booleans and text numbers too)."""
    if values.dtype == object:
        values = pd.to_numeric(values, errors="coerce")
    return values.to_numpy(dtype="float64", na_value=np.nan)


def class_counts(labels: pd.Series) -> dict[str, int]:
    """Rows per class (as text, so 1 and "1" are one class), missing labels left out."""
    counts = labels.dropna().astype(str).value_counts()
    return {str(name): int(count) for name, count in sorted(counts.items())}


def check_label(
    labels: Mapping[str, pd.Series], spec: LabelSpec, noise: NoiseSpec, grade: Grade
) -> tuple[list[Finding], list[LabelShares]]:
    """Checks the label's classes in every split against train's.

    Args:
        labels: The label column of each split, train first.
        spec: The label checks' thresholds.
        noise: How the noise floor of the class-share shift is drawn.
        grade: The severity of an anomaly kind.

    Returns:
        The findings, and the class counts and share shift of every split.
    """
    findings: list[Finding] = []
    measured: list[LabelShares] = []
    train = class_counts(labels["train"]) if "train" in labels else {}
    for split, column in labels.items():
        counts = class_counts(column)
        if not counts:
            continue
        if len(counts) == 1:
            only = next(iter(counts))
            findings.append(
                Finding(
                    "label",
                    split,
                    column.name,
                    "LABEL_SINGLE_CLASS",
                    grade("LABEL_SINGLE_CLASS"),
                    f"every one of the {counts[only]} labelled rows is class {only!r}: a model needs two classes "
                    "to learn and to be scored (is the label rule or the split right?)",
                )
            )
        if split == "train":
            measured.append(LabelShares(split, counts, 0.0, 0.0, spec.max_share_shift))
            rare = {name: count for name, count in counts.items() if count < spec.min_class_rows}
            if rare:
                listed = ", ".join(f"{name!r} {count}" for name, count in rare.items())
                findings.append(
                    Finding(
                        "label",
                        split,
                        column.name,
                        "LABEL_RARE_CLASS",
                        grade("LABEL_RARE_CLASS"),
                        f"classes with fewer than {spec.min_class_rows} training rows: {listed} "
                        "(too few to learn or to cross-validate; gather rows or merge the class)",
                    )
                )
            continue
        if not train:
            continue
        unseen = sorted(set(counts) - set(train))
        if unseen:
            findings.append(
                Finding(
                    "label",
                    split,
                    column.name,
                    "LABEL_UNSEEN_CLASS",
                    grade("LABEL_UNSEEN_CLASS"),
                    f"classes absent from train: {', '.join(map(repr, unseen))} "
                    f"({sum(counts[c] for c in unseen)} rows); the model can never predict them",
                )
            )
        shift = _share_shift(train, counts)
        rng = generator(noise.seed, str(column.name))
        drawn = categorical_noise(train, sum(train.values()), sum(counts.values()), noise.draws, rng)
        noise_floor = floor(drawn, noise.quantile)
        threshold = max(spec.max_share_shift, noise_floor)
        measured.append(LabelShares(split, counts, shift, noise_floor, threshold))
        if shift > threshold:
            findings.append(
                Finding(
                    "label",
                    f"train vs {split}",
                    column.name,
                    "LABEL_SHARE_SHIFT",
                    grade("LABEL_SHARE_SHIFT"),
                    f"class shares differ by {shift:.3f} (train {_shares(train)}; {split} {_shares(counts)}), "
                    f"above the threshold {threshold:.3f} = max(configured {spec.max_share_shift:g}, "
                    f"noise floor {noise_floor:.3f} of {sum(train.values())} vs {sum(counts.values())} rows)",
                )
            )
    return findings, measured


def check_numeric_label(labels: Mapping[str, pd.Series], grade: Grade) -> list[Finding]:
    """Checks a regression's label in every split: a missing, NaN or infinite value cannot be learned or scored.

    Args:
        labels: The label column of each split.
        grade: The severity of an anomaly kind.

    Returns:
        A LABEL_NOT_FINITE finding per split with such values, and a LABEL_CONSTANT one when train's
        labels never vary (nothing to learn; R² undefined).
    """
    findings = []
    for split, column in labels.items():
        values = as_floats(column)
        missing, infinite = int(np.isnan(values).sum()), int(np.isinf(values).sum())
        if missing or infinite:
            findings.append(
                Finding(
                    "label",
                    split,
                    column.name,
                    "LABEL_NOT_FINITE",
                    grade("LABEL_NOT_FINITE"),
                    f"{missing} missing and {infinite} infinite labels of {len(values)} rows: a regression can "
                    "neither learn nor score them (set target.missing: drop, or fix the source)",
                )
            )
        finite = values[np.isfinite(values)]
        if split == "train" and len(finite) and np.all(finite == finite[0]):
            findings.append(
                Finding(
                    "label",
                    split,
                    column.name,
                    "LABEL_CONSTANT",
                    grade("LABEL_CONSTANT"),
                    f"every one of the {len(finite)} training labels is {finite[0]:g}: nothing to learn",
                )
            )
    return findings


def check_correlation(
    train: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], spec: CorrelationSpec, grade: Grade
) -> tuple[list[Finding], list[Relation]]:
    """Measures every pair of numeric and of categorical features on the train split.

    Returns:
        A finding per pair at or above its threshold (pairs in ``spec.ignore`` are measured, never
        reported), and the strongest relation of every feature.
    """
    ignored = {frozenset(pair) for pair in spec.ignore}
    relations: list[Relation] = []
    numbers = [name for name in numeric if name in train]
    if len(numbers) > 1:
        matrix = pd.DataFrame({name: as_floats(train[name]) for name in numbers}).corr().to_numpy()
        for i, first in enumerate(numbers):
            for j in range(i + 1, len(numbers)):
                if np.isfinite(matrix[i, j]):
                    relations.append(
                        Relation(first, numbers[j], "pearson", abs(float(matrix[i, j])), spec.max_correlation)
                    )
    categories = [name for name in categorical if name in train]
    codes = {name: np.asarray(pd.Categorical(train[name]).codes) for name in categories}  # missing: -1
    for i, first in enumerate(categories):
        for second in categories[i + 1 :]:
            relations.append(
                Relation(first, second, "cramers_v", cramers_v(codes[first], codes[second]), spec.max_association)
            )
    findings = []
    for relation in relations:
        if relation.alerts and frozenset((relation.first, relation.second)) not in ignored:
            what = "absolute Pearson correlation" if relation.measure == "pearson" else "Cramér's V (bias-corrected)"
            findings.append(
                Finding(
                    "correlation",
                    "train",
                    f"{relation.first} ~ {relation.second}",
                    "CORRELATED_FEATURES",
                    grade("CORRELATED_FEATURES"),
                    f"{what} {relation.value:.3f}, at least {relation.threshold:g}: the two carry the same "
                    "information; drop one from the features, or list the pair under "
                    "validation.correlation.ignore if both are kept on purpose",
                )
            )
    return findings, relations


def cramers_v(first: np.ndarray, second: np.ndarray) -> float:
    """Bias-corrected Cramér's V of two integer-coded columns (codes below 0 are missing, left out)."""
    kept = (first >= 0) & (second >= 0)
    a, b = first[kept], second[kept]
    n = len(a)
    if n < 2:
        return 0.0
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    rows, cols = a.max() + 1, b.max() + 1
    if rows < 2 or cols < 2:
        return 0.0
    table = np.bincount(a * cols + b, minlength=rows * cols).reshape(rows, cols).astype(float)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (rows - 1) * (cols - 1) / (n - 1))
    rows_c = rows - (rows - 1) ** 2 / (n - 1)
    cols_c = cols - (cols - 1) ** 2 / (n - 1)
    denominator = min(rows_c - 1, cols_c - 1)
    return float(np.sqrt(phi2 / denominator)) if denominator > 0 else 0.0


def check_leakage(
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    label: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
    spec: CorrelationSpec,
    grade: Grade,
    task: str = "classification",
) -> tuple[list[Finding], list[Relation]]:
    """Scores every feature alone as a predictor of the label (see the module's docstring).

    A regression's label is predicted by a shallow regression tree (numeric features) or each value's
    train mean (categorical ones), scored by R² instead of balanced accuracy, against the same
    ``leakage_score``.

    Returns:
        A TARGET_LEAKAGE finding per feature that predicts the label almost perfectly, and every
        feature's score (the lower of its train and eval balanced accuracies, or R²).
    """
    if label not in train or label not in evaluation:
        return [], []
    train = train[train[label].notna()].iloc[:LEAKAGE_ROWS]
    evaluation = evaluation[evaluation[label].notna()].iloc[:LEAKAGE_ROWS]
    if task == "regression":
        return _regression_leakage(train, evaluation, label, numeric, categorical, spec, grade)
    classes, y_train = np.unique(train[label].astype(str).to_numpy(), return_inverse=True)
    lookup = {name: code for code, name in enumerate(classes)}
    y_eval = evaluation[label].astype(str).map(lookup).fillna(-1).to_numpy(dtype=int)  # -1: a class train lacks
    if len(classes) < 2 or len(evaluation) == 0:
        return [], []
    findings, relations = [], []
    numeric_label = pd.api.types.is_numeric_dtype(train[label]) and not pd.api.types.is_bool_dtype(train[label])
    for name in [*numeric, *categorical]:
        if name not in train or name not in evaluation:
            continue
        if name in numeric:
            score = _tree_score(train[name], y_train, evaluation[name], y_eval, len(classes))
            correlation = (
                abs(float(pd.Series(as_floats(train[name])).corr(pd.Series(as_floats(train[label])))))
                if numeric_label
                else 0.0
            )
        else:
            score = _purity_score(train[name], y_train, evaluation[name], y_eval)
            correlation = 0.0
        relations.append(Relation(name, label, "one_feature_balanced_accuracy", score, spec.leakage_score))
        finding = _leakage_finding(name, label, "a balanced accuracy", score, correlation, spec, grade)
        if finding is not None:
            findings.append(finding)
    return findings, relations


def _regression_leakage(
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    label: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
    spec: CorrelationSpec,
    grade: Grade,
) -> tuple[list[Finding], list[Relation]]:
    """check_leakage for a numeric label: the lower R² of one feature's model on train and eval."""
    y_train, y_eval = as_floats(train[label]), as_floats(evaluation[label])
    keep_train, keep_eval = np.isfinite(y_train), np.isfinite(y_eval)
    train, evaluation, y_train, y_eval = (
        train[keep_train],
        evaluation[keep_eval],
        y_train[keep_train],
        y_eval[keep_eval],
    )
    if len(y_eval) < 2 or np.all(y_train == y_train[0]):
        return [], []
    findings, relations = [], []
    for name in [*numeric, *categorical]:
        if name not in train or name not in evaluation:
            continue
        if name in numeric:
            x_train, x_eval = as_floats(train[name]), as_floats(evaluation[name])
            fill = np.nanmedian(x_train) if np.isfinite(x_train).any() else 0.0
            x_train, x_eval = np.nan_to_num(x_train, nan=fill)[:, None], np.nan_to_num(x_eval, nan=fill)[:, None]
            tree = DecisionTreeRegressor(max_leaf_nodes=32, random_state=0).fit(x_train, y_train)
            fitted, predicted = tree.predict(x_train), tree.predict(x_eval)
            correlation = abs(float(np.corrcoef(x_train[:, 0], y_train)[0, 1])) if x_train.std() > 0 else 0.0
        else:
            keys_train = train[name].astype(str).where(train[name].notna(), "<missing>")
            keys_eval = evaluation[name].astype(str).where(evaluation[name].notna(), "<missing>")
            means = pd.Series(y_train, index=keys_train.index).groupby(keys_train).mean()
            fitted = keys_train.map(means).to_numpy(dtype="float64")
            predicted = keys_eval.map(means).fillna(float(y_train.mean())).to_numpy(dtype="float64")
            correlation = 0.0
        score = min(_r2(y_train, fitted), _r2(y_eval, predicted))
        relations.append(Relation(name, label, "one_feature_r2", score, spec.leakage_score))
        finding = _leakage_finding(name, label, "an R²", score, correlation, spec, grade)
        if finding is not None:
            findings.append(finding)
    return findings, relations


def _leakage_finding(
    name: str, label: str, measure: str, score: float, correlation: float, spec: CorrelationSpec, grade: Grade
) -> Finding | None:
    """TARGET_LEAKAGE of a feature whose one-feature score or correlation with the label reaches its threshold."""
    correlation = correlation if np.isfinite(correlation) else 0.0
    if score < spec.leakage_score and correlation < spec.leakage_correlation:
        return None
    because = (
        f"alone it predicts {label!r} with {measure} of {score:.3f} on train and eval (at least {spec.leakage_score:g})"
        if score >= spec.leakage_score
        else f"its correlation with {label!r} is {correlation:.3f} (at least {spec.leakage_correlation:g})"
    )
    return Finding(
        "leakage",
        "train",
        name,
        "TARGET_LEAKAGE",
        grade("TARGET_LEAKAGE"),
        f"possible target leakage: {because}. A feature known only with the label (or computed from "
        "it) makes a model that fails in production: drop it from the use case's features (or "
        f"move it under drop:); if it is truly known in advance, set the severity of TARGET_LEAKAGE",
    )


def _r2(truth: np.ndarray, predicted: np.ndarray) -> float:
    """R² without scikit-learn's checks; 0 when the truth does not vary."""
    total = float(((truth - truth.mean()) ** 2).sum())
    return 1.0 - float(((truth - predicted) ** 2).sum()) / total if total > 0 else 0.0


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """The mean recall over the true classes of integer-coded labels (scikit-learn's, without its checks)."""
    classes = np.unique(truth)
    recalls = [np.mean(predicted[truth == c] == c) for c in classes]
    return float(np.mean(recalls)) if recalls else 0.0


def _tree_score(
    train: pd.Series, y_train: np.ndarray, evaluation: pd.Series, y_eval: np.ndarray, classes: int
) -> float:
    """The lower balanced accuracy, on train and eval, of a shallow tree on one numeric feature."""
    x_train, x_eval = as_floats(train)[:, None], as_floats(evaluation)[:, None]
    tree = DecisionTreeClassifier(max_leaf_nodes=max(2, 2 * classes), random_state=0).fit(x_train, y_train)
    return min(balanced_accuracy(y_train, tree.predict(x_train)), balanced_accuracy(y_eval, tree.predict(x_eval)))


def _purity_score(train: pd.Series, y_train: np.ndarray, evaluation: pd.Series, y_eval: np.ndarray) -> float:
    """The lower balanced accuracy, on train and eval, of predicting each value's majority class in train."""
    codes, uniques = pd.factorize(train.astype(str).where(train.notna(), "<missing>"))
    table = np.zeros((len(uniques), int(y_train.max()) + 1))
    np.add.at(table, (codes, y_train), 1)
    majority = table.argmax(axis=1)
    fallback = int(np.bincount(y_train).argmax())
    eval_codes = pd.Index(uniques).get_indexer(evaluation.astype(str).where(evaluation.notna(), "<missing>"))
    predicted_eval = np.where(eval_codes >= 0, majority[np.maximum(eval_codes, 0)], fallback)
    return min(balanced_accuracy(y_train, majority[codes]), balanced_accuracy(y_eval, predicted_eval))


def _share_shift(first: Mapping[str, int], second: Mapping[str, int]) -> float:
    names = sorted(set(first) | set(second))
    a = np.array([first.get(n, 0) for n in names], dtype=float)
    b = np.array([second.get(n, 0) for n in names], dtype=float)
    return float(np.max(np.abs(a / a.sum() - b / b.sum())))


def _shares(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    return ", ".join(f"{name} {count / total:.1%}" for name, count in counts.items())
