"""The training steps in process against a real S3 server: tune, train, analyse, check serving, register, gates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
from helpers import loans_with_signal, make_loans, write_loans_use_case

from components.common import datasets, models, runs
from components.common.config import load_use_case
from components.ingest.logic import ingest_dataset
from components.register import logic as registry
from components.train.logic import fit
from components.train.trials import Trial
from components.validate.logic import infer_schema_for_version, write_schema
from pipelines.inprocess import run_training

TRAINING = """
preprocessing: {{datetime_parts: [dayofweek]}}
training:
  seed: 3
  search:
    - family: logistic_regression
      params: {{C: [0.1, 1.0]}}
    - family: hist_gradient_boosting
      params: {{max_iter: [20]}}
analysis:
  slices: [region]
  min_slice_rows: 10
  blessing:
    floors: {{roc_auc: 0.3}}
    max_regression: {{roc_auc: 0.02}}
"""


def use_case(tmp_path: Path, loans=None):
    from helpers import LOANS_CONFIG

    return write_loans_use_case(
        tmp_path, loans_with_signal() if loans is None else loans, config=LOANS_CONFIG + TRAINING
    )


def train(config_path: Path, store, schema_text: str = "", dataset_version: str | None = "latest"):
    return run_training(config_path.read_text(), schema_text, store, dataset_version=dataset_version)


def test_training_registers_a_blessed_version_with_lineage_and_card(store, tmp_path):
    config_path = use_case(tmp_path)
    dataset = ingest_dataset(load_use_case(config_path), store)
    schema_text = 'feature { name: "amount" type: FLOAT presence { min_fraction: 1.0 } }\n'
    run = train(config_path, store, schema_text)
    outcome = run.candidate
    manifest = outcome.registration.manifest
    lineage = manifest["lineage"]
    assert outcome.registration.created and manifest["blessed"] and outcome.servable
    assert run.steps == (
        "configure-run",
        "plan-trials",
        *["tune-model"] * 3,
        "select-trial",
        "train-model",
        "evaluate-model",
        "check-serving",
        "register-model",
    )
    assert lineage["dataset_version"] == dataset.ref.version
    assert lineage["parameters"]["family"] == outcome.best.trial.family
    assert len(lineage["trials"]) == 3 and lineage["metrics"]["roc_auc"] > 0.8
    # A candidate: staging and production are what the GitOps overlays name, so training moves no stage.
    assert models.read_stages(store, "loans").history == ()
    card = models.read_cards(store, outcome.registration.ref)
    assert "**BLESSED**" in card.markdown and card.data["lineage"]["dataset_version"] == dataset.ref.version
    assert card.markdown == outcome.card_markdown  # the card evaluation built, stored as it is
    model = models.load_model(store, "loans", outcome.registration.ref.version, tmp_path / "load")
    assert list(model.classes_) == [0, 1]
    # The server checks requests against the serving schema registered beside the model.
    serving = store.get_json(store.bucket("models"), manifest["serving_schema"]["key"])
    amount = next(feature for feature in serving["features"] if feature["name"] == "amount")
    assert amount["nullable"] is False


def test_a_candidate_worse_than_production_is_not_blessed_nor_registered_and_a_better_one_is(store, tmp_path):
    config_path = use_case(tmp_path)
    config = load_use_case(config_path)
    good_data = ingest_dataset(config, store)
    first = train(config_path, store)
    registry.set_stage(store, "loans", "production", first.registered, reason="test")

    # Labels are noise before October (train and eval) but real in the test months: the candidate
    # learns nothing, while the champion, scored on the same test rows, knows the rule.
    noisy = loans_with_signal(seed=0)
    before = noisy["opened_at"] < "2024-10-01"
    noise = make_loans(1200, seed=9)["status"].fillna("paid")
    noisy.loc[before, "status"] = noise[before].where(noisy.loc[before, "status"].notna())
    worse_path = use_case(tmp_path / "noisy", noisy)
    ingest_dataset(load_use_case(worse_path), store)
    worse = train(worse_path, store)
    assert not worse.candidate.blessed and worse.candidate.registration is None
    assert worse.candidate.analysis.champion["version"] == first.registered
    # The champion was trained on another dataset version: its train split was read and shares no test row.
    overlap = worse.candidate.analysis.champion["training_overlap"]
    assert overlap["dataset_version"] == good_data.ref.version and overlap["rows"] == 0
    assert any("worse than the allowed loss" in reason for reason in worse.candidate.analysis.blessing.reasons)
    # As in the pipeline, an unblessed candidate is checked for serving but never registered.
    assert worse.registered is None and worse.steps[-2:] == ("evaluate-model", "check-serving")
    assert all(
        v.manifest["lineage"]["dataset_version"] != worse.dataset_version for v in models.list_versions(store, "loans")
    )

    # Now production holds a weak model: a candidate from good data beats it and is blessed.
    train_rows = datasets.load_split(store, good_data.manifest, "train", tmp_path)
    weak, _ = fit(train_rows.assign(amount=1, purpose="car"), config, Trial("logistic_regression"))
    weak_path = tmp_path / "weak.joblib"
    joblib.dump(weak, weak_path)
    weak_version = registry.register_model(
        store, "loans", weak_path, lineage={"metrics": {"roc_auc": 0.5}}, blessed=True, card_markdown="weak", card={}
    ).ref.version
    registry.set_stage(store, "loans", "production", weak_version, reason="test")
    ingest_dataset(config, store)
    better = train(config_path, store).candidate
    assert better.analysis.blessing.blessed and better.analysis.champion["version"] == weak_version
    assert better.analysis.metrics["roc_auc"] > better.analysis.champion["metrics"]["roc_auc"]
    assert "names no dataset version" in better.analysis.champion["training_overlap"]["unknown"]
    assert better.registration is not None


def test_cli_train_and_models_commands(tmp_path, s3_env, store):
    config_path = use_case(tmp_path)

    def mlcycle(*args):
        return subprocess.run(
            [sys.executable, "-m", "cli", *args], env=s3_env, capture_output=True, text=True, timeout=600
        )

    assert mlcycle("ingest", "-c", str(config_path)).returncode == 0
    trained = mlcycle("train", "-c", str(config_path))
    assert trained.returncode == 0, trained.stderr
    version = trained.stdout.split()[2]
    assert "blessed:    yes" in trained.stdout and "baseline:   majority class: roc_auc 0.5000" in trained.stdout
    assert "serving:    PASS" in trained.stdout
    assert "trial 1/3" in trained.stderr
    assert "              candidate against it: ROC-AUC " in trained.stdout
    listing = mlcycle("models", "list", "-c", str(config_path))
    assert version in listing.stdout and "staging" not in listing.stdout  # a candidate, in no stage
    assert f"stage:      none (a candidate; stage it with `mlcycle promote {version} --to staging -c " in trained.stdout
    run_id = trained.stdout.split("mlcycle runs show ")[1].split()[0]
    recorded = mlcycle("runs", "list", "-c", str(config_path))
    assert run_id in recorded.stdout and f"registered {version}" in recorded.stdout
    shown = mlcycle("runs", "show", run_id, "-c", str(config_path))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("trial ") == 3 and "*" in shown.stdout and "blessed   yes" in shown.stdout
    assert "baseline majority_class: " in shown.stdout and f"outcome   registered {version}" in shown.stdout
    assert shown.stdout.count("candidate against it: ROC-AUC ") == 2  # both baselines; no champion yet
    unknown = mlcycle("runs", "show", "run-nope", "-c", str(config_path))
    assert unknown.returncode == 2 and unknown.stderr.strip().splitlines() == [
        "error: run 'run-nope' of 'loans' left no record (hint: `mlcycle runs list` shows the runs of 'loans')"
    ]
    again = mlcycle("train", "-c", str(config_path))
    second = again.stdout.split("mlcycle runs show ")[1].split()[0]
    compared = mlcycle("runs", "compare", run_id, second, "-c", str(config_path))
    assert compared.returncode == 0 and "run.started_at" in compared.stdout
    # Same data, seed and search: the same choice and test metrics (only timings and ids differ).
    assert "training.chosen" not in compared.stdout and "analysis.metrics.roc_auc" not in compared.stdout
    assert "# Model card: loans" in mlcycle("models", "show", "-c", str(config_path), version).stdout
    # The test's store is not this folder's embedded server: a shared store, where git is the deployed truth.
    for command, gitops_command in (
        (("stage", version, "--stage", "production"), "mlcycle promote"),
        (("rollback",), "mlcycle rollback"),
    ):
        refused = mlcycle("models", *command, "-c", str(config_path))
        assert refused.returncode == 2 and refused.stdout == "" and len(refused.stderr.splitlines()) == 1
        assert f"use `{gitops_command}`" in refused.stderr
    assert models.current_version(store, "loans", "production") is None
    registry.set_stage(store, "loans", "production", version, reason="test")
    compared = mlcycle("models", "compare", "-c", str(config_path), version, "production")
    assert compared.returncode == 0 and "roc_auc" in compared.stdout
    missing = mlcycle("models", "show", "-c", str(config_path), "m-0000000000000000")
    assert (
        missing.returncode != 0
        and missing.stderr.startswith("error: ")
        and len(missing.stderr.strip().splitlines()) == 1
    )


def test_ingesting_first_stops_at_validation_when_the_data_is_invalid(store, tmp_path):
    good = use_case(tmp_path / "good")
    config = load_use_case(good)
    ingest_dataset(config, store)
    schema_file = tmp_path / "schema.pbtxt"
    write_schema(infer_schema_for_version(config, store), schema_file)
    bad = use_case(tmp_path / "bad", loans_with_signal(seed=4).assign(amount="lots"))

    run = train(bad, store, schema_file.read_text(), dataset_version=None)

    assert run.steps == ("configure-run", "ingest-data", "validate-data")
    assert not run.validation.is_valid and run.candidate is None and run.registered is None
    assert run.dataset_version == run.ingested.ref.version
    assert "UNEXPECTED_DATA_TYPE" in run.validation.summary()
    assert models.list_versions(store, "loans") == []


def test_a_label_with_a_single_class_stops_at_validation_before_tuning(store, tmp_path):
    good = use_case(tmp_path / "good")
    config = load_use_case(good)
    ingest_dataset(config, store)
    schema_file = tmp_path / "schema.pbtxt"
    write_schema(infer_schema_for_version(config, store), schema_file)
    one_class = use_case(tmp_path / "one-class", loans_with_signal(seed=5).assign(status="paid"))

    run = train(one_class, store, schema_file.read_text(), dataset_version=None)

    assert run.steps == ("configure-run", "ingest-data", "validate-data") and run.candidate is None
    single = [f for f in run.validation.errors if f.kind == "LABEL_SINGLE_CLASS"]
    assert {f.split for f in single} == {"train", "eval", "test"}
    assert "a model needs two classes" in single[0].description


def test_every_run_leaves_a_record_also_when_a_gate_stops_it(store, tmp_path):
    good = use_case(tmp_path / "good")
    config = load_use_case(good)
    good_version = ingest_dataset(config, store).ref.version
    schema_file = tmp_path / "schema.pbtxt"
    write_schema(infer_schema_for_version(config, store), schema_file)
    bad = use_case(tmp_path / "bad", loans_with_signal(seed=4).assign(amount="lots"))

    stopped = train(bad, store, schema_file.read_text(), dataset_version=None)
    trained = train(good, store, schema_file.read_text(), dataset_version=good_version)

    first = runs.read_run(store, "loans", stopped.run_id)
    assert set(first.parts) == {"run", "validation"} and first.outcome == "stopped: invalid data"
    assert first.get("run", "dataset_version") == stopped.dataset_version
    assert any("UNEXPECTED_DATA_TYPE" in line for line in first.get("validation", "findings"))
    second = runs.read_run(store, "loans", trained.run_id)
    assert set(second.parts) == {"run", "training", "analysis", "serving", "registration"}
    assert len(second.get("training", "trials")) == 3
    assert second.get("training", "chosen") == trained.candidate.best.trial.id
    assert second.get("analysis", "blessed") is True and second.get("analysis", "reasons")
    assert second.outcome == f"registered {trained.registered}"
    assert models.read_manifest(store, models.resolve(store, "loans", trained.registered))["lineage"]["run_id"] == (
        trained.run_id
    )
    assert [record.run_id for record in runs.list_runs(store, "loans")] == [stopped.run_id, trained.run_id]
