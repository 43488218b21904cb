"""Validation of dataset versions in a real S3 server: the demo data, drift across versions, the CLI, KFP."""

# No `from __future__ import annotations` here: KFP reads the pipeline's annotations as types.

import json
import subprocess
import sys
from pathlib import Path

import joblib
from helpers import make_loans, write_loans_use_case
from kfp import dsl, local

from components.common import datasets
from components.common.config import load_use_case, schema_path
from components.ingest.component import ingest_data
from components.ingest.logic import ingest_dataset
from components.register import logic as registry
from components.validate.component import validate_data
from components.validate.logic import (
    STATISTICS,
    infer_schema_for_version,
    load_schema,
    read_statistics,
    validate_dataset,
    write_schema,
)
from pipelines.usecases import DEMO_CONFIG


def test_demo_splits_validate_clean_against_the_committed_schema(store):
    config = load_use_case(DEMO_CONFIG)
    ingested = ingest_dataset(config, store)
    result = validate_dataset(config, load_schema(schema_path(DEMO_CONFIG, config)), store, ingested.ref.version)
    assert result.is_valid and result.findings == [], result.summary()
    skew = {d.feature: d for d in result.distances if d.check == "skew"}
    assert set(skew) == set(config.features.all()) | {config.target.name}
    # Hundreds of thousands of rows: every noise floor is well below the configured thresholds, which rule
    # (the highest, precip's 0.03: mostly zeros, so each sample's histogram spans its own rare maximum).
    raised = [d for d in result.distances if d.threshold != d.configured or d.noise_floor >= d.configured / 2]
    assert raised == []
    assert {s.split for s in result.label_shares} == {"train", "eval", "test"} and result.relations
    assert store.exists(store.bucket("datasets"), f"{ingested.ref.prefix}{STATISTICS}")
    stored = read_statistics(store, ingested.ref)
    assert [d.name for d in stored.datasets] == ["train", "eval", "test"]
    assert stored.datasets[0].num_examples == ingested.manifest["splits"]["train"]["rows"]


def test_drift_is_measured_against_the_last_valid_version_never_a_rejected_one(store, tmp_path):
    first_config = load_use_case(write_loans_use_case(tmp_path / "a"))
    first = ingest_dataset(first_config, store)
    schema = infer_schema_for_version(first_config, store, first.ref.version)
    opening = validate_dataset(first_config, schema, store, first.ref.version)
    assert opening.previous_version is None and opening.baseline_reason == "no earlier version passed validation"
    broken = make_loans(seed=5).assign(amount=lambda f: f["amount"].astype(str) + " EUR")
    bad_config = load_use_case(write_loans_use_case(tmp_path / "bad", broken))
    bad = ingest_dataset(bad_config, store)
    rejected = validate_dataset(bad_config, schema, store, bad.ref.version)
    assert not rejected.is_valid and rejected.previous_version == first.ref.version

    config = load_use_case(write_loans_use_case(tmp_path / "b", make_loans(seed=7)))
    second = ingest_dataset(config, store)
    result = validate_dataset(config, schema, store, second.ref.version)

    assert result.previous_version == first.ref.version  # not the rejected version ingested in between
    assert result.baseline_reason == "the newest earlier version that passed validation"
    drift = {d.feature for d in result.distances if d.check == "drift"}
    assert drift == set(config.features.all()) | {"defaulted"}
    verdicts = [datasets.read_verdict(store, ref) for ref in (first.ref, bad.ref, second.ref)]
    assert [v["valid"] for v in verdicts] == [True, False, True]
    assert verdicts[2]["drift_baseline"] == first.ref.version
    # Ingesting content that exists already makes it latest again; nothing is rewritten.
    again = ingest_dataset(first_config, store)
    assert not again.created and datasets.read_latest(store, "loans") == first.ref.version


