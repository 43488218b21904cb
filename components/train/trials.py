"""Stage 4's trials: what tuning tries and how the best is chosen, without scikit-learn.

Planning (the search space into trials) and selection (the best of the scored trials) are tasks of their
own in the pipeline; this module keeps them free of scikit-learn so those processes start in a fraction
of a second. Fitting and scoring a trial is :mod:`components.train.logic`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from components.common.config import UseCaseConfig
from components.common.config.analysis import lower_is_better
from components.common.errors import DataError


@dataclass(frozen=True)
class Trial:
    """One candidate: a model family and its parameters."""

    family: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A short stable id (also a valid Kubernetes name part)."""
        text = json.dumps({"family": self.family, "params": self.params}, sort_keys=True)
        return f"{self.family.replace('_', '-')}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    def to_json(self) -> str:
        """The trial as JSON (what a pipeline passes to each ParallelFor iteration)."""
        return json.dumps({"family": self.family, "params": self.params}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Trial:
        """Reads a trial from :meth:`to_json` output."""
        data = json.loads(text)
        return cls(data["family"], data.get("params", {}))


@dataclass(frozen=True)
class TrialResult:
    """A scored trial (``task``: classification or regression, as the train labels decided)."""

    trial: Trial
    metric: str
    score: float
    eval_metrics: dict[str, float]
    fit_seconds: float
    task: str = "classification"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for artifacts and the model card."""
        return {
            **asdict(self),
            "trial": {"family": self.trial.family, "params": self.trial.params, "id": self.trial.id},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialResult:
        """Reads a result from :meth:`to_dict` output (as a task passes it to the next)."""
        trial = Trial(data["trial"]["family"], data["trial"]["params"])
        return cls(
            trial,
            data["metric"],
            float(data["score"]),
            data["eval_metrics"],
            float(data["fit_seconds"]),
            data.get("task", "classification"),
        )


def search_trials(config: UseCaseConfig) -> list[Trial]:
    """Every combination of the search space, cut to ``max_trials`` in a seeded random order.

    Parameters are not checked here (that needs the estimators): :func:`components.train.logic.expand_trials`
    checks them before a run, and each trial's fit refuses one its estimator lacks.
    """
    trials = []
    for space in config.training.search:
        names = sorted(space.params)
        for values in itertools.product(*(space.params[name] for name in names)):
            trials.append(Trial(space.family, dict(zip(names, values, strict=True))))
    if len(trials) > config.training.max_trials:
        chosen = sorted(random.Random(config.training.seed).sample(range(len(trials)), config.training.max_trials))
        trials = [trials[i] for i in chosen]
    return trials


def select_best(results: Sequence[TrialResult]) -> TrialResult:
    """The best trial by its metric (lowest for losses and errors); ties go to the earlier trial.

    A trial whose score is NaN (undefined on the eval rows) ranks after every scored one.
    """
    if not results:
        raise DataError("no trial results to choose from")
    sign = 1 if lower_is_better(results[0].metric) else -1
    return min(enumerate(results), key=lambda pair: (math.isnan(pair[1].score), sign * pair[1].score, pair[0]))[1]
