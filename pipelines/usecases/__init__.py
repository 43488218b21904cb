"""The use cases that ship with mlcycle: their YAML files and curated schemas live beside this module."""

from pathlib import Path

# The demo use case (New York flights of 2013): what `make run` trains and every command defaults to.
DEMO_CONFIG = Path(__file__).with_name("flights.yaml")
