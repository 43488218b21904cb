"""Ingestion into a real S3 server: content-addressed versions, idempotence, lineage, crash safety."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import ORDERS_CONFIG, make_loans, settings_for, write_loans_use_case

from components.common import datasets, s3_server
from components.common.config import load_use_case
from components.common.errors import NotFoundError, StorageError
from components.common.s3_server import ServerPaths
from components.common.storage import ObjectStore, RetryPolicy
from components.ingest.logic import IngestOptions, ingest_dataset

SMALL_BLOCKS = IngestOptions(block_bytes=4096)  # many chunks even for a tiny file


def all_object_versions(store: ObjectStore) -> list[tuple[str, str]]:
    client = store._client
    bucket = store.bucket("datasets")
    return sorted(
        (o.object_name, o.version_id) for o in client.list_objects(bucket, recursive=True, include_version=True)
    )


def test_ingest_writes_a_complete_version_with_manifest_and_latest_pointer(store, loans_config_path, tmp_path):
    config = load_use_case(loans_config_path)
    result = ingest_dataset(config, store, SMALL_BLOCKS)
    assert result.created
    manifest = datasets.read_manifest(store, datasets.resolve(store, "loans", "latest"))
    assert manifest == result.manifest
    loans = make_loans()
    labelled = loans["status"].notna()
    assert manifest["rows_read"] == len(loans) and manifest["rows"] == labelled.sum()
    assert manifest["rows_dropped"]["label_missing"] == (~labelled).sum()
    assert sum(s["rows"] for s in manifest["splits"].values()) == manifest["rows"]
    assert {s["name"] for s in manifest["sources"]} == {"loans", "customers"}
    assert all(len(s["sha256"]) == 64 for s in manifest["sources"])
    customers = next(s for s in manifest["sources"] if s["name"] == "customers")
    assert customers["duplicate_keys_dropped"] == customers["missing_keys_dropped"] == 0
    assert manifest["code_version"] and manifest["created_at"] and manifest["parent"] is None

    train = datasets.load_split(store, manifest, "train", tmp_path)
    assert len(train) == manifest["splits"]["train"]["rows"]
    assert (pd.to_datetime(train["opened_at"], utc=True) < pd.Timestamp("2024-07-01", tz="UTC")).all()
    assert not {"status", "paid_back_at"} & set(train.columns)
    assert set(train["defaulted"]) == {0, 1}
    # Rows are identical to a one-shot pandas computation of the same rule.
    expected = loans[labelled].copy()
    expected["defaulted"] = expected["status"].isin(["default", "charged_off"]).astype(int)
    chunked = pd.concat([datasets.load_split(store, manifest, s, tmp_path) for s in ("train", "eval", "test")])
    assert sorted(chunked["loan_id"]) == sorted(expected["loan_id"])
    assert (
        chunked.set_index("loan_id")["defaulted"].sort_index().tolist()
        == expected.set_index("loan_id")["defaulted"].sort_index().tolist()
    )


def test_identical_inputs_give_the_same_id_and_write_nothing(store, loans_config_path):
    config = load_use_case(loans_config_path)
    first = ingest_dataset(config, store, SMALL_BLOCKS)
    before = all_object_versions(store)
    again = ingest_dataset(config, store, IngestOptions(block_bytes=1 << 20))  # chunking does not change content
    assert again.ref == first.ref and again.created is False
    assert all_object_versions(store) == before


def test_changed_data_gives_a_new_version_whose_parent_is_the_previous(store, tmp_path):
    first = ingest_dataset(load_use_case(write_loans_use_case(tmp_path / "a")), store)
    second = ingest_dataset(load_use_case(write_loans_use_case(tmp_path / "b", make_loans(seed=7))), store)
    assert second.ref.version != first.ref.version
    assert second.manifest["parent"] == first.ref.version
    assert datasets.read_latest(store, "loans") == second.ref.version
    assert [m["version"] for m in datasets.list_versions(store, "loans")] == [first.ref.version, second.ref.version]
    # Re-ingesting the first inputs reuses their version and moves latest back to it.
    again = ingest_dataset(load_use_case(write_loans_use_case(tmp_path / "a")), store)
    assert again.created is False and datasets.read_latest(store, "loans") == first.ref.version


def test_multiclass_target_and_hash_split_need_only_a_config(store, tmp_path):
    config = """\
name: grades
sources:
  loans: {{uri: "{loans}"}}
  customers: {{uri: "{customers}"}}
joins:
  - {{source: customers, keys: [customer_id], columns: [region]}}
