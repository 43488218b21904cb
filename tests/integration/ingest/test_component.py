"""The KFP component of stage 1, run by kfp.local exactly as a pipeline task runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp import local

from components.common import datasets
from components.ingest.component import ingest_data


@pytest.fixture
def local_kfp(tmp_path: Path, s3, store, monkeypatch):
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLCYCLE_BUCKET_PREFIX", store.settings.bucket_prefix)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    return store


def test_ingest_component_publishes_a_version_and_describes_it(local_kfp, loans_config_path):
    task = ingest_data(use_case=loans_config_path.read_text())
    version = task.outputs["Output"]
    dataset = task.outputs["dataset"]
    manifest = json.loads(Path(dataset.path).read_text())
    assert manifest["version"] == version == datasets.read_latest(local_kfp, "loans")
    assert dataset.metadata["version"] == version and dataset.metadata["created"] is True
    assert dataset.metadata["rows"] == sum(dataset.metadata[f"rows_{s}"] for s in ("train", "eval", "test"))
    again = ingest_data(use_case=loans_config_path.read_text())
    assert again.outputs["Output"] == version and again.outputs["dataset"].metadata["created"] is False


def test_component_docstring_reaches_the_spec():
    spec = ingest_data.component_spec
    assert spec.description.startswith("Ingests a use case's sources")
    assert "The dataset version's manifest" in spec.outputs["dataset"].description
    assert spec.outputs["Output"].description == "The dataset version id."
    assert spec.inputs["use_case"].description == "The use-case configuration, as YAML text."
