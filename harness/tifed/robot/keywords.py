"""The acceptance keywords (see __init__.py). Each keyword that claims
something raises AssertionError with a message that says what was found
instead; `Skip Unless Board Can Run` skips a test with the reason. Devices a
test starts are stopped when the test ends, whatever happened (a listener),
and by `Stop The Fleet` for a suite that says so itself."""
from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from robot.api import logger
from robot.api.deco import keyword, library
from robot.api.exceptions import SkipExecution
from robot.libraries.BuiltIn import BuiltIn, RobotNotRunningError

import tifed_models
from tifed.boards.registry import get_board
from tifed.errors import ConfigError
from tifed.output.round_entry import measured
from tifed.robot import results_check, step_case
from tifed.robot.cli_run import CliRun, run_tifed
from tifed.robot.devices import Fleet
from tifed.training.config import default_of

RUN_TIMEOUT = 900.0  # seconds for one `tifed run`; a hang fails the test instead of the suite
STEP_TIMEOUT = 300.0
EXIT_BAD_INPUT = 2  # tifed.cli: bad input ends with exit code 2


class _StopDevicesWhenDone:
    """Robot listener: whatever a test did, its devices stop when it ends."""

    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self, library: "TifedKeywords"):
        self.library = library

    def end_test(self, data, result):
        self.library.stop_the_fleet()

    def end_suite(self, data, result):
        self.library.stop_the_fleet()

    def close(self):
        self.library.stop_the_fleet()


