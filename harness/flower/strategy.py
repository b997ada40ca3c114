"""TifedStrategy: the server side of algorithm.md as a Flower Strategy.

configure_train: one `train` message per node, carrying the global model
(raw int32) and the round (buffer, which of the node's devices take part).
aggregate_train: the nodes' per-device models, decoded and checked, then
the integer aggregation of tifed_models (full mode: truncating mean over the
devices that answered; single-layer mode: each layer over its own group's
answering devices), the test accuracy, and the round's results.json entry.

Validation is `tifed run`'s: the server recomputes every device's local
update with the reference from its own copy of that device's buffer (the
node also reports a digest of the buffer it trained on, so a node with other
data is caught as well) and compares the trained layers bit for bit.

A device drops out when its node does not answer in time, answers with an
error, or reports that device failed; it stays out for the rest of the run
(recorded per device and per round). A round that ends with fewer devices
than the quorum, or, in single-layer mode, with a layer nobody trained,
stops the run with QuorumLost.

Strategy.start, Flower's generic loop, is not used: the schedule, the
deadlines and the results file are the ServerApp's (server_app.py).
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

import tifed_models
from tifed.config import RunPlan
from tifed.errors import ProtocolError, TifedError
from tifed.flower import tensors, wire
from tifed.flower.options import FederationOptions
from tifed.flower.roster import Roster
from tifed.server.schedule import Round


class QuorumLost(TifedError):
    """Too few devices answered a round to go on."""


def buffer_digest(x: np.ndarray, y: np.ndarray) -> str:
    """What both sides compute over one device's buffer (int8 x, int64 y)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x, dtype=np.int8).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


