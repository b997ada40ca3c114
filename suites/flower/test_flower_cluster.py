"""TIFeD over real Flower processes on 127.0.0.1: a SuperLink (`tifed serve
--address`), three SuperNodes (`tifed node`, two host boards each), runs
submitted with `tifed serve --superlink`. The final model must be `tifed
run`'s with the same six host devices, in full and single-layer mode; a node
that leaves mid-run is dropped and recorded while the run goes on with its
quorum. The test starts every process itself (free ports, readiness read
from their output, never a sleep) and checks at the end that none of them,
nor anything they started, is left running.

Slow (about a minute and a half on two cores, most of it starting Flower's
processes; a round takes well under a second, docs/FLOWER.md "Speed")."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr", reason="Flower is not installed (pip install 'tifed-hil[flower]')")

import tifed_models  # noqa: E402
from tifed.config import RunConfig  # noqa: E402
from tifed.plan import prepare
from tifed.flower.processes import free_port  # noqa: E402
from tifed.flower.supernode import MESSAGE_STORED  # noqa: E402
from tifed.server.federation import Federation  # noqa: E402

pytestmark = pytest.mark.slow

READY = 180.0  # seconds for a Flower process to come up on a loaded 2-core machine
RUN = 300.0  # seconds for one run
ROUNDS = 2


class Proc:
    """A `tifed` command; stdout lines are kept and can be waited for,
    stderr goes to a file (shown when a test fails)."""

    def __init__(self, name: str, args: list[str], logs: Path):
        self.name = name
        self.err_path = logs / f"{name}.stderr"
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "tifed.cli", *args], stdout=subprocess.PIPE,
                                     stderr=self._err, stdin=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self._eof = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def mark(self) -> int:
        """Where stdout is now: wait_for(..., since=mark()) sees only what comes after."""
        with self._changed:
            return len(self.lines)

    def wait_for(self, text: str, timeout: float, since: int = 0) -> str:
        """The first stdout line (from line `since` on) containing `text`,
        waited for as it comes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[since:]:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise AssertionError(f"{self.name}: no line with {text!r} (exit {self.proc.poll()}); "
                                         f"stdout: {self.lines[-10:]}; stderr: {self.stderr_tail()}")
                self._changed.wait(left)

    def stderr_tail(self, n: int = 15) -> list[str]:
        if not self._err.closed:
            self._err.flush()
        return self.err_path.read_text(errors="replace").splitlines()[-n:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._err.close()

    def __enter__(self) -> "Proc":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()  # a submission that outlives a failed test is stopped too


def descendants(roots: list[int]) -> set[int]:
    """Every live process below `roots`, from /proc (ppid links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait (on each process's pidfd: an exit event) until `pids` have
    exited; returns those still running at the deadline."""
    deadline = time.monotonic() + timeout
    left = set()
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                left.add(pid)
        finally:
            os.close(fd)
    return left


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, host_image):
    logs = tmp_path_factory.mktemp("flower-logs")
    address = f"127.0.0.1:{free_port()}"
    procs = [Proc("superlink", ["serve", "--address", address, "--insecure"], logs)]
    try:
        # All at once: a SuperNode keeps trying until its SuperLink is up.
        for i in range(3):
            procs.append(Proc(f"node{i}", ["node", "--superlink", address, "--insecure", "--board", "host",
                                           "--board", "host", "--device-offset", str(2 * i)], logs))
        procs[0].wait_for("SuperLink listening", READY)
        for node in procs[1:]:
            node.wait_for("joined", READY)
        yield address, procs
    finally:
        started = descendants([p.proc.pid for p in procs])
        for p in procs[1:]:  # the nodes first, all at once, so they sign off while the SuperLink is up
            if p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
        for p in procs[::-1]:
            p.stop()
        left = wait_gone(started, timeout=30)
        assert not left, f"still running after the cluster stopped: {sorted(left)}"


def _submit(address: str, out: Path, *extra: str) -> list[str]:
    return ["serve", "--superlink", address, "--insecure", "--devices", "6", "--dataset", "digits",
            "--model", "64-32-10", "--rounds", str(ROUNDS), "--out", str(out), *extra]


