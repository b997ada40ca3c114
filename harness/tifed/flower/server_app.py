"""The TIFeD ServerApp: `tifed run`'s federation loop over Flower.

The SuperLink starts it (one process per run, `flwr run` or `tifed serve`)
with the run config of options.py. It then

1. asks every connected node to join (query.join): the node starts and sets
   up its devices (CONFIGURE, feedback seed and the feedback check, exactly
   as `tifed run` does) and says which devices it holds, until the nodes
   cover devices 0 .. K-1 (roster.py), or fails after join-timeout;
2. runs the schedule of `tifed run` (training/schedule.py), one `train`
   message per node and round, through TifedStrategy (the round core of
   `tifed run`, rounds/core.py); after the last round
   the nodes stop their devices (a run that stops early sends query.finish).

Deadlines, as in `tifed run` (docs/RELIABILITY.md): a round waits for every
free node, or with --round-timeout closes at its deadline once a quorum of
updates is in; a node still busy then is late: left out of the round, sent
nothing new until its answer comes, and that answer is thrown away. A node
that errs, that Flower reports gone (missed heartbeats, or a SuperNode that
signed off) or that stays silent for node-timeout is dropped with its
devices. So a vanished node costs a bounded wait, never a hang.

results.json (results.py) is written as `tifed run` writes it, after every
round, with the Flower extras of docs/FLOWER.md. A round's replies are
pulled at intervals from POLL_FIRST growing to POLL (pacing.Backoff): soon
after the push for quick boards, seldom for slow ones
(Grid.send_and_receive waits 3 s between pulls).
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from tifed.errors import ConfigError, ProtocolError, TifedError, fold, one_line
from tifed.flower import tensors, waits, wire
from tifed.flower.options import FederationOptions, from_run_config, server_plan, training_json
from tifed.flower.pacing import Backoff
from tifed.flower.roster import NodeInfo, Roster
from tifed.flower.strategy import TifedStrategy
from tifed.output.progress import RunProgress
from tifed.output.results import ResultsWriter
from tifed.training.schedule import Round

POLL_FIRST, POLL = 0.02, 0.2  # seconds between pulls for a round's replies: first and most
FINISH_TIMEOUT = 30.0  # seconds the nodes get to stop their devices when a run ends early

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    try:
        config, fed = from_run_config(context.run_config)
        plan = server_plan(config, fed)
        waits.quicken_grid()
    except TifedError as exc:
        print(f"tifed: error: {one_line(exc)}", flush=True)
        return
    FlowerFederation(plan, fed, grid).run()


class FlowerFederation:
    def __init__(self, plan, fed: FederationOptions, grid: Grid, stream: TextIO | None = None):
        self.plan = plan
        self.fed = fed
        self.grid = grid
        self.stream = stream if stream is not None else sys.stdout
        self.roster = Roster(plan.training.devices)
        self.strategy = TifedStrategy(plan, fed, self.roster, on_event=lambda line: self._say(f"tifed: warning: {line}"))
        self.started_nodes: list[int] = []  # joined and not yet stopped
        self.device_info: dict[int, dict[str, Any]] = {}  # firmware, link per device
        self._late: dict[int, tuple[str, float]] = {}  # node -> (unanswered message id, pushed at)
        self._wake = threading.Event()  # never set: an interruptible wait between pulls
        self._t0 = time.monotonic()
        config = plan.resolved()
        config.update({"boards": [], "device_boards": [], "flower": self._flower_config()})
        self.results = ResultsWriter(plan.config.out, config, [])

    # --- the run ----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self._t0 = time.monotonic()
        self._update_final_extras()
        self.results.write()
        try:
            self._discover()
            self._describe_fleet()
            self.strategy.summary()
            t = self.plan.training
            title = f"{t.dataset} {'-'.join(map(str, self.plan.dims))} {t.mode} x{t.devices} on " \
                    f"{len(self.roster.nodes)} Flower nodes"
            with RunProgress(len(self.plan.schedule), title, stream=self.stream, devices=t.devices) as progress:
                for rnd in self.plan.schedule:
                    self._round(rnd, progress, last=rnd is self.plan.schedule[-1])
                    if self.strategy.core.should_stop():
                        break
            if self.started_nodes:  # stopped early (divergence): the nodes still run their devices
                self._finish_nodes(quiet=True)
        except (TifedError, KeyboardInterrupt) as exc:
            self._stop_after(exc)
            self._say(f"tifed: error: {one_line(exc)}")
            return self.results.final
        except BaseException as exc:  # a bug (Flower logs its traceback) or Flower stopping the run
            self._stop_after(exc)
            raise
        self.results.devices = self._device_entries()
        self._update_final_extras()
        self.results.finish(self._elapsed(), self._model())
        final = self.results.final
        self._say(f"done: {final['rounds']} rounds, test accuracy {final['test_accuracy']}, "
                  f"bit-exact {final['bitexact_all']}, results {self.results.json_path}")
        return final

    def _stop_after(self, exc: BaseException) -> None:
        self._finish_nodes(quiet=True)
        self.results.devices = self._device_entries()
        self._update_final_extras()
        self.results.finish(self._elapsed(), self._model(), error=one_line(exc))

    def _update_final_extras(self) -> None:
        self.results.extra_final = self.strategy.core.final_extras()  # --resume is `tifed run`'s alone: none

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0

    def _model(self):
        return self.strategy.global_model

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _message(self, node_id: int, kind: str, content: RecordDict | None = None) -> Message:
        return Message(content if content is not None else RecordDict(), dst_node_id=node_id, message_type=kind)

    def _push(self, messages: list[Message]) -> dict[str, int]:
        """message id -> node id of what was pushed."""
        pushed = list(self.grid.push_messages(messages))
        return {mid: m.metadata.dst_node_id for mid, m in zip(pushed, messages) if mid}

    def _pull(self, node_of: dict[str, int]) -> dict[int, Message]:
        """node id -> reply, for the replies to `node_of`'s messages that are in."""
        if not node_of:
            return {}
        out = {}
        for reply in self.grid.pull_messages(sorted(node_of)):
            node = node_of.get(reply.metadata.reply_to_message_id)
            if node is not None:
                out[node] = reply
        return out

    # --- 1. join ----------------------------------------------------------------

    def _discover(self) -> None:
        """join to every node as it connects, until the roster is complete.
        A node that cannot start its devices stops the run (its one line);
        so does a node whose devices clash with another's."""
        deadline = time.monotonic() + self.fed.join_timeout
        request = RecordDict({wire.RUN: wire.json_record({"training": training_json(self.plan.config)})})
        asked: dict[str, int] = {}  # message id -> node id
        tried: set[int] = set()
        self._say(f"waiting for nodes that hold devices 0-{self.plan.training.devices - 1}")
        while True:
            fresh = [n for n in self.grid.get_node_ids() if n not in tried]
            if fresh:
                asked.update(self._push([self._message(n, wire.JOIN, request) for n in fresh]))
                tried.update(fresh)
            for node_id, reply in self._pull(asked).items():
                asked = {m: n for m, n in asked.items() if n != node_id}
                try:
                    report = wire.reply_text(reply)
                except ProtocolError as exc:
                    raise ProtocolError(f"node {node_id} could not join: {exc}") from None
                info = NodeInfo.from_join(node_id, report)
                self.started_nodes.append(node_id)
                self.roster.add(info)  # a clash between nodes is a ConfigError: the run stops
                self._take_device_info(report.get("devices"))
                self._say(f"{info.describe()} joined: {', '.join(info.boards)}")
            if self.roster.complete:
                return
            if time.monotonic() >= deadline:
                have = ", ".join(i.describe() for i in self.roster.nodes.values()) or "none"
                raise ConfigError(f"after {self.fed.join_timeout:g} s no node holds device(s) "
                                  f"{self.roster.missing_text()} (nodes that joined: {have}); "
                                  f"start `tifed node` with the right --device-offset")
            self._wake.wait(POLL)

    def _describe_fleet(self) -> None:
        K = self.plan.training.devices
        boards = [self.roster.board_of(d) for d in range(K)]
        self.results.config["device_boards"] = boards
        self.results.config["boards"] = list(dict.fromkeys(boards))
        self.results.config["flower"] = self._flower_config()
        self.results.devices = self._device_entries()
        self.results.write()

    def _flower_config(self) -> dict[str, Any]:
        run = getattr(self.grid, "run", None)
        return {
            "run_id": getattr(run, "run_id", None),
            "nodes": [info.to_json() for _, info in sorted(self.roster.nodes.items())],
            "node_timeout": self.fed.node_timeout,
            "join_timeout": self.fed.join_timeout,
        }

    def _take_device_info(self, devices: dict[str, Any] | None) -> None:
        for key, values in (devices or {}).items():
            if isinstance(values, dict):
                self.device_info.setdefault(int(key), {}).update(
                    {k: values.get(k) for k in ("firmware", "link") if k in values})

    # --- 2. rounds --------------------------------------------------------------

    def _round(self, rnd: Round, progress: RunProgress, last: bool) -> None:
        s = self.strategy
        t0 = time.monotonic()
        s.begin_round(rnd, t0)
        self._settle_late(rnd.number, wait=False)
        while s.core.needs_late_back():  # a quorum needs some late nodes back
            self._settle_late(rnd.number, wait=True)
        arrays = tensors.model_record(s.global_model)
        config = ConfigRecord({"round": rnd.number, "buffer": rnd.buffer, "epoch": rnd.epoch, "last": last})
        node_of = self._push(list(s.configure_train(rnd.number, arrays, config, self.grid)))
        s.track(node_of)
        s.expect()  # the reference's updates, while the nodes train
        replies = self._collect(node_of, t0)
        for mid, node_id in node_of.items():
            if node_id in replies:
                continue
            if time.monotonic() - t0 >= self.fed.node_timeout:
                s.node_failed(node_id, rnd.number, f"no answer within {self.fed.node_timeout:g} s")
            else:
                self._late[node_id] = (mid, t0)
                s.core.mark_late(s.devices_of(node_id))
                self._say(f"round {rnd.number}: {self.roster.nodes[node_id].describe()} missed the round deadline")
        if last:  # the nodes that answered have stopped their devices
            self.started_nodes = [n for n in self.started_nodes if n not in replies]
        try:
            s.aggregate_train(rnd.number, replies.values())
        finally:
            self._take_device_info(s.finish_info)
            self.results.devices = self._device_entries()  # drops are recorded even when the run stops here
            self._update_final_extras()
        entry = s.last_entry
        self.results.add_round(entry, self._elapsed())
        progress.round_done(entry)
        for event in entry["events"]:
            if event["event"] == "dropped":
                self._say(f"round {rnd.number}: dropped device {event['device']}: {event['detail']} "
                          f"({len(s.core.active)} of {self.plan.training.devices} devices left, "
                          f"quorum {s.core.quorum})")

    def _collect(self, node_of: dict[str, int], t0: float) -> dict[int, Message]:
        """Replies until all are in, or the round deadline has passed with a
        quorum of updates in, or node-timeout."""
        s = self.strategy
        timeout = self.plan.config.recovery.round_timeout
        replies: dict[int, Message] = {}
        pending = dict(node_of)
        pace = Backoff(POLL_FIRST, POLL)
        while pending:
            for node_id, reply in self._pull(pending).items():
                replies[node_id] = reply
                pending = {m: n for m, n in pending.items() if n != node_id}
            now = time.monotonic()
            if not pending or now - t0 >= self.fed.node_timeout:
                break
            if timeout is not None and now - t0 >= timeout:
                updates = sum(len(s.asked_nodes().get(n, [])) for n, r in replies.items() if not r.has_error())
                if updates >= s.core.quorum:
                    break
            self._wake.wait(pace.next())
        return replies

    def _settle_late(self, round_number: int, wait: bool) -> None:
        """Late nodes that have answered since: the answer is thrown away (it
        was trained from an old global model) and the node is free again; an
        error, or silence past node-timeout, drops it. With `wait`, until one
        of them settles."""
        s = self.strategy
        while self._late:
            answered = self._pull({mid: n for n, (mid, _) in self._late.items()})
            now = time.monotonic()
            settled = False
            for node_id, (mid, pushed) in list(self._late.items()):
                reply = answered.get(node_id)
                if reply is None and now - pushed < self.fed.node_timeout:
                    continue
                del self._late[node_id]
                settled = True
                if reply is None:
                    s.node_failed(node_id, round_number, f"no answer within {self.fed.node_timeout:g} s")
                elif reply.has_error():
                    s.node_failed(node_id, round_number, fold(reply.error.reason))
                else:
                    s.core.late_update_discarded(s.devices_of(node_id))
            if settled or not wait:
                return
            self._wake.wait(POLL)

    # --- finish (a run that stops early) ----------------------------------------

    def _finish_nodes(self, quiet: bool = False) -> None:
        """Nodes that still run devices stop them and report stack peaks; a
        node that does not answer is left alone (it stops its devices at the
        next run or when it exits)."""
        s = self.strategy
        nodes = [n for n in self.started_nodes if n in s.nodes_in_run()]
        try:
            node_of = self._push([self._message(n, wire.FINISH) for n in nodes]) if nodes else {}
            deadline = time.monotonic() + FINISH_TIMEOUT
            replies: dict[int, Message] = {}
            while len(replies) < len(node_of) and time.monotonic() < deadline:
                replies.update(self._pull({m: n for m, n in node_of.items() if n not in replies}))
                if len(replies) < len(node_of):
                    self._wake.wait(POLL)
        except Exception as exc:  # noqa: BLE001 - on the way out of a failed run, keep its own error
            if not quiet:
                raise
            self._say(f"tifed: warning: could not tell the nodes to stop: {one_line(exc)}")
            return
        for node_id, reply in replies.items():
            try:
                self._take_device_info(wire.reply_text(reply).get("devices"))
            except ProtocolError as exc:
                self._say(f"tifed: warning: node {node_id} at finish: {one_line(exc)}")
        self.started_nodes = []

    # --- results ----------------------------------------------------------------

    def _device_entries(self) -> list[dict[str, Any]]:
        if not self.roster.complete:
            return []
        s = self.strategy
        entries = []
        for d in range(self.plan.training.devices):
            info = self.roster.node_of(d)
            extra = self.device_info.get(d, {})
            entry = {
                "id": d,
                "board": self.roster.board_of(d),
                "layer": self.plan.layers[d],
                "firmware": extra.get("firmware"),
                "link": extra.get("link"),
                "node": info.node_id,
                "host": info.host,
            }
            if d in s.core.dropped:
                entry["dropped"] = s.core.dropped[d]
            entries.append(entry)
        return entries
