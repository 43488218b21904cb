"""A self-contained HTML report of a validation: verdict, anomalies, distances, and every feature drawn.

TFDV's own ``get_statistics_html`` loads its charts from public CDNs and shows nothing on an
air-gapped cluster. This page has no scripts and fetches nothing: charts are inline SVG, styles are
inline, fonts are the reader's own. KFP shows it as an HTML artifact; a browser opens it from disk.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.common.config import SPLITS
from components.validate.logic import Distance, Finding, ValidationResult

COLOURS = {"train": "#1f77b4", "eval": "#ff7f0e", "test": "#2ca02c", "previous": "#7f7f7f"}
CHART_WIDTH, CHART_HEIGHT = 300, 90
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.valid { color: #116611; } .invalid { color: #aa1111; }
.error { background: #fde8e8; } .warning { background: #fff6dd; } .alert { color: #aa1111; font-weight: 600; }
.legend span { display: inline-block; margin-right: 1rem; } .swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: middle; }
.desc { max-width: 48rem; overflow-wrap: anywhere; }
"""


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
        f"<title>Data validation: {_e(use_case)} {_e(result.version)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Data validation of {_e(use_case)} dataset {_e(result.version)}</h1>",
        f'<p id="verdict" class="{verdict}"><strong>{verdict.upper()}</strong>: {len(result.errors)} errors '
        f"(block training), {len(result.warnings)} warnings. Rows: {rows}."
        + (
            f" Drift measured against {_e(result.previous_version)}."
            if result.previous_version
            else " No previous version: drift not measured."
        )
        + "</p>",
        _legend(),
        "<h2>Anomalies</h2>",
        _findings_table(result.findings),
        "<h2>Drift and skew distances</h2>",
        "<p>Every compared feature, also below its threshold. Jensen-Shannon divergence for numbers, L-infinity distance for categories.</p>",
        _distances_table(result.distances),
        "<h2>Features</h2>",
        _features_table(splits),
        "</body></html>",
    ]
    return "\n".join(parts)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _legend() -> str:
    items = "".join(f'<span><span class="swatch" style="background:{COLOURS[s]}"></span>{s}</span>' for s in SPLITS)
    return f'<p class="legend">{items}</p>'


def _findings_table(findings: Sequence[Finding]) -> str:
    if not findings:
        return '<table id="anomalies"><tr><th>Anomalies</th></tr><tr><td>None found.</td></tr></table>'
    rows = "".join(
        f'<tr class="{f.severity}"><td>{_e(f.severity)}</td><td>{_e(f.check)}</td><td>{_e(f.split)}</td>'
        f'<td>{_e(f.feature)}</td><td>{_e(f.kind)}</td><td class="desc">{_e(f.description)}</td></tr>'
        for f in findings
    )
    head = "<tr><th>severity</th><th>check</th><th>split</th><th>feature</th><th>kind</th><th>measured against allowed</th></tr>"
    return f'<table id="anomalies">{head}{rows}</table>'


def _distances_table(distances: Sequence[Distance]) -> str:
    features = sorted({d.feature for d in distances})
    by_key = {(d.check, d.feature): d for d in distances}
    if not features:
        return '<table id="distances"><tr><td>No distances measured.</td></tr></table>'

    def cell(distance: Distance | None) -> str:
        if distance is None:
            return "<td>–</td><td>–</td>"
        mark = ' class="num alert"' if distance.alerts else ' class="num"'
        return f'<td{mark}>{distance.value:.4f}</td><td class="num">{distance.threshold:g}</td>'

    rows = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e((by_key.get(('skew', name)) or by_key.get(('drift', name))).measure)}</td>"
        f"{cell(by_key.get(('skew', name)))}{cell(by_key.get(('drift', name)))}</tr>"
        for name in features
    )
    head = "<tr><th>feature</th><th>measure</th><th>skew train vs eval</th><th>threshold</th><th>drift vs previous</th><th>threshold</th></tr>"
    return f'<table id="distances">{head}{rows}</table>'


def _features_table(splits: dict[str, statistics_pb2.DatasetFeatureStatistics]) -> str:
    names = sorted({_name(f) for dataset in splits.values() for f in dataset.features})
    rows = []
    for name in names:
        per_split = {split: _feature(dataset, name) for split, dataset in splits.items()}
        present = [f for f in per_split.values() if f is not None]
        kind = present[0].WhichOneof("stats")
        facts = "".join(
            f"<div>{_e(split)}: {_facts(feature, splits[split].num_examples)}</div>"
            for split, feature in per_split.items()
            if feature is not None
        )
        chart = _numeric_chart(name, per_split) if kind == "num_stats" else _categorical_chart(name, per_split)
        type_name = statistics_pb2.FeatureNameStatistics.Type.Name(present[0].type)
        rows.append(
            f'<tr class="feature" data-feature="{_e(name)}"><td><strong>{_e(name)}</strong><br>{type_name}</td><td>{facts}</td><td>{chart}</td></tr>'
        )
    head = "<tr><th>feature</th><th>statistics by split</th><th>distribution by split</th></tr>"
    return f'<table id="features">{head}{"".join(rows)}</table>'


def _name(feature: statistics_pb2.FeatureNameStatistics) -> str:
    return ".".join(feature.path.step) or feature.name


