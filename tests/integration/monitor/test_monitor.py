"""Monitoring against a real S3 server and real TFDV: windows with and without drift, without feedback, empty."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from integration.monitor.serving_logs import FEATURES, log_lines, serve, traffic, write_batches, write_object

from components.common.config import ServingSpec
from components.common.serving_logs import Window
from components.monitor.logic import monitor
from components.monitor.results import DRIFT_WITHOUT_FEEDBACK, HEALTHY, INSUFFICIENT, RETRAIN, RETRAIN_BLOCKED
from components.monitor.task import write_outputs
from components.validate.logic import load_schema


def run(served, day, hours=24, config=None):
    window = Window(day, day + timedelta(hours=hours))
    return monitor(config or served.config, load_schema(served.schema_path), served.store, window)


def test_a_window_like_the_training_data_is_healthy_and_every_feature_has_a_distance(served, window_day, tmp_path):
    serve(served, traffic(600, seed=11), window_day + timedelta(hours=1))

    result = run(served, window_day)

    assert result.decision.status == HEALTHY and not result.decision.retrain, result.summary()
    assert result.requests == result.feedback == result.labelled == len(traffic(600, seed=11))
    assert {d.feature for d in result.distances} == set(FEATURES) and result.unmeasured == []
    assert result.drifted == []
    measures = {d.feature: d.measure for d in result.distances}
    assert measures == {
        "amount": "jensen_shannon",
        "term": "jensen_shannon",
        "age": "jensen_shannon",
        "purpose": "l_infinity",
        "region": "l_infinity",
    }
    quality = result.quality
    assert quality.rows == result.labelled and quality.metrics["roc_auc"] > 0.8
    assert abs(quality.metrics["roc_auc"] - quality.offline["roc_auc"]) < 0.1
    assert [entry["value"] for entry in quality.slices["region"]]  # the same slices as model analysis
    write_outputs(result, served.config.monitoring, tmp_path / "report.html", tmp_path / "result.json")
    assert json.loads((tmp_path / "result.json").read_text())["decision"]["status"] == HEALTHY
    assert "HEALTHY" in (tmp_path / "report.html").read_text()


def test_a_drifted_window_names_the_drifted_features_and_makes_retraining_due(served, window_day):
    frame = traffic(600, seed=12, amount_shift=20_000, purposes={"car": 0.1, "home": 0.1, "study": 0.8})
    serve(served, frame, window_day + timedelta(hours=2))

    result = run(served, window_day)

    assert result.drifted == ["amount", "purpose"], result.summary()
    assert result.decision.status == RETRAIN and result.decision.retrain
    assert any("2 features drifted" in reason for reason in result.decision.reasons)


def test_feedback_of_a_worse_model_than_offline_makes_retraining_due(served, window_day):
    frame = traffic(400, seed=13)
    serve(served, frame, window_day + timedelta(hours=3), truths=1 - frame["truth"])

    result = run(served, window_day)

    assert result.drifted == []
    assert result.decision.retrain and result.quality.metrics["roc_auc"] < 0.3
    assert any(r.startswith("live roc_auc") and "below the floor 0.7" in r for r in result.decision.reasons)
    assert any("worse than offline" in r for r in result.decision.reasons)


def test_without_feedback_quality_is_not_judged_and_drift_alone_cannot_retrain(served, window_day):
    serve(served, traffic(400, seed=14), window_day + timedelta(hours=1), feedback=False)
    drifted = traffic(400, seed=15, amount_shift=20_000, purposes={"car": 0.1, "home": 0.1, "study": 0.8})
    serve(served, drifted, window_day + timedelta(days=1, hours=1), feedback=False)

    calm = run(served, window_day)
    shifted = run(served, window_day + timedelta(days=1))

    assert calm.quality is None and calm.feedback == 0 and calm.decision.status == HEALTHY
    assert (
        "no ground truth arrived in the window for the monitored model: live quality not judged" in calm.decision.notes
    )
    assert shifted.drifted == ["amount", "purpose"]
    assert shifted.decision.status == DRIFT_WITHOUT_FEEDBACK and not shifted.decision.retrain
    assert any("nothing new to learn from" in note for note in shifted.decision.notes)


def test_an_empty_window_and_a_thin_one_are_insufficient_evidence(served, window_day, tmp_path):
    empty = run(served, window_day)
    serve(served, traffic(60, seed=16).head(40), window_day + timedelta(days=1, hours=5))
    thin = run(served, window_day + timedelta(days=1))

    assert empty.requests == 0 and empty.distances == [] and empty.quality is None
    assert empty.decision.status == INSUFFICIENT and not empty.decision.retrain
    assert empty.decision.notes[0] == "the window holds no logged requests: drift not judged"
    assert thin.requests == 40 and thin.decision.status == INSUFFICIENT
    assert (
        "40 requests in the window, fewer than monitoring.min_requests 100: drift measured but not judged"
        in thin.decision.notes
    )
    assert (
        "40 labelled rows, fewer than monitoring.quality.min_rows 100: live quality measured but not judged"
        in thin.decision.notes
    )
    write_outputs(empty, served.config.monitoring, tmp_path / "empty.html")
    assert "INSUFFICIENT EVIDENCE" in (tmp_path / "empty.html").read_text()


def test_feedback_that_cannot_be_scored_is_a_note_not_a_failure(served, window_day):
    frame = traffic(150, seed=17)
    serve(served, frame, window_day + timedelta(hours=1), feedback=False)
    lines = log_lines(
        frame.assign(truth=7),
        served.model,
        served.version,
        window_day + timedelta(hours=1),
        timedelta(seconds=30),
        truth=True,
    )
    write_batches(served.store, "loans", "feedback", lines)

    result = run(served, window_day)

    assert result.quality is None and result.labelled == len(frame) and result.decision.status == HEALTHY
    assert (
        f"{len(frame)} labelled rows of the monitored model, none scorable (truth not one of the model's classes"
        in " ".join(result.decision.notes)
    )
    assert not any(note.startswith("no ground truth arrived") for note in result.decision.notes)


def test_a_feature_kept_out_of_the_logs_is_unmeasured_and_blocks_retraining_from_feedback(served, window_day, tmp_path):
    """region is excluded: clean traffic stays healthy, a worse model cannot retrain on feedback lacking region."""
    excluding = dataclasses.replace(served.config, serving=ServingSpec(log_exclude=("region",)))
    frame = traffic(600, seed=18)
    serve(served, frame, window_day + timedelta(hours=1), redacted=("region",))
    worse = traffic(400, seed=19)
    serve(served, worse, window_day + timedelta(days=1, hours=1), truths=1 - worse["truth"], redacted=("region",))

    clean = run(served, window_day, config=excluding)
    # The lines say what they lack: the use case without the exclusion (a later config) is judged the same.
    for result in (clean, run(served, window_day)):
        assert result.decision.status == HEALTHY, result.summary()
        assert result.unlogged == ["region"] and result.unmeasured == []
        assert {d.feature for d in result.distances} == set(FEATURES) - {"region"}
        assert not any(f.feature == "region" for f in result.findings)  # absent by design, not an anomaly
        assert "region not logged (serving.log_exclude): drift not measured" in result.decision.notes
        assert result.quality.rows == len(frame) and result.quality.slices == {}  # region slices need region
    assert "region not logged (serving.log_exclude)" in clean.summary()
    write_outputs(clean, excluding.monitoring, tmp_path / "report.html", tmp_path / "result.json")
    assert json.loads((tmp_path / "result.json").read_text())["unlogged"] == {
        "region": "not logged (serving.log_exclude)"
    }
    assert "not measured: not logged (serving.log_exclude)" in (tmp_path / "report.html").read_text()

    blocked = run(served, window_day + timedelta(days=1), config=excluding)
    assert blocked.decision.status == RETRAIN_BLOCKED and not blocked.decision.retrain, blocked.summary()
    assert any(r.startswith("live roc_auc") for r in blocked.decision.reasons)
    assert any("feedback rows lack region (serving.log_exclude)" in n for n in blocked.decision.notes)


def test_the_same_feedback_sent_twice_counts_once_in_live_quality(served, window_day):
    frame = traffic(200, seed=21)
    start = window_day + timedelta(hours=2)
    serve(served, frame, start)
    retried = log_lines(frame, served.model, served.version, start + timedelta(minutes=5), timedelta(seconds=30), True)
    write_batches(served.store, "loans", "feedback", retried)  # a client retry: the same request rows again

    result = run(served, window_day)

    assert result.feedback == 2 * len(frame)  # the lines read
    assert result.labelled == result.quality.rows == len(frame), result.summary()


def test_a_batch_written_days_after_its_lines_arrived_is_still_monitored(served, window_day):
    frame = traffic(120, seed=22)
    lines = log_lines(frame, served.model, served.version, window_day + timedelta(hours=5), timedelta(seconds=30), True)
    late = window_day + timedelta(days=2, hours=3)  # e.g. after an object-store outage
    write_object(served.store, "loans", "requests", lines, late)
    write_object(served.store, "loans", "feedback", lines, late)

    result = run(served, window_day)

    assert result.requests == result.labelled == len(frame), result.summary()
