"""S3 settings by role: the embedded server's identity of a role unless the environment names a store."""

from __future__ import annotations

import json

import pytest

from components.common.errors import ConfigError
from components.common.s3_settings import ROLES, embedded_server_environment, role_credentials_file, s3_settings


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
    (folder / "credentials-pipeline.env").write_text("AWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=shh\n")
    settings = s3_settings({"MLCYCLE_STATE_DIR": str(tmp_path)})
    assert (settings.endpoint, settings.access_key, settings.secret_key) == ("127.0.0.1:18333", "local", "shh")


def test_s3_settings_without_endpoint_or_with_half_credentials_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="no S3 endpoint configured.*make s3-up"):
        s3_settings({"MLCYCLE_STATE_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="S3 credentials are incomplete"):
        s3_settings({"AWS_ENDPOINT_URL": "http://x:1", "AWS_ACCESS_KEY_ID": "k"})
    with pytest.raises(ConfigError, match="is not an http\\(s\\) URL"):
        s3_settings({"AWS_ENDPOINT_URL": "ftp://x:1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})


def embedded_server(state, roles=ROLES, port=18333):
    """A state folder as `mlcycle s3 up` leaves it: the server's ports and one keys file per role."""
    folder = state / "s3"
    folder.mkdir(parents=True)
    (folder / "server.json").write_text(json.dumps({"pid": 1, "ports": {"s3": port}}))
    (folder / "credentials.env").write_text("AWS_ACCESS_KEY_ID=root\nAWS_SECRET_ACCESS_KEY=root-secret\n")
    for role in roles:
        role_credentials_file(folder, role).write_text(
            f"AWS_ACCESS_KEY_ID=key-{role}\nAWS_SECRET_ACCESS_KEY=s-{role}\n"
        )
    return {"MLCYCLE_STATE_DIR": str(state)}


def test_each_role_gets_its_own_keys_and_the_pipeline_is_the_default(tmp_path):
    environ = embedded_server(tmp_path)
    for role in ROLES:
        settings = s3_settings(environ, role=role)
        assert (settings.endpoint, settings.access_key, settings.secret_key) == (
            "127.0.0.1:18333",
            f"key-{role}",
            f"s-{role}",
        )
    assert s3_settings(environ).access_key == "key-pipeline"
    assert "root" not in {s3_settings(environ, role=role).access_key for role in ROLES}


def test_set_variables_win_over_the_role(tmp_path):
    environ = {
        **embedded_server(tmp_path),
        "AWS_ENDPOINT_URL": "http://object-store:9000",
        "AWS_ACCESS_KEY_ID": "from-a-secret",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    assert s3_settings(environ, role="serving").access_key == "from-a-secret"


def test_an_unknown_role_or_a_server_without_the_role_fails_clearly(tmp_path):
    environ = embedded_server(tmp_path, roles=("pipeline",))
    with pytest.raises(ConfigError, match="unknown S3 role 'root'"):
        s3_settings(environ, role="root")
    with pytest.raises(ConfigError, match="has no serving identity yet.*make s3-down s3-up"):
        s3_settings(environ, role="serving")
    with pytest.raises(ConfigError, match="unknown S3 role"):
        embedded_server_environment("superuser", environ)


def test_a_process_started_against_the_embedded_server_gets_the_role_whatever_its_starter_holds(tmp_path):
    environ = embedded_server(tmp_path)
    starter = {**environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:18333/", "AWS_ACCESS_KEY_ID": "key-pipeline"}
    assert embedded_server_environment("serving", starter) == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:18333",
        "AWS_ACCESS_KEY_ID": "key-serving",
        "AWS_SECRET_ACCESS_KEY": "s-serving",
    }
    assert embedded_server_environment("serving", environ)["AWS_ACCESS_KEY_ID"] == "key-serving"
    assert embedded_server_environment("serving", {**starter, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}) == {}
    assert embedded_server_environment("serving", {"MLCYCLE_STATE_DIR": str(tmp_path / "none")}) == {}
