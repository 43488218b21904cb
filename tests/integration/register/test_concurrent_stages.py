"""Stage changes from two real processes at the same instant, against the real embedded S3 server.

Each round both writers act at one agreed moment (each sleeps until it). Then every change a writer was
told it made must be in the history, the history must replay to the stages the registry records, and the
stage must hold what the last recorded change says. Before compare-and-swap, one of two simultaneous
changes was lost in nearly every round while both writers were told they had succeeded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from components.common import models
from components.register import logic as registry

REPO = Path(__file__).resolve().parents[3]
WRITER = Path(__file__).with_name("stage_writer.py")
USE_CASE = "loans"
ROUNDS = 8


class Writer:
    """One stage-writer process (stage_writer.py), driven a command at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WRITER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**env, "PYTHONPATH": str(REPO)},
        )
        assert self.process.stdout.readline().strip() == "ready"

    def send(self, command: dict) -> None:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def answer(self) -> dict:
        line = self.process.stdout.readline()
        assert line, "the writer process died"
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def writers(s3_env) -> Iterator[tuple[Writer, Writer]]:
    pair = (Writer(s3_env), Writer(s3_env))
    yield pair
    for writer in pair:
        writer.close()


@pytest.fixture
def versions(store, tmp_path) -> list[str]:
    """Four blessed versions of the use case."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 2))
    labels = (features[:, 0] > 0).astype(int)
    registered = []
    for C in (0.1, 0.2, 0.3, 0.4):
        path = tmp_path / f"model-{C}.joblib"
        joblib.dump(LogisticRegression(C=C).fit(features, labels), path)
        lineage = {"dataset_version": "ds-0123456789abcdef", "parameters": {"C": C}}
        result = registry.register_model(
            store, USE_CASE, path, lineage=lineage, blessed=True, card_markdown="# card\n", card={}
        )
        registered.append(result.ref.version)
    return registered


def at_once(writers: tuple[Writer, Writer], commands: tuple[dict, dict]) -> list[dict]:
    """Has both writers run their command at the same moment; returns their answers."""
    moment = time.time() + 0.3
    for writer, command in zip(writers, commands, strict=True):
        writer.send({"at": moment, "use_case": USE_CASE, **command})
    return [writer.answer() for writer in writers]


def untold(store, answers: list[dict], before: int) -> list[dict]:
    """The changes writers were told they made that the history does not hold (lost updates)."""
    stages = models.read_stages(store, USE_CASE)  # parse_stages replays and checks the whole history
    appended = [change.__dict__ for change in stages.history[before:]]
    return [a["change"] for a in answers if a["ok"] and a["change"] is not None and a["change"] not in appended]


def history_length(store) -> int:
    return len(models.read_stages(store, USE_CASE).history)


def test_two_processes_setting_production_at_once_both_land(store, writers, versions):
    lost, wrong = 0, []
    for round_ in range(ROUNDS):
        registry.set_stage(store, USE_CASE, "production", versions[0], reason="baseline")
        before = history_length(store)
        mine, theirs = versions[1 + round_ % 3], versions[1 + (round_ + 1) % 3]
        answers = at_once(
            writers,
            (
                {"action": "set", "stage": "production", "version": mine},
                {"action": "set", "stage": "production", "version": theirs},
            ),
        )
        assert all(a["ok"] for a in answers), answers
        lost += len(untold(store, answers, before))
        stages = models.read_stages(store, USE_CASE)
        new = stages.history[before:]
        # Each change starts from what the stage held when it was written; the stage holds the last one.
        if [c.previous for c in new] != [versions[0], new[0].version]:
            wrong.append(new)
        if stages.current("production") != new[-1].version:
            wrong.append(stages.current("production"))
    assert (lost, wrong) == (0, []), f"{lost} lost stage updates in {ROUNDS} rounds"


def test_production_and_staging_set_at_once_both_hold(store, writers, versions):
    lost, wrong = 0, []
    for round_ in range(ROUNDS):
        production, staging = versions[round_ % 4], versions[(round_ + 1) % 4]
        before = history_length(store)
        answers = at_once(
            writers,
            (
                {"action": "set", "stage": "production", "version": production},
                {"action": "set", "stage": "staging", "version": staging},
            ),
        )
        assert all(a["ok"] for a in answers), answers
        lost += len(untold(store, answers, before))
        stages = models.read_stages(store, USE_CASE)
        if (stages.current("production"), stages.current("staging")) != (production, staging):
            wrong.append(stages.to_json()["stages"])
    assert (lost, wrong) == (0, []), f"{lost} lost stage updates in {ROUNDS} rounds"


def test_two_rollbacks_at_once_walk_back_two_steps(store, writers, versions):
    lost, wrong = 0, []
    for _ in range(ROUNDS):
        for version in versions[1:]:
            registry.set_stage(store, USE_CASE, "production", version)
        before = history_length(store)
        answers = at_once(writers, ({"action": "rollback", "stage": "production"},) * 2)
        assert all(a["ok"] for a in answers), answers
        lost += len(untold(store, answers, before))
        new = models.read_stages(store, USE_CASE).history[before:]
        # Each rollback undid the most recent change of the index it wrote to.
        expected = [("rollback", versions[3], versions[2]), ("rollback", versions[2], versions[1])]
        if [(c.action, c.previous, c.version) for c in new] != expected:
            wrong.append(new)
    assert (lost, wrong) == (0, []), f"{lost} lost rollbacks in {ROUNDS} rounds"