@library(scope="SUITE", auto_keywords=False)
class TifedKeywords:
    def __init__(self, workdir: str | None = None):
        """`workdir`: where runs write their folders; default ${OUTPUT DIR}/runs."""
        self.ROBOT_LIBRARY_LISTENER = _StopDevicesWhenDone(self)
        self._workdir = Path(workdir) if workdir else None
        self._runs = 0
        self.last_run: CliRun | None = None
        self.fleet: Fleet | None = None

    # --- running tifed -------------------------------------------------------

    @keyword
    def run_federated_training(self, board: str, devices: int, mode: str, dataset: str = "digits",
                               model: str = "64-32-10", *, rounds: int | None = None,
                               buffers: int | None = None, buffer_len: int | None = None,
                               batch: int | None = None, epochs: int | None = None,
                               lr_inv: int | None = None, seed: int | None = None, validate: bool = True,
                               out: str | None = None, timeout: float = RUN_TIMEOUT) -> None:
        """Run `tifed run` and require that it finished (exit code 0).

        `board`: one board, or several separated by commas (a mixed fleet,
        dealt out to the devices in turn). Options left unset keep tifed's
        defaults (the paper's); `out` defaults to a fresh folder under the
        output directory; `timeout` is in seconds."""
        run = self.try_to_run_federated_training(
            board, devices, mode, dataset, model, rounds=rounds, buffers=buffers, buffer_len=buffer_len,
            batch=batch, epochs=epochs, lr_inv=lr_inv, seed=seed, validate=validate, out=out, timeout=timeout)
        if run.exit_code != 0:
            raise AssertionError(f"the run failed: {run.describe()}")

    @keyword
    def try_to_run_federated_training(self, board: str, devices: str, mode: str, dataset: str = "digits",
                                      model: str = "64-32-10", *, rounds: str | None = None,
                                      buffers: str | None = None, buffer_len: str | None = None,
                                      batch: str | None = None, epochs: str | None = None,
                                      lr_inv: str | None = None, seed: str | None = None, validate: bool = True,
                                      out: str | None = None, timeout: float = RUN_TIMEOUT) -> CliRun:
        """Like `Run Federated Training`, whatever the outcome; the run is
        kept for the checks that follow (`The Run Should Be Refused With`).
        Options are passed as given, so bad values reach tifed."""
        out_dir = Path(out) if out else self._new_folder()
        args = ["run"]
        for name in re.split(r"[,\s]+", str(board).strip()):
            if name:
                args += ["--board", name]
        args += ["--devices", str(devices), "--mode", mode, "--dataset", dataset, "--model", model]
        options = {"rounds": rounds, "buffers": buffers, "buffer-len": buffer_len, "batch": batch,
                   "epochs": epochs, "lr-inv": lr_inv, "seed": seed}
        for name, value in options.items():
            if value is not None:
                args += [f"--{name}", str(value)]
        if not validate:
            args.append("--no-validate")
        args += ["--out", str(out_dir)]
        self.last_run = self._tifed(args, float(timeout), out_dir)
        return self.last_run

    def _tifed(self, args: list[str], timeout: float, out: Path | None = None) -> CliRun:
        run = run_tifed(args, timeout=timeout, out=out)
        logger.info(f"`{run.command}` exited {run.exit_code} after {run.seconds:.1f} s")
        if run.stdout.strip():
            logger.info("stdout:\n" + run.stdout)
        if run.stderr.strip():
            logger.info("stderr:\n" + run.stderr)
        return run

    def _new_folder(self, kind: str = "run") -> Path:
        if self._workdir is None:
            try:
                self._workdir = Path(BuiltIn().get_variable_value("${OUTPUT DIR}")) / "runs"
            except RobotNotRunningError:
                self._workdir = Path(tempfile.mkdtemp(prefix="tifed-robot-"))
        try:
            test = BuiltIn().get_variable_value("${TEST NAME}") or kind
        except RobotNotRunningError:
            test = kind
        slug = re.sub(r"[^A-Za-z0-9]+", "-", test).strip("-").lower()[:60]
        while True:  # one library per suite: another suite may have used the number
            self._runs += 1
            folder = self._workdir / f"{self._runs:03d}-{slug}"
            if not folder.exists():
                return folder

    def _run(self) -> CliRun:
        if self.last_run is None:
            raise AssertionError("no run yet: use Run Federated Training first")
        return self.last_run

    def _results(self) -> dict[str, Any]:
        run = self._run()
        path = run.out / "results.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise AssertionError(f"the run left no readable {path} ({exc}); {run.describe()}") from None

    # --- claims about the last run -------------------------------------------

    @keyword
    def the_run_should_be_refused_with(self, message: str) -> None:
        """Refused: exit code 2, exactly one line on stderr, `tifed: error:`
        and `message` in it, no traceback, no results written."""
        run = self._run()
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        if run.exit_code == 0:
            raise AssertionError(f"the run was not refused: `{run.command}` exited 0")
        if "Traceback" in run.stderr or "Traceback" in run.stdout:
            raise AssertionError(f"the refusal printed a traceback: {run.stderr_tail(5)}")
        if run.exit_code != EXIT_BAD_INPUT:
            raise AssertionError(f"a refusal exits {EXIT_BAD_INPUT}, this one {run.describe()}")
        if len(lines) != 1:
            raise AssertionError(f"a refusal is one line on stderr, got {len(lines)}: {run.stderr_tail(5)}")
        if not lines[0].startswith("tifed: error: "):
            raise AssertionError(f"the refusal does not start with 'tifed: error: ': {lines[0]!r}")
        if message not in lines[0]:
            raise AssertionError(f"the refusal {lines[0]!r} does not say {message!r}")
        if run.out is not None and (run.out / "results.json").exists():
            raise AssertionError(f"the refused run still wrote {run.out / 'results.json'}")

    @keyword
    def final_accuracy_should_be_at_least(self, minimum: float) -> None:
        doc = self._results()
        accuracy = doc["final"]["test_accuracy"]
        history = ", ".join(f"{r['test_accuracy']:.3f}" for r in doc["rounds"] if measured(r))
        if accuracy is None or accuracy < float(minimum):
            raise AssertionError(
                f"final test accuracy {accuracy} after {len(doc['rounds'])} rounds is below {minimum} "
                f"(per evaluation: {history})"
            )
        logger.info(f"final test accuracy {accuracy:.4f} (per evaluation: {history})")

    @keyword("All Updates Should Be Bit-Exact")
    def all_updates_should_be_bit_exact(self) -> None:
        """Every round, every device's update equalled the reference's bit for bit."""
        doc = self._results()
        if not doc["config"].get("validate", True):
            raise AssertionError("the run did not validate (--no-validate): no update was compared")
        if all(d["board"] == "sim" for d in doc["devices"]):
            raise AssertionError("every device was `sim`, the reference itself: there was nothing to compare")
        if not doc["rounds"]:
            raise AssertionError("no round finished")
        bad = [r for r in doc["rounds"] if r["bitexact"] is not True]
        if bad:
            first = bad[0]
            raise AssertionError(
                f"{len(bad)} of {len(doc['rounds'])} rounds not bit-exact; first round {first['round']} "
                f"(bitexact {first['bitexact']}, devices {first.get('mismatched_devices', '?')})"
            )
        if doc["final"]["bitexact_all"] is not True:
            raise AssertionError(f"final bitexact_all is {doc['final']['bitexact_all']!r} though every round was")

    @keyword
    def every_round_should_report_device_instructions(self, boards: str = "") -> None:
        """Each round counts a positive number of instructions for each
        device, or only for the devices of `boards` (comma-separated)."""
        doc = self._results()
        wanted = {b for b in re.split(r"[,\s]+", boards) if b}
        devices = [(d["id"], d["board"]) for d in doc["devices"] if not wanted or d["board"] in wanted]
        if not devices:
            raise AssertionError(f"the run had no device on {sorted(wanted)}")
        if not doc["rounds"]:
            raise AssertionError("no round finished")
        for entry in doc["rounds"]:
            counts = entry["device_instructions"]
            for i, board in devices:
                value = counts[i] if isinstance(counts, list) and i < len(counts) else None
                if not isinstance(value, int) or value <= 0:
                    raise AssertionError(
                        f"round {entry['round']}: device {i} ({board}) reported {value!r} instructions "
                        f"(device_instructions {counts!r})"
                    )

    @keyword
    def devices_should_have_run_on(self, *boards: str) -> None:
        """The run's devices were on exactly these boards, in this order,
        each but `sim` with its firmware's sizes."""
        doc = self._results()
        found = [d["board"] for d in doc["devices"]]
        if found != list(boards):
            raise AssertionError(f"the devices ran on {found}, not {list(boards)}")
        for d in doc["devices"]:
            if d["board"] != "sim" and not d["firmware"]:
                raise AssertionError(f"device {d['id']} ({d['board']}) reports no firmware sizes")

    @keyword("Each Layer Should Be Trained By ${count:\\d+} ${noun:Devices|Device}")
    def each_layer_should_be_trained_by(self, count: str, noun: str = "Devices") -> None:
        """Single mode: the devices are dealt out evenly, `count` to a layer."""
        doc = self._results()
        n_layers = len(tifed_models.parse_model(doc["config"]["model"])) - 1
        layers = Counter(d["layer"] for d in doc["devices"])
        expected = Counter({layer: int(count) for layer in range(n_layers)})
        if layers != expected:
            raise AssertionError(f"devices per layer: {dict(layers)}, expected {dict(expected)}")

    @keyword
    def results_files_should_be_present_and_readable(self) -> None:
        """results.json as interfaces.md describes it, rounds.csv with one
        row per round, accuracy.png a picture."""
        run = self._run()
        found = results_check.problems(run.out)
        if found:
            raise AssertionError(f"results in {run.out}: " + "; ".join(found))

    # --- devices started by the test itself ------------------------------------

    @keyword("Start A Fleet Of ${board:\\S+} x ${count:\\d+}")
    def start_a_fleet(self, board: str, count: str) -> None:
        self.stop_the_fleet()
        self.fleet = Fleet(board, int(count))
        logger.info(f"started {count} {board} device(s): {[d.url for d in self.fleet.devices]}")

    @keyword
    def stop_the_fleet(self) -> None:
        fleet, self.fleet = self.fleet, None
        if fleet is not None:
            fleet.stop()

    def _clients(self):
        if self.fleet is None or not self.fleet.clients:
            raise AssertionError("no device is running: use Start A Fleet Of BOARD x K first")
        return self.fleet.clients

    @keyword("A Device Should Report Its Board And RAM")
    def a_device_should_report_its_board_and_ram(self, board: str | None = None) -> None:
        """Every started device answers IDENTIFY with its board's name
        (`board`, default the fleet's) and a RAM arena: more than nothing,
        and what the firmware image's linker symbols bound, where known."""
        clients = self._clients()
        expected = board or self.fleet.board.name
        known = self.fleet.board.ram_arena_bytes()
        for client in clients:
            info = client.identify()
            logger.info(f"{client.name}: {info}")
            if info.board != expected:
                raise AssertionError(f"{client.name} says it is board {info.board!r}, not {expected!r}")
            if info.arena_bytes <= 0:
                raise AssertionError(f"{client.name} reports a RAM arena of {info.arena_bytes} bytes")
            if known is not None and info.arena_bytes != known:
                raise AssertionError(
                    f"{client.name} reports {info.arena_bytes} bytes of RAM arena, its image has {known}"
                )

    @keyword("RAM Arena Reported By Device ${index:\\d+}")
    def ram_arena_reported_by_device(self, index: str) -> int:
        clients = self._clients()
        if int(index) >= len(clients):
            raise AssertionError(f"there are {len(clients)} devices, no device {index}")
        return clients[int(index)].identify().arena_bytes

    @keyword("RAM Arena Needed By Model")
    def ram_arena_needed_by_model(self, model: str, buffer_len: int = default_of("buffer_len"),
                                  batch: int = default_of("batch")) -> int:
        """Bytes of RAM arena `model` needs for a buffer and batch (PROTOCOL.md formula)."""
        return tifed_models.arena_bytes(tifed_models.parse_model(model), int(buffer_len), int(batch))

    @keyword
    def skip_unless_board_can_run(self, board: str) -> None:
        """Skip the test, saying why, when `board` cannot run on this machine
        (e.g. Renode boards where `renode` is not on PATH)."""
        try:
            available = get_board(board).availability()
        except ConfigError as exc:
            raise SkipExecution(f"{board} is not available here: {exc}") from None
        if not available.runnable:
            raise SkipExecution(available.why_not(board))

    # --- tifed step ---------------------------------------------------------------

    @keyword
    def step_results_should_be_identical_for_engines(self, *engines: str, model: str = "64-32-10",
                                                     samples: int = 60, batch: int = default_of("batch"),
                                                     epochs: int = 2, lr_inv: int = default_of("lr_inv"),
                                                     layer: int = -1, seed: int = 1) -> None:
        """`tifed step` on one generated case gives the same trained model and
        predictions with every engine; the case must really train."""
        if len(engines) < 2:
            raise AssertionError(f"name at least two engines to compare, got {list(engines)}")
        folder = self._new_folder("step")
        folder.mkdir(parents=True, exist_ok=True)
        case = step_case.make_case(model, int(samples), batch=int(batch), epochs=int(epochs),
                                   lr_inv=int(lr_inv), layer=int(layer), seed=int(seed))
        case_path = folder / "case.npz"
        np.savez(case_path, **case)
        results = {}
        for engine in engines:
            out = folder / ("result-" + re.sub(r"[^A-Za-z0-9.-]+", "_", engine) + ".npz")
            run = self._tifed(["step", "--engine", engine, "--in", str(case_path), "--out", str(out)], STEP_TIMEOUT)
            if run.exit_code != 0:
                raise AssertionError(f"engine {engine} failed: {run.describe()}")
            results[engine] = step_case.load(out)
        first = engines[0]
        if not step_case.trained_keys(case, results[first]):
            raise AssertionError(f"the case trained nothing on {first}: it could not tell engines apart")
        for engine in engines[1:]:
            where = step_case.first_difference(results[first], results[engine])
            if where is not None:
                raise AssertionError(f"{engine} differs from {first} at {where} (case {case_path})")
