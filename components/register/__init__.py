"""Stage 6: the model registry."""
