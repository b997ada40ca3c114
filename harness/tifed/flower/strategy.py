"""TifedStrategy: the server side of algorithm.md as a Flower Strategy.

configure_train: one `train` message per node that is free (has devices in
the run and no unanswered message), carrying the global model (raw int32)
and the round (buffer, which of its devices take part).
aggregate_train: the nodes' per-device models, decoded and checked, then
the integer aggregation of tifed_models over the accepted updates (full
mode: truncating mean; single-layer mode: each layer over its own group),
the test accuracy, and the round's results.json entry.

Checks and faults follow `tifed run` (server/federation.py, docs/
RELIABILITY.md): an update outside what one round of training can do
(update_checks.py) or, with validation, different from the reference's
update for the same model and buffer is rejected; the node also reports a
digest of the buffer it trained on, so a node with other data is caught
too. A device whose node reports it failed, or whose node errs or vanishes,
is dropped for the rest of the run. Fewer accepted updates than the quorum,
fewer devices left than the quorum, or (single-layer mode) a layer with no
device left end the run with QuorumError. The divergence guard watches the
aggregated model as in `tifed run`.

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
from tifed.errors import ProtocolError, QuorumError
from tifed.flower import tensors, wire
from tifed.flower.options import FederationOptions
from tifed.flower.roster import Roster
from tifed.server.divergence import DivergenceGuard, chance_level, evaluate
from tifed.server.link_tally import LINK_COUNTERS
from tifed.training.schedule import Round
from tifed.server.update_checks import out_of_bounds, same_layers, step_bounds


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
        self.quorum = plan.quorum
        self.global_model = tifed_models.Model.zeros(plan.dims)
        self.feedback = tifed_models.feedback_matrices(plan.dims, c.seed)
        self.bounds = step_bounds(plan.dims, c.buffer_len, c.batch, c.lr_inv)
        self.guard = DivergenceGuard(chance_level(plan.data.y_test, plan.data.classes))
        self.active: set[int] = set(range(c.devices))
        self.dropped: dict[int, dict[str, Any]] = {}  # device -> {"round", "reason"}
        self.late: set[int] = set()  # nodes with an unanswered message from an earlier round
        self.events: list[dict[str, Any]] = []  # this round's, for results.json
        self.last_entry: dict[str, Any] = {}
        self.finish_info: dict[str, Any] = {}  # per device firmware/link, from the last round's reports
        self._asked: dict[int, list[int]] = {}  # node -> devices asked this round
        self._node_of_message: dict[str, int] = {}
        self._expected: dict[int, tifed_models.Model | None] = {}
        self._digests: dict[int, str] = {}
        self._sent_bytes = 0

    # --- the fleet --------------------------------------------------------------

    def nodes_in_run(self) -> list[int]:
        return [n for n, info in sorted(self.roster.nodes.items()) if any(d in self.active for d in info.devices)]

    def free_devices(self) -> list[int]:
        return sorted(d for d in self.active if self.roster.node_of(d).node_id not in self.late)

    def devices_of(self, node_id: int) -> list[int]:
        return [d for d in self.roster.nodes[node_id].devices if d in self.active]

    def trained_layers(self, device: int) -> list[int]:
        layer = self.plan.layers[device]
        return list(range(len(self.plan.dims) - 1)) if layer is None else [layer]

    def buffer_of(self, device: int, rnd: Round) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.plan.shards[device]
        part = rnd.samples(self.plan.config.buffer_len)
        return x[part], y[part]

    def begin_round(self) -> None:
        self.events = []

    def drop(self, devices: Iterable[int], round_number: int, reason: str) -> None:
        """Take devices out of the run for good (recorded); too few left ends it."""
        gone = sorted(d for d in devices if d in self.active)
        for d in gone:
            self.active.discard(d)
            self.dropped[d] = {"round": round_number, "reason": reason}
            self.events.append({"device": d, "event": "dropped", "detail": reason})
        if gone and len(self.active) < self.quorum:
            raise QuorumError(f"{reason}; {len(self.active)} devices left, below the quorum of {self.quorum}")
        if self.plan.config.mode == "single":
            for layer in sorted({self.plan.layers[d] for d in gone}):
                if not any(self.plan.layers[j] == layer for j in self.active):
                    raise QuorumError(f"{reason}; no device is left to train layer {layer}")

    def node_failed(self, node_id: int, round_number: int, reason: str) -> None:
        info = self.roster.nodes[node_id]
        self.late.discard(node_id)
        self.drop(self.devices_of(node_id), round_number, f"{info.describe()}: {reason}")

    # --- Strategy ---------------------------------------------------------------

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        """One message per free node; `config` carries round, buffer, epoch
        and last (the node's devices are added here)."""
        self._asked = {}
        messages = []
        for node_id in self.nodes_in_run():
            if node_id in self.late:
                continue
            devices = self.devices_of(node_id)
            self._asked[node_id] = devices
            round_record = ConfigRecord({**dict(config), "devices": devices})
            content = RecordDict({wire.MODEL: arrays, "round": round_record})
            messages.append(Message(content, dst_node_id=node_id, message_type=wire.TRAIN,
                                    group_id=str(server_round)))
        self._sent_bytes = tensors.payload_bytes(arrays) * len(messages)
        return messages

    def asked_nodes(self) -> dict[int, list[int]]:
        return dict(self._asked)

    def track(self, node_of_message: dict[str, int]) -> None:
        """Which node each pushed message went to: an error reply that the
        SuperLink writes for a vanished node does not come from that node."""
        self._node_of_message.update(node_of_message)

    def node_of_reply(self, reply: Message) -> int | None:
        node = self._node_of_message.get(reply.metadata.reply_to_message_id)
        return node if node is not None else reply.metadata.src_node_id

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
        """Decode, check and aggregate one round (module docstring). Asked
        nodes without a reply here are the ServerApp's to settle (late or
        dropped) before it calls this."""
        c = self.plan.config
        received: dict[int, tifed_models.Model] = {}
        reports: dict[int, dict[str, Any]] = {}
        got_bytes = 0
        self.finish_info = {}
        for reply in replies:
            node_id = self.node_of_reply(reply)
            asked = self._asked.get(node_id)
            if asked is None:
                continue  # not this round's
            info = self.roster.nodes[node_id]
            try:
                report = wire.reply_text(reply)
                models = self._read_devices(reply, report, asked, info.describe())
            except ProtocolError as exc:
                self.node_failed(node_id, server_round, str(exc))
                continue
            self.finish_info.update(report.get("finish") or {})
            for d in asked:
                failed = report["failed"].get(str(d))
                if failed is not None:
                    self.drop([d], server_round, failed)  # the worker's line names the device
                    continue
                received[d] = models[d]
                reports[d] = report["devices"][str(d)]
                self.events.extend(reports[d].get("events") or [])
                got_bytes += tensors.payload_bytes(reply.content.array_records[wire.device_key(d)])
        accepted, rejected, mismatched = self._check(server_round, received, reports)
        if len(accepted) < self.quorum:
            why = "; ".join(f"device {r['device']}: {r['reason']}" for r in rejected) or "too few answered"
            raise QuorumError(f"round {server_round}: {len(accepted)} accepted updates, below the quorum of "
                              f"{self.quorum} ({why})")
        used = sorted(accepted)
        models = [accepted[d] for d in used]
        if c.mode == "full":
            self.global_model = tifed_models.aggregate(models)
        else:
            self.global_model = tifed_models.aggregate_layers(self.global_model, models,
                                                              [self.plan.layers[d] for d in used])
        accuracy, saturation = evaluate(self.global_model, self.plan.data.x_test, self.plan.data.y_test)
        counters = [reports[d].get("instructions") if d in accepted else None for d in range(c.devices)]
        link = {k: sum(int((r.get("link_counters") or {}).get(k, 0)) for r in reports.values())
                for k in LINK_COUNTERS}
        self.last_entry = {
            "test_accuracy": round(accuracy, 6),
            "bitexact": None if mismatched is None else not mismatched,
            "wire_bytes": int(sum(int(r.get("wire_bytes", 0)) for r in reports.values())),
            "device_instructions": None if all(v is None for v in counters) else counters,
            "devices_used": used,
            "retransmissions": link["retransmissions"],
            "link_errors": {k: link[k] for k in LINK_COUNTERS if k != "retransmissions"},
            "saturation": round(saturation, 4),
            "events": self.events,
            "network_bytes": int(self._sent_bytes + got_bytes),
        }
        if mismatched:
            self.last_entry["mismatched_devices"] = mismatched
        if rejected:
            self.last_entry["rejected"] = rejected
        found = self.guard.observe(server_round, accuracy, saturation)
        if found is not None:
            self.last_entry["diverged"] = True
        metrics = MetricRecord({"test_accuracy": accuracy, "devices_used": len(used)})
        return tensors.model_record(self.global_model), metrics

    def configure_evaluate(self, server_round, arrays, config, grid) -> Iterable[Message]:
        return []  # the server measures test accuracy on the aggregated model itself

    def aggregate_evaluate(self, server_round, replies) -> MetricRecord | None:
        return None

    def summary(self) -> None:
        c = self.plan.config
        deadline = "none" if c.round_timeout is None else f"{c.round_timeout:g} s"
        print(f"TifedStrategy: {c.mode} mode, {c.devices} devices on {len(self.roster.nodes)} nodes, "
              f"quorum {self.quorum}, round timeout {deadline}, node timeout {self.fed.node_timeout:g} s",
              flush=True)

    def start(self, *args, **kwargs):
        raise NotImplementedError("TifedStrategy runs inside tifed.flower.server_app (its own round loop: "
                                  "schedule, validation, quorum, results.json), not Strategy.start")

    # --- internals --------------------------------------------------------------

    def _read_devices(self, reply: Message, report: dict[str, Any], asked: list[int],
                      who: str) -> dict[int, tifed_models.Model]:
        failed, devices = report.get("failed"), report.get("devices")
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

    def _check(self, server_round: int, received: dict[int, tifed_models.Model],
               reports: dict[int, dict[str, Any]]):
        """(accepted, rejections, mismatched devices or None without validation)."""
        accepted: dict[int, tifed_models.Model] = {}
        rejected: list[dict[str, Any]] = []
        mismatched: list[int] | None = [] if self.plan.config.validate else None
        for d in sorted(received):
            model = received[d]
            reason = out_of_bounds(self.global_model, model, self.trained_layers(d), self.bounds)
            if reports[d].get("digest") != self._digests.get(d):
                reason = reason or "trained on another buffer than the server's copy of its shard"
                if mismatched is not None:
                    mismatched.append(d)
            else:
                expected = self._expected.get(d)
                if expected is not None and not same_layers(model, expected, self.trained_layers(d)):
                    mismatched.append(d)
                    reason = reason or "differs from the reference's update for the same model and buffer"
            if reason is None:
                accepted[d] = model
            else:
                rejected.append({"device": d, "reason": reason})
        return accepted, rejected, mismatched

