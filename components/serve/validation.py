"""Request validation: a Seldon payload checked against the serving schema before the model sees it.

Two payload shapes are accepted, as Seldon Core users send them:

- ``{"data": {"names": [...], "ndarray": [[...], ...]}}``: rows of values in the order of ``names``;
- ``{"jsonData": [{"<feature>": value, ...}, ...]}`` (also ``{"records": [...]}`` or one record).

Every problem raises :class:`RequestError` naming the field (and the row) and what is wrong with it,
which the server answers with HTTP 400. What passes comes out as a :class:`Batch`: the values as JSON
natives (for the request log) and typed columns (for the model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
import pandas as pd

from components.common.errors import UserError
from components.serve.schema import ServingFeature, ServingSchema

Shape = Literal["ndarray", "jsonData"]
_SHOWN_NAMES = 12
WITHHELD = "<withheld: serving.log_exclude>"  # stands for a value of a feature kept out of logs


class RequestError(UserError):
    """A request the server refuses with HTTP 400: names the field and the problem."""

    status_code = 400


@dataclass(frozen=True)
class Batch:
    """A validated request.

    Attributes:
        shape: ``ndarray`` or ``jsonData``: how the answer should be shaped.
        rows: The number of rows.
        values: Per feature (schema order), the row values as JSON natives after validation
            (integers for integer features, None for missing, datetimes as the ISO text sent).
        request_id: The client's ``meta.puid``, if it sent one.
        datetimes: Per datetime feature, the values parsed to ``datetime64[ns]`` in UTC (NaT for missing;
            text without a zone read as UTC): proof that each is a time within range. The model gets the
            text itself and reads it in the time zone its preprocessing holds.
    """

    shape: Shape
    rows: int
    values: Mapping[str, list[Any]]
    request_id: str | None = None
    datetimes: Mapping[str, np.ndarray] = field(default_factory=dict)

    def record(self, row: int) -> dict[str, Any]:
        """Returns one row as ``{feature: value}``."""
        return {name: column[row] for name, column in self.values.items()}


def parse_request(payload: Any, schema: ServingSchema) -> Batch:
    """Checks a prediction request against the serving schema.

    Args:
        payload: The decoded JSON body.
        schema: The model's serving schema.

    Returns:
        The validated batch.

    Raises:
        RequestError: On an unsupported payload, missing or unknown features, a row of the wrong
            length, a value of the wrong type, a number beyond float32 range (±3.4e38), a null where
            the schema forbids it, an empty batch, or more rows than the schema allows.
    """
    if not isinstance(payload, Mapping):
        raise RequestError(
            f"the request body must be a JSON object, not {_json_kind(payload)}",
            hint='send {"data": {"names": [...], "ndarray": [[...]]}} or {"jsonData": [{...}]}',
        )
    request_id = _request_id(payload.get("meta"))
    if "jsonData" in payload:
        shape: Shape = "jsonData"
        columns, rows = _records_to_columns(payload["jsonData"], schema)
    elif "data" in payload:
        shape = "ndarray"
        columns, rows = _ndarray_to_columns(payload["data"], schema)
    else:
        other = next((key for key in ("strData", "binData") if key in payload), None)
        raise RequestError(
            f"{other} requests are not supported" if other else "the request has neither data nor jsonData",
            hint='send {"data": {"names": [...], "ndarray": [[...]]}} or {"jsonData": [{...}]}',
        )
    # A value of a feature kept out of the logs is not quoted in errors either: Seldon logs every error.
    quoted = {feature.name: feature.name not in schema.log_exclude for feature in schema.features}
    values = {f.name: _check_column(f, columns[f.name], quoted[f.name]) for f in schema.features}
    datetimes = {
        f.name: _parse_datetimes(f, values[f.name], quoted[f.name])
        for f in schema.features
        if f.value_type == "datetime"
    }
    return Batch(shape, rows, values, request_id, datetimes)


def model_columns(batch: Batch, schema: ServingSchema) -> dict[str, np.ndarray]:
    """Typed columns for the model.

    float64 numbers (NaN for missing), object categories (None for missing), timestamps as the text
    sent (None for missing), checked to be times within range: the model's preprocessing reads text
    without a zone as a local time of the time zone it was trained in, which serving does not know.
    """
    columns: dict[str, np.ndarray] = {}
    for feature in schema.features:
        values = batch.values[feature.name]
        if feature.kind == "numeric":
            columns[feature.name] = np.array([np.nan if v is None else v for v in values], dtype="float64")
        elif feature.kind == "datetime":
            if feature.name not in batch.datetimes:
                _parse_datetimes(feature, values, feature.name not in schema.log_exclude)  # refuses what is no time
            columns[feature.name] = np.array(values, dtype=object)
        else:
            columns[feature.name] = np.array(values, dtype=object)
    return columns


def model_frame(batch: Batch, schema: ServingSchema) -> pd.DataFrame:
    """The typed columns as a DataFrame, in schema order (what a scikit-learn pipeline takes)."""
    columns = model_columns(batch, schema)
    return pd.DataFrame(columns, columns=list(schema.names))


# --- payload shapes ------------------------------------------------------------------------------


def _ndarray_to_columns(data: Any, schema: ServingSchema) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(data, Mapping):
        raise RequestError(
            f"data must be a JSON object, not {_json_kind(data)}", hint='send {"names": [...], "ndarray": [[...]]}'
        )
    if "ndarray" not in data:
        other = next((key for key in ("tensor", "tftensor") if key in data), None)
        raise RequestError(
            f"data.{other} is not supported: features have names and mixed types"
            if other
            else "data.ndarray is missing",
            hint='send data as {"names": [...], "ndarray": [[...]]}',
        )
    names = data.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RequestError("data.names must be a list of feature names", hint=f"the model takes: {_show(schema.names)}")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise RequestError(f"data.names lists feature {duplicated[0]!r} twice", hint="name each feature once")
    _check_names(set(names), schema, "data.names")
    rows = data["ndarray"]
    if not isinstance(rows, list):
        raise RequestError(
            f"data.ndarray must be a list of rows, not {_json_kind(rows)}", hint="send [[value, ...], ...]"
        )
    _check_batch_size(len(rows), schema, "data.ndarray")
    width = len(names)
    if all(type(row) is list and len(row) == width for row in rows):  # the common case: transposed at once
        return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True)), len(rows)
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for number, row in enumerate(rows):
        if not isinstance(row, list):
            raise RequestError(
                f"data.ndarray row {number} is {_json_kind(row)}, not a list of values",
                hint="send rows as lists: [[value, ...], ...]",
            )
        if len(row) != len(names):
            raise RequestError(
                f"data.ndarray row {number} has {len(row)} values but data.names has {len(names)}",
                hint="give one value per name, in the order of data.names (null for a missing value)",
            )
        for name, value in zip(names, row, strict=True):
            columns[name].append(value)
    return columns, len(rows)


def _records_to_columns(json_data: Any, schema: ServingSchema) -> tuple[dict[str, list[Any]], int]:
    if isinstance(json_data, Mapping) and "records" in json_data and "records" not in schema.names:
        records, where = json_data["records"], "jsonData.records"
    elif isinstance(json_data, Mapping):
        records, where = [json_data], "jsonData"
    else:
        records, where = json_data, "jsonData"
    if not isinstance(records, list):
        raise RequestError(
            f"{where} must be a list of records, not {_json_kind(records)}",
            hint='send [{"<feature>": value, ...}, ...]',
        )
    _check_batch_size(len(records), schema, where)
    expected = set(schema.names)
    for number, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise RequestError(
                f"{where} record {number} is {_json_kind(record)}, not an object", hint='send {"<feature>": value, ...}'
            )
        if record.keys() != expected:
            _check_names(set(record), schema, f"{where} record {number}")
    return {name: [record[name] for record in records] for name in schema.names}, len(records)


def _check_names(names: set[str], schema: ServingSchema, where: str) -> None:
    unknown = sorted(names - set(schema.names))
    if unknown:
        hint = f"the model takes: {_show(schema.names)}"
        if schema.target in unknown:  # a row copied from the data with its label: say why the label is refused
            hint = f"{schema.target!r} is what the model predicts: leave it out of requests; {hint}"
        raise RequestError(f"unknown feature{'s' if len(unknown) > 1 else ''} {_show(unknown)} in {where}", hint=hint)
    missing = [name for name in schema.names if name not in names]
    if missing:
        raise RequestError(
            f"missing feature{'s' if len(missing) > 1 else ''} {_show(missing)} in {where}",
            hint="send every feature the model takes; use null for a value you do not know, where allowed",
        )


def _check_batch_size(rows: int, schema: ServingSchema, where: str) -> None:
    if rows == 0:
        raise RequestError(f"empty batch: {where} has no rows", hint="send at least one row")
    if rows > schema.max_batch:
        raise RequestError(
            f"batch too large: {where} has {rows} rows, the limit is {schema.max_batch}",
            hint=f"split the request into batches of at most {schema.max_batch} rows",
        )


# --- values --------------------------------------------------------------------------------------


# The largest magnitude a number may have: float32's, as scikit-learn's trees cast their input to float32
# (a larger value, or an integer beyond float64 such as 10**400, would fail inside the model with a 500).
LARGEST_NUMBER = float(np.finfo(np.float32).max)

# Python types that pass a value type unchanged: a column made only of them (and nulls where allowed,
# numbers within bounds where bounded) needs no check per value. bool is a type of its own: it never passes.
_PLAIN_TYPES = {
    "int": frozenset({int}),
    "float": frozenset({int, float}),
    "string": frozenset({str}),
    "datetime": frozenset({str}),
    "label": frozenset({str, int}),
}
# Value types whose whole floats (2.0) pass as integers.
_WHOLE_NUMBER_TYPES = frozenset({"int", "label"})
_NULL = type(None)


def _bounded(feature: ServingFeature) -> bool:
    """Whether the model reads the feature's values as numbers (categories of numbers stay objects)."""
    return feature.kind == "numeric" and feature.value_type in ("int", "float")


