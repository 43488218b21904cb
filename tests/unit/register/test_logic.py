"""The pure parts of the model registry: version ids, lineage, stage history and comparison."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from components.common.errors import IntegrityError, UserError
from components.common.models import StageError, Stages, parse_stages
from components.register.logic import (
    compare_manifests,
    lineage_identity,
    model_version_id,
    normalize_lineage,
    rolled_back,
    task_to_record,
    with_stage,
)

DIGEST = "a" * 64
LINEAGE = {
    "dataset_version": "ds-0123456789abcdef",
    "schema_digest": "b" * 64,
    "model_family": "logistic_regression",
    "parameters": {"C": 1.0, "penalty": "l2", "features": ["amount", "term"]},
    "metrics": {"eval": {"roc_auc": 0.81, "accuracy": 0.9}, "test": {"roc_auc": 0.79}},
    "blessing": {"blessed": True, "reasons": ["roc_auc 0.81 >= 0.75"]},
}


def manifest(version: str, lineage: dict, sha: str = DIGEST, blessed: bool = True, code: str = "git:abc") -> dict:
    return {
        "kind": "model",
        "use_case": "loans",
        "version": version,
        "code_version": code,
        "model": {"key": f"loans/{version}/model.joblib", "sha256": sha, "bytes": 1234},
        "lineage": lineage,
        "blessed": blessed,
    }


# --- version ids -----------------------------------------------------------------------------


def test_version_id_is_m_and_16_hex_and_deterministic():
    first = model_version_id(DIGEST, LINEAGE)
    assert re.fullmatch(r"m-[0-9a-f]{16}", first)
    assert model_version_id(DIGEST, LINEAGE) == first
    # Key order and tuples versus lists do not change the content, so not the id either.
    reordered = dict(reversed(list(LINEAGE.items())))
    reordered["parameters"] = {**LINEAGE["parameters"], "features": ("amount", "term")}
    assert model_version_id(DIGEST, reordered) == first


@pytest.mark.parametrize(
    "change",
    [
        lambda lineage: lineage.update(dataset_version="ds-fedcba9876543210"),
        lambda lineage: lineage["parameters"].update(C=0.5),
        lambda lineage: lineage["metrics"]["eval"].update(roc_auc=0.8100001),
        lambda lineage: lineage["blessing"].update(blessed=False),
        lambda lineage: lineage.update(extra=None),
    ],
)
def test_version_id_changes_with_any_lineage_value(change):
    changed = copy.deepcopy(LINEAGE)
    change(changed)
    assert model_version_id(DIGEST, changed) != model_version_id(DIGEST, LINEAGE)


def test_version_id_changes_with_the_model_bytes():
    assert model_version_id("c" * 64, LINEAGE) != model_version_id(DIGEST, LINEAGE)


def test_lineage_is_normalised_to_plain_json():
    assert normalize_lineage({"a": (1, 2), 3: {"b": None}}) == {"a": [1, 2], "3": {"b": None}}


@pytest.mark.parametrize(
    ("lineage", "message"),
    [
        ({"metrics": {"auc": float("nan")}}, "NaN or infinity"),
        ({"metrics": {"auc": float("inf")}}, "NaN or infinity"),
        ({"rows": np.int64(5)}, "value JSON cannot represent"),
        ({"when": object()}, "value JSON cannot represent"),
        (["not", "a", "mapping"], "lineage must be a mapping"),
    ],
)
def test_lineage_that_json_cannot_hold_is_refused(lineage, message):
    with pytest.raises(UserError, match=message):
        normalize_lineage(lineage)


# --- stages ----------------------------------------------------------------------------------


def test_setting_stages_records_previous_versions_and_keeps_stages_apart():
    stages = Stages("loans")
    stages = with_stage(stages, "staging", "m-1", "t1", "first")
    stages = with_stage(stages, "production", "m-1", "t2", "promote")
    stages = with_stage(stages, "staging", "m-2", "t3", "newer")
    assert stages.current("staging") == "m-2" and stages.current("production") == "m-1"
    assert [(c.stage, c.version, c.previous, c.action) for c in stages.history] == [
        ("staging", "m-1", None, "set"),
        ("production", "m-1", None, "set"),
        ("staging", "m-2", "m-1", "set"),
    ]
    assert stages.holding("m-1") == ("production",) and stages.holding("m-2") == ("staging",)
    assert stages.holding("m-3") == ()


def test_setting_the_version_a_stage_holds_changes_nothing():
    stages = with_stage(Stages("loans"), "production", "m-1", "t1")
    assert with_stage(stages, "production", "m-1", "t2") is stages


def test_rollback_walks_back_and_never_returns_to_a_rolled_back_version():
    stages = Stages("loans")
    for number, version in enumerate(["m-1", "m-2", "m-3"]):
        stages = with_stage(stages, "production", version, f"t{number}")
    stages = rolled_back(stages, "production", "t4", "m-3 is bad")
    assert stages.current("production") == "m-2"
    last = stages.history[-1]
    assert (last.version, last.previous, last.action, last.reason) == ("m-2", "m-3", "rollback", "m-3 is bad")
    stages = rolled_back(stages, "production", "t5")
    assert stages.current("production") == "m-1"
    with pytest.raises(StageError, match="cannot roll back production of 'loans': it holds only m-1 and no earlier"):
        rolled_back(stages, "production", "t6")
    # A set after a rollback is undone by the next rollback, back to where the rollback had led.
    stages = with_stage(stages, "production", "m-4", "t7")
    assert rolled_back(stages, "production", "t8").current("production") == "m-1"


def test_rollback_of_an_empty_or_unknown_stage_is_refused():
    stages = with_stage(Stages("loans"), "staging", "m-1", "t1")
    with pytest.raises(StageError, match="cannot roll back production of 'loans': it holds no version"):
        rolled_back(stages, "production", "t2")
    with pytest.raises(StageError, match="unknown stage 'prod'.*staging, production"):
        rolled_back(stages, "prod", "t2")
    with pytest.raises(StageError, match="unknown stage 'archived'"):
        with_stage(stages, "archived", "m-1", "t2")


def test_stages_document_round_trips_and_records_current_versions():
    stages = with_stage(Stages("loans"), "staging", "m-1", "t1", "a")
    stages = with_stage(stages, "staging", "m-2", "t2", "b", forced=True)
    stages = rolled_back(stages, "staging", "t3", "c")
    document = stages.to_json()
    assert document["stages"] == {"staging": "m-1", "production": None}
    assert document["history"][1]["forced"] is True
    assert parse_stages(document, "loans") == stages


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["stages"].update(production="m-9"), "records .* but its history gives"),
        (lambda d: d["history"][1].update(previous="m-9"), "inconsistent at history entry 1"),
        (lambda d: d["history"][2].update(version="m-9"), "inconsistent at history entry 2"),
        (lambda d: d["history"][0].update(stage="archive"), "inconsistent at history entry 0"),
        (lambda d: d["history"][0].pop("version"), "malformed"),
        (lambda d: d.update(use_case="flights"), "for use case 'flights'"),
    ],
)
def test_an_inconsistent_stages_document_is_refused(edit, message):
    stages = with_stage(Stages("loans"), "staging", "m-1", "t1")
    stages = rolled_back(with_stage(stages, "staging", "m-2", "t2"), "staging", "t3")
    document = stages.to_json()
    edit(document)
    with pytest.raises(IntegrityError, match=message):
        parse_stages(document, "loans")


# --- comparison ------------------------------------------------------------------------------


def test_compare_puts_metrics_side_by_side_with_their_difference():
    newer = {**LINEAGE, "metrics": {"eval": {"roc_auc": 0.85, "accuracy": 0.9, "f1": 0.5}}}
    comparison = compare_manifests(manifest("m-1", LINEAGE), manifest("m-2", newer))
    metrics = {m.name: (m.left, m.right, m.difference) for m in comparison.metrics}
    assert list(metrics) == ["eval.accuracy", "eval.f1", "eval.roc_auc", "test.roc_auc"]
    assert metrics["eval.roc_auc"][:2] == (0.81, 0.85) and metrics["eval.roc_auc"][2] == pytest.approx(0.04)
    assert metrics["eval.accuracy"] == (0.9, 0.9, 0.0)
    assert metrics["eval.f1"] == (None, 0.5, None) and metrics["test.roc_auc"] == (0.79, None, None)
    assert (comparison.left, comparison.right, comparison.same_model) == ("m-1", "m-2", True)


def test_compare_lists_only_differing_parameters_and_lineage():
    newer = {
        **LINEAGE,
        "dataset_version": "ds-fedcba9876543210",
        "parameters": {"C": 0.5, "penalty": "l2", "features": ["amount"], "max_iter": 200},
    }
    comparison = compare_manifests(manifest("m-1", LINEAGE), manifest("m-2", newer, sha="c" * 64, code="git:def"))
    assert [(c.key, c.left, c.right, c.status) for c in comparison.parameters] == [
        ("C", 1.0, 0.5, "changed"),
        ("features", ["amount", "term"], ["amount"], "changed"),
        ("max_iter", None, 200, "added"),
    ]
    assert [(c.key, c.left, c.right) for c in comparison.lineage] == [
        ("dataset_version", "ds-0123456789abcdef", "ds-fedcba9876543210")
    ]
    assert {c.key for c in comparison.manifest} == {"code_version", "model.sha256"}
    assert comparison.same_model is False


def test_compare_notices_blessing_and_removed_entries_and_type_changes():
    older = {**LINEAGE, "parameters": {"fit_intercept": 1, "tol": 0.001}}
    newer = {key: value for key, value in LINEAGE.items() if key != "schema_digest"}
    newer["parameters"] = {"fit_intercept": True}
    comparison = compare_manifests(manifest("m-1", older), manifest("m-2", newer, blessed=False))
    assert [(c.key, c.status) for c in comparison.parameters] == [("fit_intercept", "changed"), ("tol", "removed")]
    assert [(c.key, c.status) for c in comparison.lineage] == [("schema_digest", "removed")]
    blessed = [c for c in comparison.manifest if c.key == "blessed"]
    assert [(c.left, c.right) for c in blessed] == [(True, False)]


def test_identical_manifests_compare_without_differences():
    comparison = compare_manifests(manifest("m-1", LINEAGE), manifest("m-1", LINEAGE))
    assert comparison.parameters == comparison.lineage == comparison.manifest == ()
    assert all(m.difference == 0 for m in comparison.metrics) and len(comparison.metrics) == 3
    assert comparison.to_json()["metrics"][0] == {"name": "eval.accuracy", "left": 0.9, "right": 0.9, "difference": 0.0}


def test_version_id_leaves_timings_out_so_the_same_model_gets_the_same_id():
    timed = {**LINEAGE, "training": {"fit_seconds": 1.5, "rows": 10}, "trials": [{"id": 1, "fit_seconds": 0.2}]}
    retimed = {**LINEAGE, "training": {"fit_seconds": 9.0, "rows": 10}, "trials": [{"id": 1, "fit_seconds": 3.0}]}
    assert model_version_id(DIGEST, timed) == model_version_id(DIGEST, retimed)
    other_rows = {**LINEAGE, "training": {"fit_seconds": 1.5, "rows": 11}, "trials": [{"id": 1, "fit_seconds": 0.2}]}
    assert model_version_id(DIGEST, other_rows) != model_version_id(DIGEST, timed)


def test_lineage_identity_drops_every_seconds_entry_at_any_depth():
    lineage = {"a_seconds": 1, "b": {"c_seconds": 2, "d": [{"e_seconds": 3, "f": 4}]}}
    assert lineage_identity(lineage) == {"b": {"d": [{"f": 4}]}}


# --- the task a version records ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lineage", "card", "task"),
    [
        ({"training": {"task": "regression"}}, {"task": "classification"}, "regression"),  # train's record first
        ({"training": {"family": "linear"}}, {"task": "regression"}, "regression"),  # a record from before the task
        ({"training": {}}, {}, "classification"),  # a model from before regression: a classifier
    ],
)
def test_the_recorded_task_is_the_training_records_then_the_cards(lineage, card, task):
    assert task_to_record(lineage, card) == task


def test_compare_shows_a_change_of_task_and_reads_a_manifest_without_one_as_a_classifiers():
    regressor = {**manifest("m-2", LINEAGE), "task": "regression"}
    comparison = compare_manifests(manifest("m-1", LINEAGE), regressor)
    assert [(c.key, c.left, c.right) for c in comparison.manifest] == [("task", "classification", "regression")]
    classifier = {**manifest("m-3", LINEAGE), "task": "classification"}
    assert not compare_manifests(manifest("m-1", LINEAGE), classifier).manifest
