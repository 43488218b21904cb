"""Validation on small frames with real TFDV: the bad-input corpus, each asserted on its anomaly kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ORDERS_CONFIG as CONFIG
from helpers import make_orders
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from components.common.config import parse_use_case
from components.validate.logic import (
    SERVING,
    duplicate_fraction,
    infer_schema,
    prepare_frame,
    skew_distances,
    statistics_in_process,
    validate_statistics,
    with_comparators,
)
from components.validate.results import MEASURE_ONLY, Distance, ValidationResult


@pytest.fixture(scope="module")
def config():
    return parse_use_case(CONFIG)


@pytest.fixture(scope="module")
def schema(config):
    return infer_schema(statistics_in_process({"all": make_orders(6000, seed=9)}), config)


def splits(train=None, eval_=None, test=None) -> dict[str, pd.DataFrame]:
    return {
        "train": make_orders(seed=1) if train is None else train,
        "eval": make_orders(seed=2) if eval_ is None else eval_,
        "test": make_orders(seed=3) if test is None else test,
    }


def validate(frames, schema, config, previous=None) -> ValidationResult:
    duplicates = {name: duplicate_fraction([frame]) for name, frame in frames.items()}
    previous_stats = statistics_in_process(previous) if previous else None
    return validate_statistics(
        statistics_in_process(frames),
        schema,
        config,
        "ds-test",
        previous_stats,
        "ds-prev" if previous else None,
        duplicates,
    )


def kinds(result: ValidationResult, split: str | None = None) -> set[tuple[str, str]]:
    return {(f.feature, f.kind) for f in result.findings if split is None or f.split == split}


def test_clean_splits_validate_clean_and_every_feature_gets_a_distance(schema, config):
    result = validate(splits(), schema, config)
    assert result.is_valid and result.findings == []
    assert {d.feature for d in result.distances} == {"quantity", "price", "channel", "ordered_at", "returned"}
    assert all(d.check == "skew" and 0 <= d.value < d.threshold for d in result.distances)


def test_inferred_schema_serves_features_only_and_pins_the_label(schema, config):
    features = {f.name: f for f in schema.feature}
    assert SERVING in features["returned"].not_in_environment
    assert SERVING in features["order_id"].not_in_environment
    assert SERVING not in features["price"].not_in_environment
    assert (features["returned"].int_domain.min, features["returned"].int_domain.max) == (0, 1)
    assert features["price"].float_domain.max > 80 and not features["order_id"].HasField("int_domain")


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (lambda f: f.assign(coupon="x"), ("coupon", "SCHEMA_NEW_COLUMN")),
        (lambda f: f.drop(columns=["price"]), ("price", "SCHEMA_MISSING_COLUMN")),
        (lambda f: f.assign(quantity=f["quantity"].astype(str)), ("quantity", "UNEXPECTED_DATA_TYPE")),
        (
            lambda f: f.assign(channel=np.where(np.arange(len(f)) % 10 == 0, "fax", f["channel"])),
            ("channel", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"),
        ),
        (
            lambda f: f.assign(price=f["price"].where(np.arange(len(f)) % 3 != 0)),
            ("price", "FEATURE_TYPE_LOW_FRACTION_PRESENT"),
        ),
        (
            lambda f: f.assign(returned=np.where(np.arange(len(f)) % 50 == 0, 2, f["returned"])),
            ("returned", "INT_TYPE_BIG_INT"),
        ),
        (
            lambda f: f.assign(price=np.where(np.arange(len(f)) == 7, 1e6, f["price"])),
            ("price", "FLOAT_TYPE_BIG_FLOAT"),
        ),
        (
            lambda f: f.assign(quantity=np.where(np.arange(len(f)) == 7, -500, f["quantity"])),
            ("quantity", "INT_TYPE_SMALL_INT"),
        ),
    ],
    ids=[
        "new column",
        "missing column",
        "ints become strings",
        "out-of-domain category",
        "missing-value flood",
        "unseen label class",
        "float far out of range",
        "int far out of range",
    ],
)
def test_each_corruption_is_reported_with_its_kind(schema, config, corrupt, expected):
    result = validate(splits(eval_=corrupt(make_orders(seed=2))), schema, config)
    assert expected in kinds(result, "eval"), result.summary()
    assert not result.is_valid
    assert kinds(result, "train") == set() and kinds(result, "test") == set()


def test_empty_tiny_and_duplicated_splits_are_reported(schema, config):
    orders = make_orders(seed=3)
    result = validate(splits(eval_=orders.iloc[:0], test=pd.concat([orders, orders.iloc[:100]])), schema, config)
    assert ("(dataset)", "EMPTY_SPLIT") in kinds(result, "eval")
    duplicated = [f for f in result.findings if f.kind == "DUPLICATE_ROWS"]
    assert duplicated[0].split == "test" and "100 of 2100 rows (4.76%)" in duplicated[0].description
    tiny = validate(splits(eval_=orders.iloc[:5]), schema, config)
    assert ("(dataset)", "TOO_FEW_ROWS") in kinds(tiny, "eval")


def test_drift_against_the_previous_version_names_the_drifted_features(schema, config):
    drifted = splits(train=make_orders(seed=1, price_shift=15, mix=(0.2, 0.3, 0.5)))
    result = validate(drifted, schema, config, previous=splits())
    drift = {(f.feature, f.kind) for f in result.findings if f.check == "drift"}
    assert drift == {("price", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"), ("channel", "COMPARATOR_L_INFTY_HIGH")}
    measured = {d.feature: d for d in result.distances if d.check == "drift"}
    assert measured["price"].alerts and measured["channel"].alerts and not measured["quantity"].alerts
    assert set(measured) == {"quantity", "price", "channel", "ordered_at", "returned"}
    assert "above the threshold 0.1" in next(f for f in result.findings if f.feature == "price").description


def test_skew_between_train_and_eval_is_reported(schema, config):
    result = validate(splits(eval_=make_orders(seed=2, price_shift=20)), schema, config)
    assert ("price", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH") in {
        (f.feature, f.kind) for f in result.findings if f.check == "skew"
    }


def test_skew_distances_are_the_distances_and_thresholds_validation_applies(schema, config):
    frames = splits(eval_=make_orders(seed=2, price_shift=20))
    measured = {d.feature: d for d in skew_distances(statistics_in_process(frames), schema, config)}
    validated = {d.feature: d for d in validate(frames, schema, config).distances}
    assert set(measured) == set(validated) == {"quantity", "price", "channel", "ordered_at", "returned"}
    assert all(
        (d.value, d.threshold) == pytest.approx((validated[f].value, validated[f].threshold))
        for f, d in measured.items()
    )
    assert measured["price"].value > measured["price"].threshold
    assert measured["quantity"].value <= measured["quantity"].threshold


def test_severity_from_config_turns_an_anomaly_into_a_warning(schema):
    lenient = parse_use_case(
        CONFIG.replace("  min_rows: 10", "  min_rows: 10\n  severity: {SCHEMA_NEW_COLUMN: warning}")
    )
    result = validate(splits(eval_=make_orders(seed=2).assign(coupon="x")), schema, lenient)
    assert result.is_valid and [f.kind for f in result.warnings] == ["SCHEMA_NEW_COLUMN"]


def test_datetime_features_are_measured_but_do_not_alert_by_default(schema, config):
    later = make_orders(seed=2).assign(ordered_at=lambda f: f["ordered_at"] + pd.Timedelta(days=400))
    result = validate(splits(eval_=later), schema, config)
    ordered = next(d for d in result.distances if d.feature == "ordered_at")
    assert ordered.value > 0.5 and ordered.threshold == 1.0 and result.is_valid


def test_comparators_match_column_kinds(schema, config):
    skew = {f.name: f.skew_comparator for f in with_comparators(schema, config, "skew").feature}
    assert skew["channel"].infinity_norm.threshold == 0.1
    assert skew["price"].jensen_shannon_divergence.threshold == 0.1
    assert not skew["order_id"].HasField("jensen_shannon_divergence")


def test_a_threshold_raised_to_a_noise_floor_of_1_measures_only_though_tfdv_exceeds_1_by_a_hair(schema, config):
    # TFDV's approximate JSD can read 1.0000001 where the distance is 1 (digits' pixel_7_0): no alert then.
    floors = {"price": 1.0, "quantity": 0.3}
    skew = {f.name: f.skew_comparator for f in with_comparators(schema, config, "skew", floors).feature}
    assert skew["price"].jensen_shannon_divergence.threshold > 1.0 + 1e-3
    assert skew["quantity"].jensen_shannon_divergence.threshold == 0.3
    assert skew["ordered_at"].jensen_shannon_divergence.threshold > 1.0 + 1e-3  # datetime: measure only
    assert not Distance("skew", "price", "jensen_shannon", 1.0000001, MEASURE_ONLY).alerts
    assert Distance("skew", "quantity", "jensen_shannon", 0.3000001, 0.3).alerts


def test_prepare_frame_keeps_datetimes_and_drops_the_index():
    frame = make_orders(10).iloc[3:6].astype({"channel": "category"})
    frame.loc[frame.index[0], "ordered_at"] = pd.NaT
    prepared = prepare_frame(frame)
    assert list(prepared.index) == [0, 1, 2] and prepared["channel"].dtype == object
    assert prepared["ordered_at"].isna().tolist() == [True, False, False]
    assert prepared["ordered_at"].iloc[1] == frame["ordered_at"].iloc[1].timestamp()


def test_duplicate_fraction_counts_repeats_across_chunks():
    frame = make_orders(100)
    assert duplicate_fraction([frame.iloc[:60], frame.iloc[40:]]) == (20, 120)
    assert duplicate_fraction([]) == (0, 0)


def test_beam_engine_computes_the_same_statistics_as_in_process(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components.validate.logic import statistics_with_beam

    frame = make_orders(500, seed=4)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "train.parquet")
    beam = statistics_with_beam({"train": tmp_path / "train.parquet"}, tmp_path, ["--runner=DirectRunner"])
    local = statistics_in_process({"train": frame})
    assert beam.datasets[0].name == "train" and beam.datasets[0].num_examples == local.datasets[0].num_examples == 500

    def numbers(stats):
        return {
            f.path.step[0]: (round(f.num_stats.mean, 6), f.num_stats.min, f.num_stats.max)
            for f in stats.datasets[0].features
            if f.HasField("num_stats")
        }

    assert numbers(beam) == numbers(local)
    assert set(numbers(beam)) == {"order_id", "quantity", "price", "ordered_at", "returned"}


def small_public_use_case(loader) -> tuple[pd.DataFrame, object, object]:
    """A bundled scikit-learn data set (no download) as a use case with default thresholds, its schema."""
    bunch = loader(as_frame=True)
    frame = bunch.data.rename(columns=lambda c: "".join(ch if ch.isalnum() else "_" for ch in c))
    frame = frame.assign(label=np.asarray(bunch.target_names)[bunch.target.to_numpy()])
    features = ", ".join(c for c in frame.columns if c != "label")
    config = parse_use_case(
        f"name: public\nsources: {{d: {{uri: d.csv}}}}\ntarget: {{name: label}}\nfeatures: {{numeric: [{features}]}}\n"
        f"split: {{method: hash, key: [{frame.columns[0]}]}}\n"
    )
    return frame, config, infer_schema(statistics_in_process({"all": frame}), config)


def random_split(frame: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    draw = np.random.default_rng(seed).random(len(frame))
    masks = {"train": draw < 0.8, "eval": (draw >= 0.8) & (draw < 0.9), "test": draw >= 0.9}
    return {name: frame[mask].reset_index(drop=True) for name, mask in masks.items()}


def validate_rows(parts, schema, config) -> ValidationResult:
    duplicates = {name: duplicate_fraction([part]) for name, part in parts.items()}
    return validate_statistics(
        statistics_in_process(parts), schema, config, "ds-test", duplicates=duplicates, samples=parts
    )


@pytest.mark.parametrize("loader", [load_iris, load_wine, load_breast_cancer], ids=["iris", "wine", "breast_cancer"])
def test_random_splits_of_small_clean_data_are_valid_by_default_and_a_real_shift_is_caught(loader):
    frame, config, schema = small_public_use_case(loader)
    for seed in range(3):
        result = validate_rows(random_split(frame, seed), schema, config)
        assert result.is_valid, result.summary()
        # The noise floor rose above the configured 0.1 for small splits, and is recorded per feature.
        assert all(d.threshold == max(d.configured, d.noise_floor) for d in result.distances)
        assert any(d.noise_floor > 0.1 for d in result.distances)
    parts = random_split(frame, 0)
    # A strong shift of one feature in eval, two standard deviations: beyond the noise of any size here.
    column = frame.columns[0]
    shifted = {**parts, "eval": parts["eval"].assign(**{column: parts["eval"][column] + 2 * frame[column].std()})}
    result = validate_rows(shifted, schema, config)
    assert (column, "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH") in kinds(result)
    assert "noise floor" in next(f for f in result.findings if f.feature == column).description


def test_large_data_keeps_the_configured_thresholds(schema, config):
    result = validate(splits(eval_=make_orders(seed=2, price_shift=20)), schema, config)
    price = next(d for d in result.distances if d.feature == "price")
    assert price.noise_floor < 0.05 and price.threshold == price.configured == 0.1 and price.alerts
    assert "configured threshold 0.1" in next(f for f in result.findings if f.feature == "price").description
    metrics = result.metrics()
    assert metrics["skew_price_threshold"] == 0.1 and 0 < metrics["skew_price_noise_floor"] < 0.05


def test_label_with_a_single_class_and_a_leaking_feature_block_validation(config):
    frame, public, schema = small_public_use_case(load_breast_cancer)
    parts = random_split(frame, 1)
    one_class = {name: part.assign(label="benign") for name, part in parts.items()}
    result = validate_rows(one_class, schema, public)
    assert not result.is_valid and {("label", "LABEL_SINGLE_CLASS")} <= kinds(result)
    leaky = {name: part.assign(mean_radius=(part["label"] == "malignant") * 10.0) for name, part in parts.items()}
    result = validate_rows(leaky, schema, public)
    assert ("mean_radius", "TARGET_LEAKAGE") in kinds(result) and not result.is_valid
    # Correlated pairs (radius, perimeter, area) only warn.
    clean = validate_rows(parts, schema, public)
    assert clean.is_valid and {f.kind for f in clean.warnings} == {"CORRELATED_FEATURES"}


# --- a regression's label ---------------------------------------------------------------------


def diabetes_use_case() -> tuple[pd.DataFrame, object, object]:
    """scikit-learn's diabetes data (442 patients, a disease progression score 25 to 346) as a regression."""
    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    features = ", ".join(c for c in frame.columns if c != "progression")
    config = parse_use_case(
        f"name: diabetes\nsources: {{d: {{uri: d.csv}}}}\ntarget: {{name: progression}}\n"
        f"features: {{numeric: [{features}]}}\nsplit: {{method: hash, key: [age]}}\n"
    )
    statistics = statistics_in_process({"all": frame})
    return frame, config, infer_schema(statistics, config, task="regression")


