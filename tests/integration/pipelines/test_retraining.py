"""Retraining in process against a real S3 server: base data plus feedback, the training steps, the proposal."""

from __future__ import annotations

from datetime import timedelta

from integration.monitor.serving_logs import serve, traffic

from components.common import models
from components.common.serving_logs import Window
from pipelines.retraining import retrain


def test_retraining_in_process_trains_on_the_feedback_and_proposes_a_blessed_model(served, window_day):
    serve(served, traffic(400, seed=33, amount_shift=15_000), window_day + timedelta(hours=1))
    window = Window(window_day, window_day + timedelta(days=1))
    lines = []

    outcome = retrain(
        served.config_path.read_text(),
        served.schema_path.read_text(),
        served.store,
        window,
        str(served.config_path),
        say=lines.append,
    )

    assert outcome.valid and outcome.blessed, outcome.validation
    manifest = models.read_manifest(served.store, models.resolve(served.store, "loans", outcome.model_version))
    assert manifest["lineage"]["dataset_version"] == outcome.dataset.ref.version
    assert outcome.dataset.manifest["feedback"]["window"] == window.to_json()
    assert outcome.proposal.version == outcome.model_version
    assert (
        outcome.proposal.command == f"mlcycle promote -c {served.config_path} {outcome.model_version} --to production "
        f"--branch retrain/loans-{outcome.model_version}"
    )
    assert lines[0].startswith(f"dataset {outcome.dataset.ref.version}: base data plus")
    # The training pipeline's steps from ingestion on, as the monitoring pipeline nests it.
    assert outcome.run.steps[:3] == ("configure-run", "ingest-data", "validate-data")
    assert outcome.run.steps[-3:] == ("evaluate-model", "check-serving", "register-model")
