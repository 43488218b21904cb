"""Serving (stage 7): what the model server may write into its request and feedback logs."""

from __future__ import annotations

from dataclasses import dataclass

from components.common.config.loader import check_known


@dataclass(frozen=True)
class ServingSpec:
    """How the served model treats what it receives.

    Attributes:
        log_exclude: Features whose values the server never writes into its request or feedback
            logs (an e-mail, a customer id). The model still receives them; monitoring cannot
            measure their drift, and feedback rows lack them (retraining from feedback refuses).
    """

    log_exclude: tuple[str, ...] = ()


def check_serving(serving: ServingSpec, features: tuple[str, ...], where: str) -> None:
    """Checks that every excluded name is a feature of the use case (only features are logged).

    Args:
        serving: The serving settings.
        features: Every feature column of the use case (``FeatureSpec.all()``).
        where: What to call the use case in messages.

    Raises:
        ConfigError: Naming the first excluded name that is not a feature, and the closest feature.
    """
    check_known(
        serving.log_exclude,
        features,
        lambda name: f"serving.log_exclude names {name!r} in {where}, which is not a feature",
        "features",
    )
