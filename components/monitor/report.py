"""A self-contained HTML report of a monitoring run: decision, live quality, drift of every feature.

The same page style and charts as the validation report (components/common/html.py): no
script, style sheet or font is fetched, so it renders in the KFP UI of an air-gapped cluster and
from disk. Served data is drawn over the training split it is compared with.
"""

from __future__ import annotations

import math
from typing import Any

from components.common.config import MonitoringSpec
from components.common.config.analysis import LOWER_IS_BETTER
from components.common.html import (
    COLOURS,
    STYLE,
    categorical_chart,
    escape,
    feature_name,
    find_feature,
    numeric_chart,
)
from components.common.metrics import REGRESSION_METRICS
from components.monitor.results import HEALTHY, NOT_LOGGED, RETRAIN, SERVED, LiveQuality, MonitoringResult

SHOWN_METRICS = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier")
SERVED_COLOUR = "#000000"  # the validation charts draw any dataset they have no colour for in black
MONITORING_STYLE = ".amber { color: #8a5a00; } ul.tight { margin: .25rem 0; }"


def render_report(result: MonitoringResult, spec: MonitoringSpec | None = None) -> str:
    """Returns the whole report as one HTML document.

    Args:
        result: The monitoring result (statistics included).
        spec: The thresholds, shown beside live quality (omitted when None).
    """
    decision = result.decision
    verdict = {RETRAIN: "invalid", HEALTHY: "valid"}.get(decision.status, "amber")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Monitoring: {escape(result.use_case)} {escape(result.model_version)}</title>",
        f"<style>{STYLE}{MONITORING_STYLE}</style></head><body>",
        f"<h1>Monitoring of {escape(result.use_case)} model {escape(result.model_version)}</h1>",
        f"<p>Window {escape(result.window.label())}. Drift is measured against the train split of dataset "
        f"{escape(result.dataset_version)}, in the schema's SERVING environment.</p>",
        f'<p id="verdict" class="{verdict}"><strong>{escape(decision.status.replace("_", " ").upper())}</strong>: '
        f"retrain {'yes' if decision.retrain else 'no'}.</p>",
        _list("reasons", "Why", decision.reasons),
        _list("notes", "Not judged", decision.notes),
        "<h2>Traffic</h2>",
        _traffic_table(result),
        "<h2>Live quality</h2>",
        _quality(result.quality, spec),
        "<h2>Drift of every feature</h2>",
        "<p>Jensen-Shannon divergence for numbers, L-infinity distance for categories; "
        "served rows against the training split.</p>",
        _drift_table(result),
        "<h2>Anomalies of the served data</h2>",
        _findings_table(result),
        "<h2>Features</h2>",
        _legend(),
        _features_table(result),
        "</body></html>",
    ]
    return "\n".join(parts)


def _list(element_id: str, title: str, items: tuple[str, ...]) -> str:
    if not items:
        return ""
    return (
        f'<div id="{element_id}"><strong>{title}:</strong><ul class="tight">'
        + "".join(f"<li>{escape(i)}</li>" for i in items)
        + "</ul></div>"
    )


def _traffic_table(result: MonitoringResult) -> str:
    rows = [
        ("requests logged in the window", f"{result.requests:,}"),
        ("feedback rows in the window", f"{result.feedback:,}"),
        ("feedback rows with ground truth", f"{result.labelled:,}"),
    ]
    if result.sampled is not None:
        rows.append(("rows sampled for statistics", f"{result.sampled:,}"))
    rows += [
        (f"model {version}: requests, feedback", f"{c['requests']:,}, {c['feedback']:,}")
        for version, c in sorted(result.by_model.items())
    ]
    rows += [(f"{kind} log objects read", f"{len(objects):,}") for kind, objects in result.objects.items()]
    rows += [(f"malformed {kind} lines skipped", f"{count:,}") for kind, count in result.malformed.items()]
    body = "".join(f'<tr><td>{escape(name)}</td><td class="num">{value}</td></tr>' for name, value in rows)
    return f'<table id="traffic">{body}</table>'


def _quality(quality: LiveQuality | None, spec: MonitoringSpec | None) -> str:
    if quality is None:
        return '<p id="quality">No ground truth arrived for the monitored model in this window.</p>'
    floors = spec.quality.floors if spec else {}
    drops = spec.quality.max_drop if spec else {}
    rows = []
    for metric in REGRESSION_METRICS if quality.task == "regression" else SHOWN_METRICS:
        live, offline = quality.metrics.get(metric, math.nan), quality.offline.get(metric, math.nan)
        change = live - offline
        worse = (change > 0) if metric in LOWER_IS_BETTER else (change < 0)
        alert = " alert" if worse and metric in drops and abs(change) > drops[metric] else ""
        rows.append(
            f'<tr><td>{metric}</td><td class="num">{_f(live)}</td><td class="num">{_f(offline)}</td>'
            f'<td class="num{alert}">{_f(change, signed=True)}</td>'
            f'<td class="num">{_g(floors.get(metric))}</td><td class="num">{_g(drops.get(metric))}</td></tr>'
        )
    head = (
        "<tr><th>metric</th><th>live</th><th>offline (test split)</th><th>change</th><th>floor</th>"
        "<th>largest drop allowed</th></tr>"
    )
    excluded = ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in quality.excluded.items() if count)
    parts = [
        f"<p>{quality.rows:,} labelled rows of the monitored model"
        f"{f' (left out: {escape(excluded)})' if excluded else ''}.</p>",
        f'<table id="quality">{head}{"".join(rows)}</table>',
    ]
    if quality.task != "regression":  # a regressor has no classes to confuse
        parts.append(_confusion(quality))
    shown = quality.shown_metrics
    for column, entries in quality.slices.items():
        body = "".join(
            f'<tr><td>{escape(e["value"])}</td><td class="num">{e["rows"]:,}</td>'
            + "".join(f'<td class="num">{_f(e["metrics"][m])}</td>' for m in shown)
            + "</tr>"
            for e in entries
        )
        parts.append(
            f'<table class="slices"><tr><th>{escape(column)}</th><th>rows</th>'
            + "".join(f"<th>{m}</th>" for m in shown)
            + f"</tr>{body}</table>"
        )
    return "\n".join(parts)


