"""The serving schema: what a prediction request must contain, stored beside each model version.

Derived by the serving check from the use-case config (which features, of which kind) and, when
given, the curated TFDV schema (which value type, whether a value may be missing), then registered as
``serving_schema.json`` (components.common.models.SERVING_SCHEMA_FILE) in the model version's folder.
The server checks every request against it before the model sees the request. The TFDV schema is
read duck-typed (``feature``, ``name``, ``type``, ``presence.min_fraction``), so this module imports
without TFDV (the serving image has none); components.serve.check parses schema text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.common.config import UseCaseConfig
from components.common.errors import IntegrityError

FORMAT_VERSION = 1
DEFAULT_MAX_BATCH = 1000

Kind = Literal["numeric", "categorical", "datetime"]
ValueType = Literal["int", "float", "string", "datetime", "label"]
KINDS = ("numeric", "categorical", "datetime")
VALUE_TYPES = ("int", "float", "string", "datetime", "label")
# TFDV's FeatureType enum values (schema.proto): 1 BYTES, 2 INT, 3 FLOAT; names when read as text.
_TFDV_TYPES = {1: "BYTES", 2: "INT", 3: "FLOAT", "BYTES": "BYTES", "INT": "INT", "FLOAT": "FLOAT"}


@dataclass(frozen=True)
class ServingFeature:
    """One feature a request must carry.

    Attributes:
        name: The column name the model was trained on.
        kind: ``numeric``, ``categorical`` or ``datetime`` (as in the use-case config).
        value_type: What a value must be in JSON: ``int`` (integers, or floats with no fraction),
            ``float`` (any number), ``string``, ``datetime`` (ISO 8601 text) or ``label`` (a string
            or an integer: a categorical feature whose type no schema pinned).
        nullable: Whether null is accepted (the model imputes it).
    """

    name: str
    kind: Kind
    value_type: ValueType
    nullable: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Returns the feature as plain JSON data."""
        return {"name": self.name, "kind": self.kind, "value_type": self.value_type, "nullable": self.nullable}


@dataclass(frozen=True)
class ServingSchema:
    """What every prediction request of a use case must contain.

    Attributes:
        use_case: The use case.
        features: The features, in the order the model takes them.
        max_batch: The most rows one request may carry.
    """

    use_case: str
    features: tuple[ServingFeature, ...]
    max_batch: int = DEFAULT_MAX_BATCH

    @property
    def names(self) -> tuple[str, ...]:
        """Returns the feature names in order."""
        return tuple(feature.name for feature in self.features)

    def feature(self, name: str) -> ServingFeature:
        """Returns one feature by name (KeyError if the schema has none of that name)."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Returns the schema as the plain JSON document stored beside the model."""
        return {
            "format_version": FORMAT_VERSION,
            "kind": "serving-schema",
            "use_case": self.use_case,
            "max_batch": self.max_batch,
            "features": [feature.to_dict() for feature in self.features],
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ServingSchema:
        """Reads a schema written by :meth:`to_dict`.

        Raises:
            IntegrityError: If the document is not a serving schema this code can read.
        """
        hint = "register the model again so that its serving_schema.json is rewritten"
        try:
            if document.get("kind") != "serving-schema" or document.get("format_version") != FORMAT_VERSION:
                raise IntegrityError(
                    f"not a serving schema of format {FORMAT_VERSION} (kind {document.get('kind')!r}, "
                    f"format {document.get('format_version')!r})",
                    hint=hint,
                )
            features = tuple(
                ServingFeature(str(f["name"]), f["kind"], f["value_type"], bool(f["nullable"]))
                for f in document["features"]
            )
            schema = cls(str(document["use_case"]), features, int(document["max_batch"]))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise IntegrityError(f"serving schema is malformed ({error!r})", hint=hint) from None
        for feature in schema.features:
            if feature.kind not in KINDS or feature.value_type not in VALUE_TYPES:
                raise IntegrityError(
                    f"serving schema gives feature {feature.name!r} unknown kind {feature.kind!r} or type "
                    f"{feature.value_type!r}",
                    hint=hint,
                )
        if len(set(schema.names)) != len(schema.names) or not schema.features or schema.max_batch < 1:
            raise IntegrityError("serving schema has no features, a feature twice, or a batch limit below 1", hint=hint)
        return schema


def build_serving_schema(
    config: UseCaseConfig, schema: Any = None, max_batch: int = DEFAULT_MAX_BATCH
) -> ServingSchema:
    """Derives the serving schema of a use case.

    Args:
        config: The use case: feature names and kinds.
        schema: The curated TFDV schema (a ``schema_pb2.Schema``) or None. When given, it decides
            each feature's value type (INT, FLOAT, BYTES) and whether it may be missing (a
            presence ``min_fraction`` of 1 forbids null). Without it, numbers may be any number,
            categories strings or integers, and every feature may be null (preprocessing imputes).
        max_batch: The most rows one request may carry.

    Returns:
        The schema, features in the order of ``config.features.all()``.
    """
    described = _describe_tfdv(schema) if schema is not None else {}
    features = []
    for kind, names in (
        ("numeric", config.features.numeric),
        ("categorical", config.features.categorical),
        ("datetime", config.features.datetime),
    ):
        for name in names:
            tfdv_type, nullable = described.get(name, (None, True))
            features.append(ServingFeature(name, kind, _value_type(kind, tfdv_type), nullable))
    return ServingSchema(config.name, tuple(features), max_batch)


def _value_type(kind: str, tfdv_type: str | None) -> ValueType:
    if kind == "datetime":
        return "datetime"  # whatever the stored type, requests carry timestamps as ISO text
    if kind == "numeric":
        return "int" if tfdv_type == "INT" else "float"
    return {"INT": "int", "BYTES": "string"}.get(tfdv_type or "", "label")


def _describe_tfdv(schema: Any) -> dict[str, tuple[str | None, bool]]:
    """Value type and nullability of each feature of a TFDV schema, read without importing TFDV."""
    described = {}
    for feature in schema.feature:
        presence = getattr(feature, "presence", None)
        min_fraction = float(getattr(presence, "min_fraction", 0.0) or 0.0)
        described[feature.name] = (_TFDV_TYPES.get(feature.type), min_fraction < 1.0)
    return described
