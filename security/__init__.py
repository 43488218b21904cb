"""Security checks of what we ship: the dependency policy against both lock files, and `make audit`.

Development tooling run from the repository root (``python -m security.dependency_policy``,
``python -m security.audit``); no image ships it and no stage imports it.
"""
