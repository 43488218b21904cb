"""The monitor tasks: what the KFP components and the command line run around :mod:`components.monitor.logic`.

They build the object store from the environment's S3 settings, read the use case and the schema
from text, and write the artifacts: the report, the result, the figures, the inputs of a
retraining run, and the promotion proposal after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format

from components.common.config import MonitoringSpec, parse_use_case
from components.common.s3_settings import s3_settings
from components.common.serving_logs import Window
from components.common.storage import ObjectStore
from components.monitor.logic import monitor
from components.monitor.report import render_report
from components.monitor.results import MonitoringResult
from components.monitor.retraining import Proposal, propose_promotion, retraining_use_case, schema_for_feedback
from components.validate.logic import parse_schema


@dataclass(frozen=True)
class MonitorOutputs:
    """Where the monitoring task writes its artifacts.

    Attributes:
        report: The HTML report.
        result: The whole result as JSON.
        metrics: The flat figures as JSON (beside the ones logged on the KFP Metrics artifact).
        summary: The decision, its reasons and notes, as text.
        retraining_use_case: The use case with the window as its feedback window.
        retraining_schema: The schema a dataset with feedback rows is validated against.
    """

    report: Path
    result: Path
    metrics: Path
    summary: Path
    retraining_use_case: Path
    retraining_schema: Path


def write_outputs(
    result: MonitoringResult, spec: MonitoringSpec, report_path: Path, result_path: Path | None = None
) -> None:
    """Writes the HTML report and, when asked, the result as JSON.

    Args:
        result: The monitoring result.
        spec: The thresholds, shown in the report beside live quality.
        report_path: Where the HTML report goes.
        result_path: Where the result goes as JSON (not written when None).
    """
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(render_report(result, spec))
    if result_path is not None:
        result_path.parent.mkdir(parents=True, exist_ok=True)
        result_path.write_text(json.dumps(result.to_json(), indent=2, default=str))


def run_monitor_task(
    use_case_yaml: str,
    schema_text: str,
    window_start: str,
    window_end: str,
    last_hours: int,
    model: str,
    outputs: MonitorOutputs,
) -> MonitoringResult:
    """Runs monitoring as a pipeline task: config and schema from text, S3 from the environment.

    Besides the report and the result, it writes what a retraining run takes: the use case with the
    window as its feedback window (what it ingests) and the schema a dataset with feedback rows is
    validated against.

    Args:
        use_case_yaml: The use-case configuration.
        schema_text: The curated schema, as text protobuf.
        window_start: First instant of the window (ISO 8601); empty for "hours before the end".
        window_end: End of the window (exclusive); empty for now.
        last_hours: Length of the window when a bound is empty; 0 takes monitoring.window_hours.
        model: The monitored model (empty for production).
        outputs: Where the artifacts go.
    """
    config = parse_use_case(use_case_yaml)
    schema = parse_schema(schema_text)
    window = Window.resolve(window_start, window_end, last_hours or config.monitoring.window_hours)
    store = ObjectStore.connect(s3_settings())
    result = monitor(config, schema, store, window, model or "production")
    write_outputs(result, config.monitoring, outputs.report, outputs.result)
    # The figures as a file too: kfp.local's cache treats a Metrics artifact without one as missing.
    _write(outputs.metrics, json.dumps(result.metrics()))
    _write(outputs.summary, result.summary())
    _write(outputs.retraining_use_case, retraining_use_case(use_case_yaml, window))
    _write(outputs.retraining_schema, text_format.MessageToString(schema_for_feedback(schema, config)))
    return result


def propose_promotion_task(use_case_yaml: str, proposal_path: Path) -> Proposal:
    """Runs the promotion proposal as a pipeline task (after the retraining run).

    Args:
        use_case_yaml: The retraining use case (with its feedback window).
        proposal_path: Where the proposal goes, in Markdown: what was found and the command to run.
    """
    config = parse_use_case(use_case_yaml)
    # A pipeline gets the use case as text, not its file: the command names the file to fill in, so a
    # copied command fails loudly instead of promoting with the demo's configuration.
    found = propose_promotion(ObjectStore.connect(s3_settings()), config, use_case_file_placeholder(config.name))
    text = f"{found.message}\n\n```\n{found.command}\n```\n" if found.command else f"{found.message}\n"
    if found.command:
        text += f"\nReplace {use_case_file_placeholder(config.name)} with the path of the use case's file.\n"
    _write(proposal_path, text)
    return found


def use_case_file_placeholder(use_case: str) -> str:
    """What a pipeline's promotion command puts after ``-c``: the use case's file, to be filled in."""
    return f"<{use_case}.yaml>"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
