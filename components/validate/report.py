"""A self-contained HTML report of a validation: verdict, anomalies, distances, and every feature drawn.

TFDV's own ``get_statistics_html`` loads its charts from public CDNs and shows nothing on an
air-gapped cluster. This page has no scripts and fetches nothing (its parts, shared with the monitoring
report, are in :mod:`components.common.html`). KFP shows it as an HTML artifact; a browser opens it
from disk.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.common.config import SPLITS
from components.common.html import (
    COLOURS,
    STYLE,
    categorical_chart,
    escape,
    feature_name,
    find_feature,
    numeric_chart,
)
from components.validate.results import Distance, Finding, LabelShares, Relation, ValidationResult

RELATIONS_SHOWN = 40  # the strongest relations, relative to their thresholds; a wide table has hundreds of pairs


def render_report(result: ValidationResult, use_case: str) -> str:
    """Returns the whole report as one HTML document.

    Args:
        result: The validation result (statistics included).
        use_case: The use case's name, for the title.
    """
    splits = {dataset.name: dataset for dataset in result.statistics.datasets}
    verdict = "valid" if result.is_valid else "invalid"
    rows = ", ".join(f"{name} {splits[name].num_examples:,}" for name in SPLITS if name in splits)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Data validation: {escape(use_case)} {escape(result.version)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Data validation of {escape(use_case)} dataset {escape(result.version)}</h1>",
        f'<p id="verdict" class="{verdict}"><strong>{verdict.upper()}</strong>: {len(result.errors)} errors '
        f"(block training), {len(result.warnings)} warnings. Rows: {rows}."
        + (
            f" Drift measured against {escape(result.previous_version)}"
            + (f", {escape(result.baseline_reason)}." if result.baseline_reason else ".")
            if result.previous_version
            else f" Drift not measured: {escape(result.baseline_reason or 'no previous version')}."
        )
        + "</p>",
        _legend(),
        "<h2>Anomalies</h2>",
        _findings_table(result.findings),
        "<h2>Drift and skew distances</h2>",
        "<p>Every compared feature, also below its threshold. "
        "Jensen-Shannon divergence for numbers, L-infinity distance for categories. The threshold is the "
        "configured one, raised to the noise floor where that is higher: the distance two samples of these "
        "sizes drawn from the same rows reach by chance (a high quantile of bootstrap draws).</p>",
        _distances_table(result.distances),
        "<h2>Label</h2>",
        _label_table(result.label_shares, result.task),
        "<h2>Correlation and leakage</h2>",
        "<p>Pairs of features that carry the same information (absolute Pearson correlation of numbers, "
        "bias-corrected Cram&eacute;r's V of categories) and every feature's balanced accuracy as a lone "
        "predictor of the label (the lower of train and eval; R&sup2; for a numeric label): near 1 is possible "
        "target leakage.</p>",
        _relations_table(result.relations),
        "<h2>Features</h2>",
        _features_table(splits),
        "</body></html>",
    ]
    return "\n".join(parts)


def _legend() -> str:
    items = "".join(f'<span><span class="swatch" style="background:{COLOURS[s]}"></span>{s}</span>' for s in SPLITS)
    return f'<p class="legend">{items}</p>'


def _findings_table(findings: Sequence[Finding]) -> str:
    if not findings:
        return '<table id="anomalies"><tr><th>Anomalies</th></tr><tr><td>None found.</td></tr></table>'
    rows = "".join(
        f'<tr class="{f.severity}"><td>{escape(f.severity)}</td><td>{escape(f.check)}</td><td>{escape(f.split)}</td>'
        f'<td>{escape(f.feature)}</td><td>{escape(f.kind)}</td><td class="desc">{escape(f.description)}</td></tr>'
        for f in findings
    )
    head = (
        "<tr><th>severity</th><th>check</th><th>split</th><th>feature</th><th>kind</th>"
        "<th>measured against allowed</th></tr>"
    )
    return f'<table id="anomalies">{head}{rows}</table>'


def _distances_table(distances: Sequence[Distance]) -> str:
    features = sorted({d.feature for d in distances})
    by_key = {(d.check, d.feature): d for d in distances}
    if not features:
        return '<table id="distances"><tr><td>No distances measured.</td></tr></table>'

    def cell(distance: Distance | None) -> str:
        if distance is None:
            return "<td>–</td><td>–</td><td>–</td>"
        mark = ' class="num alert"' if distance.alerts else ' class="num"'
        return (
            f'<td{mark}>{distance.value:.4f}</td><td class="num">{distance.noise_floor:.4f}</td>'
            f'<td class="num">{distance.threshold:.4g}</td>'
        )

    rows = "".join(
        f"<tr><td>{escape(name)}</td>"
        f"<td>{escape((by_key.get(('skew', name)) or by_key.get(('drift', name))).measure)}</td>"
        f"{cell(by_key.get(('skew', name)))}{cell(by_key.get(('drift', name)))}</tr>"
        for name in features
    )
    head = (
        "<tr><th>feature</th><th>measure</th><th>skew train vs eval</th><th>noise floor</th><th>threshold</th>"
        "<th>drift vs previous</th><th>noise floor</th><th>threshold</th></tr>"
    )
    return f'<table id="distances">{head}{rows}</table>'


def _label_table(shares: Sequence[LabelShares], task: str) -> str:
    if task == "regression":
        return (
            '<table id="label"><tr><td>A numeric label (a regression): no classes to count. Its skew and drift '
            "are among the distances above; missing, infinite or constant labels among the anomalies.</td></tr></table>"
        )
    if not shares:
        return '<table id="label"><tr><td>Not checked.</td></tr></table>'
    rows = "".join(
        f"<tr><td>{escape(s.split)}</td>"
        f"<td>{escape(', '.join(f'{name} {count:,}' for name, count in s.counts.items()))}</td>"
        + (
            "<td>–</td><td>–</td><td>–</td>"
            if s.split == "train"
            else f'<td class="num{" alert" if s.shift > s.threshold else ""}">{s.shift:.4f}</td>'
            f'<td class="num">{s.noise_floor:.4f}</td><td class="num">{s.threshold:.4g}</td>'
        )
        + "</tr>"
        for s in shares
    )
    head = (
        "<tr><th>split</th><th>rows per class</th><th>share shift from train</th><th>noise floor</th>"
        "<th>threshold</th></tr>"
    )
    return f'<table id="label">{head}{rows}</table>'


def _relations_table(relations: Sequence[Relation]) -> str:
    if not relations:
        return '<table id="relations"><tr><td>Not checked.</td></tr></table>'
    ordered = sorted(relations, key=lambda r: -r.value / max(r.threshold, 1e-9))
    shown, hidden = ordered[:RELATIONS_SHOWN], len(ordered) - RELATIONS_SHOWN
    rows = "".join(
        f"<tr><td>{escape(r.first)}</td><td>{escape(r.second)}</td><td>{escape(r.measure)}</td>"
        f'<td class="num{" alert" if r.alerts else ""}">{r.value:.4f}</td><td class="num">{r.threshold:g}</td></tr>'
        for r in shown
    )
    if hidden > 0:
        rows += (
            f'<tr><td colspan="5">{hidden:,} weaker relations not shown (all are in anomalies/findings.json).</td></tr>'
        )
    head = "<tr><th>column</th><th>with</th><th>measure</th><th>value</th><th>threshold</th></tr>"
    return f'<table id="relations">{head}{rows}</table>'


def _features_table(splits: dict[str, statistics_pb2.DatasetFeatureStatistics]) -> str:
    names = sorted({feature_name(f) for dataset in splits.values() for f in dataset.features})
    rows = []
    for name in names:
        per_split = {split: find_feature(dataset, name) for split, dataset in splits.items()}
        present = [f for f in per_split.values() if f is not None]
        kind = present[0].WhichOneof("stats")
        facts = "".join(
            f"<div>{escape(split)}: {_facts(feature, splits[split].num_examples)}</div>"
            for split, feature in per_split.items()
            if feature is not None
        )
        chart = numeric_chart(name, per_split) if kind == "num_stats" else categorical_chart(name, per_split)
        type_name = statistics_pb2.FeatureNameStatistics.Type.Name(present[0].type)
        rows.append(
            f'<tr class="feature" data-feature="{escape(name)}"><td><strong>{escape(name)}</strong><br>{type_name}</td>'
            f"<td>{facts}</td><td>{chart}</td></tr>"
        )
    head = "<tr><th>feature</th><th>statistics by split</th><th>distribution by split</th></tr>"
    return f'<table id="features">{head}{"".join(rows)}</table>'


def _facts(feature: statistics_pb2.FeatureNameStatistics, rows: int) -> str:
    kind = feature.WhichOneof("stats")
    stats = getattr(feature, kind)
    missing = stats.common_stats.num_missing / rows if rows else 0.0
    if kind == "num_stats":
        return escape(
            f"mean {stats.mean:.4g}, sd {stats.std_dev:.4g}, min {stats.min:.4g}, median {stats.median:.4g}, "
            f"max {stats.max:.4g}, zeros {stats.num_zeros:,}, missing {missing:.1%}"
        )
    return escape(f"{stats.unique:,} distinct, missing {missing:.1%}")
