"""The stages of the model life cycle, one package each, and what they share (components.common)."""
