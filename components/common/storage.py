"""The one module that talks to S3.

:class:`ObjectStore` wraps the minio SDK with what every stage needs and none should write again:

- every object is written with its sha256 in its metadata and verified when read back;
- transient faults (connection refused, timeouts, 5xx, throttling) are retried a bounded number of
  times with exponential backoff; everything else fails at once with a message naming the fix;
- downloads land in a temporary file that is renamed only when complete and verified.

Pointer semantics (a "latest" reference is written only after what it points to is complete) are
the callers' order of writes: data first, then the manifest, then the pointer. Readers treat a
version without a manifest as absent, so a crash mid-way never exposes half an object.

Documents that several processes read, change and write back (pointers, the stage index) go through
:meth:`ObjectStore.update_json`: a compare-and-swap on the object's ETag with the S3 conditional-write
headers (``If-Match``, and ``If-None-Match: *`` for creation), retried on conflict. Both stores the project
ships honour them: SeaweedFS (the embedded server; 8 writers racing 30 rounds, exactly one winner each
time, tests/integration/common/test_storage_conditional.py) and MinIO (conditional PutObject since 2024).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.versioningconfig import VersioningConfig

from components.common.arrow import pa, pq, read_parquet_table
from components.common.errors import IntegrityError, LostRaceError, NotFoundError, StorageError
from components.common.s3_settings import BUCKET_ROLES, S3Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

SHA256_METADATA = "sha256"
CHUNK_BYTES = 8 * 1024 * 1024
TRANSIENT_S3_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "OperationAborted"}
CREDENTIAL_S3_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken"}
TRANSIENT_EXCEPTIONS = (
    urllib3.exceptions.HTTPError,  # connection refused, reset, timeouts, protocol errors
    ConnectionError,
    TimeoutError,
    ServerError,  # 5xx without an S3 error document
    InvalidResponseError,
)


class AccessDeniedError(StorageError):
    """The store knows the identity but its role does not allow the operation."""


class ConflictError(LostRaceError, StorageError):
    """A conditional write lost: the object was changed, created or removed since the caller read it."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    Attributes:
        attempts: Tries in all, the first one included.
        base_delay: Seconds before the first retry; doubled for each further one.
        max_delay: Upper bound of one wait.
    """

    attempts: int = 5
    base_delay: float = 0.25
    max_delay: float = 4.0

    def delays(self) -> Iterator[float]:
        """Yields the wait before each retry."""
        for attempt in range(self.attempts - 1):
            delay = min(self.max_delay, self.base_delay * 2**attempt)
            yield delay * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class StoredObject:
    """What was written (or found): where, its digest, size, (in a versioned bucket) its version id, when."""

    bucket: str
    key: str
    sha256: str
    size: int
    version_id: str | None = None
    etag: str | None = None
    last_modified: datetime | None = None

    @property
    def uri(self) -> str:
        """Returns the object's s3:// URI."""
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ObjectVersion:
    """One version of an object, as a listing of a versioned bucket shows it."""

    key: str
    version_id: str | None
    last_modified: datetime | None
    is_latest: bool


