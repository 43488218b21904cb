"""The validate task: what the KFP component and the command line run around :mod:`components.validate.logic`.

It builds the object store from the environment's S3 settings, reads the use case and the schema
from text, and writes the artifacts: statistics, anomalies, the HTML report.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from google.protobuf import text_format

from components.common import runs
from components.common.config import parse_use_case
from components.common.provenance import code_version, utc_now
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from components.validate.logic import parse_schema, validate_dataset
from components.validate.report import render_report
from components.validate.results import ValidationResult


def write_outputs(
    result: ValidationResult, use_case: str, statistics_path: Path, anomalies_dir: Path, report_path: Path
) -> None:
    """Writes the statistics, the anomalies (JSON plus TFDV text protos) and the HTML report.

    Args:
        result: The validation result.
        use_case: The use case's name, for the report's title.
        statistics_path: Where the statistics go (binary DatasetFeatureStatisticsList).
        anomalies_dir: The folder of ``findings.json`` and one text proto per check.
        report_path: Where the HTML report goes.
    """
    statistics_path.parent.mkdir(parents=True, exist_ok=True)
    statistics_path.write_bytes(result.statistics.SerializeToString())
    anomalies_dir.mkdir(parents=True, exist_ok=True)
    findings = {
        "version": result.version,
        "is_valid": result.is_valid,
        "previous_version": result.previous_version,
        "findings": [dataclasses.asdict(f) for f in result.findings],
        "distances": [dataclasses.asdict(d) for d in result.distances],
        "label_shares": [dataclasses.asdict(s) for s in result.label_shares],
        "relations": [dataclasses.asdict(r) for r in result.relations],
    }
    (anomalies_dir / "findings.json").write_text(json.dumps(findings, indent=2))
    for check, proto in result.anomalies.items():
        (anomalies_dir / f"{check.replace(':', '-')}.pbtxt").write_text(text_format.MessageToString(proto))
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(render_report(result, use_case))


def run_validate_task(
    use_case_yaml: str,
    schema_text: str,
    dataset_version: str,
    statistics_path: Path,
    anomalies_dir: Path,
    report_path: Path,
    store: ObjectStore | None = None,
    run_id: str = "",
) -> ValidationResult:
    """Runs validation as a pipeline task: config and schema from text, S3 from the environment.

    With a ``run_id`` it writes the run record's ``run`` part (where the run started from) and its
    ``validation`` part (the verdict and every finding): components/common/runs.py.

    Args:
        use_case_yaml: The use-case configuration.
        schema_text: The curated schema, as text protobuf.
        dataset_version: The dataset version id, or ``latest``.
        statistics_path: Where the statistics artifact goes.
        anomalies_dir: Where the anomalies artifact goes.
        report_path: Where the HTML report goes.
        store: The object store (connected from the environment's S3 settings when None).
        run_id: The run this task belongs to (empty: no run record is written).
    """
    config = parse_use_case(use_case_yaml)
    store = store or ObjectStore.connect(s3_settings())
    started_at = utc_now()
    result = validate_dataset(config, parse_schema(schema_text), store, dataset_version)
    write_outputs(result, config.name, statistics_path, anomalies_dir, report_path)
    start = runs.start_part(result.version, config.training.seed, use_case_yaml, code_version(), started_at)
    runs.write_part(store, config.name, run_id, "run", start)
    verdict = {
        "valid": result.is_valid,
        "summary": result.summary().splitlines()[0],
        "findings": [finding.line() for finding in result.findings],
        "drift_baseline": result.previous_version,
    }
    runs.write_part(store, config.name, run_id, "validation", verdict)
    return result
