"""A real second process for the concurrency tests: `mlcycle` (or a registration) whose store pauses at a gate.

Usage::

    python gated_mlcycle.py GATE_DIR POINT ingest -c CONFIG
    python gated_mlcycle.py GATE_DIR POINT register USE_CASE MODEL_PATH CARD_TEXT

POINT is ``before-manifest``, ``after-manifest`` or ``none``. At the gate the process writes GATE_DIR/reached and
waits for GATE_DIR/go, whose text says what to do: ``continue``, or ``interrupt`` (it sends itself SIGINT, as
Ctrl-C would). The fault is injected by wrapping the store here, in test code; the product has no hook for it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from cli import datasets as datasets_cli
from cli.main import main
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore

GATE_DIR, POINT = Path(sys.argv[1]), sys.argv[2]


def gate(point: str) -> None:
    if point != POINT:
        return
    (GATE_DIR / "reached").write_text(point)
    go = GATE_DIR / "go"
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("gate never opened")
        time.sleep(0.01)
    if go.read_text().strip() == "interrupt":
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the KeyboardInterrupt is raised here, at the next bytecode


class GatedStore(ObjectStore):
    def create_json(self, bucket, key, payload):
        manifest = key.endswith("manifest.json")
        if manifest:
            gate("before-manifest")
        stored = super().create_json(bucket, key, payload)
        if manifest:
            gate("after-manifest")
        return stored


def gated_store() -> GatedStore:
    plain = ObjectStore.connect(s3_settings())
    return GatedStore(plain._client, plain.settings, plain.retry)


if __name__ == "__main__":
    # As in a terminal, whatever the parent ignored (a background job ignores SIGINT): Ctrl-C interrupts.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    command = sys.argv[3:]
    if command[0] == "register":
        from components.register.logic import register_model

        use_case, model_path, card_text = command[1:4]
        try:
            result = register_model(
                gated_store(),
                use_case,
                Path(model_path),
                lineage={"dataset_version": "ds-0123456789abcdef", "training": {"fit_seconds": time.time()}},
                blessed=True,
                card_markdown=card_text,
                card={"text": card_text},
            )
        except KeyboardInterrupt as interruption:
            print(f"interrupted {interruption}".strip(), file=sys.stderr)
            sys.exit(130)
        print(f"model version {result.ref.version} of {use_case!r} {result.outcome}")
    else:
        datasets_cli.store = gated_store
        main(command)
