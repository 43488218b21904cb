"""Who may do what in the object store: one identity per role, each with the least it needs.

The role matrix (role x bucket x actions; ``write`` includes multipart uploads, no role may delete an
object version for good or change a bucket's settings except ``admin``'s versioning)::

    role                 datasets             models               feedback                          artifacts
    admin                create, versioning   create, versioning   create, versioning                create, versioning
    pipeline             read, write, delete  read, write, delete  read                              read, write, delete
    serving              -                    read                 write */requests/*, */feedback/*  -
    monitoring           read                 read                 read                              -
    storage-initializer  -                    read                 -                                 -

- ``pipeline``: the training and retraining tasks (and the local CLI): datasets, models and artifacts,
  and the feedback that retraining ingests.
- ``serving``: the model container: loads its model, writes request logs and feedback under
  ``<use_case>/requests/`` and ``<use_case>/feedback/`` (components/common/serving_logs.py), reads no log back.
- ``monitoring``: the monitoring task and the promotion proposal: logs, the registry and the training
  statistics of the dataset version a model was trained on. It writes nothing.
- ``storage-initializer``: Seldon's rclone init container, which copies the model folder.
- ``admin``: bucket creation and versioning only (``mlcycle s3 up``, the bucket job); no object access.

Besides the roles every store has a superuser that no mlcycle process uses: MinIO's root user (the
server and the bucket job, which creates the users) and the embedded server's root identity (tests
set up fixtures with it).

:data:`ACCESS` is the matrix as data. From it come AWS-style policy documents
(:func:`policy_document`) that MinIO takes as they are (manifests/object-store/base/policies/, one per
role, attached by the bucket job) and SeaweedFS takes inside its identities configuration
(:func:`seaweedfs_config`: the embedded server of local runs, and the SeaweedFS overlay on a cluster).

Run ``python -m components.common.s3_roles policies DIR`` to write the MinIO policies,
``... seaweedfs-config CREDENTIALS_FILE`` to print a SeaweedFS configuration (it holds keys: pipe it
into a Secret, never into a file in the repository), ``... matrix`` to print the table in Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.common.s3_settings import BUCKET_ROLES, ROLES, read_env_file

READ, WRITE, DELETE, CREATE, VERSIONING = "read", "write", "delete", "create", "versioning"

# What each word of the matrix allows, on the bucket itself and on its objects (AWS action names, which
# MinIO and SeaweedFS both evaluate). Reading a bucket includes listing it and reading whether it is
# versioned (ObjectStore.ensure_buckets checks that before it would need the admin).
BUCKET_ACTIONS: dict[str, tuple[str, ...]] = {
    READ: ("s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucket"),
    CREATE: ("s3:CreateBucket", "s3:GetBucketLocation", "s3:ListBucket"),
    VERSIONING: ("s3:GetBucketVersioning", "s3:PutBucketVersioning"),
}
OBJECT_ACTIONS: dict[str, tuple[str, ...]] = {
    READ: ("s3:GetObject",),
    WRITE: ("s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:PutObject"),
    DELETE: ("s3:DeleteObject",),
}
LIST_ALL_BUCKETS = "s3:ListAllMyBuckets"
ROOT_IDENTITY = "root"


@dataclass(frozen=True)
class Grant:
    """What one role may do in one bucket.

    Attributes:
        bucket: The bucket's role (datasets, models, feedback, artifacts).
        actions: Words of the matrix: read, write, delete, create, versioning.
        keys: Key patterns the object actions apply to (``*`` matches ``/`` too); all keys by default.
    """

    bucket: str
    actions: tuple[str, ...]
    keys: tuple[str, ...] = ("*",)


# Serving's own prefixes of the feedback bucket: the key layout of components/common/serving_logs.py.
SERVING_LOG_KEYS = ("*/requests/*", "*/feedback/*")

ACCESS: dict[str, tuple[Grant, ...]] = {
    "admin": tuple(Grant(bucket, (CREATE, VERSIONING)) for bucket in BUCKET_ROLES),
    "pipeline": (
        Grant("datasets", (READ, WRITE, DELETE)),
        Grant("models", (READ, WRITE, DELETE)),
        Grant("feedback", (READ,)),
        Grant("artifacts", (READ, WRITE, DELETE)),
    ),
    "serving": (Grant("models", (READ,)), Grant("feedback", (WRITE,), SERVING_LOG_KEYS)),
    "monitoring": (Grant("datasets", (READ,)), Grant("models", (READ,)), Grant("feedback", (READ,))),
    "storage-initializer": (Grant("models", (READ,)),),
}
# Roles that list the buckets (ObjectStore.check, the bucket job's readiness probe).
LISTS_BUCKETS = frozenset({"admin", "pipeline"})


def policy_name(role: str) -> str:
    """The name of a role's policy and (on SeaweedFS) identity: ``mlcycle-<role>``."""
    return f"mlcycle-{role}"


def policy_document(role: str, bucket_prefix: str = "") -> dict[str, Any]:
    """The AWS-style policy of a role.

    Args:
        role: One of :data:`~components.common.s3_settings.ROLES`.
        bucket_prefix: Put before every bucket name (MLCYCLE_BUCKET_PREFIX); ``*`` grants the role's
            buckets under any prefix (the embedded server, shared by tests that isolate themselves by prefix).

    Raises:
        KeyError: If the role is unknown.
    """
    statements: list[dict[str, Any]] = []
    if role in LISTS_BUCKETS:
        statements.append(_allow([LIST_ALL_BUCKETS], ["arn:aws:s3:::*"]))
    for grant in ACCESS[role]:
        bucket = f"arn:aws:s3:::{bucket_prefix}{grant.bucket}"
        on_bucket = sorted({action for word in grant.actions for action in BUCKET_ACTIONS.get(word, ())})
        on_objects = sorted({action for word in grant.actions for action in OBJECT_ACTIONS.get(word, ())})
        if on_bucket:
            statements.append(_allow(on_bucket, [bucket]))
        if on_objects:
            statements.append(_allow(on_objects, [f"{bucket}/{key}" for key in grant.keys]))
    return {"Version": "2012-10-17", "Statement": statements}


