"""Stage 5: analyse models and decide their blessing."""
