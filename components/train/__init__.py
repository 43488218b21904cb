"""Stage 4: tune and train models."""
