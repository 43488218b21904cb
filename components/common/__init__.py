"""Helpers every stage shares: configuration, the object store, and dataset references."""
