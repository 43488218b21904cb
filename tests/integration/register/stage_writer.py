"""A stage writer in a process of its own, for the concurrency tests (tests/integration/register).

It connects to S3 from the environment, says ``ready``, then reads one JSON command a line on stdin:
``{"at": <epoch seconds>, "action": "set" | "rollback", "use_case": ..., "stage": ..., "version": ...}``.
It waits until ``at`` (so two writers act at the same instant), runs the command and answers one JSON
line on stdout: ``{"ok": true, "change": {...} | null}`` or ``{"ok": false, "error": "<one line>"}``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

from components.common.errors import UserError
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from components.register import logic as registry


def run(store: ObjectStore, command: dict) -> dict:
    try:
        if command["action"] == "set":
            change = registry.set_stage(
                store, command["use_case"], command["stage"], command["version"], reason=command.get("reason", "")
            )
        else:
            change = registry.rollback_stage(store, command["use_case"], command["stage"], reason="concurrency test")
    except UserError as error:
        return {"ok": False, "error": str(error)}
    return {"ok": True, "change": asdict(change) if change else None}


def main() -> None:
    store = ObjectStore.connect(s3_settings())
    store.check()
    print("ready", flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        time.sleep(max(0.0, command["at"] - time.time()))
        print(json.dumps(run(store, command)), flush=True)


if __name__ == "__main__":
    main()
