"""Fixtures of the use-case config tests: the loans use case as YAML data, and a file to load it from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import LOANS_CONFIG


@pytest.fixture
def loans() -> Callable[..., dict]:
    """Returns a function giving the loans use case as data, with top-level keys replaced."""

    def loans(**changes) -> dict:
        data = yaml.safe_load(LOANS_CONFIG.format(loans="/data/loans.csv", customers="/data/customers.csv"))
        data.update(changes)
        return data

    return loans


@pytest.fixture
def write(tmp_path: Path) -> Callable[[dict | str], Path]:
    """Returns a function writing use-case data (or text) to use_case.yaml and giving its path."""

    def write(data: dict | str) -> Path:
        path = tmp_path / "use_case.yaml"
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
        return path

    return write
