"""The generic YAML loader: frozen dataclasses built from YAML data, and back to plain data.

Nothing here knows a use case; the section modules declare dataclasses and this module fills them.
Unknown keys are errors (with the closest valid key suggested) and values are checked against the
type annotations, so a typo never passes silently.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Union

from components.common.errors import ConfigError


def build(cls: type, data: Any, where: str) -> Any:
    """Builds dataclass ``cls`` from YAML data, rejecting unknown keys and wrong types.

    Args:
        cls: A dataclass whose annotations say what each key takes (nested dataclasses, tuples,
            mappings, literals, unions and scalars).
        data: The parsed YAML value.
        where: The dotted location of ``data``, for messages (``use_case.yaml.split``).

    Returns:
        An instance of ``cls``; lists become tuples.

    Raises:
        ConfigError: If ``data`` is not a mapping, has an unknown key (the closest valid one is
            suggested), misses a required key or holds a value of the wrong type.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of settings, not {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if isinstance(key, bool):
            raise ConfigError(
                f"key {key!r} in {where} is a YAML boolean (on/off/yes/no unquoted)",
                hint="quote the key or fix its name",
            )
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(fields)}"
            raise ConfigError(f"unknown key {key!r} in {where}", hint=hint)
    hints = typing.get_type_hints(cls)
    values = {}
    for name, spec in fields.items():
        if name in data:
            values[name] = _coerce(hints[name], data[name], f"{where}.{name}")
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {name!r} in {where}")
    return cls(**values)


def check_known(names: Iterable[str], known: Sequence[str], unknown: Callable[[str], str], listing: str) -> None:
    """Checks that every name is a known one; the first that is not is an error suggesting the closest.

    Args:
        names: The names a use case gives.
        known: The names it may give.
        unknown: The message for a name that is not known.
        listing: What the known names are, for the hint when none is close (``features``).

    Raises:
        ConfigError: Naming the first unknown name, with the closest known one (or all of them) as hint.
    """
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise ConfigError(
                unknown(name), hint=f"did you mean {close[0]!r}?" if close else f"{listing}: {', '.join(known)}"
            )


def to_plain(value: Any) -> Any:
    """Converts config dataclasses into JSON-ready dicts and lists (for manifests and fingerprints)."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Returns a stable JSON text of plain data (sorted keys, no spaces), for hashing."""
    return json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"), default=str)


def _coerce(annotation: Any, value: Any, where: str) -> Any:
    """Checks ``value`` against a type annotation and converts lists to tuples."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, where)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} is {value!r}, expected one of: {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(annotation):
        return build(annotation, value, where)
    if origin is tuple:
        if value is None or isinstance(value, (str, int, float, bool)):
            value = [value]  # a single value where a list is expected
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, not {_kind(value)}")
        return tuple(_coerce(args[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, not {_kind(value)}")
        return {_coerce(args[0], k, f"{where} key"): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (str, int, float, bool):
        if type(value) is not annotation:
            raise ConfigError(f"{where} must be {annotation.__name__}, not {_kind(value)} {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} at {where}")  # a bug in this module


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "empty"}.get(type(value), type(value).__name__)
