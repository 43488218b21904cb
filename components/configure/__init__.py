"""Run configuration: one run's overrides applied to the use case before any stage reads it."""
