"""The refusal every part of the fast path raises at compile time for what it cannot reproduce exactly."""

from __future__ import annotations

from components.common.errors import UserError


class UnsupportedModel(UserError):
    """The pipeline has a part the fast path cannot reproduce exactly; use scikit-learn for it.

    Attributes:
        reason: What the fast path cannot reproduce, in one phrase.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"no fast prediction path: {reason}", hint="predict with the scikit-learn pipeline itself")
        self.reason = reason
