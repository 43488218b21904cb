"""Errors a person can act on.

Every mistake a user can make (a bad config, a missing source, wrong credentials) raises a
:class:`UserError`. The CLI prints it as one line with its hint and exits non-zero; anything else is a
bug and keeps its traceback. Exit codes: 2 for the user's input, 3 when the object store fails, 4 when
another writer changed the same thing first (:class:`LostRaceError`: nothing was written, run again).
"""

from __future__ import annotations


class UserError(Exception):
    """A problem in the user's input or environment, reported without a traceback.

    Args:
        message: What is wrong, naming the file, column, key or endpoint concerned.
        hint: How to fix it.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class ConfigError(UserError):
    """The use-case configuration is invalid."""


class SourceError(UserError):
    """A data source is missing, unreadable or malformed."""


class DataError(UserError):
    """The data does not fit the configuration (absent columns, nothing left after filtering)."""


class StorageError(UserError):
    """The object store cannot be reached or refuses the request."""

    exit_code = 3


class IntegrityError(StorageError):
    """An object's content does not match the sha256 recorded for it."""


class LostRaceError(UserError):
    """Another process changed the same pointer, index or branch first; nothing of this change was written.

    Running the command again works from what the other process wrote.
    """

    exit_code = 4


class NotFoundError(UserError):
    """A dataset version, model version or object does not exist."""