def _check_column(feature: ServingFeature, values: list[Any], quote: bool = True) -> list[Any]:
    checked = _check_plain_column(feature, values)
    if checked is not None:
        return checked
    # The long way, value by value: it says what is wrong with the first bad value (and reads NaN as null).
    return [_check_value(feature, value, row, quote) for row, value in enumerate(values)]


def _check_plain_column(feature: ServingFeature, values: list[Any]) -> list[Any] | None:
    """The column checked as :func:`_check_value` would, when its values are of the common kinds; None otherwise.

    Common: nulls where the feature allows them, values of the feature's plain types, whole floats where it
    takes whole numbers, numbers within bounds where it is bounded. Anything else (NaN, infinities, booleans,
    a wrong type) returns None, for the value-by-value check that names the problem.
    """
    plain = _PLAIN_TYPES.get(feature.value_type)
    if plain is None:
        return None
    types = set(map(type, values))
    if _NULL in types:
        if not feature.nullable:
            return None
        types.discard(_NULL)
    whole_floats = float in types and float not in plain
    if whole_floats and feature.value_type not in _WHOLE_NUMBER_TYPES:
        return None
    if not types <= (plain | {float} if whole_floats else plain):
        return None
    if _bounded(feature):
        if not all(  # NaN and infinities fail the comparison too
            -LARGEST_NUMBER <= value <= LARGEST_NUMBER for value in values if value is not None
        ):
            return None
    elif float in types and not all(math.isfinite(value) for value in values if type(value) is float):
        return None  # a category of floats: NaN is read as null, and an infinity refused, value by value
    if whole_floats:
        if not all(value.is_integer() for value in values if type(value) is float):  # False for NaN, infinities
            return None
        return [int(value) if type(value) is float else value for value in values]
    return list(values)


