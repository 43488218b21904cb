"""Label, correlation and leakage checks on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.common.config import CorrelationSpec, LabelSpec, NoiseSpec
from components.validate.checks import check_correlation, check_label, check_leakage, check_numeric_label, cramers_v


def error(_kind: str) -> str:
    return "error"


def labels(train, eval_, test) -> dict[str, pd.Series]:
    return {name: pd.Series(values, name="y") for name, values in {"train": train, "eval": eval_, "test": test}.items()}


def kinds(findings) -> set[tuple[str, str]]:
    return {(f.split, f.kind) for f in findings}


def test_balanced_classes_pass_and_each_label_problem_has_its_kind():
    clean, measured = check_label(labels([0, 1] * 100, [0, 1] * 15, [1, 0] * 15), LabelSpec(), NoiseSpec(), error)
    assert clean == [] and [m.split for m in measured] == ["train", "eval", "test"]
    single, _ = check_label(labels([1] * 200, [1] * 30, [1] * 30), LabelSpec(), NoiseSpec(), error)
    assert kinds(single) == {(s, "LABEL_SINGLE_CLASS") for s in ("train", "eval", "test")}
    unseen, _ = check_label(
        labels(["a", "b"] * 100, ["a", "b", "c"] * 10, ["a", "b"] * 10), LabelSpec(), NoiseSpec(), error
    )
    assert ("eval", "LABEL_UNSEEN_CLASS") in kinds(unseen) and "'c'" in unseen[0].description
    rare, _ = check_label(
        labels(["a"] * 100 + ["b"] * 100 + ["c"] * 3, ["a", "b"] * 10, ["a", "b"] * 10), LabelSpec(), NoiseSpec(), error
    )
    assert kinds(rare) == {("train", "LABEL_RARE_CLASS")} and "'c' 3" in rare[0].description


def test_share_shift_is_judged_against_the_noise_of_the_sizes():
    # 30% vs 50% positives on 20 rows: within chance; on 2,000 rows: a real shift.
    small, measured = check_label(
        labels([1] * 60 + [0] * 140, [1] * 10 + [0] * 10, [1] * 6 + [0] * 14), LabelSpec(), NoiseSpec(), error
    )
    assert small == [] and measured[1].shift == 0.2 and measured[1].noise_floor > 0.2
    large, measured = check_label(
        labels([1] * 6000 + [0] * 14000, [1] * 1000 + [0] * 1000, [1] * 600 + [0] * 1400),
        LabelSpec(),
        NoiseSpec(),
        error,
    )
    assert kinds(large) == {("train vs eval", "LABEL_SHARE_SHIFT")}
    assert measured[1].threshold == 0.1 and "max(configured 0.1, noise floor" in large[0].description


def test_correlated_pairs_warn_by_name_unless_ignored():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    city = rng.choice(["a", "b", "c"], 500)
    frame = pd.DataFrame(
        {
            "x": x,
            "twice_x": 2 * x + rng.normal(0, 0.01, 500),
            "noise": rng.normal(size=500),
            "city": city,
            "region": pd.Series(city).map({"a": "north", "b": "south", "c": "east"}),
            "other": rng.choice(["u", "v"], 500),
        }
    )
    findings, relations = check_correlation(
        frame, ["x", "twice_x", "noise"], ["city", "region", "other"], CorrelationSpec(), error
    )
    assert {f.feature for f in findings} == {"x ~ twice_x", "city ~ region"}
    assert len(relations) == 6 and all(f.kind == "CORRELATED_FEATURES" for f in findings)
    ignored, _ = check_correlation(frame, ["x", "twice_x"], [], CorrelationSpec(ignore=(("twice_x", "x"),)), error)
    assert ignored == []


def test_cramers_v_is_near_zero_for_unrelated_many_valued_columns_on_few_rows():
    rng = np.random.default_rng(1)
    assert cramers_v(rng.integers(0, 20, 60), rng.integers(0, 20, 60)) < 0.3
    same = rng.integers(0, 5, 200)
    assert cramers_v(same, same) > 0.99


def test_a_feature_that_gives_the_label_away_is_possible_leakage_and_an_identifier_is_not():
    rng = np.random.default_rng(2)

    def frame(rows, start):
        y = rng.integers(0, 2, rows)
        return pd.DataFrame(
            {
                "y": y,
                "leak": y + rng.normal(0, 0.05, rows),
                "honest": y + rng.normal(0, 1.0, rows),
                "leak_code": np.where(y == 1, "yes", "no"),
                "row_id": [f"r{start + i}" for i in range(rows)],
            }
        )

    train, evaluation = frame(400, 0), frame(60, 400)
    findings, relations = check_leakage(
        train, evaluation, "y", ["leak", "honest"], ["leak_code", "row_id"], CorrelationSpec(), error
    )
    assert {f.feature for f in findings} == {"leak", "leak_code"}
    assert all(f.kind == "TARGET_LEAKAGE" and "possible target leakage" in f.description for f in findings)
    assert "drop it from the use case's features" in findings[0].description
    scores = {r.first: r.value for r in relations}
    assert scores["honest"] < 0.9 and scores["row_id"] < 0.6


def test_a_numeric_label_is_checked_for_missing_infinite_and_constant_values():
    clean = labels([1.5, 2.0, 7.25], [3.0, 4.0], [5.0])
    assert check_numeric_label(clean, error) == []
    broken = labels([2.0, 2.0, 2.0], [np.nan, 1.0, np.inf], [1.0])
    assert kinds(check_numeric_label(broken, error)) == {("train", "LABEL_CONSTANT"), ("eval", "LABEL_NOT_FINITE")}
