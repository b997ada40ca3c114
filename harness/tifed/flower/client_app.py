"""The TIFeD ClientApp: the node's side of wire.py, over a BoardHost.

Flower starts a fresh process per message in its own isolation modes, and a
board (an emulator with its RAM, a serial link to a real MCU) cannot live in
a process that ends after one message. So this ClientApp runs inside
`tifed node`, which holds the BoardHost and hands every task of its
SuperNode to `app` in-process (runtime.py). Run anywhere else (a SuperNode
with its own `flwr-clientapp` processes) it answers every message with a
clear error instead of training.
"""
from __future__ import annotations

from typing import Any

from flwr.app import ArrayRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from tifed.errors import ConfigError, TifedError, one_line
from tifed.flower import tensors, wire
from tifed.flower.board_host import BoardHost
from tifed.training.schedule import Round

app = ClientApp()
_host: BoardHost | None = None


def attach(host: BoardHost | None) -> None:
    """The BoardHost that `app` drives (runtime.py sets it; None detaches)."""
    global _host
    _host = host


def _board_host() -> BoardHost:
    if _host is None:
        raise ConfigError("this ClientApp drives boards only inside `tifed node` (see docs/FLOWER.md); "
                          "a SuperNode started on its own has no boards")
    return _host


def _reply(message: Message, report: dict[str, Any], arrays: dict[str, ArrayRecord] | None = None) -> Message:
    content = RecordDict({wire.REPORT: wire.json_record(report), **(arrays or {})})
    return Message(content, reply_to=message)


def _answer(message: Message, work) -> Message:
    """work() -> (report, arrays); a TifedError becomes {"error": line}."""
    try:
        report, arrays = work()
    except TifedError as exc:
        return _reply(message, {"error": one_line(exc)})
    return _reply(message, report, arrays)


@app.query("join")
def join(message: Message, context: Context) -> Message:
    def work():
        request = wire.read_json(message.content, wire.RUN, "join")
        return _board_host().join(message.metadata.run_id, request["training"]), None

    return _answer(message, work)


@app.train()
def train(message: Message, context: Context) -> Message:
    def work():
        host = _board_host()
        if host.run_id != message.metadata.run_id:
            raise ConfigError(f"run {message.metadata.run_id} has not started its devices on this node")
        if wire.MODEL not in message.content.array_records or "round" not in message.content.config_records:
            raise ConfigError("a train message needs the global model and the round")
        model = tensors.read_model(message.content.array_records[wire.MODEL], host.training.dims, "global model")
        info = message.content.config_records["round"]
        rnd = Round(int(info["round"]), int(info["buffer"]), int(info["epoch"]))
        models, report = host.train(message.metadata.run_id, rnd, model, [int(d) for d in info["devices"]],
                                    last=bool(info.get("last", False)))
        updates = {d: (m, host.trained_layers(d)) for d, m in models.items()}
        return report, {wire.UPDATES: tensors.devices_record(updates)}

    return _answer(message, work)


@app.query("finish")
def finish(message: Message, context: Context) -> Message:
    return _answer(message, lambda: (_board_host().finish(message.metadata.run_id), None))