def sha256_file(path: Path) -> str:
    """Returns the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def split_uri(uri: str) -> tuple[str, str]:
    """Splits ``s3://bucket/key`` into bucket and key.

    Raises:
        StorageError: If the URI is not of that form.
    """
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise StorageError(f"{uri!r} is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


class ObjectStore:
    """Files, JSON and DataFrames in S3, digests checked, transient faults retried.

    Args:
        client: A configured minio client.
        settings: The settings it was made from (for bucket names and messages).
        retry: How often and how patiently to retry transient faults.
    """

    def __init__(self, client: Minio, settings: S3Settings, retry: RetryPolicy = RetryPolicy()) -> None:
        self._client = client
        self.settings = settings
        self.retry = retry

    @classmethod
    def connect(cls, settings: S3Settings, retry: RetryPolicy = RetryPolicy()) -> ObjectStore:
        """Creates a store for the given settings. Makes no request until used."""
        # The SDK's own pool retries 5xx silently; retries happen here instead, bounded and logged.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5.0, read=120.0),
            retries=urllib3.Retry(total=0, connect=0, read=0, redirect=0, status=0),
            maxsize=8,
        )
        client = Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.secure,
            region=settings.region,
            http_client=http,
        )
        return cls(client, settings, retry)

    def bucket(self, role: str) -> str:
        """Returns the bucket name for a role (datasets, models, feedback, artifacts)."""
        return self.settings.bucket(role)

    # --- connection and buckets -------------------------------------------------------------

    def check(self) -> None:
        """Makes one cheap authenticated request, so a bad endpoint or key fails early and clearly."""
        self._call("list buckets", self._client.list_buckets)

    def ensure_buckets(self, roles: tuple[str, ...] = BUCKET_ROLES) -> list[str]:
        """Creates the buckets of the given roles if missing, with versioning enabled.

        A bucket that exists with versioning on is left alone, so any identity that may read it passes;
        creating a bucket or switching versioning on takes the ``admin`` role (components/common/s3_roles.py).

        Returns:
            The bucket names.
        """
        names = [self.bucket(role) for role in roles]
        for name in names:
            if self._call(f"check bucket {name}", self._client.bucket_exists, name):
                if self.versioning_enabled(name):
                    continue
            else:
                try:
                    self._call(f"create bucket {name}", self._client.make_bucket, name)
                except StorageError as error:
                    # Another process may have created it in between.
                    if "BucketAlreadyOwnedByYou" not in str(error) and "BucketAlreadyExists" not in str(error):
                        raise
            self._call(
                f"enable versioning on {name}", self._client.set_bucket_versioning, name, VersioningConfig(ENABLED)
            )
        return names

    def versioning_enabled(self, bucket: str) -> bool:
        """Returns whether versioning is on for a bucket."""
        return self._call(f"read versioning of {bucket}", self._client.get_bucket_versioning, bucket).status == ENABLED

    # --- writing ------------------------------------------------------------------------------

    def put_file(
        self, bucket: str, key: str, path: Path, content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Uploads a file with its sha256 recorded in the object's metadata."""
        digest = sha256_file(path)
        size = path.stat().st_size

        def upload() -> Any:
            return self._client.fput_object(
                bucket, key, str(path), content_type=content_type, metadata={SHA256_METADATA: digest}
            )

        result = self._call(f"upload s3://{bucket}/{key}", upload)
        return StoredObject(bucket, key, digest, size, getattr(result, "version_id", None))

    def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        if_match: str | None = None,
        if_absent: bool = False,
    ) -> StoredObject:
        """Uploads bytes with their sha256 recorded in the object's metadata.

        Args:
            bucket: The bucket.
            key: The object key.
            data: The content.
            content_type: Its media type.
            if_match: Write only if the object's current ETag is this one (a compare-and-swap).
            if_absent: Write only if no object exists under the key (create, never overwrite).

        Raises:
            ConflictError: If a condition does not hold. A retry after a lost answer that finds our own
                bytes already in place counts as success, not as a conflict.
        """
        digest = hashlib.sha256(data).hexdigest()
        tries: list[int] = []
        if if_match is None and not if_absent:

            def upload() -> Any:
                return self._client.put_object(
                    bucket,
                    key,
                    io.BytesIO(data),
                    len(data),
                    content_type=content_type,
                    metadata={SHA256_METADATA: digest},
                )

        else:
            headers = {"Content-Type": content_type, f"x-amz-meta-{SHA256_METADATA}": digest}
            headers.update({"If-Match": f'"{if_match}"'} if if_match is not None else {"If-None-Match": "*"})

            def upload() -> Any:
                # The SDK's put_object turns unknown headers into user metadata; the conditional headers must
                # reach the server as they are (minio is pinned; tests/integration/common covers this call).
                tries.append(1)
                return self._client._put_object(bucket, key, data, headers)

        try:
            try:
                result = self._call(f"upload s3://{bucket}/{key}", upload)
            except NotFoundError:
                if if_match is None:
                    raise
                # AWS answers If-Match on a key that is gone with 404 (SeaweedFS and MinIO with 412).
                raise ConflictError(f"cannot upload s3://{bucket}/{key}: it was removed since it was read") from None
        except ConflictError:
            # Only a retry can find its own earlier try's bytes; on a first try identical bytes are another
            # writer's (two identical manifests written in the same second), and the caller must hear so.
            current = self._head(bucket, key) if len(tries) > 1 else None
            if current is None or _metadata_digest(current.metadata) != digest:
                raise
            # An earlier try of this very write succeeded but its answer was lost.
            return StoredObject(bucket, key, digest, len(data), current.version_id, current.etag)
        return StoredObject(bucket, key, digest, len(data), getattr(result, "version_id", None), result.etag or None)

    def update_json(
        self, bucket: str, key: str, change: Callable[[Any | None], Any], attempts: int = 8
    ) -> tuple[Any, StoredObject]:
        """Reads, changes and writes back a JSON document with compare-and-swap, so no update is lost.

        ``change`` gets the current document (None when there is none) and returns the new one; it is called
        again on a fresh read whenever another writer got in between, so it must derive everything from its
        argument (append to a history, never rewrite it from an older read).

        Returns:
            The document written and where.

        Raises:
            ConflictError: If other writers won ``attempts`` times in a row.
        """
        delays = RetryPolicy(attempts=attempts, base_delay=0.02, max_delay=0.5).delays()
        while True:
            try:
                current, etag = self.get_json_with_etag(bucket, key)
            except NotFoundError:
                current, etag = None, None
            updated = change(current)
            data = (json.dumps(updated, indent=2, sort_keys=True, default=str) + "\n").encode()
            try:
                stored = self.put_bytes(
                    bucket, key, data, content_type="application/json", if_match=etag, if_absent=etag is None
                )
                return updated, stored
            except ConflictError:
                delay = next(delays, None)
                if delay is None:
                    raise ConflictError(
                        f"s3://{bucket}/{key} changed under every one of {attempts} tries to update it",
                        hint="other writers are busy with it; run again",
                    ) from None
                log.info("s3://%s/%s changed since it was read; reading it again in %.2fs", bucket, key, delay)
                time.sleep(delay)

    def put_json(self, bucket: str, key: str, payload: Any) -> StoredObject:
        """Uploads a JSON document (sorted keys, indented, for diffs a person can read)."""
        data = (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode()
        return self.put_bytes(bucket, key, data, content_type="application/json")

    def put_dataframe(self, bucket: str, key: str, frame: pd.DataFrame) -> StoredObject:
        """Uploads a DataFrame as Parquet."""
        with tempfile.TemporaryDirectory(prefix="mlcycle-") as folder:
            path = Path(folder) / "frame.parquet"
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
            return self.put_file(bucket, key, path, content_type="application/vnd.apache.parquet")

    # --- reading ------------------------------------------------------------------------------

    def get_file(self, bucket: str, key: str, destination: Path, expected_sha256: str | None = None) -> Path:
        """Downloads an object to a file, verifying its sha256 before the file appears.

        Args:
            bucket: The bucket.
            key: The object key.
            destination: Where the file should be; written atomically.
            expected_sha256: The digest the caller recorded (for example in a manifest). The digest
                in the object's own metadata is checked too.

        Raises:
            NotFoundError: If the object does not exist.
            IntegrityError: If the content does not match a recorded digest.
        """
        destination.parent.mkdir(parents=True, exist_ok=True)

        def download() -> tuple[str, str | None]:
            response = self._client.get_object(bucket, key)
            digest = hashlib.sha256()
            handle, partial = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
            try:
                with os.fdopen(handle, "wb") as out:
                    for block in response.stream(CHUNK_BYTES):
                        digest.update(block)
                        out.write(block)
                recorded = _metadata_digest(response.headers)
            except BaseException:
                os.unlink(partial)
                raise
            finally:
                response.close()
                response.release_conn()
            self._verify(bucket, key, digest.hexdigest(), recorded, expected_sha256, partial)
            os.replace(partial, destination)
            return digest.hexdigest(), recorded

        self._call(f"download s3://{bucket}/{key}", download)
        return destination

    def get_bytes(self, bucket: str, key: str, expected_sha256: str | None = None) -> bytes:
        """Reads an object into memory, verifying its sha256."""

        def read() -> bytes:
            response = self._client.get_object(bucket, key)
            try:
                data = response.read()
                recorded = _metadata_digest(response.headers)
            finally:
                response.close()
                response.release_conn()
            self._verify(bucket, key, hashlib.sha256(data).hexdigest(), recorded, expected_sha256)
            return data

        return self._call(f"download s3://{bucket}/{key}", read)

    def get_json(self, bucket: str, key: str, expected_sha256: str | None = None) -> Any:
        """Reads a JSON document."""
        return json.loads(self.get_bytes(bucket, key, expected_sha256))

    def get_json_with_etag(self, bucket: str, key: str) -> tuple[Any, str]:
        """Reads a JSON document and the ETag to pass as ``if_match`` when writing it back.

        Raises:
            NotFoundError: If the object does not exist.
        """

        def read() -> tuple[bytes, str]:
            response = self._client.get_object(bucket, key)
            try:
                data = response.read()
                recorded = _metadata_digest(response.headers)
                etag = response.headers.get("ETag", "").strip('"')
            finally:
                response.close()
                response.release_conn()
            self._verify(bucket, key, hashlib.sha256(data).hexdigest(), recorded, None)
            return data, etag

        data, etag = self._call(f"download s3://{bucket}/{key}", read)
        return json.loads(data), etag

    def get_dataframe(self, bucket: str, key: str, expected_sha256: str | None = None) -> pd.DataFrame:
        """Reads a Parquet object into a DataFrame."""
        with tempfile.TemporaryDirectory(prefix="mlcycle-") as folder:
            path = self.get_file(bucket, key, Path(folder) / "frame.parquet", expected_sha256)
            return read_parquet_table(path).to_pandas()

    def exists(self, bucket: str, key: str) -> bool:
        """Returns whether an object exists."""
        return self._head(bucket, key) is not None

    def _head(self, bucket: str, key: str) -> Any | None:
        """Returns an object's stat (etag, version id, metadata), or None if there is none."""
        try:
            return self._call(f"look up s3://{bucket}/{key}", self._client.stat_object, bucket, key)
        except NotFoundError:
            return None

    def list_keys(self, bucket: str, prefix: str = "", recursive: bool = True) -> list[str]:
        """Returns the keys under a prefix (folders too when not recursive), sorted."""

        def listing() -> list[str]:
            return sorted(o.object_name for o in self._client.list_objects(bucket, prefix=prefix, recursive=recursive))

        return self._call(f"list s3://{bucket}/{prefix}", listing)

    def stat(self, bucket: str, key: str) -> StoredObject | None:
        """Returns what an object's metadata says of it (sha256, size, version), or None if it does not exist.

        One HEAD request: cheap enough to check every file of a version without downloading any.
        """
        current = self._head(bucket, key)
        if current is None:
            return None
        return StoredObject(
            bucket,
            key,
            _metadata_digest(current.metadata) or "",
            current.size or 0,
            current.version_id,
            (current.etag or "").strip('"') or None,
            current.last_modified,
        )

    def create_json(self, bucket: str, key: str, payload: Any) -> StoredObject:
        """Writes a JSON document only if nothing exists under its key (a commit point such as a manifest).

        Raises:
            ConflictError: If another writer created the key first (our own earlier try does not count).
        """
        data = (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode()
        return self.put_bytes(bucket, key, data, content_type="application/json", if_absent=True)

    def list_object_versions(self, bucket: str, prefix: str = "") -> list[ObjectVersion]:
        """Returns every version of every object under a prefix (delete markers left out), sorted by key.

        Needs s3:ListBucketVersions, which only the store's superuser holds (components/common/s3_roles.py).
        """

        def listing() -> list[ObjectVersion]:
            found = self._client.list_objects(bucket, prefix=prefix, recursive=True, include_version=True)
            return sorted(
                (
                    ObjectVersion(o.object_name, o.version_id, o.last_modified, bool(o.is_latest == "true"))
                    for o in found
                    if not o.is_delete_marker
                ),
                key=lambda version: version.key,
            )

        return self._call(f"list versions under s3://{bucket}/{prefix}", listing)

    def list_current_objects(self, bucket: str, prefix: str = "") -> list[ObjectVersion]:
        """Returns the current object under each key below a prefix (no version ids), sorted by key."""

        def listing() -> list[ObjectVersion]:
            found = self._client.list_objects(bucket, prefix=prefix, recursive=True)
            return sorted(
                (ObjectVersion(o.object_name, None, o.last_modified, True) for o in found), key=lambda o: o.key
            )

        return self._call(f"list s3://{bucket}/{prefix}", listing)

    def delete(self, bucket: str, key: str, version_id: str | None = None) -> None:
        """Deletes an object, or one version of it.

        Without ``version_id``, a versioned bucket hides the object behind a delete marker. With it, exactly that
        version is removed and any other (an identical object another process wrote, say) stays.
        """
        self._call(f"delete s3://{bucket}/{key}", self._client.remove_object, bucket, key, version_id)

    def delete_quietly(self, bucket: str, objects: list[StoredObject]) -> None:
        """Best-effort removal of object versions this process wrote for a publication that did not complete.

        Only the very versions written are removed (by version id), so what another process wrote under the same
        keys stays; an object written without a version id (an unversioned store) is left alone. Failures are only
        logged: without a manifest naming them the objects are invisible to every reader anyway.
        """
        for stored in objects:
            if not stored.version_id or stored.version_id == "null":
                log.info("leaving s3://%s/%s (no version id to remove it by)", bucket, stored.key)
                continue
            try:
                self.delete(bucket, stored.key, stored.version_id)
            except AccessDeniedError:
                # Roles may not remove an object version for good (components/common/s3_roles.py): `mlcycle gc`.
                log.info("leaving s3://%s/%s: this role may not remove an object version", bucket, stored.key)
            except StorageError:
                log.warning(
                    "could not remove incomplete object s3://%s/%s (harmless: no manifest names it)", bucket, stored.key
                )

    # --- internals ----------------------------------------------------------------------------

    def _verify(
        self,
        bucket: str,
        key: str,
        actual: str,
        recorded: str | None,
        expected: str | None,
        partial: str | None = None,
    ) -> None:
        for name, want in (("recorded in its metadata", recorded), ("expected by the caller", expected)):
            if want and want != actual:
                if partial:
                    os.unlink(partial)
                raise IntegrityError(
                    f"s3://{bucket}/{key} is corrupt or was replaced: sha256 {actual[:12]}… differs from the "
                    f"{want[:12]}… {name}",
                    hint="do not use this object; write it again from its source",
                )

    def _credentials_error(self) -> str | None:
        """The error code with which the store refuses these keys themselves, or None if it knows them.

        Listing the buckets answers with an error document, so wrong keys say SignatureDoesNotMatch or
        InvalidAccessKeyId there, where a refused HEAD only says AccessDenied.
        """
        try:
            self._client.list_buckets()
        except S3Error as error:
            return error.code if error.code in CREDENTIAL_S3_CODES else None
        except TRANSIENT_EXCEPTIONS:
            return None
        return None

    def _call(self, what: str, function: Callable[..., T], *args: Any) -> T:
        """Runs one S3 operation, retrying transient faults and translating errors for people."""
        delays = self.retry.delays()
        while True:
            try:
                return function(*args)
            except S3Error as error:
                if error.code in ("NoSuchKey", "NoSuchBucket", "NoSuchVersion"):
                    raise NotFoundError(f"cannot {what}: {error.code}") from None
                # AWS answers a lost race of two conditional writes with 409 ConditionalRequestConflict.
                if error.code in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise ConflictError(
                        f"cannot {what}: another writer changed it first (PreconditionFailed)"
                    ) from None
                code = error.code
                if code == "AccessDenied":
                    # An answer without a body (HEAD) says AccessDenied for wrong keys too: ask once more.
                    code = self._credentials_error() or code
                if code == "AccessDenied":
                    raise AccessDeniedError(
                        f"S3 at {self.settings.url} denied access key {self.settings.masked_key()} the right to "
                        f"{what} (AccessDenied)",
                        hint="each role may do only its part (the role matrix: components/common/s3_roles.py); "
                        "buckets are created by the admin role (`make s3-up`, the bucket job on a cluster)",
                    ) from None
                if code in CREDENTIAL_S3_CODES:
                    raise StorageError(
                        f"S3 at {self.settings.url} refused the credentials ({code}) while trying to {what}",
                        hint="check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (locally: `make s3-up` writes them)",
                    ) from None
                if error.code not in TRANSIENT_S3_CODES:
                    raise StorageError(f"cannot {what}: {error.code}: {error.message}") from None
                failure: Exception = error
            except TRANSIENT_EXCEPTIONS as error:
                failure = error
            delay = next(delays, None)
            if delay is None:
                raise StorageError(
                    f"cannot {what}: S3 at {self.settings.url} did not answer after {self.retry.attempts} tries "
                    f"({_describe(failure)})",
                    hint="is the server running? locally: `make s3-up`; on a cluster: check AWS_ENDPOINT_URL",
                ) from None
            log.info("retrying in %.1fs: cannot %s (%s)", delay, what, _describe(failure))
            time.sleep(delay)


def _metadata_digest(headers: Any) -> str | None:
    """Returns the sha256 recorded in an object's user metadata (header names are case-insensitive)."""
    wanted = f"x-amz-meta-{SHA256_METADATA}"
    for name, value in headers.items():
        if name.lower() == wanted:
            return value
    return None


def _describe(error: Exception) -> str:
    """A short reason for a transient fault, without the SDK's long nested reprs."""
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return f"{type(reason).__name__}: {text[:120]}"
