"""The serving schema: derived from the use-case config and the TFDV schema, JSON round trip."""

from __future__ import annotations

import json

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.common.config import load_use_case, schema_path
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
    ],
)
def test_a_broken_document_is_refused(config, change, message):
    document = build_serving_schema(config).to_dict()
    change(document)
    with pytest.raises(IntegrityError, match=message):
        ServingSchema.from_dict(document)
