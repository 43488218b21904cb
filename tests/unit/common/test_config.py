"""Use-case config parsing and S3 settings: strictness, cross-checks, environment precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import LOANS_CONFIG

from components.common.config import DEMO_CONFIG, load_use_case
from components.common.errors import ConfigError
from components.common.s3_settings import s3_settings


def write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "use_case.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def loans(**changes) -> dict:
    data = yaml.safe_load(LOANS_CONFIG.format(loans="/data/loans.csv", customers="/data/customers.csv"))
    data.update(changes)
    return data


def test_demo_config_loads_with_primary_source_and_no_leaking_features():
    config = load_use_case(DEMO_CONFIG)
    assert config.primary_source == "flights"
    assert config.target.derive.column == "arr_delay"
    after_the_fact = {"dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"}
    assert after_the_fact <= set(config.drop)
    assert not after_the_fact & set(config.features.all())


def test_fingerprint_ignores_source_location_and_feature_kinds(tmp_path):
    base = load_use_case(write(tmp_path, loans()))
    moved = base.with_source_uris({"loans": "s3://elsewhere/loans.csv"})
    regrouped = loans()
    regrouped["features"] = {"numeric": ["amount", "term"], "categorical": ["purpose", "region", "age"]}
    assert moved.ingest_fingerprint() == base.ingest_fingerprint()
    assert load_use_case(write(tmp_path, regrouped)).ingest_fingerprint() == base.ingest_fingerprint()
    resplit = loans()
    resplit["split"]["train_end"] = "2024-08-01"
    assert load_use_case(write(tmp_path, resplit)).ingest_fingerprint() != base.ingest_fingerprint()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"targte": {"name": "x"}}, "unknown key 'targte' in use_case.yaml (hint: did you mean 'target'?)"),
        ({"split": {"method": "time", "colum": "opened_at"}}, "unknown key 'colum' in use_case.yaml.split"),
        ({"target": {"name": "y", "missing": "ignore"}}, "use_case.yaml.target.missing is 'ignore', expected one of"),
        ({"drop": {"a": 1}}, "use_case.yaml.drop must be a list, not a mapping"),
        ({"name": 12}, "use_case.yaml.name must be str, not int 12"),
    ],
)
def test_invalid_settings_name_the_key_and_the_fix(tmp_path, change, message):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(tmp_path, loans(**change)))
    assert message in str(error.value)


def test_missing_required_key_is_named(tmp_path):
    data = loans()
    del data["target"]
    with pytest.raises(ConfigError, match="missing key 'target' in use_case.yaml"):
        load_use_case(write(tmp_path, data))


def test_unquoted_yaml_boolean_key_is_explained(tmp_path):
    text = LOANS_CONFIG.format(loans="a.csv", customers="b.csv").replace("keys: [customer_id]", "on: [customer_id]")
    with pytest.raises(ConfigError, match="is a YAML boolean"):
        load_use_case(write(tmp_path, text))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["joins"][0].update(source="clients"), "join in use_case.yaml names unknown source 'clients'"),
        (lambda d: d.update(joins=[]), "exactly one source that no join names"),
        (lambda d: d["features"].update(numeric=["amount", "status"]), "feature 'status' is also in `drop`"),
        (lambda d: d["features"].update(numeric=["defaulted"]), "the target 'defaulted' is also a feature"),
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
    ],
)
def test_contradicting_settings_are_rejected(tmp_path, mutate, message):
    data = loans()
    mutate(data)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_use_case(write(tmp_path, data))


def test_missing_and_malformed_files_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_use_case(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is not valid YAML at line 2"):
        load_use_case(write(tmp_path, "name: x\n  bad: [1,\n"))


def test_source_override_of_unknown_source_is_rejected(tmp_path):
    config = load_use_case(write(tmp_path, loans()))
    with pytest.raises(ConfigError, match="--source names unknown source 'lones'"):
        config.with_source_uris({"lones": "x.csv"})


# --- S3 settings ---------------------------------------------------------------------------------


def test_s3_settings_from_aws_variables_parse_scheme_and_region(tmp_path):
    settings = s3_settings(
        {
            "AWS_ENDPOINT_URL": "https://minio.example:9000",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "MLCYCLE_BUCKET_PREFIX": "team-",
            "MLCYCLE_STATE_DIR": str(tmp_path),
        }
    )
    assert (settings.endpoint, settings.secure, settings.region) == ("minio.example:9000", True, "eu-west-1")
    assert settings.bucket("models") == "team-models"
    assert "secret" not in repr(settings) and settings.masked_key() == "AKIA…"


def test_s3_specific_endpoint_variable_wins():
    settings = s3_settings(
        {
            "AWS_ENDPOINT_URL": "http://generic:1",
            "AWS_ENDPOINT_URL_S3": "http://s3-only:2",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
        }
    )
    assert settings.endpoint == "s3-only:2"


def test_s3_settings_fall_back_to_the_embedded_server_state(tmp_path):
    folder = tmp_path / "s3"
    folder.mkdir()
    (folder / "server.json").write_text(json.dumps({"pid": 1, "ports": {"s3": 18333}}))
    (folder / "credentials-pipeline.env").write_text("AWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=shh\n")
    settings = s3_settings({"MLCYCLE_STATE_DIR": str(tmp_path)})
    assert (settings.endpoint, settings.access_key, settings.secret_key) == ("127.0.0.1:18333", "local", "shh")


def test_s3_settings_without_endpoint_or_with_half_credentials_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="no S3 endpoint configured.*make s3-up"):
        s3_settings({"MLCYCLE_STATE_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="S3 credentials are incomplete"):
        s3_settings({"AWS_ENDPOINT_URL": "http://x:1", "AWS_ACCESS_KEY_ID": "k"})
    with pytest.raises(ConfigError, match="is not an http\\(s\\) URL"):
        s3_settings({"AWS_ENDPOINT_URL": "ftp://x:1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})


# --- monitoring and feedback (stage 8) -----------------------------------------------------------


def test_demo_monitoring_settings_load_and_default_when_absent(tmp_path):
    from components.common.config import DriftTrigger

    monitoring = load_use_case(DEMO_CONFIG).monitoring
    assert monitoring.retrain_on_drift == DriftTrigger(count=0, features=("carrier", "origin", "dest"))
    assert monitoring.quality.floors == {"roc_auc": 0.62}
    assert len(monitoring.schedule.split()) == 6 and sum(monitoring.feedback_split.values()) == 1
    defaults = load_use_case(write(tmp_path, loans())).monitoring
    assert (defaults.window_hours, defaults.min_requests, defaults.retrain_on_drift.count) == (24, 100, 1)
    assert defaults.feedback_split == {"train": 0.7, "eval": 0.15, "test": 0.15}
    assert load_use_case(write(tmp_path, loans())).feedback is None


@pytest.mark.parametrize(
    "monitoring, message",
    [
        (
            {"window_hour": 2},
            "unknown key 'window_hour' in use_case.yaml.monitoring (hint: did you mean 'window_hours'?)",
        ),
        ({"window_hours": 0}, "monitoring.window_hours in use_case.yaml must be at least 1"),
        (
            {"drift": {"numeric": 1.5}},
            "monitoring.drift threshold of 'numeric' in use_case.yaml is 1.5, not between 0 and 1",
        ),
        (
            {"retrain_on_drift": {"features": ["amont"]}},
            "monitoring names 'amont' in use_case.yaml, which is not a feature (hint: did you mean 'amount'?)",
        ),
        (
            {"drift": {"features": {"status": 0.2}}},
            "monitoring names 'status' in use_case.yaml, which is not a feature",
        ),
        (
            {"quality": {"floors": {"roc": 0.6}}},
            "unknown metric 'roc' in monitoring.quality of use_case.yaml (hint: did you mean 'roc_auc'?)",
        ),
        (
            {"quality": {"min_rows": 0}},
            "monitoring.quality.min_rows and min_slice_rows in use_case.yaml must be at least 1",
        ),
        (
            {"feedback_split": {"train": 0.5, "test": 0.5}},
            "monitoring.feedback_split in use_case.yaml must give train, eval and test",
        ),
        (
            {"schedule": "0 3 * * *"},
            "monitoring.schedule '0 3 * * *' in use_case.yaml is not a six-field cron expression (hint: KFP",
        ),
    ],
)
def test_invalid_monitoring_settings_name_the_key_and_the_fix(tmp_path, monitoring, message):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(tmp_path, loans(monitoring=monitoring)))
    assert str(error.value).startswith(message)


def test_a_feedback_window_is_two_iso_instants_in_order(tmp_path):
    config = load_use_case(write(tmp_path, loans(feedback={"start": "2026-11-20T00:00:00Z", "end": "2026-11-27"})))
    assert (config.feedback.start, config.feedback.end) == ("2026-11-20T00:00:00Z", "2026-11-27")
    assert config.ingest_fingerprint() == load_use_case(write(tmp_path, loans())).ingest_fingerprint()
    with pytest.raises(ConfigError, match="feedback.start in use_case.yaml 'last week' is not an ISO 8601 time"):
        load_use_case(write(tmp_path, loans(feedback={"start": "last week", "end": "2026-11-27"})))
    with pytest.raises(ConfigError, match=r"the feedback window in use_case.yaml ends \(2026-11-01\) before it starts"):
        load_use_case(write(tmp_path, loans(feedback={"start": "2026-11-20", "end": "2026-11-01"})))
    with pytest.raises(ConfigError, match="missing key 'end' in use_case.yaml.feedback"):
        load_use_case(write(tmp_path, loans(feedback={"start": "2026-11-20"})))
