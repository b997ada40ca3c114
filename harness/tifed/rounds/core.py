"""RoundCore: one federated run's rounds, whatever carries the updates.

It owns the global model and the feedback matrices, the bounds and the
divergence guard, which devices are active, late or dropped (and the quorum
rules that end a run), the reference's expected updates, the checks of every
update, the aggregation, each round's results.json entry and the final
figures. A transport (server/federation.py: a thread per board worker;
flower/server_app.py: messages to nodes) asks it who trains, hands it the
updates and events that came back, and writes what it returns.

Rules, as docs/RELIABILITY.md states them: a round aggregates the accepted
updates of the devices that answered; fewer accepted updates than the
quorum, fewer active devices than the quorum, or (single-layer mode) a layer
with no device left ends the run with QuorumError. A device still busy with
an earlier round is late: it gets no new round until it answers, and that
answer is thrown away.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Collection, Iterable, Mapping

import numpy as np

import tifed_models
from tifed.config import RunConfig
from tifed.errors import QuorumError
from tifed.rounds.checks import judge_updates, step_bounds
from tifed.rounds.digest import buffer_digest
from tifed.rounds.divergence import DivergenceGuard, chance_level, evaluate
from tifed.training.datasets import Dataset
from tifed.training.schedule import Round

# Per-round link counters of results.json (rounds[].retransmissions and link_errors).
LINK_COUNTERS = ("retransmissions", "naks", "timeouts", "bad_frames", "stale_frames")


@dataclasses.dataclass
class Update:
    """One device's answer to a round."""

    model: tifed_models.Model  # after its pass; layers it does not train are the global model's
    instructions: int | None = None  # its TRAIN counter, where the board has one
    digest: str | None = None  # of the buffer it trained on, where its host loaded the data (Flower)
    readback: str | None = None  # how the model came back over the link: "digest", "low_bits", "full"


