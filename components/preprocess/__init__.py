"""Stage 3: preprocess features."""