def seaweedfs_config(
    credentials: Mapping[str, tuple[str, str]], root: tuple[str, str] | None = None, bucket_prefix: str = ""
) -> dict[str, Any]:
    """The identities configuration of a SeaweedFS S3 gateway (its ``-s3.config`` file).

    Every role is an identity with its policy attached (SeaweedFS then evaluates the policy's actions,
    so PutObject and DeleteObject stay apart); the root identity, when given, is SeaweedFS's ``Admin``.

    Args:
        credentials: (access key, secret key) by role; every role of ACCESS must be present.
        root: The superuser's keys, or None for none.
        bucket_prefix: See :func:`policy_document`.

    Raises:
        ValueError: If a role has no credentials.
    """
    missing = [role for role in ROLES if role not in credentials]
    if missing:
        raise ValueError(f"no credentials for the role(s) {', '.join(missing)}")
    identities = []
    if root is not None:
        identities.append({"name": ROOT_IDENTITY, "credentials": [_key(*root)], "actions": ["Admin"]})
    for role in ROLES:
        identities.append(
            {"name": policy_name(role), "credentials": [_key(*credentials[role])], "policyNames": [policy_name(role)]}
        )
    policies = [
        {"name": policy_name(role), "content": json.dumps(policy_document(role, bucket_prefix), sort_keys=True)}
        for role in ROLES
    ]
    return {"identities": identities, "policies": policies}


def role_variables(role: str) -> tuple[str, str]:
    """The names of a role's keys in the cluster credentials file, e.g. ``PIPELINE_ACCESS_KEY_ID``."""
    stem = role.upper().replace("-", "_")
    return f"{stem}_ACCESS_KEY_ID", f"{stem}_SECRET_ACCESS_KEY"


def credentials_from_env_file(values: Mapping[str, str]) -> tuple[tuple[str, str], dict[str, tuple[str, str]]]:
    """Reads the root's and every role's keys from the cluster credentials file's ``KEY=value`` pairs.

    The root's are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; a role's are named by :func:`role_variables`.

    Raises:
        ValueError: If a key is missing.
    """
    wanted = [("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), *(role_variables(role) for role in ROLES)]
    missing = [name for pair in wanted for name in pair if not values.get(name)]
    if missing:
        raise ValueError(f"the credentials file lacks {', '.join(missing)}")
    root = (values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"])
    return root, {role: (values[key], values[secret]) for role in ROLES for key, secret in [role_variables(role)]}


def matrix_markdown() -> str:
    """The role matrix in Markdown with what its words allow (manifests/README.md carries it; a test compares)."""
    lines = [f"| role | {' | '.join(BUCKET_ROLES)} |", "|" + " --- |" * (len(BUCKET_ROLES) + 1)]
    for role in ROLES:
        cells = []
        for bucket in BUCKET_ROLES:
            grants = [grant for grant in ACCESS[role] if grant.bucket == bucket]
            cells.append("; ".join(_describe(grant) for grant in grants) or "-")
        lines.append(f"| `{role}` | {' | '.join(cells)} |")
    lines.append("")
    for word in (READ, WRITE, DELETE, CREATE, VERSIONING):
        parts = [
            f"{', '.join(table[word])} on {where}"
            for table, where in ((OBJECT_ACTIONS, "its objects"), (BUCKET_ACTIONS, "the bucket"))
            if word in table
        ]
        lines.append(f"- `{word}`: {'; '.join(parts)}")
    lines.append(f"- `admin` and `pipeline` may also list the buckets ({LIST_ALL_BUCKETS}).")
    return "\n".join(lines) + "\n"


def write_policies(folder: Path, bucket_prefix: str = "") -> list[Path]:
    """Writes one ``<role>.json`` policy per role (what the MinIO bucket job attaches); returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for role in ROLES:
        path = folder / f"{role}.json"
        path.write_text(json.dumps(policy_document(role, bucket_prefix), indent=2) + "\n")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m components.common.s3_roles", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    policies = commands.add_parser("policies", help="write the MinIO policy of every role into a folder")
    policies.add_argument("folder", type=Path)
    seaweedfs = commands.add_parser("seaweedfs-config", help="print a SeaweedFS identities configuration")
    seaweedfs.add_argument("credentials", type=Path, help="the KEY=value credentials file (0600)")
    commands.add_parser("matrix", help="print the role matrix in Markdown")
    args = parser.parse_args(argv)
    if args.command == "policies":
        for path in write_policies(args.folder):
            print(path)
    elif args.command == "seaweedfs-config":
        try:
            root, roles = credentials_from_env_file(read_env_file(args.credentials))
        except ValueError as error:
            print(f"error: {error} (hint: hack/deploy.sh generates them)", file=sys.stderr)
            return 2
        json.dump(seaweedfs_config(roles, root), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(matrix_markdown())
    return 0


def _allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def _key(access_key: str, secret_key: str) -> dict[str, str]:
    return {"accessKey": access_key, "secretKey": secret_key}


def _describe(grant: Grant) -> str:
    words = ", ".join(grant.actions)
    return words if grant.keys == ("*",) else f"{words} {', '.join(f'`{key}`' for key in grant.keys)}"


if __name__ == "__main__":
    sys.exit(main())
