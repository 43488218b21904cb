"""References to immutable versions of a use case: datasets and models share one layout.

``<use_case>/<version>/...`` holds a version's objects, and its ``manifest.json`` is written last:
a version without a manifest is invisible to every reader.
"""

from __future__ import annotations

from dataclasses import dataclass

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class VersionRef:
    """One version of one use case."""

    use_case: str
    version: str

    @property
    def prefix(self) -> str:
        """The key prefix of the version's objects."""
        return f"{self.use_case}/{self.version}/"

    @property
    def manifest_key(self) -> str:
        """The key of the manifest."""
        return self.key(MANIFEST)

    def key(self, name: str) -> str:
        """The key of one of the version's objects."""
        return f"{self.prefix}{name}"