_EARLIEST, _LATEST = pd.Timestamp.min.ceil("us").to_pydatetime(), pd.Timestamp.max.floor("us").to_pydatetime()


def _parse_datetimes(feature: ServingFeature, values: list[Any], quote: bool = True) -> np.ndarray:
    """ISO 8601 text to ``datetime64[ns]`` in UTC (text without a zone counts as UTC, as in training).

    Python's own ISO parser first (fast for a few rows); what it cannot read goes to pandas, which
    reads more spellings; what neither reads is refused (quoting the value unless ``quote`` is off).
    """
    parsed = np.empty(len(values), dtype="datetime64[ns]")
    seen: dict[str, np.datetime64] = {}  # rows of a batch often share a time (flights of the same hour)
    for row, value in enumerate(values):
        if value is None:
            parsed[row] = np.datetime64("NaT")
            continue
        if isinstance(value, str) and value in seen:
            parsed[row] = seen[value]
            continue
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = pd.to_datetime(value, utc=True, errors="coerce")
            if moment is pd.NaT:
                raise RequestError(
                    f"feature {feature.name!r} in row {row}: {_quoted(value, quote)} is not a date and time",
                    hint="send ISO 8601 text, for example 2013-06-01T14:00:00Z",
                ) from None
            moment = moment.to_pydatetime()
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        if not _EARLIEST <= moment <= _LATEST:  # datetime64[ns] would silently wrap around
            raise RequestError(
                f"feature {feature.name!r} in row {row}: {_quoted(value, quote)} is outside the years 1678 to 2261",
                hint="send a date and time within that range",
            )
        parsed[row] = seen[value] = np.datetime64(moment, "ns")
    return parsed


