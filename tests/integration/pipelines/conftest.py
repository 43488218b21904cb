"""Fixtures of the in-process runs that need a served model and its logs (helpers of the monitoring tests)."""

from __future__ import annotations

from integration.monitor.serving_logs import served, window_day  # noqa: F401  (fixtures)
