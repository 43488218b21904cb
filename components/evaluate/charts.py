"""The regression pictures of the model card: predicted against actual values, and residuals by slice.

ClassificationMetrics draws a classifier's confusion matrix and ROC curve in the KFP UI; nothing there
draws a regressor, so the model card carries its own pictures. They are inline SVG with no script and no
font or file fetched, embedded in the Markdown as ``data:image/svg+xml`` images (the KFP UI's Markdown
viewer shows data images; a viewer that does not shows the alternative text, and the tables beside the
pictures carry the same figures).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

POINT_COLOUR, BIN_COLOUR, AXIS_COLOUR = "#1f77b4", "#d62728", "#999"
SCATTER_SIZE, MARGIN = 320, 40
ROW_HEIGHT, LABEL_WIDTH, BOX_WIDTH = 18, 150, 300


def markdown_image(svg: str, alt: str) -> str:
    """The SVG as a Markdown image whose source is a data URI (the picture travels inside the card)."""
    encoded = base64.b64encode(svg.encode()).decode()
    return f"![{alt}](data:image/svg+xml;base64,{encoded})"


def predicted_vs_actual_svg(data: Mapping[str, Any], target: str) -> str:
    """Points of the test rows (actual across, predicted up) over the diagonal of perfect predictions.

    Args:
        data: What :func:`components.evaluate.logic.predicted_vs_actual` returns: sampled ``points`` and
            the ``bins`` of equal counts, whose means are drawn as a line (a line under the diagonal at the
            right end means large values are predicted too low).
        target: The label's name, for the axis.

    Returns:
        An SVG document.
    """
    points = [(float(a), float(p)) for a, p in data.get("points", [])]
    bins = [(float(b["actual"]), float(b["predicted"])) for b in data.get("bins", [])]
    values = [v for pair in points + bins for v in pair if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    span = (high - low) or 1.0
    plot = SCATTER_SIZE - 2 * MARGIN

    def x(value: float) -> float:
        return MARGIN + (value - low) / span * plot

    def y(value: float) -> float:
        return SCATTER_SIZE - MARGIN - (value - low) / span * plot

    parts = [
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{plot}" height="{plot}" fill="none" stroke="{AXIS_COLOUR}"/>',
        f'<line x1="{x(low):.1f}" y1="{y(low):.1f}" x2="{x(high):.1f}" y2="{y(high):.1f}" stroke="{AXIS_COLOUR}" '
        'stroke-dasharray="4 3"><title>perfect predictions</title></line>',
    ]
    parts += [
        f'<circle cx="{x(a):.1f}" cy="{y(p):.1f}" r="1.8" fill="{POINT_COLOUR}" fill-opacity="0.45"/>'
        for a, p in points
        if math.isfinite(a) and math.isfinite(p)
    ]
    if bins:
        line = " ".join(f"{x(a):.1f},{y(p):.1f}" for a, p in bins)
        parts.append(
            f'<polyline fill="none" stroke="{BIN_COLOUR}" stroke-width="1.5" points="{line}">'
            f"<title>mean actual and mean predicted of {len(bins)} groups of equal size</title></polyline>"
        )
    bottom, left = SCATTER_SIZE - MARGIN, MARGIN
    parts += [
        f'<text x="{left}" y="{bottom + 14}" font-size="10">{low:.4g}</text>',
        f'<text x="{SCATTER_SIZE - MARGIN}" y="{bottom + 14}" font-size="10" text-anchor="end">{high:.4g}</text>',
        f'<text x="{SCATTER_SIZE / 2}" y="{bottom + 30}" font-size="11" text-anchor="middle">'
        f"actual {_escape(target)}</text>",
        f'<text x="{left - 4}" y="{bottom}" font-size="10" text-anchor="end">{low:.4g}</text>',
        f'<text x="{left - 4}" y="{MARGIN + 8}" font-size="10" text-anchor="end">{high:.4g}</text>',
        f'<text x="12" y="{SCATTER_SIZE / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {SCATTER_SIZE / 2})">predicted</text>',
    ]
    return _document(SCATTER_SIZE, SCATTER_SIZE, f"predicted against actual {target}", parts)


def residuals_by_slice_svg(slices: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """One box per slice value: residuals (actual minus predicted) from the 25th to the 75th percentile.

    Whiskers reach the 10th and 90th percentiles, a tick marks the median and a dot the mean; the
    vertical line is zero (no bias). A box right of it is a slice the model predicts too low.

    Args:
        slices: Slice entries by column, each with ``value``, ``rows`` and ``residuals``
            (:func:`components.evaluate.logic.residual_summary`).

    Returns:
        An SVG document (a note when no slice has residuals).
    """
    rows = [(column, entry) for column, entries in slices.items() for entry in entries if entry.get("residuals")]
    if not rows:
        return _document(BOX_WIDTH, 20, "residuals by slice", ['<text x="0" y="14" font-size="11">no slices</text>'])
    values = [0.0] + [
        float(entry["residuals"][name])
        for _, entry in rows
        for name in ("p10", "p90", "mean")
        if math.isfinite(entry["residuals"][name])
    ]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    width = LABEL_WIDTH + BOX_WIDTH + 10
    height = len(rows) * ROW_HEIGHT + 24

    def x(value: float) -> float:
        return LABEL_WIDTH + (value - low) / span * BOX_WIDTH

    parts = [
        f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{height - 20}" stroke="{AXIS_COLOUR}" '
        'stroke-dasharray="4 3"><title>no bias</title></line>'
    ]
    for index, (column, entry) in enumerate(rows):
        r = entry["residuals"]
        if not all(math.isfinite(r[name]) for name in ("p10", "p25", "median", "p75", "p90", "mean")):
            continue
        middle = index * ROW_HEIGHT + ROW_HEIGHT / 2
        label = f"{column}={entry['value']}"
        parts += [
            f'<text x="0" y="{middle + 4:.1f}" font-size="10">{_escape(label[:24])}</text>',
            f'<line x1="{x(r["p10"]):.1f}" y1="{middle:.1f}" x2="{x(r["p90"]):.1f}" y2="{middle:.1f}" '
            f'stroke="{POINT_COLOUR}"/>',
            f'<rect x="{x(r["p25"]):.1f}" y="{middle - 5:.1f}" width="{max(x(r["p75"]) - x(r["p25"]), 0.5):.1f}" '
            f'height="10" fill="{POINT_COLOUR}" fill-opacity="0.35" stroke="{POINT_COLOUR}">'
            f"<title>{_escape(label)}: {entry['rows']} rows, median residual {r['median']:.4g}, "
            f"mean {r['mean']:.4g}</title></rect>",
            f'<line x1="{x(r["median"]):.1f}" y1="{middle - 5:.1f}" x2="{x(r["median"]):.1f}" y2="{middle + 5:.1f}" '
            f'stroke="{POINT_COLOUR}" stroke-width="2"/>',
            f'<circle cx="{x(r["mean"]):.1f}" cy="{middle:.1f}" r="2.2" fill="{BIN_COLOUR}"/>',
        ]
    parts += [
        f'<text x="{LABEL_WIDTH}" y="{height - 6}" font-size="10">{low:.4g}</text>',
        f'<text x="{LABEL_WIDTH + BOX_WIDTH}" y="{height - 6}" font-size="10" text-anchor="end">{high:.4g}</text>',
        f'<text x="{LABEL_WIDTH + BOX_WIDTH / 2}" y="{height - 6}" font-size="10" text-anchor="middle">'
        "residual (actual − predicted)</text>",
    ]
    return _document(width, height, "residuals by slice", parts)


def _document(width: float, height: float, label: str, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_escape(label)}" width="{width:g}" '
        f'height="{height:g}" viewBox="0 0 {width:g} {height:g}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="#fff"/>{"".join(parts)}</svg>'
    )


def _escape(value: Any) -> str:
    return html.escape(str(value))
