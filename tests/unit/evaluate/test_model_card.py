"""The model card of a regressor: its task, metrics against the baselines, and its pictures with their figures."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ElementTree

import pytest

from components.evaluate.logic import analyse_model
from components.evaluate.model_card import model_card, render_markdown
from components.train.logic import fit
from components.train.trials import Trial

LINEAGE = {"dataset_version": "ds-1", "training": {"family": "hist_gradient_boosting", "params": {}}}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def regression_card(spend_config, spend_frames, boosted, ridge):
    analysis = analyse_model(
        boosted, spend_frames["train"], spend_frames["test"], spend_config, champion=ridge, champion_version="m-ridge"
    )
    return analysis, model_card(spend_config, analysis, LINEAGE)


def pictures(markdown: str) -> dict[str, ElementTree.Element]:
    """The card's data-URI images by their alternative text, parsed as SVG."""
    found = re.findall(r"!\[([^\]]+)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown)
    return {alt: ElementTree.fromstring(base64.b64decode(data)) for alt, data in found}


def test_a_regression_card_holds_the_task_and_the_picture_data_and_no_classes(regression_card):
    analysis, card = regression_card
    assert card["task"] == "regression" and "fractions" in card["task_reason"]
    assert card["predicted_vs_actual"] == analysis.predicted_vs_actual
    assert "classes" not in card and "confusion_matrix" not in card
    assert set(card["baselines"]) == {"mean", "linear_regression"}


def test_a_regression_card_shows_its_metrics_against_the_champion_and_the_baselines(regression_card):
    analysis, card = regression_card
    text = render_markdown(card)

    assert "Predicts `spend`, a number (a regression: numeric labels with fractions" in text
    assert "| metric | candidate | champion m-ridge | baseline: mean | baseline: linear regression |" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"rmse", "mae", "r2"} and "roc_auc" not in rows
    assert f"{analysis.metrics['rmse']:.4f}" in rows["rmse"]
    assert f"{analysis.baselines['mean']['rmse']:.4f}" in rows["rmse"]
    assert f"{analysis.champion['metrics']['r2']:.4f}" in rows["r2"]


def test_a_regression_card_draws_predicted_against_actual_and_residuals_by_slice(regression_card):
    analysis, card = regression_card
    text = render_markdown(card)
    drawn = pictures(text)

    assert set(drawn) == {"predicted against actual spend", "residuals by slice"}
    scatter = drawn["predicted against actual spend"]
    assert len(scatter.findall(f"{SVG}circle")) == len(analysis.predicted_vs_actual["points"]) == 400
    assert len(scatter.find(f"{SVG}polyline").get("points").split()) == 10
    boxes = drawn["residuals by slice"].findall(f"{SVG}rect")[1:]  # the first is the background
    assert len(boxes) == len(analysis.slices["channel"]) == 3
    # The figures of the pictures are in tables too, for a viewer without images.
    assert "| group | rows | mean predicted | mean actual |" in text
    first = analysis.predicted_vs_actual["bins"][0]
    assert f"| 1 | {first['rows']:,} | {first['predicted']:.4f} | {first['actual']:.4f} |" in text
    assert "| channel | rows | rmse | mae | r2 | mean residual | median residual |" in text
    gap = analysis.slice_gaps["channel"]["rmse"]
    assert f"Largest RMSE gap by `channel`: {gap['gap']:.4g} (best {gap['best']}, worst {gap['worst']})." in text
    phone = next(e for e in analysis.slices["channel"] if e["value"] == "phone")
    assert f"| phone | {phone['rows']:,} | {phone['metrics']['rmse']:.4f} |" in text


def test_a_classification_card_is_unchanged_in_shape(config, frames):
    model, _ = fit(frames["train"], config, Trial("logistic_regression"))
    analysis = analyse_model(model, frames["train"], frames["test"], config)
    card = model_card(config, analysis, LINEAGE)
    text = render_markdown(card)

    assert card["classes"] == [0, 1] and sum(map(sum, card["confusion_matrix"])) == 900
    assert "predicted_vs_actual" not in card and card["task"] == "classification"
    assert "Predicts `returned` (classes 0, 1)." in text and "data:image" not in text
    assert "| roc_auc |" in text and "| rmse |" not in text


def test_a_card_from_before_regression_renders_as_a_classifiers(config, frames):
    model, _ = fit(frames["train"], config, Trial("logistic_regression"))
    card = model_card(config, analyse_model(model, frames["train"], frames["test"], config), LINEAGE)
    old = {key: value for key, value in card.items() if key not in ("task", "task_reason")}
    assert render_markdown(old) == render_markdown(card)


def test_a_card_says_the_baselines_decide_when_the_champion_is_not_compared_and_no_floor_is_set(
    config, frames, spend_config, spend_frames, boosted
):
    classifier, _ = fit(frames["train"], config, Trial("logistic_regression"))
    analysis = analyse_model(boosted, spend_frames["train"], spend_frames["test"], spend_config, classifier, "m-c")
    text = render_markdown(model_card(spend_config, analysis, LINEAGE))
    assert "a regression one, so no metric is shared**: the baselines alone decide." in text
