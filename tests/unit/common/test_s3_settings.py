"""S3 settings: environment precedence, the embedded server's state as fallback, clear failures."""

from __future__ import annotations

import json

import pytest

from components.common.errors import ConfigError
from components.common.s3_settings import s3_settings


def test_s3_settings_from_aws_variables_parse_scheme_and_region(tmp_path):
    settings = s3_settings(
        {
            "AWS_ENDPOINT_URL": "https://minio.example:9000",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "MLCYCLE_BUCKET_PREFIX": "team-",
            "MLCYCLE_STATE_DIR": str(tmp_path),
        }
    )
    assert (settings.endpoint, settings.secure, settings.region) == ("minio.example:9000", True, "eu-west-1")
    assert settings.bucket("models") == "team-models"
    assert "secret" not in repr(settings) and settings.masked_key() == "AKIA…"


def test_s3_specific_endpoint_variable_wins():
    settings = s3_settings(
        {
            "AWS_ENDPOINT_URL": "http://generic:1",
            "AWS_ENDPOINT_URL_S3": "http://s3-only:2",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
        }
    )
    assert settings.endpoint == "s3-only:2"


def test_s3_settings_fall_back_to_the_embedded_server_state(tmp_path):
    folder = tmp_path / "s3"
    folder.mkdir()
    (folder / "server.json").write_text(json.dumps({"pid": 1, "ports": {"s3": 18333}}))
    (folder / "credentials.env").write_text("AWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=shh\n")
    settings = s3_settings({"MLCYCLE_STATE_DIR": str(tmp_path)})
    assert (settings.endpoint, settings.access_key, settings.secret_key) == ("127.0.0.1:18333", "local", "shh")


def test_s3_settings_without_endpoint_or_with_half_credentials_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="no S3 endpoint configured.*make s3-up"):
        s3_settings({"MLCYCLE_STATE_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="S3 credentials are incomplete"):
        s3_settings({"AWS_ENDPOINT_URL": "http://x:1", "AWS_ACCESS_KEY_ID": "k"})
    with pytest.raises(ConfigError, match="is not an http\\(s\\) URL"):
        s3_settings({"AWS_ENDPOINT_URL": "ftp://x:1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
