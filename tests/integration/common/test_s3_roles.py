"""The storage roles on the real embedded server: each identity can do its part of the matrix and nothing else."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from fnmatch import fnmatchcase

import pytest
from minio import Minio
from minio.error import S3Error
from minio.versioningconfig import VersioningConfig

from components.common.errors import StorageError
from components.common.s3_roles import ACCESS, BUCKET_ACTIONS, DELETE, READ, SERVING_LOG_KEYS, WRITE
from components.common.s3_server import ServerState
from components.common.s3_settings import BUCKET_ROLES, ROLES, S3Settings
from components.common.serving_logs import FEEDBACK, REQUESTS, decode_lines, encode_lines, log_key
from components.common.storage import AccessDeniedError, ObjectStore, RetryPolicy
from components.serve.logs import s3_batch_write

_keys = itertools.count()


def as_role(s3: ServerState, store: ObjectStore, role: str) -> ObjectStore:
    """The test's buckets (made by the root identity), seen with a role's keys."""
    access_key, secret_key = s3.keys(role)
    settings = S3Settings(
        endpoint=store.settings.endpoint,
        secure=False,
        access_key=access_key,
        secret_key=secret_key,
        bucket_prefix=store.settings.bucket_prefix,
    )
    return ObjectStore.connect(settings, RetryPolicy(attempts=2, base_delay=0.05))


def client(s3: ServerState, role: str | None) -> Minio:
    """A plain S3 client with a role's keys (None: unsigned, the anonymous user), for what ObjectStore never does."""
    keys = s3.keys(role) if role else (None, None)
    return Minio(f"127.0.0.1:{s3.ports['s3']}", *keys, secure=False, region="us-east-1")


def refused(operation, *args, **kwargs) -> str:
    """The S3 error code of an operation that must fail."""
    with pytest.raises(S3Error) as error:
        operation(*args, **kwargs)
    return error.value.code


def allowed(role: str, bucket: str, word: str, key: str) -> bool:
    """What the matrix says about one operation (``*`` patterns match any characters, ``/`` included)."""
    return any(
        grant.bucket == bucket and word in grant.actions and any(fnmatchcase(key, p) for p in grant.keys)
        for grant in ACCESS[role]
    )


def lists(role: str, bucket: str) -> bool:
    """Whether the matrix lets a role list a bucket's keys (``admin`` too: checking a bucket takes it)."""
    return any(
        grant.bucket == bucket and "s3:ListBucket" in BUCKET_ACTIONS.get(word, ())
        for grant in ACCESS[role]
        for word in grant.actions
    )


def tries(operation, *args) -> bool:
    """Whether the server allowed an operation; a refusal must be AccessDenied, nothing else."""
    try:
        operation(*args)
    except AccessDeniedError:
        return False
    return True


@pytest.mark.parametrize("role", ROLES)
def test_every_role_can_do_exactly_its_part_of_the_matrix(s3, store, role):
    mine = as_role(s3, store, role)
    for bucket_role in BUCKET_ROLES:
        bucket = store.bucket(bucket_role)
        # An ordinary key, and one under serving's own prefixes of the feedback bucket.
        for key in (f"uc/thing-{next(_keys)}.bin", f"uc/requests/date=2024-01-01/{next(_keys)}.jsonl.gz"):
            store.put_bytes(bucket, key, b"by root")
            where = f"{role} on s3://{bucket}/{key}"
            assert tries(mine.get_bytes, bucket, key) == allowed(role, bucket_role, READ, key), f"read: {where}"
            assert tries(mine.list_keys, bucket, "uc/") == lists(role, bucket_role), f"list: {where}"
            wrote = tries(mine.put_bytes, bucket, key + ".new", b"by the role")
            assert wrote == allowed(role, bucket_role, WRITE, key + ".new"), f"write: {where}"
            deleted = tries(mine.delete, bucket, key)
            assert deleted == allowed(role, bucket_role, DELETE, key), f"delete: {where}"
            assert store.exists(bucket, key) is not deleted


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_only_the_admin_role_creates_buckets_or_changes_versioning(s3, store, role):
    mine = client(s3, role)
    fresh = f"{store.settings.bucket_prefix}fresh-{role.replace('-', '')}-models"
    assert refused(mine.make_bucket, fresh) == "AccessDenied"
    for bucket in (store.bucket(b) for b in BUCKET_ROLES):
        assert refused(mine.set_bucket_versioning, bucket, VersioningConfig("Suspended")) == "AccessDenied"
        assert refused(mine.remove_bucket, bucket) == "AccessDenied"
        assert store.versioning_enabled(bucket)


