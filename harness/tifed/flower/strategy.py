"""TifedStrategy: the round core (rounds/core.py) as a Flower Strategy.

configure_train: one `train` message per node that is free (has devices in
the run, none of them late), carrying the global model (raw int32) and the
round (buffer, which of its devices take part).
aggregate_train: the nodes' per-device models and reports decoded into the
core's Updates (each with a digest of the buffer the node trained on, so a
node with other data is caught too); the core checks, aggregates and
measures the round exactly as for `tifed run`, and builds its results.json
entry (plus network_bytes: what crossed the network).

A device whose node reports it failed, or whose node errs or vanishes, is
dropped for the rest of the run (the core's drop and quorum rules).

Strategy.start, Flower's generic loop, is not used: the schedule, the
deadlines and the results file are the ServerApp's (server_app.py).
"""
from __future__ import annotations

from typing import Any, Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

import tifed_models
from tifed.errors import ProtocolError
from tifed.flower import tensors, wire
from tifed.flower.options import FederationOptions
from tifed.flower.roster import Roster
from tifed.output.round_entry import measured
from tifed.plan import RunPlan
from tifed.rounds.core import LINK_COUNTERS, RoundCore, Update
from tifed.training.schedule import Round


class TifedStrategy(Strategy):
    def __init__(self, plan: RunPlan, fed: FederationOptions, roster: Roster, on_event=None):
        self.plan = plan
        self.fed = fed
        self.roster = roster
        self.core = RoundCore(plan.config, plan.layers, plan.data, plan.shards, on_event=on_event,
                              evaluated=plan.evaluated_rounds)
        self.finish_info: dict[str, Any] = {}  # per device firmware/link, from the last round's reports
        self._round: Round | None = None
        self._t0 = 0.0
        self._asked: dict[int, list[int]] = {}  # node -> devices asked this round
        self._node_of_message: dict[str, int] = {}
        self._expected: dict[int, tifed_models.Model | None] | None = None
        self._sent_bytes = 0

    @property
    def global_model(self) -> tifed_models.Model:
        return self.core.global_model

    # --- the fleet --------------------------------------------------------------

    def devices_of(self, node_id: int) -> list[int]:
        return [d for d in self.roster.nodes[node_id].devices if d in self.core.active]

    def nodes_in_run(self) -> list[int]:
        return [n for n in sorted(self.roster.nodes) if self.devices_of(n)]

    def is_late(self, node_id: int) -> bool:
        return any(d in self.core.late for d in self.devices_of(node_id))

    def node_failed(self, node_id: int, round_number: int, reason: str) -> None:
        info = self.roster.nodes[node_id]
        self.core.drop(self.devices_of(node_id), round_number, f"{info.describe()}: {reason}")

    # --- Strategy ---------------------------------------------------------------

    def begin_round(self, rnd: Round, started: float) -> None:
        self.core.begin_round()
        self._round, self._t0 = rnd, started

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        """One message per free node; `config` carries round, buffer, epoch
        and last (the node's devices are added here)."""
        self._asked = {}
        messages = []
        for node_id in self.nodes_in_run():
            if self.is_late(node_id):
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

    def expect(self) -> None:
        """The reference's update of every asked device; the ServerApp calls
        it while the nodes train. Devices on `sim` boards are the reference
        already: nothing to compare."""
        asked = [d for devices in self._asked.values() for d in devices]
        sims = [d for d in asked if self.roster.family_of(d) == "sim"]
        self._expected = self.core.expected_updates(self._round, asked, sims)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None,
                                                                                        MetricRecord | None]:
        """Decode the replies into Updates and close the round in the core.
        Asked nodes without a reply here are the ServerApp's to settle (late
        or dropped) before it calls this."""
        received: dict[int, Update] = {}
        link = dict.fromkeys(("wire_bytes", *LINK_COUNTERS), 0)
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
            if models:
                got_bytes += tensors.payload_bytes(reply.content.array_records[wire.UPDATES])
            for d in asked:
                failed = report["failed"].get(str(d))
                if failed is not None:
                    self.core.drop([d], server_round, failed)  # the worker's line names the device
                    continue
                r = report["devices"][str(d)]
                received[d] = Update(models[d], r.get("instructions"), r.get("digest"))
                self.core.events.extend(r.get("events") or [])
                link["wire_bytes"] += int(r.get("wire_bytes", 0))
                for k in LINK_COUNTERS:
                    link[k] += int((r.get("link_counters") or {}).get(k, 0))
        entry = self.core.close_round(self._round, received, self._expected, link, self._t0,
                                      extra={"network_bytes": int(self._sent_bytes + got_bytes)})
        self.last_entry = entry
        accuracy = {"test_accuracy": entry["test_accuracy"]} if measured(entry) else {}  # --eval-every
        metrics = MetricRecord({**accuracy, "devices_used": len(entry["devices_used"])})
        return tensors.model_record(self.core.global_model), metrics

    def configure_evaluate(self, server_round, arrays, config, grid) -> Iterable[Message]:
        return []  # the server measures test accuracy on the aggregated model itself

    def aggregate_evaluate(self, server_round, replies) -> MetricRecord | None:
        return None

    def summary(self) -> None:
        c = self.plan.config
        timeout = c.recovery.round_timeout
        deadline = "none" if timeout is None else f"{timeout:g} s"
        print(f"TifedStrategy: {c.training.mode} mode, {c.training.devices} devices on {len(self.roster.nodes)} "
              f"nodes, quorum {self.core.quorum}, round timeout {deadline}, node timeout {self.fed.node_timeout:g} s",
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
        trained = {d: self.core.trained_layers(d) for d in asked if str(d) not in failed}
        if not trained:
            return {}
        missing = [d for d in trained if str(d) not in devices]
        if missing or wire.UPDATES not in reply.content.array_records:
            raise ProtocolError(f"no update for device {(missing or list(trained))[0]}")
        return tensors.read_devices(reply.content.array_records[wire.UPDATES], self.plan.dims, trained,
                                    self.core.global_model, f"{who} devices {', '.join(map(str, trained))}")
