"""Fixtures of the monitoring tests (the helpers live in serving_logs.py)."""

from __future__ import annotations

from integration.monitor.serving_logs import served, window_day  # noqa: F401  (fixtures)
