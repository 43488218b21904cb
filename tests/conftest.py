"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_loans_use_case


@pytest.fixture
def loans_config_path(tmp_path: Path) -> Path:
    """The tiny loans use case, written to a temporary folder."""
    return write_loans_use_case(tmp_path / "loans")
