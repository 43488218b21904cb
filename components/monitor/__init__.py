"""Stage 8: monitor the served model (live quality, drift) and retrain it from feedback."""
