"""The one module that imports pyarrow, with the CVE-2023-47248 hotfix in force before any file is read.

pyarrow 10.0.1 (pinned by TFDV 1.16.1) unpickles the payload of an ``arrow.py_extension_type`` column
when it reads a Parquet, Feather or Arrow IPC file, so a crafted file runs code as it is opened. The
official mitigation, ``pyarrow_hotfix``, replaces that extension type by one that refuses to
deserialise; it takes effect only once imported, so every module of the project gets pyarrow from
here (a lint rule bans importing pyarrow anywhere else). pandas and TFDV read through the same
process-wide registry, so they are covered as soon as this module has been imported.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

# Importing the hotfix is what applies it; it needs only to come before pyarrow reads a file.
import pyarrow_hotfix  # noqa: F401

from components.common.errors import SourceError

__all__ = ["pa", "pa_csv", "pq", "is_unsafe_payload", "open_parquet", "read_parquet_table", "refuse_unsafe"]

_HOTFIX_REFUSAL = "deserialization of 'arrow.py_extension_type'"


def is_unsafe_payload(error: BaseException) -> bool:
    """Returns whether an error is the hotfix refusing a pickled extension type."""
    return isinstance(error, RuntimeError) and _HOTFIX_REFUSAL in str(error)


def refuse_unsafe(path: Path | str) -> SourceError:
    """The one-line error for a file that carries a pickled Arrow extension type."""
    return SourceError(
        f"{path} carries a pickled Arrow extension type (arrow.py_extension_type, CVE-2023-47248): refused, "
        "nothing in it was deserialised",
        hint="write the file again with plain column types; never open it with an unpatched pyarrow",
    )


def open_parquet(path: Path) -> pq.ParquetFile:
    """Opens a Parquet file for streaming, refusing a pickled extension type in its schema.

    Raises:
        SourceError: If the file carries an ``arrow.py_extension_type`` column.
    """
    try:
        parquet = pq.ParquetFile(path)
        parquet.schema_arrow  # noqa: B018 - the schema is where a pickled type is unpacked: refuse it here
    except RuntimeError as error:
        if is_unsafe_payload(error):
            raise refuse_unsafe(path) from None
        raise
    return parquet


def read_parquet_table(path: Path) -> pa.Table:
    """Reads a whole Parquet file, refusing a pickled extension type.

    Raises:
        SourceError: If the file carries an ``arrow.py_extension_type`` column.
    """
    try:
        return pq.read_table(path)
    except RuntimeError as error:
        if is_unsafe_payload(error):
            raise refuse_unsafe(path) from None
        raise
