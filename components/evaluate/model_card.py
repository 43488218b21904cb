"""The model card: what a model is for, what it was made from, how good it is and why it was blessed.

One JSON document (for machines and the registry) and its Markdown rendering (shown in the KFP UI
and read by the reviewer of a promotion commit). A regressor's card also draws its predictions against
the actual values and its residuals by slice (charts.py), since the KFP UI's ClassificationMetrics does
not apply to it; a card without a ``task`` is a classifier's (cards from before regression).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from components.common.config import UseCaseConfig
from components.common.metrics import REGRESSION_METRICS, difference_text
from components.common.provenance import code_version
from components.evaluate.charts import markdown_image, predicted_vs_actual_svg, residuals_by_slice_svg
from components.evaluate.logic import Analysis

SHOWN_METRICS = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier")
SHOWN_BY_TASK = {"classification": SHOWN_METRICS, "regression": REGRESSION_METRICS}


def lineage_of(
    dataset_version: str, schema_text: str, record: dict[str, Any], analysis: Analysis, trials: list[dict[str, Any]]
) -> dict[str, Any]:
    """Where a model came from, as the registry and the model card record it.

    The registry compares versions by ``metrics`` and ``parameters``; the rest is for people.
    """
    return {
        "dataset_version": dataset_version,
        "schema_sha256": hashlib.sha256(schema_text.encode()).hexdigest(),
        "code_version": code_version(),
        "training": {k: v for k, v in record.items() if k != "trials"},
        "parameters": {"family": record["family"], **record["params"]},
        "metrics": analysis.metrics,
        "champion": analysis.champion,
        "blessing": {"blessed": analysis.blessing.blessed, "reasons": list(analysis.blessing.reasons)},
        "trials": trials,
    }


def model_card(config: UseCaseConfig, analysis: Analysis, lineage: dict[str, Any]) -> dict[str, Any]:
    """The card as plain data.

    Args:
        config: The use case.
        analysis: The model analysis on the test split.
        lineage: Dataset version, schema digest, code version, training record and tuning results.
    """
    card = {
        "use_case": config.name,
        "intended_use": config.description or f"Predict {config.target.name!r} from the features below.",
        "target": config.target.name,
        "task": analysis.task,
        "task_reason": analysis.task_reason,
        "features": {
            "numeric": list(config.features.numeric),
            "categorical": list(config.features.categorical),
            "datetime": list(config.features.datetime),
        },
        "lineage": lineage,
        "test_rows": analysis.rows,
        "metrics": analysis.metrics,
        "baselines": analysis.baselines,
        "baseline_differences": analysis.baseline_differences,
        "differences_grouped_by": analysis.differences_grouped_by,
        "slices": analysis.slices,
        "slice_gaps": analysis.slice_gaps,
        "champion": analysis.champion,
        "blessing": {"blessed": analysis.blessing.blessed, "reasons": list(analysis.blessing.reasons)},
    }
    if analysis.task == "regression":
        card["predicted_vs_actual"] = analysis.predicted_vs_actual
    else:
        card.update(classes=analysis.classes, confusion_matrix=analysis.confusion)
    return card


def render_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown."""
    blessing = card["blessing"]
    lineage = card["lineage"]
    training = lineage.get("training", {})
    features = card["features"]
    regression = card.get("task") == "regression"
    predicts = (
        f"Predicts `{card['target']}`, a number (a regression: {card.get('task_reason', '')}). "
        if regression
        else f"Predicts `{card['target']}` (classes {', '.join(map(str, card['classes']))}). "
    )
    lines = [
        f"# Model card: {card['use_case']}",
        "",
        f"**{'BLESSED' if blessing['blessed'] else 'NOT BLESSED'}**: " + "; ".join(blessing["reasons"]) + ".",
        "",
        "## Intended use",
        card["intended_use"],
        predicts + "Not for decisions about individuals without review.",
        "",
        "## Data and lineage",
        f"- dataset version: `{lineage.get('dataset_version')}`",
        f"- schema sha256: `{str(lineage.get('schema_sha256', ''))[:16]}…`",
        f"- code version: `{lineage.get('code_version')}`",
        f"- model: {training.get('family')} {training.get('params')} (seed {training.get('seed')}, "
        f"{training.get('rows', 0):,} rows, fitted in {training.get('fit_seconds')} s)",
        f"- features: {', '.join(features['numeric'] + features['categorical'] + features['datetime'])}",
        "",
        f"## Metrics on the test split ({card['test_rows']:,} rows)",
        _metrics_table(card),
        "",
        *_difference_lines(card),
        *_champion_lines(card),
    ]
    if regression:
        lines += _regression_lines(card)
    elif card["slices"]:
        lines += ["## By slice", ""]
        for column, entries in card["slices"].items():
            gap = card["slice_gaps"].get(column, {}).get("roc_auc")
            if gap:
                lines.append(
                    f"Largest ROC-AUC gap by `{column}`: {gap['gap']:.3f} (best {gap['best']}, worst {gap['worst']})."
                )
            lines += ["", f"| {column} | rows | roc_auc | pr_auc | accuracy |", "|---|---:|---:|---:|---:|"]
            for entry in entries:
                m = entry["metrics"]
                lines.append(
                    f"| {entry['value']} | {entry['rows']:,} | {_f(m['roc_auc'])} | {_f(m['pr_auc'])} "
                    f"| {_f(m['accuracy'])} |"
                )
            lines.append("")
    trials = lineage.get("trials", [])
    if trials:
        lines += [
            "## Tuning (scored on the eval split)",
            "",
            "| trial | family | parameters | score |",
            "|---|---|---|---:|",
        ]
        for trial in trials:
            lines.append(
                f"| {trial['trial']['id']} | {trial['trial']['family']} | {trial['trial']['params']} "
                f"| {_f(trial['score'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def _regression_lines(card: dict[str, Any]) -> list[str]:
    """A regressor's pictures and their figures: predicted against actual, then metrics and residuals by slice."""
    lines = []
    data = card.get("predicted_vs_actual") or {}
    if data.get("bins"):
        shown = len(data.get("points", []))
        lines += [
            "## Predicted against actual",
            "",
            markdown_image(predicted_vs_actual_svg(data, card["target"]), f"predicted against actual {card['target']}"),
            "",
            f"{shown:,} of {data['rows']:,} test rows as points; the dashed diagonal is a perfect prediction, and "
            f"the line joins the means of {len(data['bins'])} groups of rows of equal size by predicted value:",
            "",
            "| group | rows | mean predicted | mean actual |",
            "|---:|---:|---:|---:|",
            *(
                f"| {number} | {group['rows']:,} | {_f(group['predicted'])} | {_f(group['actual'])} |"
                for number, group in enumerate(data["bins"], 1)
            ),
            "",
        ]
    if card["slices"]:
        lines += ["## By slice", "", "Residuals are actual minus predicted: positive means predicted too low.", ""]
        for column, entries in card["slices"].items():
            gap = card["slice_gaps"].get(column, {}).get("rmse")
            if gap:
                lines += [
                    f"Largest RMSE gap by `{column}`: {gap['gap']:.4g} (best {gap['best']}, worst {gap['worst']}).",
                    "",
                ]
            lines += [
                f"| {column} | rows | rmse | mae | r2 | mean residual | median residual |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for entry in entries:
                m, r = entry["metrics"], entry["residuals"]
                lines.append(
                    f"| {entry['value']} | {entry['rows']:,} | {_f(m['rmse'])} | {_f(m['mae'])} | {_f(m['r2'])} "
                    f"| {_f(r['mean'])} | {_f(r['median'])} |"
                )
            lines.append("")
        if any(card["slices"].values()):
            lines += [markdown_image(residuals_by_slice_svg(card["slices"]), "residuals by slice"), ""]
    return lines


def _champion_lines(card: dict[str, Any]) -> list[str]:
    """How the champion was compared: on which rows, or why not at all (cards from before say nothing)."""
    champion = card.get("champion") or {}
    if "compared" not in champion:
        return []
    if not champion["compared"]:
        # The blessing's reason says who decided instead: the floors, or with none the baselines.
        said = next((r for r in card["blessing"]["reasons"] if r.startswith(f"{champion['not_compared']}: ")), "")
        deciders = said.rpartition(": ")[2] or "the floors alone decide"
        return [f"**{champion['not_compared'][0].upper()}{champion['not_compared'][1:]}**: {deciders}.", ""]
    lines = [f"The champion {champion['version']} was scored with its own features on {champion['rows']:,} test rows."]
    overlap = champion.get("training_overlap") or {}
    if overlap.get("unknown"):
        lines.append(f"Whether it was trained on test rows is unknown ({overlap['unknown']}).")
    elif overlap.get("rows"):
        lines.append(
            f"{overlap['rows']:,} test rows were in its training split (dataset version {overlap['dataset_version']}) "
            "and are left out of the comparison."
        )
    return [" ".join(lines), ""]


def _difference_lines(card: dict[str, Any]) -> list[str]:
    """The candidate's lead over the champion and each baseline, with its interval (cards from before: none)."""
    champion = card.get("champion") or {}
    found = []
    if champion.get("difference"):
        rows = champion["rows"]
        where = f" (on its {rows:,} rows)" if rows != card["test_rows"] else ""
        found.append((f"the champion {champion['version']}{where}", champion["difference"]))
    found += [
        (f"the {name.replace('_', ' ')} baseline", difference)
        for name, difference in (card.get("baseline_differences") or {}).items()
    ]
    if not found:
        return []
    grouped_by = card.get("differences_grouped_by")
    together = (
        f" Rows that share {grouped_by} move together, so they are taken as one: the interval is that of the "
        "groups, wider than that of independent rows."
        if grouped_by
        else ""
    )
    return [
        "The test rows are a sample, so each gap below comes with its 95% interval (a paired test on the same "
        "rows: DeLong's for ROC-AUC, the delta method for RMSE; a p-value under 0.05 means the gap is unlikely "
        f"to be noise).{together}",
        "",
        "| candidate against | difference |",
        "|---|---|",
        *(f"| {who} | {difference_text(difference)} |" for who, difference in found),
        "",
    ]


def _metrics_table(card: dict[str, Any]) -> str:
    columns = [("candidate", card["metrics"])]
    champion = card["champion"]
    if champion and champion.get("metrics"):
        if champion.get("rows", card["test_rows"]) != card["test_rows"]:
            columns.append((f"candidate on the champion's {champion['rows']:,} rows", champion["candidate_metrics"]))
        columns.append((f"champion {champion['version']}", champion["metrics"]))
    columns += [(f"baseline: {name.replace('_', ' ')}", values) for name, values in card["baselines"].items()]
    head = "| metric | " + " | ".join(name for name, _ in columns) + " |"
    rule = "|---|" + "---:|" * len(columns)
    rows = [
        f"| {metric} | " + " | ".join(_f(values.get(metric, float("nan"))) for _, values in columns) + " |"
        for metric in SHOWN_BY_TASK[card.get("task", "classification")]
    ]
    return "\n".join([head, rule, *rows])


def _f(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