def _confusion(quality: LiveQuality) -> str:
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th>{escape(c)}</th>" for c in quality.classes) + "</tr>"
    body = "".join(
        f"<tr><th>{escape(c)}</th>" + "".join(f'<td class="num">{n:,}</td>' for n in row) + "</tr>"
        for c, row in zip(quality.classes, quality.confusion, strict=False)
    )
    return f'<table id="confusion">{head}{body}</table>'


def _drift_table(result: MonitoringResult) -> str:
    if not result.distances and not result.unmeasured and not result.unlogged:
        return '<table id="drift"><tr><td>No features.</td></tr></table>'
    rows = [
        f'<tr data-feature="{escape(d.feature)}"><td>{escape(d.feature)}</td><td>{escape(d.measure)}</td>'
        f'<td class="num{" alert" if d.alerts else ""}">{d.value:.4f}</td><td class="num">{d.threshold:g}</td>'
        f"<td>{'drifted' if d.alerts else ''}</td></tr>"
        for d in sorted(result.distances, key=lambda d: (-d.value / max(d.threshold, 1e-9), d.feature))
    ]
    rows += [
        f'<tr data-feature="{escape(n)}"><td>{escape(n)}</td><td>–</td><td>–</td><td>–</td>'
        "<td>not measured: no values served</td></tr>"
        for n in result.unmeasured
    ]
    rows += [
        f'<tr data-feature="{escape(n)}" class="unlogged"><td>{escape(n)}</td><td>–</td><td>–</td><td>–</td>'
        f"<td>not measured: {escape(NOT_LOGGED)}</td></tr>"
        for n in result.unlogged
    ]
    head = "<tr><th>feature</th><th>measure</th><th>distance</th><th>threshold</th><th></th></tr>"
    return f'<table id="drift">{head}{"".join(rows)}</table>'


def _findings_table(result: MonitoringResult) -> str:
    schema = [f for f in result.findings if f.check == "schema"]
    if not schema:
        return '<table id="anomalies"><tr><td>None found.</td></tr></table>'
    rows = "".join(
        f'<tr><td>{escape(f.feature)}</td><td>{escape(f.kind)}</td><td class="desc">{escape(f.description)}</td></tr>'
        for f in schema
    )
    return f'<table id="anomalies"><tr><th>feature</th><th>kind</th><th>description</th></tr>{rows}</table>'


def _legend() -> str:
    return (
        f'<p class="legend"><span><span class="swatch" style="background:{COLOURS["train"]}"></span>'
        "train (the model's training split)</span>"
        f'<span><span class="swatch" style="background:{SERVED_COLOUR}"></span>served in the window</span></p>'
    )


def _features_table(result: MonitoringResult) -> str:
    datasets = {dataset.name: dataset for dataset in result.statistics.datasets}
    names = sorted({feature_name(f) for dataset in datasets.values() for f in dataset.features})
    rows = []
    for name in names:
        per_dataset: dict[str, Any] = {split: find_feature(dataset, name) for split, dataset in datasets.items()}
        present = [f for f in per_dataset.values() if f is not None]
        if name in result.unlogged:
            rows.append(
                f'<tr class="feature unlogged" data-feature="{escape(name)}"><td><strong>{escape(name)}</strong></td>'
                f"<td>{escape(NOT_LOGGED)}: the served values are not known</td></tr>"
            )
            continue
        if SERVED not in per_dataset or per_dataset[SERVED] is None:
            continue  # a column of the training data that is never served (the label, identifiers)
        chart = (
            numeric_chart(name, per_dataset)
            if present[0].WhichOneof("stats") == "num_stats"
            else categorical_chart(name, per_dataset)
        )
        rows.append(
            f'<tr class="feature" data-feature="{escape(name)}"><td><strong>{escape(name)}</strong></td>'
            f"<td>{chart}</td></tr>"
        )
    if not rows:
        return '<table id="features"><tr><td>No rows were served in the window.</td></tr></table>'
    return (
        f'<table id="features"><tr><th>feature</th><th>distribution: train and served</th></tr>{"".join(rows)}</table>'
    )


def _f(value: float, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _g(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"
