"""The monitoring report as text: decision, traffic, live quality, every feature's drift, nothing fetched."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from helpers import ORDERS_CONFIG, make_orders

from components.common.config import parse_use_case
from components.common.serving_logs import Window
from components.monitor.logic import measure_drift, serving_frame
from components.monitor.report import render_report
from components.monitor.results import HEALTHY, Decision, LiveQuality, MonitoringResult
from components.validate.logic import infer_schema, split_statistics, statistics_in_process

CONFIG = parse_use_case(ORDERS_CONFIG + "monitoring: {quality: {floors: {roc_auc: 0.7}, max_drop: {roc_auc: 0.05}}}\n")
WINDOW = Window(datetime(2026, 11, 27, tzinfo=timezone.utc), datetime(2026, 11, 28, tzinfo=timezone.utc))


def result_with(decision: Decision, quality: LiveQuality | None, served=True, unlogged=()) -> MonitoringResult:
    schema = infer_schema(statistics_in_process({"all": make_orders(3000, seed=9)}), CONFIG)
    train = split_statistics(statistics_in_process({"train": make_orders(2000, seed=1)}, schema), "train")
    frames = make_orders(500, seed=4, price_shift=30).assign(
        channel=lambda f: f["channel"].where(f.index > 0, "<b>x</b>")
    )
    logged = (
        frames[list(CONFIG.features.all())]
        .astype(object)
        .assign(ordered_at=lambda f: f["ordered_at"].map(str), quantity=None)
    )
    serving = statistics_in_process({"serving": serving_frame(logged, CONFIG, schema, unlogged)}, schema)
    distances, unmeasured, findings = (
        measure_drift(serving, train, schema, CONFIG, unlogged) if served else ([], list(CONFIG.features.all()), [])
    )
    statistics = train if not served else type(train)(datasets=[train.datasets[0], serving.datasets[0]])
    return MonitoringResult(
        "shop",
        "m-0123456789abcdef",
        "ds-0123456789abcdef",
        WINDOW,
        500 if served else 0,
        120,
        100,
        {"m-0123456789abcdef": {"requests": 500, "feedback": 120}} if served else {},
        None,
        distances,
        unmeasured,
        findings,
        quality,
        decision,
        statistics,
        {"requests": [{"key": "k", "sha256": "s", "lines": 500}]},
        {"feedback": 2},
        list(unlogged),
    )


@pytest.fixture(scope="module")
def page():
    quality = LiveQuality(
        100,
        {"roc_auc": 0.61, "pr_auc": 0.4, "accuracy": 0.7},
        {"roc_auc": 0.8, "pr_auc": 0.5},
        [0, 1],
        [[40, 10], [20, 30]],
        [],
        {"channel": [{"value": "web", "rows": 60, "metrics": {"roc_auc": 0.6, "pr_auc": 0.4, "accuracy": 0.7}}]},
        {},
        {"truth_not_a_class": 3},
    )
    decision = Decision(True, "retrain", ("live roc_auc 0.6100 is below the floor 0.7",), ("note <i>one</i>",))
    return render_report(result_with(decision, quality), CONFIG.monitoring)


def test_the_report_gives_the_decision_traffic_quality_and_every_feature(page):
    assert '<p id="verdict" class="invalid"><strong>RETRAIN</strong>' in page
    assert "live roc_auc 0.6100 is below the floor 0.7" in page and "note &lt;i&gt;one&lt;/i&gt;" in page
    assert "2026-11-27T00:00:00Z to 2026-11-28T00:00:00Z" in page and "ds-0123456789abcdef" in page
    assert "malformed feedback lines skipped" in page and "3 truth not a class" in page
    assert re.search(
        r'<td class="num alert">-0\.1900</td><td class="num">0\.7</td><td class="num">0\.05</td>', page
    )  # roc_auc row
    drift = page[page.index('<table id="drift">') : page.index("</table>", page.index('<table id="drift">'))]
    for feature in ("price", "channel", "ordered_at"):
        assert f'data-feature="{feature}"' in drift
    assert "<td>quantity</td><td>–</td><td>–</td><td>–</td><td>not measured: no values served</td>" in drift
    assert re.search(r'data-feature="price"><td>price</td><td>jensen_shannon</td><td class="num alert">', drift)
    assert page.count('<svg class="chart"') == 4  # every served feature over train (quantity: train alone)


def test_the_report_escapes_data_and_references_nothing_outside(page):
    assert "<b>x</b>" not in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert not re.search(r"\b(src|href)=", page)


def test_an_empty_window_still_gives_a_report():
    empty = render_report(
        result_with(
            Decision(False, "insufficient_evidence", (), ("the window holds no logged requests: drift not judged",)),
            None,
            served=False,
        )
    )
    assert (
        "INSUFFICIENT EVIDENCE" in empty
        and "No ground truth arrived" in empty
        and "No rows were served in the window." in empty
    )
    healthy = render_report(result_with(Decision(False, HEALTHY, (), ()), None), None)
    assert '<p id="verdict" class="valid"><strong>HEALTHY</strong>: retrain no.</p>' in healthy


def test_a_feature_not_logged_is_reported_as_unmeasured_without_a_distance():
    note = "channel not logged (serving.log_exclude): drift not measured"
    result = result_with(Decision(False, HEALTHY, (), (note,)), None, unlogged=("channel",))
    assert "channel" not in {d.feature for d in result.distances} and result.unmeasured == ["quantity"]
    page = render_report(result)
    drift = page[page.index('<table id="drift">') : page.index("</table>", page.index('<table id="drift">'))]
    assert (
        '<tr data-feature="channel" class="unlogged"><td>channel</td><td>–</td><td>–</td><td>–</td>'
        "<td>not measured: not logged (serving.log_exclude)</td></tr>"
    ) in drift
    features = page[page.index('<table id="features">') :]
    assert "<strong>channel</strong></td><td>not logged (serving.log_exclude): the served values are not known" in (
        features
    )
    assert page.count('<svg class="chart"') == 3  # one fewer than with channel logged: no chart of it
    assert f"note:   {note}" in result.summary()
    assert result.to_json()["unlogged"] == {"channel": "not logged (serving.log_exclude)"}
    assert not any(name.startswith("drift_channel") for name in result.metrics())
    assert result.metrics()["unlogged_features"] == 1.0


def test_a_regressors_report_shows_its_errors_by_slice_and_no_confusion_matrix():
    quality = LiveQuality(
        80,
        {"rmse": 7.5, "mae": 5.25, "r2": 0.61},
        {"rmse": 6.0, "mae": 4.5, "r2": 0.7},
        [],
        [],
        [],
        {"channel": [{"value": "web", "rows": 60, "metrics": {"rmse": 7.0, "mae": 5.0, "r2": 0.64}}]},
        {},
        {"truth_not_a_number": 2},
        task="regression",
    )
    decision = Decision(True, "retrain", ("live rmse 7.5000 is above the ceiling 7",), ())
    result = result_with(decision, quality)
    page = render_report(result, CONFIG.monitoring)
    table = page[page.index('<table id="quality">') : page.index("</table>", page.index('<table id="quality">'))]
    assert [row.split("</td>")[0] for row in table.split("<tr><td>")[1:]] == ["rmse", "mae", "r2"]
    assert '<td class="num">+1.5000</td>' in table  # rmse grew: worse
    assert '<table id="confusion">' not in page and "2 truth not a number" in page
    assert "<th>channel</th><th>rows</th><th>rmse</th><th>mae</th><th>r2</th>" in page
    assert "live:   rmse 7.5000 (offline 6.0000), mae 5.2500 (offline 4.5000), r2 0.6100 (offline 0.7000)" in (
        result.summary()
    )
    assert result.metrics()["live_rmse"] == 7.5 and result.to_json()["quality"]["task"] == "regression"
