"""Parts of the self-contained HTML reports (validation, monitoring): escaping, the page style, charts.

The reports have no scripts and fetch nothing: charts are inline SVG, styles are inline, fonts are
the reader's own, so they render in the KFP UI of an air-gapped cluster and from disk. The charts
draw the feature statistics TFDV computes (tensorflow-metadata's protos), one outline or bar per
dataset, in the colour :data:`COLOURS` gives the dataset's name.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from tensorflow_metadata.proto.v0 import statistics_pb2

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
.legend span { display: inline-block; margin-right: 1rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: middle; }
.desc { max-width: 48rem; overflow-wrap: anywhere; }
"""


def escape(value: Any) -> str:
    """The value as text, escaped for HTML content and attribute values."""
    return html.escape(str(value))


def feature_name(feature: statistics_pb2.FeatureNameStatistics) -> str:
    """A feature's name in statistics: its path joined by dots, or its plain name."""
    return ".".join(feature.path.step) or feature.name


def find_feature(
    dataset: statistics_pb2.DatasetFeatureStatistics, name: str
) -> statistics_pb2.FeatureNameStatistics | None:
    """The statistics of the named feature in a dataset, None when the dataset lacks it."""
    return next((f for f in dataset.features if feature_name(f) == name), None)


def numeric_chart(name: str, per_split: Mapping[str, statistics_pb2.FeatureNameStatistics | None]) -> str:
    """Overlaid density outlines of each dataset's equal-width histogram, on a shared x axis.

    Args:
        name: The feature, for the chart's label.
        per_split: The feature's numeric statistics in each dataset (None where a dataset lacks it),
            drawn in the dataset's colour from :data:`COLOURS` (black when it has none).

    Returns:
        An inline SVG element.
    """
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
            f'<polyline fill="none" stroke="{COLOURS.get(split, "#000")}" stroke-width="1.5" '
            f'points="{" ".join(points)}"><title>{escape(split)}</title></polyline>'
        )
    axis = (
        f'<line x1="4" y1="{CHART_HEIGHT - 14}" x2="{CHART_WIDTH - 4}" y2="{CHART_HEIGHT - 14}" stroke="#999"/>'
        f'<text x="4" y="{CHART_HEIGHT - 2}" font-size="10">{low:.4g}</text>'
        f'<text x="{CHART_WIDTH - 4}" y="{CHART_HEIGHT - 2}" font-size="10" text-anchor="end">{high:.4g}</text>'
    )
    return (
        f'<svg class="chart" role="img" aria-label="distribution of {escape(name)}" width="{CHART_WIDTH}" '
        f'height="{CHART_HEIGHT}">{"".join(lines)}{axis}</svg>'
    )


def categorical_chart(
    name: str, per_split: Mapping[str, statistics_pb2.FeatureNameStatistics | None], top: int = 8
) -> str:
    """Grouped bars: the share of the most frequent values (by train) in each dataset.

    Args:
        name: The feature, for the chart's label.
        per_split: The feature's string statistics in each dataset (None where a dataset lacks it),
            drawn in the dataset's colour from :data:`COLOURS` (black when it has none).
        top: How many of the most frequent values are drawn.

    Returns:
        An inline SVG element.
    """
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
        bars.append(f'<text x="0" y="{top_y + bar * len(shares) - 1}" font-size="9">{escape(label[:18])}</text>')
        for index, (split, values) in enumerate(shares.items()):
            width = values.get(label, 0.0) / largest * (CHART_WIDTH - label_width - 4)
            bars.append(
                f'<rect x="{label_width}" y="{top_y + index * bar}" width="{max(width, 0.5):.1f}" height="{bar - 0.5}" '
                f'fill="{COLOURS.get(split, "#000")}"><title>{escape(split)} {escape(label)}: '
                f"{values.get(label, 0.0):.1%}</title></rect>"
            )
    return (
        f'<svg class="chart" role="img" aria-label="top values of {escape(name)}" width="{CHART_WIDTH}" '
        f'height="{height}">{"".join(bars)}</svg>'
    )