def test_the_admin_role_makes_versioned_buckets_and_touches_no_object(s3, store):
    admin = as_role(s3, store, "admin")
    fresh = ObjectStore.connect(
        S3Settings(
            admin.settings.endpoint, False, *s3.keys("admin"), bucket_prefix=f"{store.settings.bucket_prefix}a-"
        ),
        RetryPolicy(attempts=2, base_delay=0.05),
    )
    names = fresh.ensure_buckets()
    assert all(fresh.versioning_enabled(name) for name in names)
    store.put_bytes(store.bucket("models"), "uc/model.joblib", b"model")
    with pytest.raises(AccessDeniedError):
        admin.get_bytes(store.bucket("models"), "uc/model.joblib")
    with pytest.raises(AccessDeniedError):
        admin.put_bytes(store.bucket("datasets"), "uc/x", b"x")


def test_the_pipeline_role_passes_ensure_buckets_on_versioned_buckets_but_cannot_make_one(s3, store):
    pipeline = as_role(s3, store, "pipeline")
    assert pipeline.ensure_buckets() == [store.bucket(role) for role in BUCKET_ROLES]
    pipeline.check()  # lists the buckets: the ingest task's first request
    missing = ObjectStore.connect(
        S3Settings(
            pipeline.settings.endpoint,
            False,
            *s3.keys("pipeline"),
            bucket_prefix=f"{store.settings.bucket_prefix}none-",
        ),
        RetryPolicy(attempts=2, base_delay=0.05),
    )
    with pytest.raises(AccessDeniedError, match="create bucket .*none-datasets") as denied:
        missing.ensure_buckets(("datasets",))
    assert "admin role" in denied.value.hint and "refused the credentials" not in str(denied.value)


def test_no_role_deletes_an_object_version_for_good(s3, store):
    bucket = store.bucket("models")
    stored = store.put_bytes(bucket, "uc/1/model.joblib", b"model")
    assert stored.version_id
    for role in ROLES:
        mine = client(s3, role)
        assert refused(mine.remove_object, bucket, stored.key, version_id=stored.version_id) == "AccessDenied"
    assert store.get_bytes(bucket, stored.key) == b"model"


def test_serving_reads_models_writes_its_logs_and_nothing_else(s3, store):
    serving = as_role(s3, store, "serving")
    models, datasets, feedback = store.bucket("models"), store.bucket("datasets"), store.bucket("feedback")
    store.put_bytes(models, "shop/v1/model.joblib", b"model")
    store.put_bytes(datasets, "shop/v1/train.parquet", b"rows")
    assert serving.get_bytes(models, "shop/v1/model.joblib") == b"model"
    assert serving.list_keys(models, "shop/") == ["shop/v1/model.joblib"]
    with pytest.raises(AccessDeniedError, match="upload s3://.*datasets/shop/v2/train.parquet"):
        serving.put_bytes(datasets, "shop/v2/train.parquet", b"poisoned")
    with pytest.raises(AccessDeniedError):
        serving.get_bytes(datasets, "shop/v1/train.parquet")
    with pytest.raises(AccessDeniedError):
        serving.list_keys(datasets)
    with pytest.raises(AccessDeniedError, match="delete s3://.*models/shop/v1/model.joblib"):
        serving.delete(models, "shop/v1/model.joblib")
    with pytest.raises(AccessDeniedError):
        serving.put_bytes(models, "shop/v1/model.joblib", b"replaced")
    assert store.get_bytes(models, "shop/v1/model.joblib") == b"model"
    # The logs, through the writer the model server uses: both kinds land under the use case.
    for kind in (REQUESTS, FEEDBACK):
        s3_batch_write(serving, "shop", kind, "v1")([{"row": 0, "kind": kind}])
        (key,) = store.list_keys(feedback, f"shop/{kind}/")
        assert decode_lines(store.get_bytes(feedback, key)) == [{"row": 0, "kind": kind}]
        with pytest.raises(AccessDeniedError):
            serving.get_bytes(feedback, key)  # it writes logs, it never reads them back
        with pytest.raises(AccessDeniedError):
            serving.delete(feedback, key)
    for key in ("shop/other/x.jsonl.gz", "x.jsonl.gz", "shop/requests"):
        with pytest.raises(AccessDeniedError):
            serving.put_bytes(feedback, key, encode_lines([{"row": 0}]))
    assert SERVING_LOG_KEYS == tuple(f"*/{kind}/*" for kind in (REQUESTS, FEEDBACK))
    assert log_key("shop", REQUESTS, "v1", datetime(2024, 1, 1, tzinfo=timezone.utc)).startswith("shop/requests/")


