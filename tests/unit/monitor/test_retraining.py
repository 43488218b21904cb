"""The retraining inputs without S3: the use case with its feedback window, its schema, the promotion command."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml
from helpers import LOANS_CONFIG, ORDERS_CONFIG, make_orders

from components.common.config import parse_use_case
from components.common.errors import ConfigError
from components.common.serving_logs import Window
from components.monitor.retraining import promotion_command, retraining_use_case, schema_for_feedback
from components.validate.logic import infer_schema, statistics_in_process

START = datetime(2026, 11, 27, tzinfo=timezone.utc)
SHOP = parse_use_case(ORDERS_CONFIG)


def test_the_retraining_use_case_is_the_use_case_with_the_window_as_feedback():
    text = LOANS_CONFIG.format(loans="/data/loans.csv", customers="/data/customers.csv")
    window = Window(START, START + timedelta(hours=24))
    retraining = retraining_use_case(text, window)
    config = parse_use_case(retraining)
    assert config.feedback.start == "2026-11-27T00:00:00Z" and config.feedback.end == "2026-11-28T00:00:00Z"
    assert config.ingest_fingerprint() == parse_use_case(text).ingest_fingerprint()
    assert {k: v for k, v in yaml.safe_load(retraining).items() if k != "feedback"} == yaml.safe_load(text)
    with pytest.raises(ConfigError):
        retraining_use_case("name: [", window)


def test_only_columns_that_feedback_cannot_have_lose_their_presence_constraint():
    schema = infer_schema(statistics_in_process({"all": make_orders(500, seed=1)}), SHOP)
    relaxed = schema_for_feedback(schema, SHOP)
    presence = {f.name: f.presence.min_fraction for f in relaxed.feature}
    assert presence["order_id"] == 0.0
    assert all(presence[name] == 1.0 for name in [*SHOP.features.all(), "returned"])
    assert {f.name: f.presence.min_fraction for f in schema.feature}[
        "order_id"
    ] == 1.0  # the curated schema is untouched


def test_the_proposal_is_a_promotion_on_a_branch_for_review():
    assert (
        promotion_command("flights", "m-0123456789abcdef")
        == "mlcycle promote m-0123456789abcdef --to production --branch retrain/flights-m-0123456789abcdef"
    )
    assert promotion_command("loans", "m-1", "uc/loans.yaml").startswith("mlcycle promote -c uc/loans.yaml m-1 ")


def test_a_pipelines_promotion_command_names_the_use_case_file_to_fill_in():
    from components.monitor.task import use_case_file_placeholder

    command = promotion_command("loans", "m-1", use_case_file_placeholder("loans"))
    assert command.startswith("mlcycle promote -c <loans.yaml> m-1 ")
