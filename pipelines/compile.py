"""Compiles every pipeline to the IR YAML committed next to its source (`make compile`)."""

from __future__ import annotations

import sys
from pathlib import Path

from kfp import compiler

from pipelines.monitoring_pipeline import monitoring_pipeline
from pipelines.training_pipeline import training_pipeline

PIPELINES = {
    Path(__file__).with_name("training_pipeline.yaml"): training_pipeline,
    Path(__file__).with_name("monitoring_pipeline.yaml"): monitoring_pipeline,
}


def compile_all(folder: Path | None = None) -> list[Path]:
    """Compiles each pipeline; into ``folder`` when given (tests), else next to its source."""
    written = []
    for target, pipeline in PIPELINES.items():
        path = (folder / target.name) if folder else target
        compiler.Compiler().compile(pipeline, str(path))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in compile_all():
        print(f"compiled {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}", file=sys.stderr)