def test_a_regression_label_gets_a_widened_finite_domain_and_is_compared_like_a_feature():
    frame, config, schema = diabetes_use_case()
    label = next(f for f in schema.feature if f.name == "progression")
    assert SERVING in label.not_in_environment
    # observed 25 to 346, widened on each side by half of max(width, |max|) = 346, as numeric features are;
    # NaN and infinity are errors
    assert (label.float_domain.min, label.float_domain.max) == (25 - 173, 346 + 173)
    assert label.float_domain.disallow_nan and label.float_domain.disallow_inf
    for seed in range(3):
        result = validate_rows(random_split(frame, seed), schema, config)
        assert result.is_valid, result.summary()
        assert result.label_shares == [] and "progression" in {d.feature for d in result.distances}
        assert result.task == "regression"
    # the classification schema of the same data pins integer classes instead: kept for classifiers
    pinned = next(
        f for f in infer_schema(statistics_in_process({"all": frame}), config).feature if f.name == "progression"
    )
    assert not pinned.float_domain.disallow_nan


def test_a_regression_label_that_is_not_finite_shifted_or_given_away_blocks_validation():
    frame, config, schema = diabetes_use_case()
    parts = random_split(frame, 0)
    broken = parts["train"].copy()
    broken.loc[broken.index[:2], "progression"] = [np.inf, np.nan]
    result = validate_rows({**parts, "train": broken}, schema, config)
    assert not result.is_valid and ("progression", "LABEL_NOT_FINITE") in kinds(result, "train")
    assert "1 missing and 1 infinite labels" in next(f for f in result.findings if f.kind == "LABEL_NOT_FINITE").line()
    shifted = {**parts, "eval": parts["eval"].assign(progression=parts["eval"]["progression"] + 150)}
    result = validate_rows(shifted, schema, config)
    assert ("progression", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH") in kinds(result)
    leaky = {name: part.assign(s1=part["progression"] / 100) for name, part in parts.items()}
    result = validate_rows(leaky, schema, config)
    assert ("s1", "TARGET_LEAKAGE") in kinds(result) and not result.is_valid
    leak = next(r for r in result.relations if r.first == "s1" and r.measure == "one_feature_r2")
    assert leak.value > 0.99
    assert all(r.value < 0.5 for r in result.relations if r.measure == "one_feature_r2" and r.first != "s1")
