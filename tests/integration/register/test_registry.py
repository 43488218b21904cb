"""The model registry on a real S3 server: versions, idempotence, crash safety, integrity, stages."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from components.common import models
from components.common.errors import IntegrityError, NotFoundError, StorageError, UserError
from components.common.models import StageError
from components.common.storage import ObjectStore, sha256_file
from components.register import logic as registry

CARD_MARKDOWN = "# loans model\n\nPredicts whether a loan defaults.\n"


def lineage(dataset: str = "ds-0123456789abcdef", C: float = 1.0, auc: float = 0.81, **extra) -> dict:
    return {
        "dataset_version": dataset,
        "schema_digest": "b" * 64,
        "model_family": "logistic_regression",
        "parameters": {"C": C, "max_iter": 100},
        "metrics": {"eval": {"roc_auc": auc}},
        "blessing": {"blessed": True, "reasons": [f"roc_auc {auc} >= 0.75"]},
        **extra,
    }


@pytest.fixture(scope="module")
def training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 3))
    return features, (features[:, 0] + 0.5 * features[:, 1] > 0).astype(int)


@pytest.fixture
def model_path(tmp_path: Path, training_data) -> Path:
    """A tiny fitted scikit-learn pipeline, saved as a registration would receive it."""
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(*training_data)
    path = tmp_path / "trained" / "model.joblib"
    path.parent.mkdir()
    joblib.dump(pipeline, path)
    return path


def register(store: ObjectStore, path: Path, blessed: bool = True, card: dict | None = None, **lineage_changes):
    return registry.register_model(
        store,
        "loans",
        path,
        lineage=lineage(**lineage_changes),
        blessed=blessed,
        card_markdown=CARD_MARKDOWN,
        card=card if card is not None else {"name": "loans", "intended_use": "tests"},
    )


def object_versions(store: ObjectStore) -> list[tuple[str, str]]:
    bucket = store.bucket("models")
    listing = store._client.list_objects(bucket, recursive=True, include_version=True)
    return sorted((o.object_name, o.version_id) for o in listing)


# --- registering -----------------------------------------------------------------------------


def test_register_writes_model_cards_and_manifest_under_the_version(store, model_path, tmp_path):
    result = register(store, model_path)
    ref, manifest = result.ref, result.manifest
    assert result.created
    assert ref.version == registry.model_version_id(sha256_file(model_path), lineage())
    bucket = store.bucket("models")
    assert store.list_keys(bucket, "loans/") == sorted(
        f"loans/{ref.version}/{name}" for name in ("manifest.json", "model.joblib", "model_card.md", "model_card.json")
    )
    assert store.get_json(bucket, ref.manifest_key) == manifest == models.read_manifest(store, ref)
    assert manifest["format_version"] == 1 and manifest["kind"] == "model"
    assert (manifest["use_case"], manifest["version"]) == ("loans", ref.version)
    size = model_path.stat().st_size
    assert manifest["model"] == {"key": ref.model_key, "sha256": sha256_file(model_path), "bytes": size}
    assert manifest["lineage"] == lineage() and manifest["blessed"] is True
    assert manifest["code_version"] and datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert manifest["location"] == f"s3://{bucket}/loans/{ref.version}/"
    # The stored model is the caller's file, byte for byte; the cards are what the caller gave.
    assert store.get_bytes(bucket, ref.model_key) == model_path.read_bytes()
    cards = models.read_cards(store, ref)
    assert cards.markdown == CARD_MARKDOWN and cards.data == {"name": "loans", "intended_use": "tests"}
    for form, key in (("markdown", ref.card_markdown_key), ("json", ref.card_json_key)):
        local = tmp_path / f"card-{form}"
        store.get_file(bucket, key, local)
        assert manifest["cards"][form]["sha256"] == sha256_file(local)
    assert models.resolve(store, "loans") == ref


def test_registering_identical_content_again_returns_it_and_writes_nothing(store, model_path):
    first = register(store, model_path)
    before = object_versions(store)
    # Cards are documentation of the same content: another rendering of them is not another model.
    again = register(store, model_path, card={"name": "loans", "rendered": "later"})
    assert (again.ref, again.created, again.manifest) == (first.ref, False, first.manifest)
    assert object_versions(store) == before
    with pytest.raises(UserError, match=f"model version {first.ref.version} of 'loans' exists with blessed=True"):
        register(store, model_path, blessed=False)
    assert object_versions(store) == before
    # Any change of lineage is another version.
    assert register(store, model_path, dataset="ds-fedcba9876543210").ref != first.ref


def test_manifest_is_written_last(store, model_path):
    written: list[str] = []

    class Recording(ObjectStore):
        def put_file(self, bucket, key, path, content_type="application/octet-stream"):
            written.append(key)
            return super().put_file(bucket, key, path, content_type)

        def put_bytes(self, bucket, key, data, content_type="application/octet-stream", **conditions):
            written.append(key)
            return super().put_bytes(bucket, key, data, content_type, **conditions)

    result = register(Recording(store._client, store.settings, store.retry), model_path)
    assert written[-1] == result.ref.manifest_key
    assert set(written[:-1]) == {result.ref.model_key, result.ref.card_markdown_key, result.ref.card_json_key}


def test_a_crash_before_the_manifest_leaves_nothing_visible(store, model_path, tmp_path):
    class Crashing(ObjectStore):
        """Dies just before the manifest, and cannot clean up: the worst moment."""

        def create_json(self, bucket, key, payload):
            if key.endswith("manifest.json"):
                raise StorageError("S3 went away")
            return super().create_json(bucket, key, payload)

        def delete(self, bucket, key, version_id=None):
            raise StorageError("S3 went away")

    with pytest.raises(StorageError, match="S3 went away"):
        register(Crashing(store._client, store.settings, store.retry), model_path)
    version = registry.model_version_id(sha256_file(model_path), lineage())
    # The model and cards are there, but without a manifest no reader reaches them.
    assert len(store.list_keys(store.bucket("models"), f"loans/{version}/")) == 3
    assert models.list_versions(store, "loans") == []
    with pytest.raises(NotFoundError, match=f"model version {version} of 'loans' does not exist \\(or never completed"):
        models.resolve(store, "loans", version)
    with pytest.raises(NotFoundError, match="use case 'loans' has no model version yet"):
        models.resolve(store, "loans", "latest")
    with pytest.raises(NotFoundError, match="never completed"):
        models.load_model(store, "loans", version, tmp_path / "work")
    with pytest.raises(NotFoundError, match="never completed"):
        registry.set_stage(store, "loans", "staging", version)
    # Registering again completes the version.
    retried = register(store, model_path)
    assert retried.created and retried.ref.version == version
    assert [v.version for v in models.list_versions(store, "loans")] == [version]


def test_a_failed_registration_removes_what_it_wrote_when_it_can(store, model_path):
    class Failing(ObjectStore):
        def create_json(self, bucket, key, payload):
            if key.endswith("manifest.json"):
                raise StorageError("S3 went away")
            return super().create_json(bucket, key, payload)

    with pytest.raises(StorageError):
        register(Failing(store._client, store.settings, store.retry), model_path)
    assert store.list_keys(store.bucket("models"), "loans/") == []


def test_a_missing_model_file_or_bad_use_case_is_refused(store, tmp_path, model_path):
    with pytest.raises(UserError, match="model file .*absent.joblib does not exist"):
        register(store, tmp_path / "absent.joblib")
    with pytest.raises(UserError, match="'a/b' is not a usable use case name"):
        registry.register_model(store, "a/b", model_path, lineage={}, blessed=True, card_markdown="", card={})


# --- loading ---------------------------------------------------------------------------------


def test_load_model_returns_the_registered_pipeline(store, model_path, training_data, tmp_path):
    original = joblib.load(model_path)
    result = register(store, model_path)
    registry.set_stage(store, "loans", "production", result.ref.version, reason="first model")
    for reference in (result.ref.version, "latest", "production"):
        loaded = models.load_model(store, "loans", reference, tmp_path / "work")
        np.testing.assert_array_equal(loaded.predict_proba(training_data[0]), original.predict_proba(training_data[0]))


class Armed:
    """A pickle that creates a file when it is loaded: what a malicious model file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def armed_bytes(tmp_path: Path) -> tuple[bytes, Path]:
    """Returns a pickle that creates a marker file when loaded, after proving that it does."""
    marker = tmp_path / "unpickled.marker"
    path = tmp_path / "armed.joblib"
    joblib.dump(Armed(marker), path)
    joblib.load(path).close()
    assert marker.exists(), "the payload must be live for the tests using it to mean anything"
    marker.unlink()
    return path.read_bytes(), marker


