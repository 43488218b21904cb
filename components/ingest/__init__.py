"""Stage 1: ingest and version data."""
