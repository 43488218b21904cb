"""The HTML report as text: what it must contain, and nothing it would fetch."""

from __future__ import annotations

import dataclasses
import re

import pytest
from helpers import ORDERS_CONFIG, make_orders

from components.common.config import parse_use_case
from components.validate.logic import duplicate_fraction, infer_schema, statistics_in_process, validate_statistics
from components.validate.report import render_report


@pytest.fixture(scope="module")
def result():
    config = parse_use_case(ORDERS_CONFIG)
    schema = infer_schema(statistics_in_process({"all": make_orders(6000, seed=9)}), config)
    frames = {
        "train": make_orders(seed=1),
        "eval": make_orders(seed=2).assign(coupon="<b>x</b>"),
        "test": make_orders(seed=3),
    }
    previous = statistics_in_process({s: make_orders(seed=4, price_shift=12) for s in frames})
    duplicates = {s: duplicate_fraction([f]) for s, f in frames.items()}
    return validate_statistics(
        statistics_in_process(frames),
        schema,
        config,
        "ds-0123456789abcdef",
        previous,
        "ds-fedcba9876543210",
        duplicates,
        frames,
    )


def test_report_has_verdict_anomalies_distances_and_every_feature(result):
    page = render_report(result, "shop")
    assert "INVALID" in page and "ds-0123456789abcdef" in page and "ds-fedcba9876543210" in page
    assert page.count('<tr class="error">') == len(result.errors) > 0
    assert "SCHEMA_NEW_COLUMN" in page and "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH" in page
    for feature in ("quantity", "price", "channel", "ordered_at", "returned", "coupon"):
        assert f'data-feature="{feature}"' in page
    assert page.count('<svg class="chart"') == 7  # every column of the data has a chart
    # price drift alerts: distance, noise floor, threshold
    assert re.search(
        r'<td class="num alert">0\.\d+</td><td class="num">0\.\d+</td><td class="num">0\.1</td></tr>', page
    )
    assert '<table id="label">' in page and "<td>eval</td>" in page
    assert '<table id="relations">' in page and "one_feature_balanced_accuracy" in page and "pearson" in page


def test_report_escapes_data_and_references_nothing_outside(result):
    page = render_report(result, "shop")
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert not re.search(r"\b(src|href)=", page)


def test_a_regression_report_says_its_label_has_no_classes_and_where_its_checks_are(result):
    assert result.task == "classification"
    regression = dataclasses.replace(result, label_shares=[], task="regression")
    label = re.search(r'<table id="label">.*?</table>', render_report(regression, "shop")).group(0)
    assert "A numeric label (a regression): no classes to count" in label
    classification = re.search(r'<table id="label">.*?</table>', render_report(result, "shop")).group(0)
    assert "rows per class" in classification and "numeric label" not in classification
