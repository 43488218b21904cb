"""The monitoring pipeline run by kfp.local against a real S3 server: monitoring, then continuous training."""

# No `from __future__ import annotations` here: KFP reads the pipeline's annotations as types.

import json
from datetime import timedelta
from pathlib import Path

import pytest
from integration.monitor.serving_logs import serve, traffic
from kfp import local

from components.common import datasets, models
from pipelines.monitoring_pipeline import monitoring_pipeline


@pytest.fixture
def kfp_root(tmp_path, s3, served, monkeypatch):
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLCYCLE_BUCKET_PREFIX", served.store.settings.bucket_prefix)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    return tmp_path / "kfp"


def task_dir(root: Path, task: str) -> Path | None:
    runs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = sorted(runs[-1].rglob(f"{task}/executor_output.json"))
    return found[0].parent if found else None


def output(root: Path, task: str, name: str = "Output"):
    folder = task_dir(root, task)
    return json.loads((folder / "executor_output.json").read_text())["parameterValues"][name] if folder else None


def test_continuous_training_monitors_retrains_on_feedback_and_proposes_promotion(served, window_day, kfp_root):
    drifted = traffic(600, seed=21, amount_shift=20_000, purposes={"car": 0.1, "home": 0.1, "study": 0.8})
    serve(served, drifted, window_day + timedelta(hours=1))
    start, end = window_day.isoformat(), (window_day + timedelta(days=1)).isoformat()

    monitoring_pipeline(
        use_case=served.config_path.read_text(),
        schema=served.schema_path.read_text(),
        window_start=start,
        window_end=end,
        retrain=True,
    )

    monitored = task_dir(kfp_root, "monitor-serving")
    assert output(kfp_root, "monitor-serving") is True
    assert "RETRAIN" in (monitored / "summary").read_text()
    assert "amount" in (monitored / "report").read_text() and "<svg" in (monitored / "report").read_text()
    result = json.loads((monitored / "result").read_text())
    assert result["drifted"] == ["amount", "purpose"] and result["decision"]["retrain"] is True
    assert set(json.loads((monitored / "metrics").read_text())) >= {
        "drift_amount_jensen_shannon",
        "live_roc_auc",
        "retrain",
    }

    # The nested training run ingested base data plus the window's feedback as a new version ...
    version = output(kfp_root, "ingest-data")
    manifest = datasets.read_manifest(served.store, datasets.DatasetRef("loans", version))
    assert manifest["feedback"]["window"]["start"].startswith(window_day.strftime("%Y-%m-%dT%H:%M:%S"))
    assert manifest["feedback"]["rows"] == len(drifted) and manifest["parent"] == served.dataset_version
    # ... which passed the validation gate, and its blessed model is proposed for promotion.
    assert output(kfp_root, "validate-data") is True
    registered = output(kfp_root, "register-model", "version")
    assert (
        models.read_manifest(served.store, models.resolve(served.store, "loans", registered))["lineage"][
            "dataset_version"
        ]
        == version
    )
    command = output(kfp_root, "propose-promotion")
    assert (
        command == f"mlcycle promote -c <loans.yaml> {registered} --to production --branch retrain/loans-{registered}"
    )
