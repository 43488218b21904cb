"""A drafted use case as the commented YAML file a person reviews (see components.common.config.drafting).

Values are written as JSON, which YAML reads as they are (any column name, quoted), and every choice
carries its reason as a comment.
"""

from __future__ import annotations

import json
from typing import Any

from components.common.config.drafting import MIN_ROWS_TO_TUNE, UseCaseDraft

COMMENT_COLUMN = 40


def render_use_case(draft: UseCaseDraft, schema_file: str) -> str:
    """Returns the use-case YAML of a draft, with a comment giving the reason of each choice.

    Args:
        draft: The drafted use case.
        schema_file: The schema file's name beside the YAML, for the header.
    """
    lines = [
        f"# Drafted by `mlcycle init` from {draft.uri} ({draft.rows:,} rows with a label). Review each choice",
        f"# (the comments say why it was made), and the schema inferred beside this file ({schema_file}):",
        "# domains, presence and types there are what validation holds later versions of the data to.",
        f"name: {_value(draft.name)}",
        f"description: {_value(f'Predict {draft.target} from the other columns of {_file_name(draft.uri)}.')}",
        "",
        "sources:",
        "  data:",
        f"    uri: {_value(draft.uri)}",
        "",
        "target:",
        f"  name: {_value(draft.target)}",
        _commented(f"  task: {draft.task}", draft.task_reason),
        _commented("  missing: drop", "rows without a label are left out"),
        "",
        "features:                               # move a column to another kind, or out, as you see fit",
    ]
    for kind in ("numeric", "categorical", "datetime"):
        chosen = [c for c in draft.columns if c.kind == kind]
        if not chosen:
            lines.append(f"  {kind}: []")
            continue
        lines.append(f"  {kind}:")
        lines.extend(_commented(f"    - {_value(c.name)}", c.reason) for c in chosen)
    left_out = [c for c in draft.columns if c.kind == "left_out"]
    if left_out:
        lines += ["", "# Left out (list one under features to use it):"]
        lines.extend(
            f"#   {c.name}: {c.reason}" + ("" if c.dropped else " (kept: it identifies rows)") for c in left_out
        )
    if draft.dropped:
        lines.append(_commented(f"drop: {_value(list(draft.dropped))}", "not kept in the dataset"))
    lines += ["", *_split_lines(draft), "", *_validation_lines(draft), "", *_training_lines(draft)]
    lines += ["", *_analysis_lines(draft)]
    return "\n".join(lines) + "\n"


def _split_lines(draft: UseCaseDraft) -> list[str]:
    split = draft.split
    lines = [f"# {draft.split_reason}", "split:", f"  method: {split.method}"]
    if split.method == "time":
        share = f"{_train_share(draft):.0%}"
        return [
            *lines,
            f"  column: {_value(split.column)}",
            _commented(f"  train_end: {_value(split.train_end)}", f"the first {share} of the times train"),
            _commented(f"  eval_end: {_value(split.eval_end)}", "then half the rest evaluates, the newest rows test"),
        ]
    return [
        *lines,
        _commented(f"  key: {_value(list(split.key))}", "the whole row; name id columns instead if the data has them"),
        _commented(f"  salt: {_value(split.salt)}", "another salt, another assignment of the same rows"),
        f"  fractions: {_value(dict(split.fractions))}",
    ]


def _train_share(draft: UseCaseDraft) -> float:
    return float(draft.split.fractions["train"])


def _validation_lines(draft: UseCaseDraft) -> list[str]:
    duplicates = (
        f"this file has {draft.duplicate_share:.2%} duplicated rows; more in a split blocks training"
        if draft.duplicate_share
        else "share of duplicated rows in a split that still passes"
    )
    return [
        "validation:                             # thresholds: see README, section 'Your own data'",
        _commented(f"  min_rows: {draft.min_rows}", "half of this file's smallest split; fewer rows block training"),
        _commented(f"  max_duplicate_fraction: {draft.max_duplicate_fraction:g}", duplicates),
        *_skew_lines(draft),
    ]


def _skew_lines(draft: UseCaseDraft) -> list[str]:
    if not draft.skew:
        return []
    numeric, categorical = draft.skew
    why = "train is earlier than eval: seasons and trends move distributions; larger gaps block"
    if not draft.raised_skew:
        return [_commented(f"  skew: {{numeric: {numeric:g}, categorical: {categorical:g}}}", why)]
    split = draft.split
    periods = f"train before {split.train_end} vs eval from {split.train_end} to before {split.eval_end}"
    return [
        _commented("  skew:", why),
        f"    numeric: {numeric:g}",
        f"    categorical: {categorical:g}",
        f"    # Measured on this file: a time split across seasons ({periods}); a larger gap blocks.",
        "    features:",
        *(
            _commented(
                f"      {_value(raised.feature)}: {raised.threshold:g}",
                f"measured {raised.measured:.3f} train vs eval",
            )
            for raised in draft.raised_skew
        ),
    ]


def _training_lines(draft: UseCaseDraft) -> list[str]:
    if draft.rows < MIN_ROWS_TO_TUNE:
        size = f"{draft.rows} rows: too few eval rows to choose among trials, one regularised linear model"
    else:
        size = "few rows: no boosting" if draft.rows < 2_000 else f"{draft.rows:,} rows"
    lines = []
    if draft.features.datetime:
        parts = _value(list(draft.datetime_parts))
        lines += ["preprocessing:", _commented(f"  datetime_parts: {parts}", "calendar parts of datetime features"), ""]
    lines += [
        _commented("training:", f"a small search for {size}"),
        "  seed: 42",
        f"  max_trials: {draft.max_trials}",
        "  search:",
    ]
    for space in draft.search:
        params = {name: list(values) for name, values in space.params.items()}
        lines += [f"    - family: {space.family}", f"      params: {_value(params)}"]
    return lines


def _analysis_lines(draft: UseCaseDraft) -> list[str]:
    slices = "categorical features with the fewest values" if draft.slices else "no categorical feature with few values"
    return [
        "analysis:",
        _commented(f"  slices: {_value(list(draft.slices))}", slices),
        _commented(f"  min_slice_rows: {draft.min_slice_rows}", "smaller slices of the test split are not reported"),
    ]


def _commented(line: str, comment: str) -> str:
    return f"{line.ljust(COMMENT_COLUMN - 1)} # {comment}"


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _file_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]
