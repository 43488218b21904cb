"""A whole use case: loading, cross-section checks, the order of checks, fingerprints, the schema's place."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.common.config import load_use_case, schema_path
from components.common.errors import ConfigError
from pipelines.usecases import DEMO_CONFIG


def test_demo_config_loads_with_primary_source_and_no_leaking_features():
    config = load_use_case(DEMO_CONFIG)
    assert config.primary_source == "flights"
    assert config.target.derive.column == "arr_delay"
    after_the_fact = {"dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"}
    assert after_the_fact <= set(config.drop)
    assert not after_the_fact & set(config.features.all())


def test_fingerprint_ignores_source_location_feature_kinds_and_task(loans, write):
    base = load_use_case(write(loans()))
    moved = base.with_source_uris({"loans": "s3://elsewhere/loans.csv"})
    regrouped = loans()
    regrouped["features"] = {"numeric": ["amount", "term"], "categorical": ["purpose", "region", "age"]}
    tasked = loans()
    tasked["target"]["task"] = "classification"
    assert moved.ingest_fingerprint() == base.ingest_fingerprint()
    assert load_use_case(write(regrouped)).ingest_fingerprint() == base.ingest_fingerprint()
    assert load_use_case(write(tasked)).ingest_fingerprint() == base.ingest_fingerprint()
    resplit = loans()
    resplit["split"]["train_end"] = "2024-08-01"
    assert load_use_case(write(resplit)).ingest_fingerprint() != base.ingest_fingerprint()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["features"].update(numeric=["amount", "status"]), "feature 'status' is also in `drop`"),
        (lambda d: d["features"].update(numeric=["defaulted"]), "the target 'defaulted' is also a feature"),
        (
            lambda d: d.update(analysis={"slices": ["purpose", "status"]}),
            "slice column 'status' is dropped at ingestion in use_case.yaml",
        ),
    ],
)
def test_contradicting_settings_are_rejected(loans, write, mutate, message):
    data = loans()
    mutate(data)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_use_case(write(data))


def test_of_several_mistakes_the_first_section_checked_is_reported(loans, write):
    data = loans(monitoring={"schedule": "0 3 * * *"}, training={"max_trials": 0})
    data["features"]["numeric"] = ["amount", "status"]
    with pytest.raises(ConfigError, match="feature 'status' is also in `drop`"):
        load_use_case(write(data))
    data["features"]["numeric"] = ["amount"]
    with pytest.raises(ConfigError, match="training.max_trials in use_case.yaml must be at least 1"):
        load_use_case(write(data))


def test_missing_and_malformed_files_are_reported(tmp_path, write):
    with pytest.raises(ConfigError, match="does not exist"):
        load_use_case(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is not valid YAML at line 2"):
        load_use_case(write("name: x\n  bad: [1,\n"))


def test_source_override_of_unknown_source_is_rejected(loans, write):
    config = load_use_case(write(loans()))
    with pytest.raises(ConfigError, match="--source names unknown source 'lones'"):
        config.with_source_uris({"lones": "x.csv"})


def test_the_schema_sits_beside_the_config_unless_validation_names_one(loans, write, tmp_path):
    path = write(loans())
    assert schema_path(path, load_use_case(path)) == (tmp_path / "use_case.schema.pbtxt").resolve()
    named = write(loans(validation={"schema": "schemas/loans.pbtxt"}))
    assert schema_path(str(named), load_use_case(named)) == (tmp_path / "schemas" / "loans.pbtxt").resolve()
    assert (
        DEMO_CONFIG.is_file()
        and schema_path(DEMO_CONFIG, load_use_case(DEMO_CONFIG)).parent == Path(DEMO_CONFIG).parent.resolve()
    )
