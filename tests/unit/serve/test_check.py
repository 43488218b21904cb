"""The serving check's schema from schema text, and its summary lines."""

from __future__ import annotations

from components.common.config import load_use_case, schema_path
from components.serve.check import ServingCheck, serving_schema_from_text
from components.serve.schema import ServingFeature, build_serving_schema
from pipelines.usecases import DEMO_CONFIG


def test_the_schema_text_decides_types_and_presence_and_without_it_the_use_case_alone_does():
    config = load_use_case(DEMO_CONFIG)
    schema = serving_schema_from_text(config, schema_path(DEMO_CONFIG, config).read_text())
    assert schema.feature("sched_dep_time") == ServingFeature("sched_dep_time", "numeric", "int", nullable=False)
    assert schema.feature("carrier") == ServingFeature("carrier", "categorical", "string", nullable=False)
    assert serving_schema_from_text(config, "") == build_serving_schema(config)


def test_the_summary_lists_every_check_then_the_latency_and_path():
    check = ServingCheck(False, ("PASS loads", "FAIL answers"), 1.25, "fast")
    assert check.summary_lines() == [
        "PASS loads",
        "FAIL answers",
        "single-row latency through the model class: 1.25 ms (fast path)",
    ]
