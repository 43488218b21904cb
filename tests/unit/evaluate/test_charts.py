"""The regression pictures: inline SVG that parses, draws what it is given, and escapes names."""

from __future__ import annotations

import base64
import math
import xml.etree.ElementTree as ElementTree

from components.evaluate.charts import markdown_image, predicted_vs_actual_svg, residuals_by_slice_svg

SVG = "{http://www.w3.org/2000/svg}"


def residuals(mean: float, spread: float) -> dict[str, float]:
    return {
        "mean": mean,
        "p10": mean - 2 * spread,
        "p25": mean - spread,
        "median": mean,
        "p75": mean + spread,
        "p90": mean + 2 * spread,
    }


def test_the_scatter_draws_each_point_the_bins_and_the_diagonal_on_one_scale():
    data = {
        "rows": 3,
        "points": [[0.0, 0.0], [10.0, 5.0], [5.0, 10.0]],
        "bins": [{"predicted": 0.0, "actual": 0.0, "rows": 1}, {"predicted": 7.5, "actual": 7.5, "rows": 2}],
    }
    svg = ElementTree.fromstring(predicted_vs_actual_svg(data, "delay <minutes>"))

    circles = [(float(c.get("cx")), float(c.get("cy"))) for c in svg.findall(f"{SVG}circle")]
    assert len(circles) == 3
    # Both axes span 0..10: the lowest point is at the bottom left, (10, 5) right and half way up.
    (x0, y0), (x1, y1), (x2, y2) = circles
    assert x1 > x0 and y0 > y1 and math.isclose(y0 - y1, (x1 - x0) / 2, abs_tol=0.2)
    assert math.isclose(x2 - x0, (x1 - x0) / 2, abs_tol=0.2) and math.isclose(y2, y0 - (x1 - x0), abs_tol=0.2)
    assert len(svg.find(f"{SVG}polyline").get("points").split()) == 2
    assert svg.find(f"{SVG}line").find(f"{SVG}title").text == "perfect predictions"
    assert any(t.text == "actual delay <minutes>" for t in svg.iter(f"{SVG}text"))


def test_the_scatter_of_constant_or_missing_values_still_draws():
    flat = {
        "rows": 2,
        "points": [[3.0, 3.0], [3.0, float("nan")]],
        "bins": [{"predicted": 3.0, "actual": 3.0, "rows": 2}],
    }
    svg = ElementTree.fromstring(predicted_vs_actual_svg(flat, "y"))
    assert len(svg.findall(f"{SVG}circle")) == 1


def test_residual_boxes_sit_either_side_of_zero_as_the_bias_goes():
    slices = {
        "carrier": [
            {"value": "UA", "rows": 300, "residuals": residuals(5.0, 1.0)},
            {"value": "AA", "rows": 200, "residuals": residuals(-5.0, 1.0)},
        ],
        "origin": [],
    }
    svg = ElementTree.fromstring(residuals_by_slice_svg(slices))
    zero = float(svg.find(f"{SVG}line").get("x1"))
    boxes = svg.findall(f"{SVG}rect")[1:]
    assert len(boxes) == 2
    under, over = (float(b.get("x")) for b in boxes)
    assert under > zero and over + float(boxes[1].get("width")) < zero  # UA predicted too low, AA too high
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "carrier=UA" in labels and "carrier=AA" in labels


def test_no_slices_draw_a_note():
    svg = ElementTree.fromstring(residuals_by_slice_svg({"carrier": []}))
    assert [t.text for t in svg.iter(f"{SVG}text")] == ["no slices"]


def test_a_markdown_image_carries_the_svg_itself():
    image = markdown_image("<svg/>", "a picture")
    assert image.startswith("![a picture](data:image/svg+xml;base64,")
    assert base64.b64decode(image.split("base64,")[1].rstrip(")")) == b"<svg/>"
