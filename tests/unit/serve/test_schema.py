"""The serving schema: derived from the use-case config and the TFDV schema, JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.common.config import ServingSpec, load_use_case, schema_path
from components.common.errors import IntegrityError
from components.serve.schema import ServingFeature, ServingSchema, build_serving_schema
from pipelines.usecases import DEMO_CONFIG


@pytest.fixture(scope="module")
def flights():
    config = load_use_case(DEMO_CONFIG)
    schema = text_format.Parse(schema_path(DEMO_CONFIG, config).read_text(), schema_pb2.Schema())
    return config, schema


def test_demo_schema_types_and_presence_come_from_the_tfdv_schema(flights):
    config, tfdv = flights
    schema = build_serving_schema(config, tfdv)
    assert schema.names == config.features.all()
    assert schema.feature("sched_dep_time") == ServingFeature("sched_dep_time", "numeric", "int", nullable=False)
    assert schema.feature("temp") == ServingFeature("temp", "numeric", "float", nullable=True)  # presence 0.895
    assert schema.feature("carrier") == ServingFeature("carrier", "categorical", "string", nullable=False)
    assert schema.feature("engines") == ServingFeature("engines", "categorical", "int", nullable=True)
    assert schema.feature("time_hour") == ServingFeature("time_hour", "datetime", "datetime", nullable=False)


def test_without_a_tfdv_schema_everything_is_nullable_and_categories_are_labels(config):
    schema = build_serving_schema(config)
    assert [(f.kind, f.value_type, f.nullable) for f in schema.features] == [
        ("numeric", "float", True),
        ("numeric", "float", True),
        ("categorical", "label", True),
        ("datetime", "datetime", True),
    ]


def test_round_trip_through_json(flights):
    schema = build_serving_schema(*flights, max_batch=250)
    again = ServingSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema and again.max_batch == 250


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(kind="model"), "not a serving schema"),
        (lambda d: d.pop("features"), "malformed"),
        (lambda d: d["features"][0].update(value_type="complex"), "unknown kind"),
        (lambda d: d["features"].append(dict(d["features"][0])), "a feature twice"),
        (lambda d: d.update(max_batch=0), "batch limit"),
        (lambda d: d.update(target=["delay"]), "target is"),
    ],
)
def test_a_broken_document_is_refused(config, change, message):
    document = build_serving_schema(config).to_dict()
    change(document)
    with pytest.raises(IntegrityError, match=message):
        ServingSchema.from_dict(document)


def test_log_exclude_is_carried_in_schema_order_and_round_trips(config):
    excluding = dataclasses.replace(config, serving=ServingSpec(log_exclude=("ordered_at", "channel")))
    schema = build_serving_schema(excluding)
    assert schema.log_exclude == ("channel", "ordered_at")
    document = json.loads(json.dumps(schema.to_dict()))
    assert document["format_version"] == 2 and document["log_exclude"] == ["channel", "ordered_at"]
    assert ServingSchema.from_dict(document) == schema


def test_a_schema_written_before_log_exclude_loads_and_excludes_nothing(config):
    document = build_serving_schema(config).to_dict()
    assert document["format_version"] == 1 and "log_exclude" not in document
    assert ServingSchema.from_dict(document).log_exclude == ()


def test_a_format_1_reader_refuses_a_schema_with_exclusions(config):
    """An older server checks format_version == 1: it never serves (and logs) an excluding model."""
    excluding = dataclasses.replace(config, serving=ServingSpec(log_exclude=("channel",)))
    assert build_serving_schema(excluding).to_dict()["format_version"] != 1


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(log_exclude="channel"), "malformed"),
        (lambda d: d.update(log_exclude=["email"]), "excludes 'email' from logs, which is not a feature"),
        (lambda d: d.update(format_version=1), "format 1 lists log exclusions"),
        (lambda d: d.update(log_exclude=[]), "format 2 lacks log exclusions"),
    ],
)
def test_a_broken_log_exclude_is_refused(config, change, message):
    document = build_serving_schema(
        dataclasses.replace(config, serving=ServingSpec(log_exclude=("channel",)))
    ).to_dict()
    change(document)
    with pytest.raises(IntegrityError, match=message):
        ServingSchema.from_dict(document)


def test_the_target_is_named_and_round_trips(config):
    schema = build_serving_schema(config)
    assert schema.target == config.target.name
    document = json.loads(json.dumps(schema.to_dict()))
    assert document["target"] == config.target.name and document["format_version"] == 1
    assert ServingSchema.from_dict(document) == schema


def test_a_schema_written_before_the_target_loads_without_one(config):
    document = build_serving_schema(config).to_dict()
    del document["target"]
    assert ServingSchema.from_dict(document).target == ""
    assert "target" not in dataclasses.replace(build_serving_schema(config), target="").to_dict()
