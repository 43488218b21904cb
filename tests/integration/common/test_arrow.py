"""CVE-2023-47248: a Parquet file whose column is a pickled Arrow extension type is refused, never run.

Each check runs in a fresh interpreter, as a user's command would: the hotfix only protects a process
that imported it, so a test process that happened to import it earlier would prove nothing. The control
shows the crafted file really runs its payload under the pinned pyarrow without the hotfix.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import LOANS_CONFIG, assert_one_line_error, make_customers, make_loans, mlcycle

from components.serve.local import ensure_serving_env

# Written in a process of its own that never imports the project (nor the hotfix): the payload is
# `open(marker, "w")`, harmless, and visible as a file when it runs.
CRAFT = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    source, target, marker = sys.argv[1:4]

    class Payload(pa.PyExtensionType):
        def __init__(self):
            super().__init__(pa.int64())

        def __reduce__(self):
            return open, (marker, "w")

    table = pa.Table.from_pandas(pd.read_csv(source), preserve_index=False)
    rows = pa.array(range(table.num_rows), pa.int64())
    table = table.append_column("row", pa.ExtensionArray.from_storage(Payload(), rows))
    pq.write_table(table, target)
    """
)

READ_UNPATCHED = "import sys, pyarrow.parquet as pq; pq.read_table(sys.argv[1])"


def run(python: Path | str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def crafted(tmp_path: Path) -> tuple[Path, Path]:
    """The loans data as Parquet with one extra column of the payload's type; and the payload's marker."""
    csv, parquet, marker = tmp_path / "plain.csv", tmp_path / "loans.parquet", tmp_path / "payload-ran"
    make_loans().to_csv(csv, index=False)
    made = run(sys.executable, "-c", CRAFT, str(csv), str(parquet), str(marker))
    assert made.returncode == 0, made.stderr
    assert not marker.exists()
    return parquet, marker


def test_the_crafted_file_runs_its_payload_under_an_unpatched_pyarrow(crafted):
    parquet, marker = crafted
    run(sys.executable, "-c", READ_UNPATCHED, str(parquet))
    assert marker.exists(), "the control did not run the payload: the test file no longer proves anything"


def test_ingesting_the_crafted_file_is_a_one_line_refusal_and_never_runs_the_payload(crafted, tmp_path, s3_env, store):
    parquet, marker = crafted
    make_customers().to_csv(tmp_path / "customers.csv", index=False)
    config = tmp_path / "loans.yaml"
    config.write_text(LOANS_CONFIG.format(loans=parquet, customers=tmp_path / "customers.csv"))
    result = mlcycle("ingest", "-c", str(config), env=s3_env)
    assert_one_line_error(result, f"{parquet} carries a pickled Arrow extension type")
    assert "CVE-2023-47248" in result.stderr and "nothing in it was deserialised" in result.stderr
    assert not marker.exists()
    assert store.list_keys(store.bucket("datasets"), "loans/") == []


@pytest.mark.parametrize(
    "reader",
    [
        "from components.common.datasets import read_parquet as read",
        "from components.common.arrow import read_parquet_table as read",
        "from components.common.arrow import open_parquet as read",
    ],
)
def test_every_project_reader_refuses_the_file_in_a_fresh_process(crafted, reader):
    parquet, marker = crafted
    code = f"import os, sys\n{reader}\nfrom components.common.errors import SourceError\n"
    code += "try:\n    read(sys.argv[1])\nexcept SourceError as error:\n    print(error)\nelse:\n    sys.exit('read')\n"
    # pyarrow 10 now and then aborts at interpreter teardown after a refused read ("terminate called
    # without an active exception"): skip the teardown, which says nothing about the refusal.
    code += "sys.stdout.flush()\nos._exit(0)\n"
    result = run(sys.executable, "-c", code, str(parquet))
    assert result.returncode == 0, result.stderr
    assert "CVE-2023-47248" in result.stdout
    assert not marker.exists()


@pytest.mark.parametrize(
    "python, module",
    [
        ("pipeline", "components.common.storage"),
        ("pipeline", "components.validate.logic"),
        ("serving", "components.serve.model"),
    ],
)
def test_any_project_module_that_brings_pyarrow_brings_the_hotfix(crafted, python, module):
    """Whatever reads the file afterwards (pandas, TFDV, pyarrow itself) is protected in both environments."""
    parquet, marker = crafted
    interpreter = sys.executable if python == "pipeline" else ensure_serving_env()
    code = f"import sys, {module}, pyarrow, pandas\nassert pyarrow._hotfix_installed\n"
    result = run(interpreter, "-c", code + "pandas.read_parquet(sys.argv[1])\n", str(parquet))
    assert result.returncode != 0, result.stdout
    assert "Disallowed deserialization of 'arrow.py_extension_type'" in result.stderr, result.stderr
    assert not marker.exists()
