"""``mlcycle models``: a stage writer that loses every compare-and-swap is told so in one line; stage changes
without a commit are refused on a shared store."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cli import models as models_cli
from cli.main import main
from components.common import models as common_models
from components.common.storage import ConflictError
from components.register import logic as registry


def test_a_stage_change_that_loses_every_try_says_so_in_one_line_with_exit_code_4(
    loans_config_path, monkeypatch, capsys
):
    def always_lose(*args, **kwargs):
        raise ConflictError(
            "s3://models/loans/stages.json changed under every one of 8 tries to update it",
            hint="other writers are busy with it; run again",
        )

    monkeypatch.setattr(models_cli, "store", lambda: None)
    monkeypatch.setattr(models_cli, "on_embedded_store", lambda: True)
    monkeypatch.setattr(registry, "set_stage", always_lose)
    monkeypatch.setattr(registry, "rollback_stage", always_lose)
    for command in (["stage", "m-0123456789abcdef", "--stage", "production"], ["rollback"]):
        with pytest.raises(SystemExit) as exited:
            main(["models", *command, "-c", str(loans_config_path)])
        assert exited.value.code == 4
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == (
            "error: s3://models/loans/stages.json changed under every one of 8 tries to update it "
            "(hint: other writers are busy with it; run again)\n"
        )


def test_stage_and_rollback_refuse_on_a_shared_store_naming_the_gitops_command_with_exit_code_2(
    loans_config_path, monkeypatch, capsys
):
    def must_not_run(*args, **kwargs):
        raise AssertionError("a stage moved on a shared store")

    monkeypatch.setattr(models_cli, "store", lambda: None)
    monkeypatch.setattr(models_cli, "on_embedded_store", lambda: False)
    monkeypatch.setattr(registry, "set_stage", must_not_run)
    monkeypatch.setattr(registry, "rollback_stage", must_not_run)
    for command, gitops_command in (
        (["stage", "m-0123456789abcdef", "--stage", "production"], "mlcycle promote"),
        (["rollback"], "mlcycle rollback"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(["models", *command, "-c", str(loans_config_path)])
        assert exited.value.code == 2
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.splitlines()) == 1
        assert captured.err.startswith("error: ") and f"use `{gitops_command}`" in captured.err


@pytest.mark.parametrize(
    "metrics, header, value",
    [
        ({"roc_auc": 0.71234, "pr_auc": 0.4}, "roc_auc", "0.7123"),
        ({"rmse": 35.2, "mae": 23.3, "r2": 0.06}, "rmse", "35.2000"),
    ],
    ids=["classification", "regression"],
)
def test_the_version_list_shows_the_headline_metric_of_the_task(
    loans_config_path, monkeypatch, capsys, metrics, header, value
):
    entry = SimpleNamespace(
        version="m-0123456789abcdef",
        created_at="2026-12-06T06:00:00+00:00",
        blessed=True,
        stages=("production",),
        manifest={"lineage": {"metrics": metrics, "dataset_version": "ds-1"}},
    )
    monkeypatch.setattr(models_cli, "store", lambda: None)
    monkeypatch.setattr(common_models, "list_versions", lambda store, name: [entry])
    monkeypatch.setattr(common_models, "damaged_files", lambda store, manifest: [])
    main(["models", "list", "-c", str(loans_config_path)])
    header_line, row = capsys.readouterr().out.splitlines()
    assert header_line.split()[4] == header and row.split()[3] == value