target: {{name: purpose}}
features: {{numeric: [amount, term], categorical: [region]}}
split: {{method: hash, key: [loan_id], fractions: {{train: 0.6, eval: 0.2, test: 0.2}}}}
"""
    result = ingest_dataset(load_use_case(write_loans_use_case(tmp_path, config=config)), store)
    manifest = result.manifest
    assert manifest["rows"] == manifest["rows_read"] == len(make_loans())
    test = datasets.load_split(store, manifest, "test", tmp_path)
    assert set(test["purpose"]) == {"car", "home", "study"}
    assert 0.1 < manifest["splits"]["test"]["rows"] / manifest["rows"] < 0.3


def test_s3_sources_are_read_through_the_store(store, loans_config_path):
    config = load_use_case(loans_config_path)
    bucket = store.bucket("artifacts")
    for name, spec in config.sources.items():
        store.put_file(bucket, f"raw/{name}.csv", Path(spec.uri))
    remote = config.with_source_uris({n: f"s3://{bucket}/raw/{n}.csv" for n in config.sources})
    local_result = ingest_dataset(config, store)
    remote_result = ingest_dataset(remote, store)
    # Same bytes, same settings: the same version, wherever the files came from.
    assert remote_result.ref == local_result.ref and remote_result.created is False


def test_server_stopped_mid_publication_leaves_nothing_visible(tmp_path):
    paths = ServerPaths(tmp_path / "s3")
    state = s3_server.start(paths)
    store = ObjectStore.connect(settings_for(state), RetryPolicy(attempts=2, base_delay=0.05))
    store.ensure_buckets(("datasets",))
    config = load_use_case(write_loans_use_case(tmp_path / "v1"))
    first = ingest_dataset(config, store)
    changed = load_use_case(write_loans_use_case(tmp_path / "v2", make_loans(seed=3)))

    class FailingStore(ObjectStore):
        """Stops the real server just before the manifest is written: the worst moment."""

        def create_json(self, bucket, key, payload):
            if key.endswith("manifest.json"):
                s3_server.stop(paths)
            return super().create_json(bucket, key, payload)

    failing = FailingStore(store._client, store.settings, store.retry)
    try:
        with pytest.raises(StorageError, match="did not answer"):
            ingest_dataset(changed, failing)
        # After a stop in the middle of a write, the restarted server answers InternalError for up to
        # about 5 s (measured) while its volume comes back: wait longer than the default retries would.
        patient = RetryPolicy(attempts=10, base_delay=0.5, max_delay=4.0)
        store = ObjectStore.connect(settings_for(s3_server.start(paths)), patient)
        assert datasets.read_latest(store, "loans") == first.ref.version
        assert [m["version"] for m in datasets.list_versions(store, "loans")] == [first.ref.version]
        # Data files written before the crash may remain, but without a manifest no reader reaches them.
        folders = {
            k.rstrip("/").split("/")[-1] for k in store.list_keys(store.bucket("datasets"), "loans/", recursive=False)
        }
        orphans = folders - {first.ref.version, "latest.json"}
        for orphan in orphans:
            with pytest.raises(NotFoundError, match="does not exist \\(or never completed\\)"):
                datasets.resolve(store, "loans", orphan)
        # Ingesting again completes the version.
        retried = ingest_dataset(changed, store)
        assert retried.created and datasets.read_latest(store, "loans") == retried.ref.version
        assert retried.manifest["parent"] == first.ref.version
        assert orphans <= {retried.ref.version}
    finally:
        s3_server.stop(paths)


def test_a_boolean_column_missing_in_the_first_chunk_reads_the_same_with_any_block_size(store, tmp_path):
    # Found with the chunking property: the Parquet schema came from the first rows written, where a boolean
    # (or date) column without any value is null-typed and became text; the next chunk's booleans then failed
    # as "rows ... change type between chunks", with small blocks only.
    rows = 3000
    flags = ["" if i < 2000 else ("true" if i % 3 else "false") for i in range(rows)]
    lines = ["order_id,quantity,price,channel,ordered_at,returned,vip"] + [
        f"{i},{i % 5 + 1},{10 + i % 7}.5,web,2024-01-01T00:00:00Z,{i % 2},{flag}" for i, flag in enumerate(flags)
    ]
    (tmp_path / "orders.csv").write_text("\n".join(lines) + "\n")
    config = load_use_case(
        write_text(tmp_path / "shop.yaml", ORDERS_CONFIG.replace("uri: orders.csv", f"uri: {tmp_path / 'orders.csv'}"))
    )
    small = ingest_dataset(config, store, SMALL_BLOCKS)
    whole = ingest_dataset(config, store, IngestOptions(block_bytes=1 << 20))
    assert whole.ref == small.ref and whole.created is False
    vip = pd.concat([datasets.load_split(store, small.manifest, s, tmp_path) for s in ("train", "eval", "test")])["vip"]
    assert {c["name"]: c["dtype"] for c in small.manifest["columns"]}["vip"] == "bool"
    assert vip.isna().sum() == 2000 and vip.dropna().astype(bool).sum() == sum(f == "true" for f in flags)


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
