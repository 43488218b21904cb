"""A small client of the Seldon REST protocol: payloads from DataFrames, predictions, feedback.

Standard library only (urllib), so the pipeline environment, the tests and the benchmark use it
without seldon_core.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

PREDICT_PATH = "/api/v1.0/predictions"
FEEDBACK_PATH = "/api/v1.0/feedback"


def json_value(value: Any) -> Any:
    """One cell as a JSON native: numpy scalars unwrapped, missing as None, timestamps as ISO text."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return json_value(value.item())
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def records(frame: pd.DataFrame, names: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of the named columns as JSON-native records."""
    columns = {name: [json_value(v) for v in frame[name].tolist()] for name in names}
    return [{name: columns[name][row] for name in names} for row in range(len(frame))]


def payload(
    frame: pd.DataFrame,
    names: Sequence[str],
    shape: Literal["ndarray", "jsonData"] = "ndarray",
    puid: str | None = None,
) -> dict[str, Any]:
    """A prediction request for the rows of a DataFrame, in either payload shape."""
    rows = records(frame, names)
    body: dict[str, Any]
    if shape == "jsonData":
        body = {"jsonData": rows}
    else:
        body = {"data": {"names": list(names), "ndarray": [[row[n] for n in names] for row in rows]}}
    if puid:
        body["meta"] = {"puid": puid}
    return body


def probabilities(answer: Mapping[str, Any]) -> tuple[list[str], np.ndarray]:
    """Class labels (as text) and probabilities of a prediction answer, in either shape."""
    if "data" in answer:
        return list(answer["data"]["names"]), np.asarray(answer["data"]["ndarray"], dtype="float64")
    predictions = answer["jsonData"]["predictions"]
    labels = list(predictions[0]["probabilities"]) if predictions else []
    return labels, np.asarray([[p["probabilities"][label] for label in labels] for p in predictions], dtype="float64")


def predictions(answer: Mapping[str, Any]) -> tuple[list[str], np.ndarray]:
    """A regressor's answer: its name (``[target]``; ``[]`` from jsonData, which names none) and a value per row."""
    if "data" in answer:
        values = np.asarray(answer["data"]["ndarray"], dtype="float64")
        return list(answer["data"]["names"]), values.reshape(len(values), -1)[:, 0] if values.size else values
    return [], np.asarray([p["prediction"] for p in answer["jsonData"]["predictions"]], dtype="float64")


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status and decoded JSON body (or the raw text when it is not JSON)."""

    status: int
    body: Any


def post(
    url: str, body: Any, timeout: float = 30.0, raw: bytes | None = None, content_type: str = "application/json"
) -> Reply:
    """POSTs JSON (or raw bytes) and returns the status and body, also for 4xx and 5xx answers."""
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    return _send(request, timeout)


def get(url: str, timeout: float = 10.0) -> Reply:
    """GETs a URL and returns the status and body."""
    return _send(urllib.request.Request(url), timeout)


def feedback_message(
    request: Mapping[str, Any], response: Mapping[str, Any] | None, truth: Sequence[Any]
) -> dict[str, Any]:
    """A Seldon feedback message: the request, the answer it got (optional) and the true classes (or values)."""
    message: dict[str, Any] = {"request": dict(request), "truth": {"data": {"ndarray": [json_value(t) for t in truth]}}}
    if response is not None:
        message["response"] = {k: v for k, v in response.items() if k in ("data", "jsonData", "meta")}
        message["response"]["meta"] = {k: v for k, v in response.get("meta", {}).items() if k in ("puid", "tags")}
    return message


def _send(request: urllib.request.Request, timeout: float) -> Reply:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return Reply(status, json.loads(text))
    except json.JSONDecodeError:
        return Reply(status, text)
