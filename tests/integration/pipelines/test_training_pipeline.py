"""The training pipeline run end to end by kfp.local against a real S3 server, on small data."""

import json
from pathlib import Path

import pytest
from helpers import LOANS_CONFIG, loans_with_signal, write_loans_use_case
from kfp import local

from components.common import models
from components.common.config import load_use_case
from components.common.config import parse_use_case as load_use_case_text
from components.common.datasets import list_versions as dataset_versions
from components.ingest.logic import ingest_dataset
from components.validate.logic import infer_schema_for_version, write_schema
from pipelines.training_pipeline import training_pipeline

TRAINING = """
preprocessing: {{datetime_parts: [dayofweek]}}
training:
  search:
    - family: logistic_regression
      params: {{C: [0.1, 1.0]}}
analysis:
  blessing: {{floors: {{roc_auc: 0.3}}}}
"""


@pytest.fixture
def local_pipeline(tmp_path, s3, store, monkeypatch):
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLCYCLE_BUCKET_PREFIX", store.settings.bucket_prefix)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    return tmp_path / "kfp"


def registry_datasets(store, use_case: str) -> list[str]:
    return [manifest["version"] for manifest in dataset_versions(store, use_case)]


def task_dir(root: Path, task: str) -> Path | None:
    """The folder of a task in the newest local run (None when the task never ran)."""
    runs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = sorted(runs[-1].rglob(f"{task}/executor_output.json"))
    return found[0].parent if found else None


def task_outputs(root: Path, task: str) -> dict:
    folder = task_dir(root, task)
    return json.loads((folder / "executor_output.json").read_text()) if folder else {}


def test_valid_data_trains_and_registers_a_blessed_model(local_pipeline, store, tmp_path):
    config_path = write_loans_use_case(tmp_path / "loans", loans_with_signal(), config=LOANS_CONFIG + TRAINING)
    config = load_use_case(config_path)
    ingest_dataset(config, store)
    schema_file = tmp_path / "schema.pbtxt"
    write_schema(infer_schema_for_version(config, store), schema_file)

    training_pipeline(
        use_case=config_path.read_text(),
        schema=schema_file.read_text(),
        seed=7,
        overrides={"analysis.blessing.floors.roc_auc": 0.35},
    )

    effective = load_use_case_text(task_outputs(local_pipeline, "configure-run")["parameterValues"]["Output"])
    assert effective.training.seed == 7 and effective.analysis.blessing.floors["roc_auc"] == 0.35
    dataset_version = task_outputs(local_pipeline, "ingest-data")["parameterValues"]["Output"]
    assert dataset_version == next(iter(registry_datasets(store, "loans")))
    assert task_outputs(local_pipeline, "validate-data")["parameterValues"]["Output"] is True
    tuned = list((sorted(local_pipeline.iterdir())[-1]).rglob("tune-model/executor_output.json"))
    assert len(tuned) == 2  # one task per trial
    evaluated = task_outputs(local_pipeline, "evaluate-model")
    assert evaluated["parameterValues"]["Output"] is True
    confusion = evaluated["artifacts"]["classification"]["artifacts"][0]["metadata"]["confusionMatrix"]
    assert confusion["annotationSpecs"] == [{"displayName": "0"}, {"displayName": "1"}]
    figures = evaluated["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert figures["baseline_majority_class_roc_auc"] == 0.5 and 0 < figures["roc_auc"] <= 1
    assert task_outputs(local_pipeline, "check-serving")["parameterValues"]["Output"] is True
    checks = (task_dir(local_pipeline, "check-serving") / "summary").read_text().splitlines()
    assert any("ndarray request" in line for line in checks) and all(line.startswith("PASS") for line in checks[:-1])
    registered = task_outputs(local_pipeline, "register-model")["parameterValues"]
    assert set(registered) == {"version"}  # a candidate: no stage output, no stage moved
    assert models.read_stages(store, "loans").history == ()
    manifest = models.read_manifest(store, models.resolve(store, "loans", registered["version"]))
    assert (
        manifest["lineage"]["parameters"]["family"] == "logistic_regression" and len(manifest["lineage"]["trials"]) == 2
    )
    assert manifest["lineage"]["dataset_version"] == dataset_version
    assert "serving_schema" in manifest  # what the server checks requests against


def test_invalid_data_stops_at_validation_and_registers_nothing(local_pipeline, store, tmp_path):
    good = write_loans_use_case(tmp_path / "good", loans_with_signal(), config=LOANS_CONFIG + TRAINING)
    config = load_use_case(good)
    ingest_dataset(config, store)
    schema_file = tmp_path / "schema.pbtxt"
    write_schema(infer_schema_for_version(config, store), schema_file)
    bad = write_loans_use_case(
        tmp_path / "bad", loans_with_signal(seed=4).assign(amount="lots"), config=LOANS_CONFIG + TRAINING
    )

    training_pipeline(use_case=bad.read_text(), schema=schema_file.read_text())

    validated = task_outputs(local_pipeline, "validate-data")["parameterValues"]
    assert validated["Output"] is False
    assert "UNEXPECTED_DATA_TYPE" in (task_dir(local_pipeline, "validate-data") / "summary").read_text()
    assert task_outputs(local_pipeline, "train-model") == {} and task_outputs(local_pipeline, "check-serving") == {}
    assert models.list_versions(store, "loans") == []
