"""What `make submit` and `make schedule` check before talking to the KFP API (no API needed)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from components.common.errors import ConfigError, UserError
from pipelines.submit import (
    DEFAULT_SPEC,
    check_no_credentials,
    demo_params,
    known_secrets,
    parse_params,
    prepare,
    read_params_file,
    read_pipeline,
    typed_params,
    validate_cron,
    version_name,
)
from pipelines.usecases import DEMO_CONFIG

SPEC = read_pipeline(DEFAULT_SPEC)


def test_the_compiled_training_pipeline_declares_what_a_run_must_give():
    assert SPEC.name == "mlcycle-training"
    assert {name for name, spec in SPEC.inputs.items() if spec.required} == {"use_case", "schema"}
    assert SPEC.inputs["sources"].type == "STRUCT" and not SPEC.inputs["sources"].required
    assert all(spec.description for spec in SPEC.inputs.values())


def test_platform_spec_tells_which_tasks_get_the_s3_secret(tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "pipelineInfo: {name: p}\nroot: {inputDefinitions: {parameters: {x: {parameterType: STRING}}}}\n---\n"
        "platforms:\n  kubernetes:\n    deploymentSpec:\n      executors:\n        exec-a:\n          secretAsEnv:\n"
        "          - secretName: mlcycle-s3\n            keyToEnv: [{secretKey: k, envVar: AWS_SECRET_ACCESS_KEY}]\n"
        "        exec-b: {}\n"
    )
    pipeline = read_pipeline(spec)
    assert pipeline.secret_env == {"exec-a": frozenset({"AWS_SECRET_ACCESS_KEY"}), "exec-b": frozenset()}
    assert pipeline.inputs["x"].required


def test_a_missing_or_foreign_spec_is_named(tmp_path):
    with pytest.raises(UserError, match="does not exist.*make compile"):
        read_pipeline(tmp_path / "absent.yaml")
    (tmp_path / "other.yaml").write_text("kind: Deployment\n")
    with pytest.raises(UserError, match="is not a compiled KFP pipeline"):
        read_pipeline(tmp_path / "other.yaml")


def test_params_are_key_value_pairs_quoted_like_a_shell_and_read_from_files(tmp_path):
    (tmp_path / "case.yaml").write_text("name: x\n")
    params = parse_params("use_case=@case.yaml seed=7 'note=two words' empty=", base=tmp_path)
    assert params == {"use_case": "name: x\n", "seed": "7", "note": "two words", "empty": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seed", "'seed' is not key=value"),
        ("=7", "'=7' is not key=value"),
        ("seed=1 seed=2", "gives 'seed' twice"),
        ("note='unterminated", "cannot be split"),
        ("use_case=@absent.yaml", "cannot read .*absent.yaml"),
    ],
)
def test_bad_params_are_refused_with_the_entry_named(text, message, tmp_path):
    with pytest.raises(UserError, match=message):
        parse_params(text, base=tmp_path)


def test_a_params_file_keeps_types_and_reads_files_beside_it(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "case.yaml").write_text("name: y\n")
    (tmp_path / "conf" / "run.yaml").write_text("use_case: '@case.yaml'\nseed: 3\nsources: {flights: s3://d/f.csv}\n")
    assert read_params_file(tmp_path / "conf" / "run.yaml") == {
        "use_case": "name: y\n",
        "seed": 3,
        "sources": {"flights": "s3://d/f.csv"},
    }
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(UserError, match="not a mapping"):
        read_params_file(tmp_path / "list.yaml")
    with pytest.raises(UserError, match="does not exist"):
        read_params_file(tmp_path / "absent.yaml")


def test_params_get_the_types_the_spec_declares():
    typed = typed_params(
        {
            "use_case": "u",
            "schema": "s",
            "seed": "7",
            "overrides": '{"training.max_trials": 2}',
            "sources": "flights: s3://b/f.csv",
        },
        SPEC,
    )
    assert typed == {
        "use_case": "u",
        "schema": "s",
        "seed": 7,
        "overrides": {"training.max_trials": 2},
        "sources": {"flights": "s3://b/f.csv"},
    }
    assert typed_params({"use_case": "u", "schema": "s", "seed": 5}, SPEC)["seed"] == 5
    quoted = parse_params("""overrides='{"training.max_trials": 2}' sources="{flights: s3://b/f.csv}" """)
    assert typed_params({"use_case": "u", "schema": "s", **quoted}, SPEC)["overrides"] == {"training.max_trials": 2}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"use_case": "u", "schema": "s", "sead": "1"}, r"no parameter 'sead'.*did you mean 'seed'"),
        ({"use_case": "u"}, r"needs 'schema'.*schema=@<file>"),
        ({"use_case": "u", "schema": "s", "seed": "seven"}, r"'seed' must be an integer, got 'seven'"),
        ({"use_case": "u", "schema": "s", "seed": True}, r"'seed' must be an integer"),
        ({"use_case": "u", "schema": "s", "overrides": "[1, 2]"}, r"'overrides' must be a mapping"),
        ({"use_case": "u", "schema": "s", "overrides": "{unclosed"}, r"'overrides' must be a mapping"),
        ({"use_case": 3, "schema": "s"}, r"'use_case' must be text"),
        ({"use_case": "u", "schema": "s", "overrides": "{a.b:2}"}, r"'overrides' looks like JSON that lost its quotes"),
    ],
)
def test_wrong_params_are_refused_before_anything_is_uploaded(given, message):
    with pytest.raises(UserError, match=message):
        typed_params(given, SPEC)


def test_without_params_the_demo_use_case_and_its_schema_are_submitted():
    params = demo_params()
    assert params["use_case"] == DEMO_CONFIG.read_text()
    assert "feature {" in params["schema"]
    assert typed_params(params, SPEC) == params


def test_s3_keys_never_travel_in_the_spec_or_the_parameters(tmp_path):
    secret = "k3y-0f-the-embedded-server"
    check_no_credentials(SPEC, {"use_case": "u"}, {secret, "short"})
    with pytest.raises(UserError, match="parameter 'sources' contains an S3 key") as caught:
        check_no_credentials(SPEC, {"sources": {"x": f"s3://{secret}@host/b"}}, {secret})
    assert secret not in str(caught.value)
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(DEFAULT_SPEC.read_text() + f"# {secret}\n")
    with pytest.raises(UserError, match="leaky.yaml contains an S3 key"):
        check_no_credentials(read_pipeline(leaky), {}, {secret})
    check_no_credentials(SPEC, {"note": "short"}, {"short"})  # too short to mean anything


def test_known_secrets_come_from_the_environment_and_the_embedded_server(tmp_path):
    (tmp_path / "s3").mkdir()
    (tmp_path / "s3" / "credentials-pipeline.env").write_text(
        "AWS_ACCESS_KEY_ID=embedded-id\nAWS_SECRET_ACCESS_KEY=embedded-secret\n"
    )
    (tmp_path / "s3" / "server.json").write_text('{"ports": {"s3": 8333}}')
    assert known_secrets({"MLCYCLE_STATE_DIR": str(tmp_path)}) == {"embedded-id", "embedded-secret"}
    environ = {"AWS_ENDPOINT_URL": "http://s3:9000", "AWS_ACCESS_KEY_ID": "a-id", "AWS_SECRET_ACCESS_KEY": "a-secret"}
    assert known_secrets(environ) == {"a-id", "a-secret"}
    assert known_secrets({"MLCYCLE_STATE_DIR": str(tmp_path / "none")}) == set()


@pytest.mark.parametrize(
    ("cron", "normalised"),
    [
        ("0 0 3 * * *", "0 0 3 * * *"),
        ("  0 30  2 * * MON-fri ", "0 30 2 * * MON-fri"),
        ("0 */15 * * * *", "0 */15 * * * *"),
        ("0 0 9 ? * 2-6", "0 0 9 ? * 2-6"),
        ("0 0 0 1,15 jan,jul *", "0 0 0 1,15 jan,jul *"),
        ("0 0 6-18/3 * * *", "0 0 6-18/3 * * *"),
        ("@daily", "@daily"),
        ("@every 6h30m", "@every 6h30m"),
    ],
)
def test_six_field_crons_and_descriptors_pass(cron, normalised):
    assert validate_cron(cron) == normalised


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 3 * * *", r"five fields, but KFP takes six with seconds first.*CRON=\"0 0 3 \* \* \*\""),
        ("0 0 3 * *  * *", "has 7 fields, not six"),
        ("", "CRON is empty"),
        ("60 0 3 * * *", "field seconds '60': 60 is outside 0-59"),
        ("0 0 24 * * *", "field hours '24': 24 is outside 0-23"),
        ("0 0 3 0 * *", "field day of month '0': 0 is outside 1-31"),
        ("0 0 3 * foo *", "field month 'foo': 'foo' is not a number or a name"),
        ("0 0 3 * * 7", "field day of week '7': 7 is outside 0-6"),
        ("0 */0 * * * *", "step '0' is not a positive integer"),
        ("0 0 9-5 * * *", "range '9-5' runs backwards"),
        ("0 0 1-2-3 * * *", "is not a value or a range"),
        ("@often", "not a cron descriptor"),
        ("@every soon", "not a cron descriptor"),
    ],
)
def test_bad_crons_are_refused_naming_the_field(cron, message):
    with pytest.raises(UserError, match=message):
        validate_cron(cron)


def test_version_names_carry_the_pipeline_the_commit_and_the_utc_time():
    when = datetime(2026, 3, 1, 13, 0, 5, tzinfo=timezone.utc)
    assert (
        version_name("mlcycle-training", "git:3f2a9c1b7d4e-dirty", when)
        == "mlcycle-training-3f2a9c1b7d4e-dirty-20260301t130005z"
    )
    assert version_name("p", "mlcycle==0.1.0", when) == "p-mlcycle-0-1-0-20260301t130005z"
    assert re.fullmatch(r"p-unknown-\d{8}t\d{6}z", version_name("p", "", datetime.now(timezone.utc)))


def test_prepare_needs_an_http_kfp_host(tmp_path):
    with pytest.raises(UserError, match="KFP_HOST is not set"):
        prepare(DEFAULT_SPEC, None, None, "mlcycle", {})
    with pytest.raises(UserError, match="is not an http"):
        prepare(DEFAULT_SPEC, None, None, "mlcycle", {"KFP_HOST": "kfp.example:8080"})
    _write(tmp_path, "case.yaml", DEMO_CONFIG.read_text())
    submission = prepare(
        DEFAULT_SPEC,
        "seed=4",
        _write(tmp_path, "p.yaml", "use_case: '@case.yaml'\nschema: s\n"),
        "exp",
        {"KFP_HOST": "http://h:1/", "KFP_TOKEN": "t"},
    )
    assert (submission.host, submission.token, submission.namespace, submission.experiment) == (
        "http://h:1",
        "t",
        None,
        "exp",
    )
    assert submission.params == {"use_case": DEMO_CONFIG.read_text(), "schema": "s", "seed": 4}


def test_a_search_space_no_estimator_takes_is_refused_before_submitting(tmp_path):
    wrong = DEMO_CONFIG.read_text().replace("min_samples_leaf: [200]", "min_leaf: [200]")
    _write(tmp_path, "case.yaml", wrong)
    host = {"KFP_HOST": "http://h:1"}
    with pytest.raises(ConfigError, match="hist_gradient_boosting has no parameter 'min_leaf'"):
        prepare(DEFAULT_SPEC, None, _write(tmp_path, "p.yaml", "use_case: '@case.yaml'\nschema: s\n"), "exp", host)
    _write(tmp_path, "case.yaml", DEMO_CONFIG.read_text())
    with pytest.raises(ConfigError, match="training.max_trials"):  # with the run's overrides applied
        prepare(DEFAULT_SPEC, "'overrides={\"training.max_trials\": 0}'", tmp_path / "p.yaml", "exp", host)


def test_the_demo_use_case_fills_in_only_when_no_use_case_is_given(tmp_path):
    host = {"KFP_HOST": "http://h:1"}
    demo = demo_params()
    assert prepare(DEFAULT_SPEC, "seed=3", None, "exp", host).params == {**demo, "seed": 3}
    with pytest.raises(UserError, match="needs 'schema'"):  # never a user's use case with the demo's schema
        prepare(DEFAULT_SPEC, "use_case=u", None, "exp", host)
    spec = _write(
        tmp_path,
        "p.yaml",
        "pipelineInfo: {name: p}\n"
        "root: {inputDefinitions: {parameters: {use_case: {parameterType: STRING}, "
        "window: {parameterType: NUMBER_INTEGER}}}}\n",
    )
    with pytest.raises(UserError, match="pipeline p needs 'window'"):  # only the demo values it declares
        prepare(spec, None, None, "exp", host)
    assert prepare(spec, "window=3", None, "exp", host).params == {"use_case": demo["use_case"], "window": 3}


def _write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder / name
