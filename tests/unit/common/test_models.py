"""The registry's read side without S3: stage history replay, stage and use case names, version keys."""

from __future__ import annotations

import pytest

from components.common.errors import IntegrityError, UserError
from components.common.models import (
    ModelRef,
    StageChange,
    StageError,
    Stages,
    check_stage,
    check_use_case,
    model_task,
    parse_stages,
)


def change(stage: str, version: str, previous: str | None, action: str = "set") -> StageChange:
    return StageChange(stage, version, previous, "2026-01-01T00:00:00Z", "test", action)


def test_a_rollback_pops_the_stage_it_names_and_leaves_the_other_alone():
    stages = Stages(
        "loans",
        (
            change("staging", "m-1", None),
            change("production", "m-1", None),
            change("staging", "m-2", "m-1"),
            change("staging", "m-1", "m-2", "rollback"),
        ),
    )
    assert stages.stack("staging") == ("m-1",) and stages.current("production") == "m-1"
    assert stages.holding("m-1") == ("staging", "production") and stages.holding("m-2") == ()
    assert Stages("loans").current("staging") is None


def test_a_written_document_reads_back_and_a_hand_edited_one_is_refused():
    stages = Stages("loans", (change("staging", "m-1", None), change("staging", "m-2", "m-1")))
    document = stages.to_json()
    assert document["stages"] == {"staging": "m-2", "production": None}
    assert parse_stages(document, "loans") == stages
    document["stages"]["staging"] = "m-1"
    with pytest.raises(IntegrityError, match="records .* but its history gives"):
        parse_stages(document, "loans")


def test_stage_and_use_case_names_are_checked():
    check_stage("staging")
    with pytest.raises(StageError, match="unknown stage 'prod'"):
        check_stage("prod")
    check_use_case("loans_v2.1")
    for name in ("", "-loans", "loans/other"):
        with pytest.raises(UserError, match="not a usable use case name"):
            check_use_case(name)


def test_a_version_names_its_objects_under_its_prefix():
    ref = ModelRef("loans", "m-0123456789abcdef")
    assert ref.model_key == "loans/m-0123456789abcdef/model.joblib"
    assert ref.card_json_key.endswith("/model_card.json") and ref.manifest_key.endswith("/manifest.json")


@pytest.mark.parametrize(
    ("manifest", "task"),
    [
        ({"task": "regression", "lineage": {"training": {"task": "classification"}}}, "regression"),
        ({"lineage": {"training": {"task": "regression"}}}, "regression"),
        ({"lineage": {"training": {"family": "logistic_regression"}}}, "classification"),  # registered before
        ({}, "classification"),
    ],
)
def test_a_versions_task_is_its_manifests_else_its_training_records_else_classification(manifest, task):
    assert model_task(manifest) == task


def test_an_unknown_task_in_a_manifest_is_refused():
    with pytest.raises(IntegrityError, match="records the unknown task 'ranking'"):
        model_task({"version": "m-0123456789abcdef", "task": "ranking"})
