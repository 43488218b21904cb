"""``mlcycle models``: a stage writer that loses every compare-and-swap is told so in one line; stage changes
without a commit are refused on a shared store."""

from __future__ import annotations

import pytest

from cli import models as models_cli
from cli.main import main
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
