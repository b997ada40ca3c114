"""The boards attached to one node host, as the ClientApp drives them.

A node holds global devices offset .. offset+n-1 (roster.py). For a run it
loads the data set itself and takes those devices' shards (data stays on the
node; the server checks a digest of every buffer), starts the devices with
the board plug-ins (tifed.boards) and drives each through the same Worker as
`tifed run` (server/workers.py: DeviceWorker over DeviceClient, or
ReferenceWorker for `sim`, started by the same start_workers). The serial link stays between this host and its
boards: only int32 tensors cross the network. The node computes each
device's update with the reference too (it has the model and the data), so
a board that speaks protocol 2 sends back only a digest of its update, as
with `tifed run` (server/model_link.py); the server still validates what the
node returns.

Nothing here imports Flower: client_app.py turns messages into calls.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import socket
import time
from typing import Any, Callable

import numpy as np

import tifed_models
from tifed.boards.base import Board
from tifed.config import RunConfig
from tifed.errors import ConfigError, TifedError, one_line
from tifed.firmware import build
from tifed.flower.options import training_from_json
from tifed.links.settings import WireOptions
from tifed.plan import apply_fleet, prepare, resolve_boards
from tifed.rounds.digest import buffer_digest
from tifed.server.link_tally import link_delta, link_totals
from tifed.server.workers import ReferenceWorker, Worker, start_workers
from tifed.training.config import TrainingConfig
from tifed.training.schedule import Round

_PROBE_MODEL = "1-1"  # the smallest model: board checks before any run's model is known


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """`tifed node` options that say what this host holds."""

    boards: tuple[str, ...]  # --board values (dealt out to the devices in turn), empty with a fleet
    devices: int | None  # n; None: one per --board value (or per fleet entry)
    offset: int  # global id of this node's first device
    fleet: str | None = None
    baud: int | None = None
    timeout: float | None = None
    chunk: int | None = None
    wire: WireOptions = WireOptions()  # --protocol, --full-readback, --line-rate for every board here

    def run_config(self) -> RunConfig:
        """This node's boards as a RunConfig over its own devices (the
        training fields are placeholders until a run says what they are)."""
        return RunConfig.of(boards=self.boards, devices=self.devices or (None if self.fleet else len(self.boards)),
                            mode="full", dataset="digits", model=_PROBE_MODEL, out=".", fleet=self.fleet,
                            baud=self.baud, timeout=self.timeout, chunk=self.chunk)


class BoardHost:
    def __init__(self, spec: NodeSpec, say: Callable[[str], None] | None = None):
        """Resolve and check the boards now (and build their firmware), so a
        mistake ends `tifed node` before it joins a federation. `say` gets
        one line per run start, round and stop (the node's progress)."""
        self.spec = spec
        self._say = say or (lambda line: None)
        config, self._fleet_boards = apply_fleet(spec.run_config())
        self._config = config  # boards resolved to one label per device when a fleet is used
        if not config.boards:
            raise ConfigError("give at least one --board (or --fleet FILE)")
        self.boards: list[Board] = resolve_boards(config, self._fleet_boards)
        self.n = len(self.boards)
        self.offset = spec.offset
        for board in {id(b): b for b in self.boards}.values():
            image = board.image_path()
            if image is not None:
                build.ensure_built(board.name, image)
        self.run_id: int | None = None
        self.workers: dict[int, Worker] = {}  # global device id -> worker
        self.failed: dict[int, str] = {}
        self._shards: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.training: TrainingConfig | None = None  # the run's
        self._layers: dict[int, int | None] = {}  # device -> its layer (single mode) or None
        self._pool = cf.ThreadPoolExecutor(max_workers=max(1, self.n), thread_name_prefix="board")

    @property
    def device_ids(self) -> list[int]:
        return list(range(self.offset, self.offset + self.n))

    def trained_layers(self, device: int) -> list[int]:
        return self.training.trained_layers(self._layers[device])

    def describe(self) -> dict[str, Any]:
        return {"offset": self.offset, "boards": [b.name for b in self.boards],
                "families": [b.family for b in self.boards], "host": socket.gethostname()}

    # --- a run ------------------------------------------------------------------

    def join(self, run_id: int, training_text: str) -> dict[str, Any]:
        """Join run `run_id`: stop what a previous run left, check the boards
        against this run's model, start and set up every device (CONFIGURE,
        feedback seed and check). Answers what this node holds."""
        self.stop()
        try:
            self._start(run_id, training_from_json(training_text))
        except BaseException:
            self.stop()  # half a start keeps no device running
            raise
        self._say(f"run {run_id}: devices {_span(self.device_ids)} started")
        return {**self.describe(), "devices": self._device_info()}

    def _device_info(self) -> dict[str, Any]:
        return {str(d): {"firmware": w.firmware(), "link": w.link()}
                for d, w in self.workers.items() if d not in self.failed}

    def _start(self, run_id: int, training: TrainingConfig) -> None:
        K = training.devices
        if self.offset + self.n > K:
            raise ConfigError(f"this node holds devices {self.offset}-{self.offset + self.n - 1}, "
                              f"the run has {K}")
        # The run as the server plans it (same checks, data, shards, layers) ...
        plan = prepare(RunConfig(training=training, boards=("sim",), out="."))
        # ... and this node's boards checked against its model (RAM).
        local = dataclasses.replace(self._config, training=dataclasses.replace(
            training, devices=self._config.training.devices))
        resolve_boards(local, self._fleet_boards)
        self.training = training
        self._layers = {d: plan.layers[d] for d in self.device_ids}
        self._shards = {d: plan.shards[d] for d in self.device_ids}
        self.run_id = run_id
        start_workers(dict(zip(self.device_ids, self.boards)), self._layers, training, self.workers,
                      wire=self.spec.wire)
        self._each(list(self.workers.values()), lambda w: w.setup())
        self._each(list(self.workers.values()), lambda w: w.refresh_stats())

    def train(self, run_id: int, rnd: Round, model: tifed_models.Model, devices: list[int],
              last: bool = False) -> tuple[dict[int, tifed_models.Model], dict[str, Any]]:
        """One round on the asked devices, in parallel. A device that fails
        is stopped and reported in "failed" (the server drops it); the
        others' updates still go back. After the `last` round, the devices
        report their figures (finish) and stop."""
        self._check_run(run_id)
        unknown = [d for d in devices if d not in self.workers and d not in self.failed]
        if unknown:
            raise ConfigError(f"asked for devices {unknown}, this node holds {self.device_ids}")
        asked = [d for d in devices if d not in self.failed]

        def one(d: int) -> dict[str, Any]:
            w = self.workers[d]
            x, y = rnd.take(self._shards[d], self.training.buffer_len)
            before, t0 = link_totals(w), time.monotonic()
            reference = ReferenceWorker(d, w.board, self._layers[d], self.training)
            update = w.train_round(model, rnd.buffer, x, y,
                                   expected=lambda: reference.train_round(model, rnd.buffer, x, y).model)
            link = link_delta({d: w}, {d: before})
            return {"model": update.model, "instructions": update.instructions,
                    "wire_bytes": link.pop("wire_bytes"), "seconds": round(time.monotonic() - t0, 4),
                    "digest": buffer_digest(x, y), "events": w.take_events(), "link_counters": link}

        futures = {d: self._pool.submit(one, d) for d in asked}
        models, stats = {}, {}
        for d, future in futures.items():
            try:
                result = future.result()
            except TifedError as exc:  # the device's fault: reported, the others go on (a bug is raised)
                self.failed[d] = one_line(exc)
                self._stop_worker(d)
                continue
            models[d] = result.pop("model")
            stats[str(d)] = result
        failed = {str(d): self.failed[d] for d in devices if d in self.failed}
        self._say(f"run {run_id} round {rnd.number}: devices {_span(sorted(models))} trained"
                  + "".join(f"; device {d} failed: {why}" for d, why in failed.items()))
        report = {"devices": stats, "failed": failed}
        if last:
            report["finish"] = self.finish(run_id)["devices"]
        return models, report

    def finish(self, run_id: int) -> dict[str, Any]:
        """Stack peaks and link figures, then every device stopped."""
        self._check_run(run_id)
        live = [w for d, w in self.workers.items() if d not in self.failed]
        self._each(live, lambda w: w.refresh_stats(), tolerate=True)
        report = {"devices": self._device_info()}
        self.stop()
        self._say(f"run {run_id}: devices stopped")
        return report

    def stop(self) -> None:
        for d in list(self.workers):
            self._stop_worker(d)
        self.workers, self.failed, self.run_id = {}, {}, None

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- internals --------------------------------------------------------------

    def _check_run(self, run_id: int) -> None:
        if self.run_id != run_id:
            raise ConfigError(f"run {run_id} has not started its devices on this node "
                              f"(the node serves run {self.run_id})")

    def _stop_worker(self, d: int) -> None:
        w = self.workers.get(d)
        if w is not None:
            try:
                w.stop()
            except Exception:  # noqa: BLE001 - stopping a device that is gone may fail; nothing to keep
                pass

    def _each(self, workers: list[Worker], fn, tolerate: bool = False) -> None:
        """fn(worker) for all, concurrently; the first failure is raised
        (after all finished) unless `tolerate`."""
        futures = [self._pool.submit(fn, w) for w in workers]
        cf.wait(futures)
        if not tolerate:
            for f in futures:
                if f.exception() is not None:
                    raise f.exception()


def _span(ids: list[int]) -> str:
    """[4, 5] -> '4-5'; [1, 3] -> '1, 3'."""
    if len(ids) > 1 and ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}-{ids[-1]}"
    return ", ".join(map(str, ids)) or "none"
