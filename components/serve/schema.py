"""The serving schema: what a prediction request must contain, stored beside each model version.

Derived by the serving check from the use-case config (which features, of which kind) and, when
given, the curated TFDV schema (which value type, whether a value may be missing), then registered as
``serving_schema.json`` (components.common.models.SERVING_SCHEMA_FILE) in the model version's folder.
The server checks every request against it before the model sees the request. The TFDV schema is
read duck-typed (``feature``, ``name``, ``type``, ``presence.min_fraction``), so this module imports
without TFDV (the serving image has none); components.serve.check parses schema text.

The schema names the use case's target (``target``): a regressor's answer is named after it. Readers of a
document without it (written before the field) get an empty name, and regressors answer ``prediction``.

The schema also carries the use case's ``serving.log_exclude``: the server knows only the model
version's folder, so this is how it learns which features never to write into its logs. A schema
with exclusions is written as format 2, which servers older than the field refuse to load (format 1
readers check the version): an old server never serves such a model and logs the excluded values.
Format 1 documents (no exclusions, or written before the field) still load, excluding nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.common.config import UseCaseConfig
from components.common.errors import IntegrityError

FORMAT_VERSION = 1  # a schema without log exclusions: what every server reads
REDACTING_FORMAT_VERSION = 2  # a schema with log exclusions: refused by servers that would log them
FORMAT_VERSIONS = (FORMAT_VERSION, REDACTING_FORMAT_VERSION)
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
        log_exclude: Features whose values the server never writes into its request or feedback
            logs (the use case's ``serving.log_exclude``), in schema order.
        target: The label the model predicts (the use case's ``target.name``); empty when unknown.
    """

    use_case: str
    features: tuple[ServingFeature, ...]
    max_batch: int = DEFAULT_MAX_BATCH
    log_exclude: tuple[str, ...] = ()
    target: str = ""

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
        document = {
            "format_version": REDACTING_FORMAT_VERSION if self.log_exclude else FORMAT_VERSION,
            "kind": "serving-schema",
            "use_case": self.use_case,
            "max_batch": self.max_batch,
            "features": [feature.to_dict() for feature in self.features],
        }
        if self.log_exclude:
            document["log_exclude"] = list(self.log_exclude)
        if self.target:
            document["target"] = self.target
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ServingSchema:
        """Reads a schema written by :meth:`to_dict`.

        Raises:
            IntegrityError: If the document is not a serving schema this code can read.
        """
        hint = "register the model again so that its serving_schema.json is rewritten"
        try:
            version = document.get("format_version")
            if document.get("kind") != "serving-schema" or version not in FORMAT_VERSIONS:
                raise IntegrityError(
                    f"not a serving schema of format {' or '.join(map(str, FORMAT_VERSIONS))} "
                    f"(kind {document.get('kind')!r}, format {version!r})",
                    hint=hint,
                )
            features = tuple(
                ServingFeature(str(f["name"]), f["kind"], f["value_type"], bool(f["nullable"]))
                for f in document["features"]
            )
            excluded = document.get("log_exclude", [])
            if not isinstance(excluded, list) or not all(isinstance(name, str) for name in excluded):
                raise TypeError(f"log_exclude is {excluded!r}, not a list of feature names")
            target = document.get("target", "")
            if not isinstance(target, str):
                raise TypeError(f"target is {target!r}, not a column name")
            schema = cls(str(document["use_case"]), features, int(document["max_batch"]), tuple(excluded), target)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise IntegrityError(f"serving schema is malformed ({error!r})", hint=hint) from None
        if bool(schema.log_exclude) != (version == REDACTING_FORMAT_VERSION):
            raise IntegrityError(
                f"serving schema of format {version} {'lists' if schema.log_exclude else 'lacks'} log exclusions",
                hint=hint,
            )
        unknown = sorted(set(schema.log_exclude) - set(schema.names))
        if unknown:
            raise IntegrityError(f"serving schema excludes {unknown[0]!r} from logs, which is not a feature", hint=hint)
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
        The schema, features in the order of ``config.features.all()``, with the features of
        ``serving.log_exclude`` to keep out of the logs and the target's name.
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
    excluded = set(config.serving.log_exclude)
    names = tuple(feature.name for feature in features)
    return ServingSchema(
        config.name, tuple(features), max_batch, tuple(n for n in names if n in excluded), config.target.name
    )


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
