"""The one place image references come from, so the compiled pipeline spec is deterministic.

`make images` tags what it builds with these names; components use them as their base image.
The registry is the kind cluster's local registry (see kind-config.yaml); a fork that pushes
elsewhere changes REGISTRY here and recompiles.
"""

REGISTRY = "localhost:5001"
TAG = "0.1.0"
PIPELINE_IMAGE = f"{REGISTRY}/mlcycle-pipeline:{TAG}"
SERVING_IMAGE = f"{REGISTRY}/mlcycle-serving:{TAG}"
