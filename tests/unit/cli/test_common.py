"""Shared command-line helpers: messages that name this use case's own commands."""

from __future__ import annotations

import pytest

from cli.common import existing_schema, relative
from components.common.config import load_use_case
from components.common.errors import UserError


def test_a_missing_schema_names_the_commands_for_this_use_case(loans_config_path):
    config = load_use_case(loans_config_path)

    with pytest.raises(UserError) as raised:
        existing_schema(loans_config_path, config)

    hint = raised.value.hint
    assert f"mlcycle schema -c {relative(loans_config_path)}" in hint
    assert f"mlcycle ingest -c {relative(loans_config_path)}" in hint
    assert "make schema" not in str(raised.value)
