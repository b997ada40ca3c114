"""The TIFeD ServerApp: `tifed run`'s federation loop over Flower.

The SuperLink starts it (one process per run, `flwr run` or `tifed serve`)
with the run config of options.py. It then

1. asks every connected node to join (query.join): the node starts and sets
   up its devices (CONFIGURE, feedback seed and the feedback check, exactly
   as `tifed run` does) and says which devices it holds, until the nodes
   cover devices 0 .. K-1 (roster.py), or fails after join-timeout;
2. runs the schedule of `tifed run` (server/schedule.py), one `train`
   message per node and round, through TifedStrategy; after the last round
   the nodes stop their devices (a run that stops early sends query.finish).

results.json (results.py) is written as `tifed run` writes it, after every
round, with the Flower extras described in docs/FLOWER.md. Replies are
pulled every POLL seconds (Grid.send_and_receive waits 3 s between pulls),
and never past a round's deadline: a node that vanished costs at most
round-timeout, never a hang.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from tifed.errors import ConfigError, ProtocolError, TifedError
from tifed.flower import tensors, wire
from tifed.flower.options import FederationOptions, from_run_config, server_plan, training_json
from tifed.flower.roster import NodeInfo, Roster
from tifed.flower.strategy import TifedStrategy
from tifed.progress import RunProgress
from tifed.results import ResultsWriter
from tifed.server.schedule import Round

POLL = 0.2  # seconds between pulls for replies
FINISH_TIMEOUT = 30.0  # seconds the nodes get to stop their devices
# results.json round keys in interfaces.md's order; the Flower extras follow.
ROUND_KEYS = ("round", "buffer", "test_accuracy", "bitexact", "wire_bytes", "seconds", "device_instructions")

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    try:
        config, fed = from_run_config(context.run_config)
        plan = server_plan(config, fed)
    except TifedError as exc:
        print(f"tifed: error: {_one_line(exc)}", flush=True)
        return
    FlowerFederation(plan, fed, grid).run()


class FlowerFederation:
    def __init__(self, plan, fed: FederationOptions, grid: Grid, stream: TextIO | None = None):
        self.plan = plan
        self.fed = fed
        self.grid = grid
        self.stream = stream if stream is not None else sys.stdout
        self.strategy: TifedStrategy | None = None
        self.roster = Roster(plan.config.devices)
        self.started_nodes: list[int] = []
        self.device_info: dict[int, dict[str, Any]] = {}  # firmware, link per device
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        config = plan.resolved()
        config.update({"boards": [], "device_boards": [], "flower": self._flower_config()})
        self.results = ResultsWriter(plan.config.out, config, [])

    # --- the run ----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self._t0 = time.monotonic()
        self.results.write()
        try:
            self._discover()
            self.strategy = TifedStrategy(self.plan, self.fed, self.roster)
            self._describe_fleet()
            self.strategy.summary()
            title = (f"{self.plan.config.dataset} {'-'.join(map(str, self.plan.dims))} {self.plan.config.mode} "
                     f"x{self.plan.config.devices} on {len(self.roster.nodes)} Flower nodes")
            with RunProgress(len(self.plan.schedule), title, stream=self.stream) as progress:
                for rnd in self.plan.schedule:
                    self._round(rnd, progress, last=rnd is self.plan.schedule[-1])
        except (TifedError, KeyboardInterrupt) as exc:
            self._stop_after(exc)
            self._say(f"tifed: error: {_one_line(exc)}")
            return self.results.final
        except BaseException as exc:  # a bug (Flower logs its traceback) or Flower stopping the run
            self._stop_after(exc)
            raise
        self.results.devices = self._device_entries()
        self.results.finish(self._elapsed(), self._model())
        self._add_final_extras()
        final = self.results.final
        self._say(f"done: {final['rounds']} rounds, test accuracy {final['test_accuracy']}, "
                  f"bit-exact {final['bitexact_all']}, results {self.results.json_path}")
        return final

    def _stop_after(self, exc: BaseException) -> None:
        self._finish_nodes(quiet=True)
        self.results.devices = self._device_entries()
        self.results.finish(self._elapsed(), self._model(), error=_one_line(exc))
        self._add_final_extras()

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0

    def _model(self):
        return self.strategy.global_model if self.strategy is not None else None

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    # --- messages ---------------------------------------------------------------

    def _exchange(self, messages: list[Message], deadline: float,
                  while_waiting=None) -> dict[int, Message]:
        """Push `messages`, pull their replies until all are in or `deadline`
        (monotonic) passes; returns node id -> reply. `while_waiting` runs
        once after the push (the server's own work overlaps the nodes')."""
        if not messages:
            return {}
        pushed = list(self.grid.push_messages(messages))
        node_of = {mid: m.metadata.dst_node_id for mid, m in zip(pushed, messages) if mid}
        if while_waiting is not None:
            while_waiting()
        replies: dict[int, Message] = {}
        pending = set(node_of)
        while pending:
            for reply in self.grid.pull_messages(sorted(pending)):
                mid = reply.metadata.reply_to_message_id
                if mid in pending:
                    pending.discard(mid)
                    replies[node_of[mid]] = reply
            if not pending or time.monotonic() >= deadline:
                break
            self._stop.wait(POLL)
        return replies

    def _message(self, node_id: int, kind: str, content: RecordDict | None = None) -> Message:
        return Message(content if content is not None else RecordDict(), dst_node_id=node_id, message_type=kind)

    # --- 1. discovery -----------------------------------------------------------

    def _discover(self) -> None:
        """join to every node as it connects, until the roster is complete.
        A node that cannot start its devices stops the run (its one line);
        so does a node whose devices clash with another's."""
        deadline = time.monotonic() + self.fed.join_timeout
        request = RecordDict({wire.RUN: wire.json_record({"training": training_json(self.plan.config)})})
        asked: dict[str, int] = {}  # message id -> node id
        tried: set[int] = set()
        self._say(f"waiting for nodes that hold devices 0-{self.plan.config.devices - 1}")
        while True:
            fresh = [n for n in self.grid.get_node_ids() if n not in tried]
            if fresh:
                msgs = [self._message(n, wire.JOIN, request) for n in fresh]
                for mid, n in zip(self.grid.push_messages(msgs), fresh):
                    asked[mid] = n
                tried.update(fresh)
            if asked:
                for reply in self.grid.pull_messages(sorted(asked)):
                    node_id = asked.pop(reply.metadata.reply_to_message_id, None)
                    if node_id is None:
                        continue
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
            self._stop.wait(POLL)

    def _describe_fleet(self) -> None:
        K = self.plan.config.devices
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
            "quorum": self.fed.effective_quorum(self.plan.config.devices),
            "round_timeout": self.fed.round_timeout,
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
        arrays = tensors.model_record(s.global_model)
        config = ConfigRecord({"round": rnd.number, "buffer": rnd.buffer, "epoch": rnd.epoch, "last": last})
        messages = list(s.configure_train(rnd.number, arrays, config, self.grid))
        replies = self._exchange(messages, t0 + self.fed.round_timeout, while_waiting=lambda: s.expect(rnd))
        if last:  # the nodes that answered have stopped their devices
            self.started_nodes = [n for n in self.started_nodes if n not in replies]
        try:
            s.aggregate_train(rnd.number, replies.values())
        finally:
            self._take_device_info(s.finish_info)
            self.results.devices = self._device_entries()  # drops are recorded even when the run stops here
        entry = {"round": rnd.number, "buffer": rnd.buffer, **s.last_entry,
                 "seconds": round(time.monotonic() - t0, 4)}
        entry = {k: entry[k] for k in ROUND_KEYS} | {k: v for k, v in entry.items() if k not in ROUND_KEYS}
        self.results.add_round(entry, self._elapsed())
        progress.round_done(entry)
        for d in entry.get("dropped_devices", []):
            self._say(f"round {rnd.number}: device {d} dropped: {s.dropped[d]['reason']} "
                      f"({len(s.active)} of {self.plan.config.devices} devices left, quorum {s.quorum})")

    # --- finish (a run that stops early) --------------------------------------------------------------

    def _finish_nodes(self, quiet: bool = False) -> None:
        """Nodes still in the run stop their devices and report stack peaks;
        a node that does not answer is left alone (it stops its devices at
        the next run or when it exits)."""
        s = self.strategy
        nodes = [n for n in self.started_nodes
                 if s is None or any(d in s.active for d in self.roster.nodes[n].devices)]
        messages = [self._message(n, wire.FINISH) for n in nodes]
        try:
            replies = self._exchange(messages, time.monotonic() + FINISH_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - on the way out of a failed run, keep its own error
            if not quiet:
                raise
            self._say(f"tifed: warning: could not tell the nodes to stop: {_one_line(exc)}")
            return
        for node_id, reply in replies.items():
            try:
                self._take_device_info(wire.reply_text(reply).get("devices"))
            except ProtocolError as exc:
                self._say(f"tifed: warning: node {node_id} at finish: {_one_line(exc)}")
        self.started_nodes = []

    # --- results ----------------------------------------------------------------

    def _device_entries(self) -> list[dict[str, Any]]:
        if not self.roster.complete:
            return []
        s = self.strategy
        entries = []
        for d in range(self.plan.config.devices):
            info = self.roster.node_of(d)
            extra = self.device_info.get(d, {})
            entries.append({
                "id": d,
                "board": self.roster.board_of(d),
                "layer": self.plan.layers[d],
                "firmware": extra.get("firmware"),
                "link": extra.get("link"),
                "node": info.node_id,
                "host": info.host,
                "dropped": None if s is None else s.dropped.get(d),
            })
        return entries

    def _add_final_extras(self) -> None:
        s = self.strategy
        self.results.final["dropped_devices"] = sorted(s.dropped) if s is not None else []
        self.results.write()


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = " ".join(str(exc).split())
    return text if isinstance(exc, TifedError) else f"{type(exc).__name__}: {text}"

