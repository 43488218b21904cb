"""Two real processes registering the same model against the real embedded server.

The two runs hold the same model bytes and lineage but differ in their timings, as two trainings of one model do,
so their model cards differ: the version id must be the same, one run creates the version, and the files its
manifest names must still verify after the other run gave up or was interrupted.
"""

from __future__ import annotations

import re

from components.common import models
from components.common.storage import ObjectStore


def told(stdout: str) -> tuple[str, str]:
    match = re.match(r"model version (m-[0-9a-f]{16}) of 'loans' (\w+)$", stdout.strip())
    assert match, stdout
    return match.group(1), match.group(2)


def assert_nothing_published_is_lost(store: ObjectStore) -> list[models.ModelVersion]:
    versions = models.list_versions(store, "loans")
    for version in versions:
        assert models.damaged_files(store, version.manifest) == [], version.version
        ref = models.ModelRef("loans", version.version)
        card = models.read_cards(store, ref)  # downloaded and verified against the manifest
        assert card.data == {"text": card.markdown}
        store.get_bytes(store.bucket("models"), ref.model_key, expected_sha256=version.manifest["model"]["sha256"])
    return versions


def test_the_same_model_registered_at_the_same_moment_is_created_once(gated, store, tmp_path):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"the same fitted model")
    processes = [gated(name, "before-manifest", "register", "loans", str(model), f"card {name}") for name in "ab"]
    for process in processes:
        process.wait_at_gate()  # both wrote model and cards (different cards) under the same version id
    for process in processes:
        process.release("continue")
    results = [process.finish() for process in processes]
    assert [code for code, _, _ in results] == [0, 0], results
    said = sorted(told(out) for _, out, _ in results)
    [version] = assert_nothing_published_is_lost(store)
    assert said == [(version.version, "created"), (version.version, "raced")]


def test_ctrl_c_to_one_registration_after_the_other_published_loses_nothing(gated, store, tmp_path):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"the same fitted model")
    interrupted = gated("a", "before-manifest", "register", "loans", str(model), "card a")
    interrupted.wait_at_gate()
    other = gated("b", "none", "register", "loans", str(model), "card b")
    code, out, err = other.finish()
    assert code == 0, err
    interrupted.release("interrupt")
    assert interrupted.finish()[0] == 130
    [version] = assert_nothing_published_is_lost(store)
    assert told(out) == (version.version, "created")


def test_a_killed_registration_leaves_a_folder_that_the_next_one_completes(gated, store, tmp_path):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"the same fitted model")
    killed = gated("a", "before-manifest", "register", "loans", str(model), "card a")
    killed.wait_at_gate()
    killed.process.kill()  # no clean-up at all: an orphan folder without manifest
    killed.finish()
    orphans = store.list_keys(store.bucket("models"), "loans/")
    assert orphans and models.list_versions(store, "loans") == []
    again = gated("b", "none", "register", "loans", str(model), "card b")
    code, out, _ = again.finish()
    [version] = assert_nothing_published_is_lost(store)
    assert code == 0 and told(out) == (version.version, "created")
    assert {key.split("/")[1] for key in orphans} == {version.version}  # same id: the folder was reused
    repeat = gated("c", "none", "register", "loans", str(model), "card c")
    assert told(repeat.finish()[1]) == (version.version, "unchanged")
