"""The messages between the TIFeD ServerApp and the ClientApp in `tifed node`.

| message_type  | server sends                                   | node answers                                  |
|---------------|------------------------------------------------|-----------------------------------------------|
| query.join    | run: training (JSON)                           | report: offset, boards, families, host, and   |
|               |                                                | per device firmware, link (devices started)   |
| train         | model (ArrayRecord), round: round, buffer,     | updates (ArrayRecord: every device's trained  |
|               |                                                | layers, tensors.devices_record);              |
|               | epoch, devices, last                           | report: per device counter, wire bytes, data  |
|               |                                                | digest, or the device's error; after the last |
|               |                                                | round also firmware, link (devices stopped)   |
| query.finish  | -                                              | report: firmware, link per device (stopped)   |

Every exchange costs a trip through the SuperLink and a SuperNode poll
(docs/FLOWER.md, "Speed"), so a run has as few as it can: `join` both introduces a node and starts its devices,
and the last `train` stops them; `finish` is only for a run that ends early.

Tensors are raw int32 (tensors.py). Everything else rides in a ConfigRecord
as one JSON text under "json": plain, and free of Flower's value-type rules.
A node that cannot do what it is asked answers {"error": "<one line>"}.
"""
from __future__ import annotations

import json
from typing import Any

from flwr.app import ConfigRecord, Message, MessageType, RecordDict

from tifed.errors import ProtocolError, fold

JOIN = f"{MessageType.QUERY}.join"
TRAIN = MessageType.TRAIN
FINISH = f"{MessageType.QUERY}.finish"

REPORT = "report"  # ConfigRecord with the JSON answer
RUN = "run"  # ConfigRecord with the JSON request
MODEL = "model"  # ArrayRecord: the global model
UPDATES = "updates"  # ArrayRecord: the node's devices' trained layers


def json_record(value: Any) -> ConfigRecord:
    return ConfigRecord({"json": json.dumps(value, sort_keys=True)})


def read_json(content: RecordDict, key: str, what: str) -> Any:
    try:
        return json.loads(content.config_records[key]["json"])
    except (KeyError, TypeError, ValueError):
        raise ProtocolError(f"{what}: no readable {key!r} record") from None


def reply_text(message: Message) -> dict[str, Any]:
    """A node's JSON report; a Flower error or a node's own error becomes a
    ProtocolError with its one-line reason."""
    if message.has_error():
        reason = fold(message.error.reason)
        raise ProtocolError(f"Flower error {message.error.code}: {reason}")
    report = read_json(message.content, REPORT, "reply")
    if not isinstance(report, dict):
        raise ProtocolError("reply: the report is not a JSON object")
    if report.get("error"):
        raise ProtocolError(str(report["error"]))
    return report
