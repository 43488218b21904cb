"""`mlcycle loop` end to end on a third of the demo flights: real S3, real Seldon server, real git, real TFDV."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from helpers import assert_one_line_error, demo_sample, mlcycle

from components.common import datasets, models
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from components.serve.client import PREDICT_PATH, payload, post
from components.serve.local import start_server
from components.serve.schema import build_serving_schema

USE_CASE = "flights_loop"


def table_row(out: str, label: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(label + " "))
    return line[len(label) :].split()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def test_the_loop_retrains_on_feedback_and_promotes_the_new_model_by_a_commit(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MLCYCLE_STATE_DIR"] = str(tmp_path / "state")
    env["OMP_NUM_THREADS"] = "1"
    sample = demo_sample(tmp_path)
    repo = tmp_path / "state" / "loop" / "gitops"
    try:
        first = mlcycle("loop", "--source", f"flights={sample}", "--rows", "2500", env=env, timeout=600)
        assert first.returncode == 0, first.stdout + first.stderr
        out, progress = first.stdout, first.stderr

        before, after = table_row(out, "model version")
        base_dataset, new_dataset = table_row(out, "dataset version")
        assert before.startswith("m-") and after.startswith("m-") and before != after
        assert table_row(out, "decision")[0] == "retrain:" and "live roc_auc" in out
        commit = table_row(out, "promotion commit")[0]
        assert re.fullmatch(r"[0-9a-f]{40}", commit)
        assert "replay    2500/2500 rows sent, 2500 outcomes fed back" in progress

        # The Seldon server of the replay was stopped by its PID.
        pid = int(re.search(r"serve     m-\S+ at http://127\.0\.0\.1:\d+ \(pid (\d+)\)", progress).group(1))
        try:
            os.kill(pid, 0)
            raise AssertionError(f"the model server {pid} still runs")
        except ProcessLookupError:
            pass

        store = ObjectStore.connect(s3_settings(env))
        assert models.current_version(store, USE_CASE, "production") == after
        assert next(v for v in models.list_versions(store, USE_CASE) if v.version == after).blessed
        assert models.current_version(store, "flights", "production") is None  # the demo's registry untouched
        manifest = datasets.read_manifest(store, datasets.resolve(store, USE_CASE, new_dataset))
        feedback = manifest["feedback"]
        assert manifest["parent"] == base_dataset
        assert feedback["rows"] == 2500 and sum(feedback["rows_by_split"].values()) == 2500
        assert feedback["objects"] and all(len(o["sha256"]) == 64 for o in feedback["objects"])
        window = f"{feedback['window']['start']} to {feedback['window']['end']}"
        assert window in " ".join(table_row(out, "feedback in its data"))

        # The promotion is a commit of the scratch GitOps repository, with the lineage in its message.
        assert git(repo, "rev-parse", "HEAD").strip() == commit
        message = git(repo, "log", "-1", "--format=%B")
        assert message.startswith(f"Promote {USE_CASE} {after} to production")
        assert f"(was {before})" in message and f"dataset:  {new_dataset}" in message
        assert models.read_manifest(store, models.ModelRef(USE_CASE, after))["model"]["sha256"] in message
        release = (repo / "manifests/model/overlays/production/release/release.yaml").read_text()
        assert after in release and before not in release
        assert f"promotion commit {commit} in " in out

        # The promoted model, trained in the process that loaded TensorFlow, loads and answers in serving.
        rows = datasets.load_split(store, manifest, "test", tmp_path).head(2)
        config_names = build_serving_schema(_loop_config(tmp_path)).names
        with start_server(USE_CASE, "production", env=env, log_path=tmp_path / "server.log") as server:
            answer = post(server.url + PREDICT_PATH, payload(rows, config_names))
        assert answer.status == 200 and answer.body["meta"]["tags"]["model_version"] == after

        # A re-run starts again from the same base model and data, and ends with another promotion.
        second = mlcycle("loop", "--source", f"flights={sample}", "--rows", "2500", env=env, timeout=600)
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"base      model {before} (trained before on this dataset version)" in second.stderr
        assert f"base      dataset {base_dataset} (" in second.stderr and "unchanged" in second.stderr
        assert table_row(second.stdout, "model version")[0] == before
        newest = table_row(second.stdout, "model version")[1]
        assert models.current_version(store, USE_CASE, "production") == newest
        subjects = git(repo, "log", "--format=%s").splitlines()
        assert subjects[0] == f"Promote {USE_CASE} {newest} to production"
        assert subjects[1] == f"Promote {USE_CASE} {before} to production"  # back to the base model first
    finally:
        mlcycle("s3", "down", env=env)


def _loop_config(tmp_path: Path):
    from components.common.config import load_use_case

    return load_use_case(tmp_path / "state" / "loop" / "usecase.yaml")


def test_a_source_that_is_not_the_primary_or_lacks_the_months_is_one_line_and_nothing_is_trained(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MLCYCLE_STATE_DIR"] = str(tmp_path / "state")
    only_january = tmp_path / "january.csv"
    sample = demo_sample(tmp_path, every=50)
    only_january.write_text("\n".join(sample.read_text().splitlines()[:30]) + "\n")
    try:
        wrong = mlcycle("loop", "--source", "weather=/data/weather.csv", env=env)
        assert_one_line_error(wrong, "--source names 'weather', not the primary source 'flights'")
        assert not (tmp_path / "state" / "s3").exists()  # refused before the S3 server started

        short = mlcycle("loop", "--source", f"flights={only_january}", env=env)
        assert short.returncode == 2 and "Traceback" not in short.stderr
        assert (
            short.stderr.strip().splitlines()[-1].startswith("error: no rows before 2013-07-01 (29) or from 2013-09-01")
        )
        assert "base      dataset" not in short.stderr and "train     " not in short.stderr  # nothing ingested
    finally:
        mlcycle("s3", "down", env=env)