class TifedStrategy(Strategy):
    def __init__(self, plan: RunPlan, fed: FederationOptions, roster: Roster):
        self.plan = plan
        self.fed = fed
        self.roster = roster
        c = plan.config
        self.global_model = tifed_models.Model.zeros(plan.dims)
        self.feedback = tifed_models.feedback_matrices(plan.dims, c.seed)
        self.active: set[int] = set(range(c.devices))
        self.dropped: dict[int, dict[str, Any]] = {}  # device -> {"round", "reason"}
        self._asked: dict[int, list[int]] = {}  # node -> devices asked this round
        self._expected: dict[int, tifed_models.Model | None] = {}
        self._digests: dict[int, str] = {}
        self.last_entry: dict[str, Any] | None = None
        self.finish_info: dict[str, Any] = {}  # per device firmware/link, from the last round's reports
        self.sent_bytes = 0

    # --- helpers ----------------------------------------------------------------

    @property
    def quorum(self) -> int:
        return self.fed.effective_quorum(self.plan.config.devices)

    def trained_layers(self, device: int) -> list[int]:
        layer = self.plan.layers[device]
        return list(range(len(self.plan.dims) - 1)) if layer is None else [layer]

    def buffer_of(self, device: int, rnd: Round) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.plan.shards[device]
        part = rnd.samples(self.plan.config.buffer_len)
        return x[part], y[part]

    def drop(self, devices: Iterable[int], round_number: int, reason: str) -> list[int]:
        newly = sorted(d for d in devices if d in self.active)
        for d in newly:
            self.active.discard(d)
            self.dropped[d] = {"round": round_number, "reason": reason}
        return newly

    # --- Strategy ---------------------------------------------------------------

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        """One message per node that still has devices in the run; `config`
        carries round, buffer and epoch (the devices are added per node)."""
        self._asked = {}
        messages = []
        for node_id, info in sorted(self.roster.nodes.items()):
            devices = [d for d in info.devices if d in self.active]
            if not devices:
                continue
            self._asked[node_id] = devices
            round_record = ConfigRecord({**dict(config), "devices": devices})
            content = RecordDict({wire.MODEL: arrays, "round": round_record})
            messages.append(Message(content, dst_node_id=node_id, message_type=wire.TRAIN,
                                    group_id=str(server_round)))
        self.sent_bytes = tensors.payload_bytes(arrays) * len(messages)
        return messages

    def expect(self, rnd: Round) -> None:
        """The reference's update and buffer digest of every asked device;
        the ServerApp calls it while the nodes train. Devices on `sim`
        boards are the reference already: nothing to compare."""
        c = self.plan.config
        self._expected, self._digests = {}, {}
        for devices in self._asked.values():
            for d in devices:
                bx, by = self.buffer_of(d, rnd)
                self._digests[d] = buffer_digest(bx, by)
                if not c.validate or self.roster.family_of(d) == "sim":
                    self._expected[d] = None
                    continue
                layer = self.plan.layers[d]
                t = tifed_models.targets(by, self.plan.dims[-1])
                self._expected[d] = tifed_models.train(self.global_model, self.feedback, bx, t, c.lr_inv,
                                                       c.batch, 1, -1 if layer is None else layer)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None,
                                                                                        MetricRecord | None]:
        """Decode, validate and aggregate one round (module docstring).
        Nodes asked but missing from `replies` timed out."""
        c = self.plan.config
        updates: dict[int, tifed_models.Model] = {}
        reports: dict[int, dict[str, Any]] = {}
        newly_dropped: list[int] = []
        received = 0
        answered_nodes = set()
        self.finish_info = {}
        for reply in replies:
            node_id = reply.metadata.src_node_id
            asked = self._asked.get(node_id)
            if asked is None:
                continue  # a stray reply (an earlier round's, another node's): not ours to count
            answered_nodes.add(node_id)
            info = self.roster.nodes[node_id]
            try:
                report = wire.reply_text(reply)
                got = self._read_devices(reply, report, asked, info.describe())
            except ProtocolError as exc:
                newly_dropped += self.drop(asked, server_round, f"{info.describe()}: {exc}")
                continue
            self.finish_info.update(report.get("finish") or {})
            failed = report.get("failed", {})
            for d in asked:
                if str(d) in failed:
                    newly_dropped += self.drop([d], server_round, f"device {d}: {failed[str(d)]}")
                elif d in got:
                    updates[d] = got[d]
                    reports[d] = report["devices"][str(d)]
                    received += tensors.payload_bytes(reply.content.array_records[wire.device_key(d)])
        for node_id, asked in self._asked.items():
            if node_id not in answered_nodes:
                info = self.roster.nodes[node_id]
                newly_dropped += self.drop(asked, server_round,
                                           f"{info.describe()}: no answer within {self.fed.round_timeout:g} s")
        self._check_quorum(server_round, updates, newly_dropped)

        mismatched = []
        for d, model in sorted(updates.items()):
            if reports[d].get("digest") != self._digests.get(d):
                mismatched.append(d)  # trained on other data than the server validates against
                continue
            expected = self._expected.get(d)
            if expected is not None and not _same_layers(model, expected, self.trained_layers(d)):
                mismatched.append(d)

        ids = sorted(updates)
        if c.mode == "full":
            self.global_model = tifed_models.aggregate([updates[d] for d in ids])
        else:
            self.global_model = tifed_models.aggregate_layers(self.global_model, [updates[d] for d in ids],
                                                              [self.plan.layers[d] for d in ids])
        pred = tifed_models.predict(self.global_model, self.plan.data.x_test)
        accuracy = float(np.mean(pred == self.plan.data.y_test))
        counters = [reports[d].get("instructions") if d in reports else None for d in range(c.devices)]
        self.last_entry = {
            "test_accuracy": round(accuracy, 6),
            "bitexact": (not mismatched) if c.validate else None,
            "wire_bytes": int(sum(int(r.get("wire_bytes", 0)) for r in reports.values())),
            "device_instructions": None if all(v is None for v in counters) else counters,
            "devices_answered": len(updates),
            "network_bytes": int(self.sent_bytes + received),
        }
        if mismatched:
            self.last_entry["mismatched_devices"] = mismatched
        if newly_dropped:
            self.last_entry["dropped_devices"] = sorted(newly_dropped)
        metrics = MetricRecord({"test_accuracy": accuracy, "devices_answered": len(updates)})
        return tensors.model_record(self.global_model), metrics

    def configure_evaluate(self, server_round, arrays, config, grid) -> Iterable[Message]:
        return []  # the server measures test accuracy on the aggregated model itself

    def aggregate_evaluate(self, server_round, replies) -> MetricRecord | None:
        return None

    def summary(self) -> None:
        c = self.plan.config
        print(f"TifedStrategy: {c.mode} mode, {c.devices} devices on {len(self.roster.nodes)} nodes, "
              f"quorum {self.quorum}, round timeout {self.fed.round_timeout:g} s", flush=True)

    def start(self, *args, **kwargs):  # noqa: D401
        raise NotImplementedError("TifedStrategy runs inside tifed.flower.server_app (its own round loop: "
                                  "schedule, validation, quorum, results.json), not Strategy.start")

    # --- internals --------------------------------------------------------------

    def _read_devices(self, reply: Message, report: dict[str, Any], asked: list[int],
                      who: str) -> dict[int, tifed_models.Model]:
        failed = report.get("failed", {})
        devices = report.get("devices", {})
        if not isinstance(failed, dict) or not isinstance(devices, dict):
            raise ProtocolError("malformed report")
        got = {}
        for d in asked:
            if str(d) in failed:
                continue
            key = wire.device_key(d)
            if str(d) not in devices or key not in reply.content.array_records:
                raise ProtocolError(f"no update for device {d}")
            got[d] = tensors.read_layers(reply.content.array_records[key], self.plan.dims,
                                         self.trained_layers(d), self.global_model, f"{who} device {d}")
        return got

    def _check_quorum(self, server_round: int, updates: dict[int, tifed_models.Model], newly: list[int]) -> None:
        c = self.plan.config
        why = "; ".join(f"device {d}: {self.dropped[d]['reason']}" for d in newly[:3])
        if len(updates) < self.quorum:
            raise QuorumLost(f"round {server_round}: {len(updates)} of {c.devices} devices answered, "
                             f"quorum {self.quorum}" + (f" ({why})" if why else ""))
        if c.mode == "single":
            trained = {self.plan.layers[d] for d in updates}
            lost = [l for l in range(len(self.plan.dims) - 1) if l not in trained]
            if lost:
                raise QuorumLost(f"round {server_round}: no device of layer {lost[0]} answered "
                                 f"(single-layer mode needs every layer)" + (f" ({why})" if why else ""))


def _same_layers(a: tifed_models.Model, b: tifed_models.Model, layers: list[int]) -> bool:
    return all(np.array_equal(a.weights[l], b.weights[l]) and np.array_equal(a.biases[l], b.biases[l])
               for l in layers)

