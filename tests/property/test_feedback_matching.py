"""Feedback counts each served row once, in monitoring's live quality and in retraining's training rows.

Generated traffic goes through the real server class in process: multi-row prediction requests (rows
drawn from a small pool, so values repeat within and across requests), then feedback messages per row
(one message per row, each at row 0 of its own message) or per request, some rows never answered,
retries of a message, corrections (the same row with another truth, later), in any order across
requests, with or without the prediction's response. The server writes the feedback batches as it
would to S3; they are read back in key order, as monitoring and retraining ingestion read them.

Expected: one row per served row that got feedback, identified as the contract does (request id and
feature values: two identical rows of one request are one row), with the truth of its latest message.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import joblib
import pytest
from helpers import ORDERS_CONFIG, learnable_orders
from hypothesis import given
from hypothesis import strategies as st

from components.common.config import parse_use_case
from components.common.serving_logs import parse_lines, to_frame
from components.ingest.feedback import training_rows
from components.monitor.logic import labelled_feedback, live_quality
from components.serve import model as model_module
from components.serve.check import assemble_candidate
from components.serve.client import payload
from components.serve.model import Model
from components.serve.schema import build_serving_schema
from components.train.logic import fit
from components.train.trials import Trial

CONFIG = parse_use_case(ORDERS_CONFIG)
NAMES = list(CONFIG.features.all())
POOL = learnable_orders(6, seed=5)[NAMES]  # few distinct rows: repeats within and across requests


class RecordingStore:
    """Keeps what the server writes, as the bytes it sent."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def bucket(self, role: str) -> str:
        return role

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "") -> None:
        self.objects[f"{bucket}/{key}"] = data


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The server class with a small shop model, writing feedback to a recording store."""
    folder = Path(tmp_path_factory.mktemp("feedback-matching"))
    pipeline, _ = fit(learnable_orders(300, seed=1), CONFIG, Trial("logistic_regression"))
    joblib.dump(pipeline, folder / "model.joblib")
    version = assemble_candidate(folder / "model.joblib", build_serving_schema(CONFIG), folder / "version")
    store = RecordingStore()
    patch = pytest.MonkeyPatch()
    patch.setattr(model_module, "_store", lambda: store)
    model = Model(model_uri=str(version), request_log_rate=0.0, feedback=True, log_batch_rows=1)
    model.load()
    yield model, store
    model.close()
    patch.undo()


@dataclass(frozen=True)
class Message:
    request: int  # which prediction request it answers
    rows: tuple[int, ...]  # which of its rows
    truths: tuple[int, ...]
    with_response: bool


@st.composite
def traffic(draw):
    """Prediction requests (rows as indexes into POOL) and the feedback messages sent for them, in send order."""
    requests = draw(st.lists(st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=4), min_size=1, max_size=4))
    messages = []
    for number, rows in enumerate(requests):
        answered = draw(st.lists(st.integers(0, len(rows) - 1), unique=True, max_size=len(rows)))
        if not answered:
            continue
        per_row = draw(st.booleans())
        groups = [(row,) for row in answered] if per_row else [tuple(sorted(answered))]
        for group in groups:
            truths = tuple(draw(st.integers(0, 1)) for _ in group)
            messages.append(Message(number, group, truths, draw(st.booleans())))
    # Retries (the same message again) and corrections (the same rows, other truths), then any order.
    for message in list(messages):
        if draw(st.integers(0, 3)) == 0:
            messages.append(message)
        if draw(st.integers(0, 3)) == 0:
            messages.append(Message(message.request, message.rows, tuple(1 - t for t in message.truths), True))
    order = draw(st.permutations(range(len(messages))))
    return requests, [messages[i] for i in order]


def _expected(sent: list[dict], messages: list[Message]) -> Counter:
    """(feature values, truth) of each served row that got feedback, keyed as the contract keys rows
    (request id and feature values), with the truth of its latest message."""
    latest = {}
    for message in messages:
        request = sent[message.request]
        for row, truth in zip(message.rows, message.truths, strict=True):
            values = json.dumps([request["jsonData"][row][name] for name in NAMES])
            latest[(request["meta"]["puid"], values)] = truth
    return Counter((values, truth) for (_, values), truth in latest.items())


@given(traffic())
def test_each_served_row_with_feedback_counts_once_with_its_latest_truth(server, case):
    model, store = server
    requests, messages = case
    store.objects.clear()
    sent, answers = [], []
    for number, rows in enumerate(requests):
        request = json.loads(json.dumps(payload(POOL.iloc[rows], NAMES, "jsonData", puid=f"p-{number}")))
        sent.append(request)
        answers.append(model.predict_raw(request))
    for message in messages:
        request, answer, rows = sent[message.request], answers[message.request], list(message.rows)
        document = {
            "request": {"jsonData": [request["jsonData"][r] for r in rows], "meta": request["meta"]},
            "truth": {"data": {"ndarray": list(message.truths)}},
        }
        if message.with_response:
            document["response"] = {"jsonData": {"predictions": [answer["jsonData"]["predictions"][r] for r in rows]}}
        assert model.store_feedback(document) == len(rows)
    lines = [line for key in sorted(store.objects) for line in parse_lines(store.objects[key])[0]]
    frame = to_frame(lines, NAMES)
    expected = _expected(sent, messages)
    count = sum(expected.values())

    rows, dropped = training_rows(frame, CONFIG)  # retraining ingestion
    assert len(rows) == count and dropped["superseded"] == len(frame) - count
    learned = Counter(
        (json.dumps([row[name] for name in NAMES]), row[CONFIG.target.name]) for _, row in rows.iterrows()
    )
    assert learned == expected

    scored = labelled_feedback(frame)  # monitoring
    if not count:
        assert scored.empty
        return
    quality = live_quality(scored, [0, 1], {}, CONFIG)
    assert quality.rows == count
    per_truth = Counter(truth for (_, truth), times in expected.items() for _ in range(times))
    assert [sum(row) for row in quality.confusion] == [per_truth[0], per_truth[1]]