@pytest.mark.parametrize("forged", ["none", "manifest digest", "digest of the new bytes"])
def test_a_replaced_model_file_is_refused_before_it_is_unpickled(store, model_path, tmp_path, forged):
    result = register(store, model_path)
    recorded = result.manifest["model"]["sha256"]
    data, marker = armed_bytes(tmp_path)
    metadata = {
        "none": None,
        "manifest digest": {"sha256": recorded},
        "digest of the new bytes": {"sha256": hashlib.sha256(data).hexdigest()},
    }[forged]
    bucket = store.bucket("models")
    store._client.put_object(bucket, result.ref.model_key, io.BytesIO(data), len(data), metadata=metadata)
    work = tmp_path / "work"
    altered = f"model version {result.ref.version} of 'loans'\\) was altered after registration and must not be loaded"
    with pytest.raises(IntegrityError, match=altered):
        models.load_model(store, "loans", result.ref.version, work)
    assert not marker.exists()
    assert not work.exists() or list(work.iterdir()) == []


def test_the_manifest_check_holds_even_if_the_storage_layer_verified_nothing(store, model_path, tmp_path):
    """A storage layer that trusts whatever it downloads still cannot get a replaced model unpickled."""

    class Trusting(ObjectStore):
        def get_file(self, bucket, key, destination, expected_sha256=None):
            response = self._client.get_object(bucket, key)
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(response.read())
            finally:
                response.close()
                response.release_conn()
            return destination

    result = register(store, model_path)
    data, marker = armed_bytes(tmp_path)
    store._client.put_object(store.bucket("models"), result.ref.model_key, io.BytesIO(data), len(data))
    work = tmp_path / "work"
    trusting = Trusting(store._client, store.settings, store.retry)
    with pytest.raises(IntegrityError, match="altered after registration and must not be loaded: sha256 .* manifest"):
        models.load_model(trusting, "loans", result.ref.version, work)
    assert not marker.exists() and list(work.iterdir()) == []


