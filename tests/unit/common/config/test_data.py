"""The data sections of a use case: sources and joins, features, the target's derive rule, the split."""

from __future__ import annotations

import pytest

from components.common.config import load_use_case
from components.common.errors import ConfigError


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["joins"][0].update(source="clients"), "join in use_case.yaml names unknown source 'clients'"),
        (lambda d: d.update(joins=[]), "exactly one source that no join names"),
        (lambda d: d["features"].update(numeric=["amount", "amount"]), "feature 'amount' is listed twice"),
        (lambda d: d["split"].pop("eval_end"), "a time split needs `column`, `train_end` and `eval_end`"),
        (
            lambda d: d.update(
                split={"method": "hash", "key": ["loan_id"], "fractions": {"train": 0.9, "eval": 0.2, "test": 0}}
            ),
            "must be non-negative and sum to 1",
        ),
        (lambda d: d["sources"].update(extra={"uri": "data.txt"}), "cannot tell the format of source 'data.txt'"),
        (lambda d: d["target"]["derive"].update(value="default"), "target.derive.value must be a list for op 'in'"),
        (lambda d: d["target"].update(task="regression"), "a true/false label, which cannot be a regression"),
        (lambda d: d["target"].update(task="ranking"), "expected one of: 'classification', 'regression'"),
    ],
)
def test_contradicting_settings_are_rejected(loans, write, mutate, message):
    data = loans()
    mutate(data)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_use_case(write(data))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(sources={}), "use_case.yaml has no sources (hint: add at least one entry under `sources`)"),
        (
            lambda d: d["sources"]["loans"].update(uri="", format="csv"),
            "source 'loans' in use_case.yaml has an empty uri",
        ),
        (lambda d: d["joins"][0].update(keys=[]), "join of 'customers' in use_case.yaml has no key columns in `keys`"),
        (lambda d: d["joins"].append(d["joins"][0]), "use_case.yaml joins the same source twice (hint: merge"),
        (
            lambda d: d.update(features={"numeric": []}),
            "use_case.yaml lists no feature columns (hint: add columns under features.numeric/categorical)",
        ),
        (
            lambda d: d["split"].update(key=["loan_id"]),
            "`key` belongs to hash splits, not time splits, in use_case.yaml",
        ),
        (lambda d: d.update(split={"method": "hash"}), "a hash split needs `key` columns in use_case.yaml"),
        (
            lambda d: d.update(split={"method": "hash", "key": ["loan_id"], "fractions": {"train": 0.9, "test": 0.1}}),
            "split.fractions in use_case.yaml must name exactly train, eval and test",
        ),
        (
            lambda d: d.update(split={"method": "hash", "key": ["*", "loan_id"]}),
            "split.key in use_case.yaml mixes '*' (the whole row) with named columns",
        ),
    ],
)
def test_incomplete_sources_features_and_splits_are_rejected(loans, write, mutate, message):
    data = loans()
    mutate(data)
    with pytest.raises(ConfigError) as error:
        load_use_case(write(data))
    assert str(error.value).startswith(message)


def test_a_hash_split_with_keys_and_fractions_summing_to_one_loads(loans, write):
    split = {"method": "hash", "key": ["loan_id"], "fractions": {"train": 0.6, "eval": 0.2, "test": 0.2}, "salt": "s"}
    config = load_use_case(write(loans(split=split)))
    assert (config.split.key, config.split.fractions["train"], config.split.salt) == (("loan_id",), 0.6, "s")


def test_a_hash_split_on_the_whole_row_loads_and_hashes_every_column_in_name_order(loans, write):
    config = load_use_case(write(loans(split={"method": "hash", "key": ["*"], "salt": "s"})))
    assert config.split.hashes_whole_row
    assert config.split.key_columns(["b", "a", "c"]) == ["a", "b", "c"]
    named = load_use_case(write(loans(split={"method": "hash", "key": ["loan_id"]}))).split
    assert not named.hashes_whole_row and named.key_columns(["b", "a"]) == ["loan_id"]


def test_the_time_zone_defaults_to_utc_and_takes_an_iana_name(loans, write):
    assert load_use_case(write(loans())).timezone == "UTC"
    assert load_use_case(write(loans(timezone="America/New_York"))).timezone == "America/New_York"


@pytest.mark.parametrize(
    "zone, hint",
    [
        ("America/NewYork", "did you mean 'America/New_York'"),
        ("new york", "did you mean 'America/New_York'"),
        ("Mars/Olympus", "give an IANA time zone name such as America/New_York"),
    ],
)
def test_an_unknown_time_zone_is_one_line_naming_the_closest_known_ones(loans, write, zone, hint):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(loans(timezone=zone)))
    assert f"unknown time zone {zone!r} in use_case.yaml" in str(error.value) and hint in str(error.value)
    assert "\n" not in str(error.value)


def test_a_time_zone_changes_the_dataset_fingerprint_and_the_default_leaves_it_as_it_was(loans, write):
    default = load_use_case(write(loans())).ingest_fingerprint()
    assert "timezone" not in default
    assert load_use_case(write(loans(timezone="Europe/Paris"))).ingest_fingerprint() == {
        **default,
        "timezone": "Europe/Paris",
    }


@pytest.mark.parametrize(
    "lag, message",
    [
        ({"tailnum": "1h"}, "join of 'customers' in use_case.yaml lags 'tailnum', which is not one of its keys"),
        ({"customer_id": "an hour"}, "join of 'customers' in use_case.yaml lags 'customer_id' by 'an hour'"),
    ],
)
def test_a_join_lag_names_a_key_and_a_duration(loans, write, lag, message):
    data = loans()
    data["joins"][0]["lag"] = lag
    with pytest.raises(ConfigError, match=message):
        load_use_case(write(data))


def test_a_join_without_lag_leaves_the_dataset_fingerprint_as_it_was(loans, write):
    data = loans()
    plain = load_use_case(write(data)).ingest_fingerprint()
    assert "lag" not in plain["joins"][0]
    data["joins"][0]["lag"] = {"customer_id": "30min"}
    assert load_use_case(write(data)).ingest_fingerprint()["joins"][0]["lag"] == {"customer_id": "30min"}