class RoundCore:
    def __init__(self, config: RunConfig, layers: list[int | None], data: Dataset,
                 shards: list[tuple[np.ndarray, np.ndarray]], on_event: Callable[[str], None] | None = None,
                 evaluated: Collection[int] | None = None):
        """A checked run's options, each device's layer (single mode) or None,
        the data set (its test set) and each device's shard (tifed.plan
        .RunPlan has them all). `on_event` gets one line per thing a user
        should hear about while the run goes on (an update rejected, a
        collapse). `evaluated`: the rounds after which test accuracy is
        measured (RunPlan.evaluated_rounds, --eval-every); None: every round."""
        t = config.training
        self.config = config
        self.training = t
        self.layers = layers
        self.data = data
        self.shards = shards
        self.quorum = config.quorum
        self.validate = config.validate
        self.on_event = on_event
        self.global_model = tifed_models.Model.zeros(t.dims)
        self.feedback = tifed_models.feedback_matrices(t.dims, t.seed)
        self.bounds = step_bounds(t.dims, t.buffer_len, t.batch, t.lr_inv)
        self.guard = DivergenceGuard(chance_level(data.y_test, data.classes))
        self.evaluated = None if evaluated is None else frozenset(evaluated)
        self._test_x = np.asarray(data.x_test, dtype=np.float64)  # converted once for fleet.forward_exact
        self._measured: tuple[int, float, float] | None = None  # (round, accuracy, saturation) last measured
        self.active: list[int] = list(range(t.devices))  # devices still in the run
        self.dropped: dict[int, dict[str, Any]] = {}  # device -> {"round", "reason"}
        self.late: set[int] = set()  # devices still busy with an earlier round
        self.names: dict[int, str] = {}  # device -> how messages name it (default "device i")
        self.stopped: str | None = None  # "divergence" when --stop-on-divergence ended the run
        self.resumed_after: list[int] = []
        self.events: list[dict[str, Any]] = []  # the current round's, for results.json

    # --- who trains -----------------------------------------------------------

    def trained_layers(self, device: int) -> list[int]:
        return self.training.trained_layers(self.layers[device])

    def free_devices(self) -> list[int]:
        """Active devices not busy with an earlier round: those a round asks."""
        return [d for d in self.active if d not in self.late]

    def needs_late_back(self) -> bool:
        """Too few free devices for a quorum while some are late: wait for one."""
        return len(self.free_devices()) < self.quorum and bool(self.late)

    def name(self, device: int) -> str:
        return self.names.get(device, f"device {device}")

    def buffer_of(self, device: int, rnd: Round) -> tuple[np.ndarray, np.ndarray]:
        """The samples and labels device `device` trains on in round `rnd`."""
        return rnd.take(self.shards[device], self.training.buffer_len)

    def begin_round(self) -> None:
        self.events = []

    # --- faults -----------------------------------------------------------------

    def drop(self, devices: Iterable[int], round_number: int, reason: str) -> None:
        """Take devices out of the run for good (recorded); too few left ends it."""
        gone = sorted(d for d in devices if d in self.active)
        for d in gone:
            self.active.remove(d)
            self.late.discard(d)
            self.dropped[d] = {"round": round_number, "reason": reason}
            self.events.append({"device": d, "event": "dropped", "detail": reason})
        if gone and len(self.active) < self.quorum:
            raise QuorumError(f"{reason}; {len(self.active)} devices left, below the quorum of {self.quorum}")
        if self.training.mode == "single":
            for layer in sorted({self.layers[d] for d in gone}):
                if not any(self.layers[j] == layer for j in self.active):
                    raise QuorumError(f"{reason}; no device is left to train layer {layer}")

    def mark_late(self, devices: Iterable[int]) -> None:
        """Devices that missed the round deadline: left out of this round."""
        timeout = self.config.recovery.round_timeout
        for d in devices:
            self.late.add(d)
            self.events.append({"device": d, "event": "late",
                                "detail": f"no update within the round deadline of {timeout:g} s",
                                "action": "left out of this round; its update will be discarded"})

    def late_update_discarded(self, devices: Iterable[int]) -> None:
        """Late devices that answered: free again, their update thrown away
        (it was trained from an old global model)."""
        for d in devices:
            self.late.discard(d)
            self.events.append({"device": d, "event": "late update discarded",
                                "detail": "it finished a round that had closed without it"})

    # --- the round ----------------------------------------------------------------

    def expected_updates(self, rnd: Round, devices: Iterable[int], own_reference: Iterable[int] = (),
                         model: tifed_models.Model | None = None) -> dict[int, tifed_models.Model | None] | None:
        """The reference's local update of each device for round `rnd` from
        `model` (default: the global model); None without validation. Devices
        in `own_reference` (board sim) are the reference already: None."""
        if not self.validate:
            return None
        g = self.global_model if model is None else model
        t, skip = self.training, set(own_reference)
        out: dict[int, tifed_models.Model | None] = {}
        for d in devices:
            if d in skip:
                out[d] = None
                continue
            x, y = self.buffer_of(d, rnd)
            layer = self.layers[d]
            out[d] = tifed_models.train(g, self.feedback, x, tifed_models.targets(y, t.classes), t.lr_inv, t.batch,
                                        1, -1 if layer is None else layer, t.weight_bits)
        return out

    def close_round(self, rnd: Round, received: Mapping[int, Update],
                    expected: Mapping[int, tifed_models.Model | None] | None, link: Mapping[str, int],
                    started: float, extra: Mapping[str, Any] | None = None,
                    trusted: Collection[int] = ()) -> dict[str, Any]:
        """Check, aggregate and measure one round; its results.json entry.
        `link` holds the round's wire_bytes and LINK_COUNTERS, `started` the
        round's time.monotonic() start, `extra` transport figures for the
        entry; `trusted` devices' updates the server computed itself (sim:
        no bounds check). Test accuracy (and saturation) is null in a round
        not in `evaluated`. Raises QuorumError when too few updates are
        accepted."""
        digests = {d: buffer_digest(*self.buffer_of(d, rnd)) for d, u in received.items() if u.digest is not None}
        layers = {d: self.trained_layers(d) for d in received}
        accepted, rejected, mismatched = judge_updates(self.global_model, received, expected, layers, self.bounds,
                                                       digests, trusted)
        for r in rejected:
            self._tell(f"round {rnd.number}: rejected the update of {self.name(r['device'])}: {r['reason']}")
        if len(accepted) < self.quorum:
            why = "; ".join(f"device {r['device']}: {r['reason']}" for r in rejected) or "too few answered"
            raise QuorumError(f"round {rnd.number}: {len(accepted)} accepted updates, below the quorum of "
                              f"{self.quorum} ({why})")
        used = sorted(accepted)
        models = [accepted[d].model for d in used]
        if self.training.mode == "full":
            self.global_model = tifed_models.aggregate(models)
        else:
            self.global_model = tifed_models.aggregate_layers(self.global_model, models,
                                                              [self.layers[d] for d in used])
        # interfaces.md promises every round a test_accuracy: a round that
        # --eval-every does not measure carries the last measured one and says
        # which round that was (test_accuracy_round); the first round a core
        # closes is always measured, so there is one to carry.
        measure = self.evaluated is None or rnd.number in self.evaluated or self._measured is None
        if measure:
            accuracy, saturation = evaluate(self.global_model, self._test_x, self.data.y_test)
            self._measured = (rnd.number, round(accuracy, 6), round(saturation, 4))
        counters = [accepted[d].instructions if d in accepted else None for d in range(self.training.devices)]
        entry = {
            "round": rnd.number,
            "buffer": rnd.buffer,
            "test_accuracy": self._measured[1],
            "bitexact": None if mismatched is None else not mismatched,
            "wire_bytes": int(link.get("wire_bytes", 0)),
            "seconds": round(time.monotonic() - started, 4),
            "device_instructions": None if all(v is None for v in counters) else counters,
            "devices_used": used,
            "retransmissions": int(link.get("retransmissions", 0)),
            "link_errors": {k: int(link.get(k, 0)) for k in LINK_COUNTERS if k != "retransmissions"},
            "saturation": self._measured[2],
            "events": self.events,
            **(extra or {}),
        }
        if not measure:
            entry["test_accuracy_round"] = self._measured[0]
        readback: dict[str, list[int]] = {}
        for d in sorted(received):
            if received[d].readback is not None:
                readback.setdefault(received[d].readback, []).append(d)
        if readback:
            entry["readback"] = readback  # how each device's model came back: digest, low_bits, full
        if mismatched:
            entry["mismatched_devices"] = mismatched
        if rejected:
            entry["rejected"] = rejected
        found = self.guard.observe(rnd.number, accuracy, saturation) if measure else None
        if found is not None:
            entry["diverged"] = True
            self._tell(found["message"])
        return entry

    def should_stop(self) -> bool:
        """--stop-on-divergence and the run has collapsed (recorded as `stopped`)."""
        if self.guard.found is not None and self.config.recovery.stop_on_divergence:
            self.stopped = "divergence"
        return self.stopped is not None

    # --- the run's figures ----------------------------------------------------------

    def final_extras(self) -> dict[str, Any]:
        """What results.json's "final" adds to the rounds' summary."""
        return {
            "quorum": self.quorum,
            "dropped_devices": [{"device": d, **v} for d, v in sorted(self.dropped.items())],
            "divergence": self.guard.found,
            "stopped": self.stopped,
            "resumed_after_rounds": self.resumed_after,
        }

    def restore(self, model: tifed_models.Model, dropped: Mapping[int, dict[str, Any]],
                guard: dict[str, Any] | None, resumed_after: list[int], rounds: list[dict[str, Any]]) -> None:
        """Carry on from a checkpoint (server/checkpoint.py) whose run wrote
        `rounds`: the next round measures (or carries) accuracy as the
        uninterrupted run would have."""
        if rounds:
            last = rounds[-1]
            self._measured = (last.get("test_accuracy_round", last["round"]), last["test_accuracy"],
                              last["saturation"])
        self.global_model = model
        self.dropped = dict(dropped)
        self.active = [d for d in self.active if d not in self.dropped]
        if guard is not None:
            self.guard = DivergenceGuard.from_state(guard)
        self.resumed_after = list(resumed_after)

    def _tell(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(message)