# --- stages ----------------------------------------------------------------------------------


def test_stages_are_set_read_promoted_and_rolled_back(store, model_path):
    first = register(store, model_path).ref.version
    second = register(store, model_path, C=0.5, auc=0.84).ref.version
    assert models.current_version(store, "loans", "production") is None

    change = registry.set_stage(store, "loans", "staging", first, reason="candidate")
    assert (change.stage, change.version, change.previous, change.action) == ("staging", first, None, "set")
    registry.set_stage(store, "loans", "production", "staging", reason="promote what staging holds")
    registry.set_stage(store, "loans", "staging", second)
    assert models.current_version(store, "loans", "staging") == second
    assert models.current_version(store, "loans", "production") == first
    assert models.resolve(store, "loans", "production").version == first

    # Setting what a stage holds already writes nothing.
    before = object_versions(store)
    assert registry.set_stage(store, "loans", "staging", second) is None
    assert object_versions(store) == before

    registry.set_stage(store, "loans", "production", second, reason="better auc")
    back = registry.rollback_stage(store, "loans", "production", reason="latency regression")
    assert (back.version, back.previous, back.action) == (first, second, "rollback")
    assert models.current_version(store, "loans", "production") == first
    with pytest.raises(StageError, match=f"cannot roll back production of 'loans': it holds only {first} and no"):
        registry.rollback_stage(store, "loans", "production")

    # One object holds the current stages and the whole history.
    document = store.get_json(store.bucket("models"), "loans/stages.json")
    assert document["stages"] == {"staging": second, "production": first}
    assert [(h["stage"], h["version"], h["previous"], h["action"], h["reason"]) for h in document["history"]] == [
        ("staging", first, None, "set", "candidate"),
        ("production", first, None, "set", "promote what staging holds"),
        ("staging", second, first, "set", ""),
        ("production", second, first, "set", "better auc"),
        ("production", first, second, "rollback", "latency regression"),
    ]
    assert all(datetime.fromisoformat(h["at"]) for h in document["history"])


