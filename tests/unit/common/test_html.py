"""The shared parts of the HTML reports on hand-built statistics: escaping, feature lookup, the two charts."""

from __future__ import annotations

import re

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.common.html import (
    COLOURS,
    categorical_chart,
    escape,
    feature_name,
    find_feature,
    numeric_chart,
)


def numeric(buckets: list[tuple[float, float, float]]) -> statistics_pb2.FeatureNameStatistics:
    feature = statistics_pb2.FeatureNameStatistics(name="amount")
    histogram = feature.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    for low, high, count in buckets:
        histogram.buckets.add(low_value=low, high_value=high, sample_count=count)
    return feature


def categorical(counts: dict[str, float]) -> statistics_pb2.FeatureNameStatistics:
    feature = statistics_pb2.FeatureNameStatistics(name="channel")
    for label, count in counts.items():
        feature.string_stats.rank_histogram.buckets.add(label=label, sample_count=count)
    return feature


def test_escape_makes_any_value_safe_text():
    assert escape('<b a="1">&') == "&lt;b a=&quot;1&quot;&gt;&amp;"
    assert escape(3) == "3"


def test_features_are_named_by_their_path_or_their_name():
    dataset = statistics_pb2.DatasetFeatureStatistics()
    dataset.features.add(name="plain")
    nested = dataset.features.add()
    nested.path.step.extend(["order", "price"])
    assert [feature_name(f) for f in dataset.features] == ["plain", "order.price"]
    assert find_feature(dataset, "order.price") is dataset.features[1]
    assert find_feature(dataset, "absent") is None


def test_numeric_chart_draws_one_outline_per_dataset_in_its_colour_on_a_shared_axis():
    chart = numeric_chart(
        "a<b", {"train": numeric([(0, 5, 10), (5, 10, 30)]), "serving": numeric([(5, 20, 4)]), "eval": None}
    )
    assert chart.startswith('<svg class="chart"') and 'aria-label="distribution of a&lt;b"' in chart
    strokes = re.findall(r'<polyline fill="none" stroke="([^"]+)"', chart)
    assert strokes == [COLOURS["train"], "#000"]  # a dataset without a colour is drawn in black
    assert ">0</text>" in chart and ">20</text>" in chart  # the axis spans every dataset's buckets
    assert "no values" in numeric_chart("amount", {"train": statistics_pb2.FeatureNameStatistics()})


def test_categorical_chart_draws_the_top_values_of_train_for_each_dataset():
    chart = categorical_chart(
        "channel",
        {"train": categorical({"web": 6, "shop": 3, "fax": 1}), "eval": categorical({"shop": 5, "phone": 5})},
        top=2,
    )
    labels = re.findall(r'font-size="9">([^<]+)</text>', chart)
    assert labels == ["web", "shop"]  # ordered by train, at most `top`, values only eval has are left out
    assert chart.count(f'fill="{COLOURS["train"]}"') == 2 and chart.count(f'fill="{COLOURS["eval"]}"') == 2
    assert "<title>eval shop: 50.0%</title>" in chart and "<title>eval web: 0.0%</title>" in chart
    assert "no values" in categorical_chart("channel", {"train": None})