@pytest.mark.parametrize("mode", ["full", "single"])
def test_flower_run_gives_tifed_run_s_model(cluster, tmp_path, mode):
    address, procs = cluster
    with Proc(f"serve-{mode}", _submit(address, tmp_path / "flower", "--mode", mode), tmp_path) as run:
        # `tifed run` of the same configuration, while the Flower run goes on
        config = RunConfig.of(boards=("host",), devices=6, mode=mode, dataset="digits", model="64-32-10",
                           rounds=ROUNDS, out=str(tmp_path / "run"))
        local = Federation(prepare(config))
        local.run()
        assert run.proc.wait(RUN) == 0, (run.lines[-15:], run.stderr_tail())
    doc = json.loads((tmp_path / "flower" / "results.json").read_text())
    assert doc["final"]["bitexact_all"] is True and doc["final"]["complete"] is True
    assert doc["config"]["device_boards"] == ["host"] * 6 and len(doc["config"]["flower"]["nodes"]) == 3
    node_of = [d["node"] for d in doc["devices"]]
    assert node_of[0] == node_of[1] != node_of[2] == node_of[3] != node_of[4] == node_of[5] != node_of[0]
    flower = np.load(tmp_path / "flower" / "model.npz")
    assert sorted(flower.files) == sorted(local.global_model.to_arrays())
    for key, values in local.global_model.to_arrays().items():
        assert flower[key].dtype == np.int32 and np.array_equal(flower[key], values), key
    ref = json.loads((tmp_path / "run" / "results.json").read_text())
    for key in ("test_accuracy", "wire_bytes", "devices_used"):
        assert [r[key] for r in doc["rounds"]] == [r[key] for r in ref["rounds"]], key
    assert [d["layer"] for d in doc["devices"]] == [d["layer"] for d in ref["devices"]]
    # every SuperNode ran through tifed's launcher, whose loop told its node about each message
    for node in procs[1:]:
        assert MESSAGE_STORED in node.err_path.read_text(errors="replace"), node.name


def reference_model(config: RunConfig, devices_in_round) -> tifed_models.Model:
    """The reference's global model when round r aggregates devices_in_round(r)."""
    plan = prepare(config)
    c, g = plan.training, tifed_models.Model.zeros(plan.dims)
    feedback = tifed_models.feedback_matrices(plan.dims, c.seed)
    for rnd in plan.schedule:
        part, used = rnd.samples(c.buffer_len), devices_in_round(rnd.number)
        models = [tifed_models.train(g, feedback, plan.shards[d][0][part],
                                     tifed_models.targets(plan.shards[d][1][part], plan.dims[-1]),
                                     c.lr_inv, c.batch, 1, -1) for d in used]
        g = tifed_models.aggregate(models)
    return g


def test_node_that_leaves_is_dropped_and_recorded(cluster, tmp_path):
    """Runs last: it takes node 2 (devices 4-5) away for good, right after it
    trained round 1 (its answer may or may not have reached the server)."""
    address, procs = cluster
    leaving = procs[3]
    since = leaving.mark()
    with Proc("serve-drop", _submit(address, tmp_path / "drop", "--mode", "full", "--quorum", "4"), tmp_path) as run:
        leaving.wait_for("round 1: devices 4-5 trained", RUN, since=since)
        assert leaving.stop() == 143  # SIGTERM: its SuperNode signs off, its boards stop
        assert not any("Traceback" in line for line in leaving.stderr_tail(200))
        assert run.proc.wait(RUN) == 0, (run.lines[-15:], run.stderr_tail())
    doc = json.loads((tmp_path / "drop" / "results.json").read_text())
    final = doc["final"]
    assert final["complete"] is True and final["error"] is None and final["bitexact_all"] is True
    assert [d["device"] for d in final["dropped_devices"]] == [4, 5]
    gone = final["dropped_devices"][0]["round"]
    assert gone in (1, 2) and doc["devices"][4]["dropped"]["round"] == gone
    used = [list(range(6)) if r < gone else [0, 1, 2, 3] for r in range(1, ROUNDS + 1)]
    assert [r["devices_used"] for r in doc["rounds"]] == used
    assert any("dropped: device 4" in line for line in run.lines)
    # the aggregate is over the devices that answered, nothing else
    config = RunConfig.of(boards=("sim",), devices=6, mode="full", dataset="digits", model="64-32-10",
                       rounds=ROUNDS, out=str(tmp_path / "ref"))
    expected = reference_model(config, lambda r: used[r - 1])
    flower = np.load(tmp_path / "drop" / "model.npz")
    assert all(np.array_equal(flower[k], v) for k, v in expected.to_arrays().items())


def test_the_bench_s_flower_rows(tmp_path):
    """`tifed bench --only flower` on the smallest fleet: a real Flower run
    and `tifed run` on the same boards, the same model, and no process of
    the run left behind."""
    from tifed.bench.flower_rounds import measure_flower

    before = descendants([os.getpid()])
    rows, skipped = measure_flower([("host", 2, 1, 1)], log=lambda *_: None)
    assert skipped == [] and len(rows) == 1
    row = rows[0]
    assert row["same_model"] is True and row["bitexact"] is True and row["rounds_measured"] == [2, 3, 4, 5]
    assert row["overhead_seconds"] == pytest.approx(row["round_seconds"] - row["tifed_run_round_seconds"], abs=1e-3)
    assert row["network_bytes_per_round"] > 0
    assert not wait_gone(descendants([os.getpid()]) - before, timeout=30)