def test_unblessed_unknown_and_malformed_references_are_refused(store, model_path):
    unblessed = register(store, model_path, blessed=False, auc=0.6).ref.version
    with pytest.raises(StageError, match=f"{unblessed} of 'loans' is not blessed, so it cannot go to production"):
        registry.set_stage(store, "loans", "production", unblessed)
    with pytest.raises(StageError, match="needs a reason"):
        registry.set_stage(store, "loans", "staging", unblessed, force=True)
    assert not store.exists(store.bucket("models"), "loans/stages.json")

    forced = registry.set_stage(store, "loans", "staging", unblessed, reason="shadow test of a weak model", force=True)
    assert forced.forced and models.current_version(store, "loans", "staging") == unblessed

    with pytest.raises(NotFoundError, match="model version m-0000000000000000 of 'loans' does not exist"):
        registry.set_stage(store, "loans", "production", "m-0000000000000000")
    with pytest.raises(UserError, match="'v1' is not a model version reference.*latest, staging, production"):
        registry.set_stage(store, "loans", "production", "v1")
    with pytest.raises(StageError, match="unknown stage 'prod'"):
        registry.set_stage(store, "loans", "prod", unblessed)
    with pytest.raises(NotFoundError, match="no model version of 'loans' is in production"):
        models.resolve(store, "loans", "production")
    with pytest.raises(NotFoundError, match="no model version of 'loans' is in production"):
        models.load_model(store, "loans", "production", Path("unused"))


def test_a_corrupted_stages_index_is_refused(store, model_path):
    version = register(store, model_path).ref.version
    registry.set_stage(store, "loans", "production", version)
    document = store.get_json(store.bucket("models"), "loans/stages.json")
    document["stages"]["production"] = "m-0000000000000000"
    store.put_json(store.bucket("models"), "loans/stages.json", document)
    with pytest.raises(IntegrityError, match="stages.json of 'loans' records .* but its history gives"):
        models.current_version(store, "loans", "production")


# --- listing and comparing -------------------------------------------------------------------


def test_versions_are_listed_oldest_first_with_their_stages(store, model_path):
    versions = [register(store, model_path, C=c).ref.version for c in (1.0, 0.5, 2.0)]
    # An incomplete version is not listed, and re-registering an old one does not move it.
    store.put_bytes(store.bucket("models"), "loans/m-00000000000000ff/model.joblib", b"half")
    assert register(store, model_path, C=1.0).created is False
    registry.set_stage(store, "loans", "production", versions[0])
    registry.set_stage(store, "loans", "staging", versions[0])
    registry.set_stage(store, "loans", "staging", versions[2])

    listed = models.list_versions(store, "loans")
    assert [v.version for v in listed] == versions
    assert [v.stages for v in listed] == [("production",), (), ("staging",)]
    assert [v.created_at for v in listed] == sorted(v.created_at for v in listed)
    assert all(v.blessed and v.manifest["version"] == v.version for v in listed)
    assert models.resolve(store, "loans", "latest").version == versions[2]
    # Use cases are apart.
    assert models.list_versions(store, "flights") == []


def test_compare_versions_shows_metric_parameter_and_dataset_differences(store, model_path):
    old = register(store, model_path).ref.version
    new = register(store, model_path, dataset="ds-fedcba9876543210", C=0.5, auc=0.86).ref.version
    registry.set_stage(store, "loans", "production", old)
    comparison = registry.compare_versions(store, "loans", "production", new)
    assert (comparison.left, comparison.right, comparison.same_model) == (old, new, True)
    [auc] = comparison.metrics
    assert (auc.name, auc.left, auc.right) == ("eval.roc_auc", 0.81, 0.86)
    assert auc.difference == pytest.approx(0.05)
    assert [(c.key, c.left, c.right) for c in comparison.parameters] == [("C", 1.0, 0.5)]
    assert ("dataset_version", "ds-0123456789abcdef", "ds-fedcba9876543210") in [
        (c.key, c.left, c.right) for c in comparison.lineage
    ]
    assert json.loads(json.dumps(comparison.to_json()))["right"] == new
