"""A pipeline step that fails on a marker value: pickled into a test model, imported by the real server.

It stands for a bug inside a model (the schema allows the value, the model breaks on it), so the
tests can show that the server answers 500 without internals and keeps serving.
"""

from __future__ import annotations

import pandas as pd

MARKER = -999


def fail_on_marker(frame: pd.DataFrame) -> pd.DataFrame:
    """Passes rows through; raises on a quantity equal to MARKER."""
    if (frame["quantity"] == MARKER).any():
        raise ValueError("secret internal detail: the model broke")
    return frame
