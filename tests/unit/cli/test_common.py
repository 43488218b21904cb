"""Shared command-line helpers: messages that name this use case's own commands."""

from __future__ import annotations

import pytest

from cli import common
from cli.common import existing_schema, on_embedded_store, relative
from components.common.config import load_use_case
from components.common.errors import UserError
from components.common.s3_server import ServerState


def test_a_missing_schema_names_the_commands_for_this_use_case(loans_config_path):
    config = load_use_case(loans_config_path)

    with pytest.raises(UserError) as raised:
        existing_schema(loans_config_path, config)

    hint = raised.value.hint
    assert f"mlcycle schema -c {relative(loans_config_path)}" in hint
    assert f"mlcycle ingest -c {relative(loans_config_path)}" in hint
    assert "make schema" not in str(raised.value)


@pytest.fixture
def no_endpoint(monkeypatch, tmp_path):
    for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "S3_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MLCYCLE_STATE_DIR", str(tmp_path / "state"))


def test_the_store_is_embedded_without_an_endpoint_or_at_the_embedded_servers_own(no_endpoint, monkeypatch):
    assert on_embedded_store()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.example:9000")
    assert not on_embedded_store()  # no embedded server runs here
    embedded = ServerState(pid=1, ports={"s3": 8333}, access_key="a", secret_key="s", roles={})
    monkeypatch.setattr(common.s3_server, "read_state", lambda paths: embedded)
    assert not on_embedded_store()  # one runs, but the endpoint names another store
    monkeypatch.setenv("AWS_ENDPOINT_URL", embedded.endpoint_url + "/")
    assert on_embedded_store()