def _check_value(feature: ServingFeature, value: Any, row: int, quote: bool = True) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if not feature.nullable:
            raise RequestError(
                f"feature {feature.name!r} in row {row} is null, but the model needs a value",
                hint=f"send a {_expected(feature)} for {feature.name!r}",
            )
        return None
    kind = feature.value_type
    if kind in ("int", "float", "label") and isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isinf(value):
            raise _wrong(feature, value, row, "is not a finite number")
        if _bounded(feature) and not -LARGEST_NUMBER <= value <= LARGEST_NUMBER:
            shown = _clip(value) if quote else WITHHELD
            raise _wrong(feature, value, row, f"{shown} is too large: numbers must lie within ±{LARGEST_NUMBER:.4g}")
        if kind == "float":
            return value
        if isinstance(value, int) or value.is_integer():
            return int(value)
        raise _wrong(feature, value, row, f"expected {_expected(feature)}, got {_quoted(value, quote)}")
    if kind in ("string", "datetime", "label") and isinstance(value, str):
        return value
    shown = _clip(value) if quote else WITHHELD
    raise _wrong(feature, value, row, f"expected {_expected(feature)}, got {_json_kind(value)} {shown}")


def _wrong(feature: ServingFeature, value: Any, row: int, problem: str) -> RequestError:
    return RequestError(
        f"feature {feature.name!r} in row {row}: {problem}", hint=f"send a {_expected(feature)} for {feature.name!r}"
    )


def _expected(feature: ServingFeature) -> str:
    return {
        "int": "whole number",
        "float": "number",
        "string": "string",
        "datetime": "date and time as ISO 8601 text",
        "label": "string or whole number",
    }[feature.value_type]


def _request_id(meta: Any) -> str | None:
    if isinstance(meta, Mapping) and isinstance(meta.get("puid"), str) and meta["puid"]:
        return meta["puid"]
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__


def _quoted(value: Any, quote: bool) -> str:
    return repr(value) if quote else WITHHELD


def _clip(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _show(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:_SHOWN_NAMES])
    return shown + (f" and {len(names) - _SHOWN_NAMES} more" if len(names) > _SHOWN_NAMES else "")