def test_with_a_model_in_production_drift_is_measured_against_its_training_data(store, tmp_path):
    first_config = load_use_case(write_loans_use_case(tmp_path / "a"))
    first = ingest_dataset(first_config, store)
    schema = infer_schema_for_version(first_config, store, first.ref.version)
    validate_dataset(first_config, schema, store, first.ref.version)
    second_config = load_use_case(write_loans_use_case(tmp_path / "b", make_loans(seed=7)))
    second = ingest_dataset(second_config, store)
    validate_dataset(second_config, schema, store, second.ref.version)
    model_file = tmp_path / "model.joblib"
    joblib.dump({"a": "stand-in model"}, model_file)
    registered = registry.register_model(
        store,
        "loans",
        model_file,
        lineage={"dataset_version": first.ref.version, "metrics": {}, "parameters": {}},
        blessed=True,
        card_markdown="# loans\n",
        card={},
        serving_schema={},
    )
    registry.set_stage(store, "loans", "production", registered.ref.version, reason="drift baseline test")
    third_config = load_use_case(write_loans_use_case(tmp_path / "c", make_loans(seed=9)))
    third = ingest_dataset(third_config, store)

    result = validate_dataset(third_config, schema, store, third.ref.version)

    assert result.previous_version == first.ref.version  # what serves was trained on it, not on the newer second
    assert result.baseline_reason == f"the version production model {registered.ref.version} was trained on"


def mlcycle(*args, env, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_cli_infers_a_schema_once_and_validate_exits_1_on_blocking_anomalies(tmp_path, s3_env, store):
    config_path = write_loans_use_case(tmp_path / "loans")
    assert mlcycle("ingest", "-c", str(config_path), env=s3_env).returncode == 0
    created = mlcycle("schema", "-c", str(config_path), env=s3_env)
    assert created.returncode == 0, created.stderr
    schema_file = tmp_path / "loans" / "loans.schema.pbtxt"
    assert schema_file.is_file() and 'not_in_environment: "SERVING"' in schema_file.read_text()
    again = mlcycle("schema", "-c", str(config_path), env=s3_env)
    assert again.returncode == 2 and "exists already (hint: review and edit it, or pass --force" in again.stderr

    clean = mlcycle("validate", "-c", str(config_path), env=s3_env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "VALID (0 errors" in clean.stdout

    broken = make_loans(seed=5).assign(amount=lambda f: f["amount"].astype(str) + " EUR")
    write_loans_use_case(tmp_path / "loans", broken)  # same folder: the committed schema stays
    assert mlcycle("ingest", "-c", str(config_path), env=s3_env).returncode == 0
    report = tmp_path / "report.html"
    invalid = mlcycle("validate", "-c", str(config_path), "--report", str(report), env=s3_env)
    assert invalid.returncode == 1
    assert "INVALID" in invalid.stdout and "amount" in invalid.stdout and "UNEXPECTED_DATA_TYPE" in invalid.stdout
    assert "GetPrototype" not in invalid.stderr  # TensorFlow's import chatter is hidden
    assert report.is_file() and "UNEXPECTED_DATA_TYPE" in report.read_text()


@dsl.pipeline(name="ingest-and-validate")
def ingest_and_validate(use_case: str, schema: str):
    ingested = ingest_data(use_case=use_case)
    validate_data(use_case=use_case, schema=schema, dataset_version=ingested.outputs["Output"])


def test_validate_component_in_a_local_pipeline(tmp_path, s3, store, monkeypatch):
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLCYCLE_BUCKET_PREFIX", store.settings.bucket_prefix)
    config_path = write_loans_use_case(tmp_path / "loans")
    config = load_use_case(config_path)
    ingest_dataset(config, store)
    schema_file = tmp_path / "loans.schema.pbtxt"
    write_schema(infer_schema_for_version(config, store), schema_file)
    broken = write_loans_use_case(tmp_path / "broken", make_loans(seed=5).assign(region_code=1))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))

    ingest_and_validate(use_case=config_path.read_text(), schema=schema_file.read_text())
    validate_dir = _task_dir(tmp_path / "kfp", "validate-data")
    executor = json.loads((validate_dir / "executor_output.json").read_text())
    assert executor["parameterValues"]["Output"] is True
    assert (validate_dir / "report").is_file() and "VALID" in (validate_dir / "report").read_text()
    assert json.loads((validate_dir / "anomalies" / "findings.json").read_text())["findings"] == []
    metrics = executor["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert "skew_amount_jensen_shannon" in metrics and metrics["errors"] == 0

    ingest_and_validate(use_case=broken.read_text(), schema=schema_file.read_text())
    validate_dir = _task_dir(tmp_path / "kfp", "validate-data")
    executor = json.loads((validate_dir / "executor_output.json").read_text())
    assert executor["parameterValues"]["Output"] is False
    assert "SCHEMA_NEW_COLUMN" in (validate_dir / "summary").read_text()


def _task_dir(root: Path, task: str) -> Path:
    """The newest local run's folder of a task."""
    runs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return runs[-1] / task
