"""The generic YAML loader: strict keys and types, and plain data for manifests and fingerprints."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from helpers import LOANS_CONFIG

from components.common.config import load_use_case
from components.common.config.loader import build, canonical_json, to_plain
from components.common.errors import ConfigError


@pytest.mark.parametrize(
    "change, message",
    [
        ({"targte": {"name": "x"}}, "unknown key 'targte' in use_case.yaml (hint: did you mean 'target'?)"),
        ({"split": {"method": "time", "colum": "opened_at"}}, "unknown key 'colum' in use_case.yaml.split"),
        ({"target": {"name": "y", "missing": "ignore"}}, "use_case.yaml.target.missing is 'ignore', expected one of"),
        ({"drop": {"a": 1}}, "use_case.yaml.drop must be a list, not a mapping"),
        ({"name": 12}, "use_case.yaml.name must be str, not int 12"),
    ],
)
def test_invalid_settings_name_the_key_and_the_fix(loans, write, change, message):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(loans(**change)))
    assert message in str(error.value)


def test_missing_required_key_is_named(loans, write):
    data = loans()
    del data["target"]
    with pytest.raises(ConfigError, match="missing key 'target' in use_case.yaml"):
        load_use_case(write(data))


def test_unquoted_yaml_boolean_key_is_explained(write):
    text = LOANS_CONFIG.format(loans="a.csv", customers="b.csv").replace("keys: [customer_id]", "on: [customer_id]")
    with pytest.raises(ConfigError, match="is a YAML boolean"):
        load_use_case(write(text))


@dataclass(frozen=True)
class Window:
    hours: float
    labels: tuple[str, ...] = ()


def test_build_turns_lists_into_tuples_ints_into_floats_and_a_single_value_into_a_list():
    assert build(Window, {"hours": 2, "labels": "a"}, "w") == Window(hours=2.0, labels=("a",))
    assert isinstance(build(Window, {"hours": 2}, "w").hours, float)
    assert build(Window, {"hours": 1.5, "labels": ["a", "b"]}, "w").labels == ("a", "b")
    with pytest.raises(ConfigError, match=r"^w.hours must be float, not bool True"):
        build(Window, {"hours": True}, "w")
    with pytest.raises(ConfigError, match="^w must be a mapping of settings, not a list"):
        build(Window, [1], "w")


def test_plain_data_and_canonical_json_do_not_depend_on_key_order():
    assert to_plain(Window(hours=1.0, labels=("a",))) == {"hours": 1.0, "labels": ["a"]}
    assert canonical_json({"b": (1, 2), "a": Window(hours=1.0)}) == '{"a":{"hours":1.0,"labels":[]},"b":[1,2]}'
    assert canonical_json({"x": 1, "y": 2}) == canonical_json({"y": 2, "x": 1})
