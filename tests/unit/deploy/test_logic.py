"""The pure promotion logic: releases, canary rules, rollback replay, files and commit messages."""

from __future__ import annotations

import pytest
import yaml

from components.deploy import logic
from components.deploy.logic import Predictor, PromotionError, Release


def model(version: str = "m-aaaaaaaaaaaaaaaa", digest: str = "a") -> Predictor:
    return Predictor(version, f"s3://models/loans/{version}/", digest * 64, 100, "ds-1")


def test_promotion_replaces_main_and_ends_a_canary():
    running = Release("production", "loans", model(), model("m-bbbbbbbbbbbbbbbb", "b"))
    after = logic.promoted(running, "loans", model("m-cccccccccccccccc", "c"))
    assert after.versions() == ("m-cccccccccccccccc", None)
    assert after.main.traffic == 100


def test_canary_shares_traffic_with_main():
    running = Release("production", "loans", model())
    after = logic.promoted(running, "loans", model("m-bbbbbbbbbbbbbbbb", "b"), canary_percent=10)
    assert (after.main.version, after.main.traffic) == ("m-aaaaaaaaaaaaaaaa", 90)
    assert (after.canary.version, after.canary.traffic) == ("m-bbbbbbbbbbbbbbbb", 10)


@pytest.mark.parametrize(
    "release, percent, words",
    [
        (Release("staging", "loans", model()), 10, "production only"),
        (Release("production", "loans", model()), 0, "between 1 and 99"),
        (Release("production", "loans", model()), 100, "between 1 and 99"),
        (Release("production"), 10, "runs no model yet"),
        (Release("production", "orders", model()), 10, "use case 'orders'"),
    ],
)
def test_canary_refusals(release, percent, words):
    with pytest.raises(PromotionError, match=words):
        logic.promoted(release, "loans", model("m-bbbbbbbbbbbbbbbb", "b"), canary_percent=percent)


def test_main_version_cannot_be_its_own_canary():
    with pytest.raises(PromotionError, match="main version already"):
        logic.promoted(Release("production", "loans", model()), "loans", model(), canary_percent=5)


def test_unknown_environment_is_refused():
    with pytest.raises(PromotionError, match="unknown environment 'prod'"):
        logic.release_dir("prod")


@pytest.mark.parametrize(
    "release",
    [
        Release("staging"),
        Release("staging", "loans", model()),
        Release("production", "loans", model(), model("m-bbbbbbbbbbbbbbbb", "b")),
    ],
)
def test_release_files_round_trip(release):
    files = logic.release_files(release)
    assert logic.parse_release(files[logic.RELEASE_FILE], release.environment) == release
    assert files == logic.release_files(release)  # deterministic
    component = yaml.safe_load(files[logic.COMPONENT_FILE])
    assert component["kind"] == "Component" and component["resources"] == [logic.RELEASE_FILE]


def test_release_of_another_environment_or_malformed_is_refused():
    text = logic.release_files(Release("staging", "loans", model()))[logic.RELEASE_FILE]
    with pytest.raises(PromotionError, match="not the ModelRelease of production"):
        logic.parse_release(text, "production")
    with pytest.raises(PromotionError, match="malformed"):
        logic.parse_release(text.replace("sha256:", "digest:"), "staging")


def test_unreleased_component_scales_main_to_zero_and_canary_copies_main():
    empty = logic.component_document(Release("production"))
    assert "replacements" not in empty
    assert "value: 0" in empty["patches"][0]["patch"]
    canary = logic.component_document(Release("production", "loans", model(), model("m-bbbbbbbbbbbbbbbb", "b")))
    assert "op: copy" in canary["patches"][0]["patch"]
    paths = [p for r in canary["replacements"] for t in r["targets"] for p in t["fieldPaths"]]
    assert "spec.predictors.[name=canary].graph.parameters.[name=model_sha256].value" in paths
    assert "spec.predictors.[name=main].traffic" in paths


def test_rollback_replays_history_as_a_stack():
    a, b, c = (
        Release("production", "loans", model(v, d))
        for v, d in (("m-aaaaaaaaaaaaaaaa", "a"), ("m-bbbbbbbbbbbbbbbb", "b"), ("m-cccccccccccccccc", "c"))
    )
    empty = Release("production")
    stack = logic.release_stack([("edit", empty), ("promote", a), ("promote", b), ("promote", c)])
    assert logic.rollback_target(stack) == b
    # After rolling back to b, the next rollback goes to a, never back to c.
    stack = logic.release_stack([("edit", empty), ("promote", a), ("promote", b), ("promote", c), ("rollback", b)])
    assert logic.rollback_target(stack) == a
    stack = logic.release_stack([("edit", empty), ("promote", a)])
    with pytest.raises(PromotionError, match="no earlier model version"):
        logic.rollback_target(stack)


def test_commit_message_carries_lineage_and_trailers():
    manifest = {
        "blessed": True,
        "lineage": {
            "dataset_version": "ds-0123456789abcdef",
            "metrics": {"roc_auc": 0.8123456, "pr_auc": 0.5},
            "blessing": {"blessed": True, "reasons": ["roc_auc 0.81 meets the floor 0.65"]},
        },
    }
    release = Release("production", "loans", model())
    message = logic.commit_message("promote", release, Release("production"), {"m-aaaaaaaaaaaaaaaa": manifest})
    assert message.splitlines()[0] == "Promote loans m-aaaaaaaaaaaaaaaa to production"
    for expected in (
        "ds-0123456789abcdef",
        "roc_auc 0.8123",
        "pr_auc 0.5000",
        "blessed:  yes: roc_auc 0.81 meets the floor 0.65",
        "a" * 64,
        "(was no model)",
    ):
        assert expected in message
    assert logic.trailer(message, logic.ACTION_TRAILER) == "promote"
    assert logic.trailer(message, logic.VERSION_TRAILER) == "m-aaaaaaaaaaaaaaaa"


def test_format_metrics_flattens_and_skips_non_numbers():
    assert logic.format_metrics({"eval": {"roc_auc": 0.5, "note": "x"}, "flag": True}) == "eval.roc_auc 0.5000"
    assert logic.format_metrics({}) == "none recorded"