def _feature(
    dataset: statistics_pb2.DatasetFeatureStatistics, name: str
) -> statistics_pb2.FeatureNameStatistics | None:
    return next((f for f in dataset.features if _name(f) == name), None)


def _facts(feature: statistics_pb2.FeatureNameStatistics, rows: int) -> str:
    kind = feature.WhichOneof("stats")
    stats = getattr(feature, kind)
    missing = stats.common_stats.num_missing / rows if rows else 0.0
    if kind == "num_stats":
        return _e(
            f"mean {stats.mean:.4g}, sd {stats.std_dev:.4g}, min {stats.min:.4g}, median {stats.median:.4g}, max {stats.max:.4g}, zeros {stats.num_zeros:,}, missing {missing:.1%}"
        )
    return _e(f"{stats.unique:,} distinct, missing {missing:.1%}")


def _numeric_chart(name: str, per_split: dict[str, Any]) -> str:
    """Overlaid density outlines of each split's equal-width histogram, on a shared x axis."""
    histograms = {}
    for split, feature in per_split.items():
        if feature is None:
            continue
        standard = [h for h in feature.num_stats.histograms if h.type == statistics_pb2.Histogram.STANDARD]
        buckets = [(b.low_value, b.high_value, b.sample_count) for b in standard[0].buckets] if standard else []
        if buckets:
            histograms[split] = buckets
    if not histograms:
        return '<svg role="img" width="300" height="20"><text x="0" y="14" font-size="11">no values</text></svg>'
    low = min(b[0] for buckets in histograms.values() for b in buckets)
    high = max(b[1] for buckets in histograms.values() for b in buckets)
    span = (high - low) or 1.0
    densities = {
        split: [
            (lo, hi, count / max(hi - lo, span / 1000) / sum(c for _, _, c in buckets)) for lo, hi, count in buckets
        ]
        for split, buckets in histograms.items()
    }
    peak = max(d for values in densities.values() for _, _, d in values) or 1.0

    def x(value: float) -> float:
        return 4 + (value - low) / span * (CHART_WIDTH - 8)

    def y(value: float) -> float:
        return CHART_HEIGHT - 14 - value / peak * (CHART_HEIGHT - 20)

    lines = []
    for split, values in densities.items():
        points = []
        for lo, hi, density in values:
            points += [f"{x(lo):.1f},{y(density):.1f}", f"{x(hi):.1f},{y(density):.1f}"]
        lines.append(
            f'<polyline fill="none" stroke="{COLOURS.get(split, "#000")}" stroke-width="1.5" points="{" ".join(points)}"><title>{_e(split)}</title></polyline>'
        )
    axis = (
        f'<line x1="4" y1="{CHART_HEIGHT - 14}" x2="{CHART_WIDTH - 4}" y2="{CHART_HEIGHT - 14}" stroke="#999"/>'
        f'<text x="4" y="{CHART_HEIGHT - 2}" font-size="10">{low:.4g}</text>'
        f'<text x="{CHART_WIDTH - 4}" y="{CHART_HEIGHT - 2}" font-size="10" text-anchor="end">{high:.4g}</text>'
    )
    return f'<svg class="chart" role="img" aria-label="distribution of {_e(name)}" width="{CHART_WIDTH}" height="{CHART_HEIGHT}">{"".join(lines)}{axis}</svg>'


def _categorical_chart(name: str, per_split: dict[str, Any], top: int = 8) -> str:
    """Grouped bars: the share of the most frequent values (by train) in each split."""
    shares = {}
    for split, feature in per_split.items():
        if feature is None or not feature.HasField("string_stats"):
            continue
        buckets = feature.string_stats.rank_histogram.buckets
        total = sum(b.sample_count for b in buckets) or 1.0
        shares[split] = {b.label: b.sample_count / total for b in buckets}
    if not shares:
        return '<svg role="img" width="300" height="20"><text x="0" y="14" font-size="11">no values</text></svg>'
    reference = shares.get("train") or next(iter(shares.values()))
    labels = sorted(reference, key=reference.get, reverse=True)[:top]
    largest = max((values.get(label, 0.0) for values in shares.values() for label in labels), default=1.0) or 1.0
    bar, gap, label_width = 4, 4, 110
    height = len(labels) * (bar * len(shares) + gap) + 4
    bars = []
    for row, label in enumerate(labels):
        top_y = 2 + row * (bar * len(shares) + gap)
        bars.append(f'<text x="0" y="{top_y + bar * len(shares) - 1}" font-size="9">{_e(label[:18])}</text>')
        for index, (split, values) in enumerate(shares.items()):
            width = values.get(label, 0.0) / largest * (CHART_WIDTH - label_width - 4)
            bars.append(
                f'<rect x="{label_width}" y="{top_y + index * bar}" width="{max(width, 0.5):.1f}" height="{bar - 0.5}" '
                f'fill="{COLOURS.get(split, "#000")}"><title>{_e(split)} {_e(label)}: {values.get(label, 0.0):.1%}</title></rect>'
            )
    return f'<svg class="chart" role="img" aria-label="top values of {_e(name)}" width="{CHART_WIDTH}" height="{height}">{"".join(bars)}</svg>'