def test_the_storage_initializer_only_reads_models(s3, store):
    initializer = as_role(s3, store, "storage-initializer")
    store.put_bytes(store.bucket("models"), "shop/v1/model.joblib", b"model")
    assert initializer.list_keys(store.bucket("models"), "shop/v1/") == ["shop/v1/model.joblib"]
    assert initializer.get_bytes(store.bucket("models"), "shop/v1/model.joblib") == b"model"
    for bucket_role in BUCKET_ROLES:
        with pytest.raises(AccessDeniedError):
            initializer.put_bytes(store.bucket(bucket_role), "shop/v1/x", b"x")
    for bucket_role in ("datasets", "feedback", "artifacts"):
        with pytest.raises(AccessDeniedError):
            initializer.list_keys(store.bucket(bucket_role))


def test_monitoring_reads_logs_models_and_datasets_and_writes_nothing(s3, store):
    monitoring = as_role(s3, store, "monitoring")
    for bucket_role in ("datasets", "models", "feedback"):
        store.put_bytes(store.bucket(bucket_role), "shop/x", b"x")
        assert monitoring.get_bytes(store.bucket(bucket_role), "shop/x") == b"x"
    for bucket_role in BUCKET_ROLES:
        for key in ("shop/y", "shop/requests/date=2024-01-01/y.jsonl.gz"):
            with pytest.raises(AccessDeniedError):
                monitoring.put_bytes(store.bucket(bucket_role), key, b"y")
    with pytest.raises(AccessDeniedError):
        monitoring.delete(store.bucket("feedback"), "shop/x")


def test_a_refusal_is_not_retried_and_is_told_apart_from_bad_keys(s3, store):
    serving = as_role(s3, store, "serving")
    serving.retry = RetryPolicy(attempts=5, base_delay=5.0)  # a retry would take seconds
    started = datetime.now(timezone.utc)
    with pytest.raises(AccessDeniedError) as denied:
        serving.put_bytes(store.bucket("datasets"), "shop/x", b"x")
    assert (datetime.now(timezone.utc) - started).total_seconds() < 2
    message = str(denied.value)
    assert "denied access key" in message and s3.keys("serving")[0] not in message  # the key is masked
    assert isinstance(denied.value, StorageError)


def test_every_role_has_its_own_keys_and_anonymous_requests_are_refused(s3, store):
    assert set(s3.roles) == set(ROLES)
    assert len({key for key, _ in s3.roles.values()} | {s3.access_key}) == len(ROLES) + 1
    store.put_bytes(store.bucket("models"), "shop/v1/model.joblib", b"model")
    anonymous = client(s3, None)
    assert refused(anonymous.get_object, store.bucket("models"), "shop/v1/model.joblib") == "AccessDenied"
    assert refused(lambda: anonymous.list_objects(store.bucket("models")).__next__()) == "AccessDenied"


def test_a_refused_head_request_tells_wrong_keys_from_a_missing_right(s3, store):
    # A HEAD answer has no body: the client only sees 403 AccessDenied, whatever the cause.
    wrong = ObjectStore.connect(
        S3Settings(
            store.settings.endpoint,
            False,
            s3.keys("pipeline")[0],
            "wrong-secret",
            bucket_prefix=store.settings.bucket_prefix,
        )
    )
    with pytest.raises(StorageError, match=r"refused the credentials \(SignatureDoesNotMatch\)") as bad_keys:
        wrong.ensure_buckets(("datasets",))
    assert not isinstance(bad_keys.value, AccessDeniedError)
    serving = as_role(s3, store, "serving")
    with pytest.raises(AccessDeniedError, match="check bucket .*datasets"):
        serving.ensure_buckets(("datasets",))
    with pytest.raises(AccessDeniedError, match="look up s3://"):
        serving.exists(store.bucket("datasets"), "shop/x")
