"""The pipelines (their wiring, compilation, local and in-process runs) and the orchestration above the stages."""
