"""The Renode boards end to end against the real Renode, through the
harness's plug-in: a fleet of two machines in one Renode answers IDENTIFY,
trains bit-exactly like the NumPy reference, reports a TRAIN count that
Renode's own ExecutedInstructions bounds; whole federated trainings from the
CLI (a mixed Renode fleet, Renode beside QEMU and host) are bit-exact with
ONE Renode process; the Robot suites pass under renode-test; and no Renode is
left behind after a stop, Ctrl-C, a platform that fails to load or a board
that never answers.

Every test here is skipped, with the reason, where Renode is absent
(`tox -e renode` runs them; renode/README.md)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pids import pid_gone
from qemu_support import fixed_case, make_case
from tifed.boards import renode as renode_board
from tifed.boards import renode_script as rs
from tifed.boards.registry import get_board
from tifed.errors import DeviceError
from tifed.protocol.client import DeviceClient
from tifed.step import device_step, reference_step, validate_case
from tifed.links.transport import open_link

RENODE_BOARDS = ("renode-nrf52840", "renode-stm32f4")
ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("arm-none-eabi-gcc", "make")

pytestmark = [
    pytest.mark.renode,
    pytest.mark.skipif(rs.find_renode() is None, reason=f"{rs.missing_reason()}; install: {rs.INSTALL_HINT}"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in TOOLS),
        reason="arm-none-eabi-gcc or make not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi make)",
    ),
]


class Fleet:
    """Two machines of one board in one Renode, with a client each."""

    def __init__(self, name: str):
        self.board = get_board(name)
        self.devices = self.board.start_many([0, 1])
        self.ports = [open_link(d.url) for d in self.devices]
        self.clients = [
            DeviceClient(p, name=f"{name} dev{i}", device=d, timeout=30, train_timeout=300)
            for i, (p, d) in enumerate(zip(self.ports, self.devices))
        ]

    def close(self) -> None:
        for port in self.ports:
            port.close()
        for device in self.devices:
            device.stop()


@pytest.fixture(scope="module", params=RENODE_BOARDS)
def fleet(request):
    f = Fleet(request.param)
    yield f
    f.close()


def test_every_machine_identifies_itself(fleet):
    for client in fleet.clients:
        info = client.identify()
        assert info.board == fleet.board.name
        assert info.arena_bytes == fleet.board.ram_arena_bytes()
        assert info.counter_kind == 1  # DWT, one count per instruction (renode/README.md)


@pytest.mark.parametrize("seed", range(8))
def test_training_matches_reference_on_both_machines(fleet, seed):
    case = validate_case(make_case(seed))
    want_model, want_pred = reference_step(case)
    for client in fleet.clients:
        got_model, got_pred, counter = device_step(client, case)
        for key, want in want_model.to_arrays().items():
            assert np.array_equal(got_model.to_arrays()[key], want), f"{client.name} case {seed}: {key} differs"
        assert np.array_equal(got_pred, want_pred), f"{client.name} case {seed}: predictions differ"
        assert counter > 0


@pytest.mark.parametrize("seed", range(100, 104))
def test_int16_training_matches_reference_on_both_machines(fleet, seed):
    """16-bit weights (weight_bits 16): the SMLAD kernels and int16 saturation."""
    case = validate_case(make_case(seed, weight_bits=16))
    want_model, want_pred = reference_step(case)
    for client in fleet.clients:
        got_model, got_pred, _ = device_step(client, case)
        assert got_model.equal(want_model), f"{client.name} int16 case {seed}: weights differ"
        assert np.array_equal(got_pred, want_pred), f"{client.name} int16 case {seed}: predictions differ"


def test_train_count_is_deterministic_and_bounded_by_executed_instructions(fleet):
    case = validate_case(fixed_case())
    counts = []
    for client, device in zip(fleet.clients, fleet.devices):
        device_step(client, case)  # loads model and samples; TRAIN again below
        before = device.instructions()
        counter = client.train(case.x.shape[0], case.batch, case.epochs, case.lr_inv, case.layer)
        after = device.instructions()
        assert before is not None and after is not None
        # Between the two Monitor reads the machine received the TRAIN frame,
        # trained, and answered (a few thousand instructions); asleep in WFI
        # otherwise, executing none.
        assert 0 < counter <= after - before <= counter + 10_000
        counts.append(counter)
    assert counts[0] == counts[1]


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
def test_train_count_agrees_with_qemus_icount(fleet):
    """The same TRAIN of the same Cortex-M4 code counts the same under
    Renode (tifed-dwt.repl: the CPU's ExecutedInstructions) as under QEMU's
    exact -icount, up to the few instructions of reading the counter.
    (Renode's own DWT model, derived from virtual time, was 8 % low.)"""
    case = validate_case(fixed_case())
    qemu = get_board("qemu-mps2-an386").start(0)
    try:
        link = open_link(qemu.url, **qemu.kwargs)
        try:
            _, _, qemu_count = device_step(DeviceClient(link, name="qemu", device=qemu, timeout=30), case)
        finally:
            link.close()
    finally:
        qemu.stop()
    for client in fleet.clients:
        _, _, renode_count = device_step(client, case)
        assert abs(renode_count - qemu_count) <= 100, (client.name, renode_count, qemu_count)


class CountedRenode:
    """TIFED_RENODE -> a wrapper around the real Renode that gives each
    Renode it starts a --pid-file in `folder` (`--version` writes none), so
    a test can count the Renode processes and check that all are gone."""

    def __init__(self, folder: Path):
        real = rs.find_renode()
        self.folder = folder
        self.path = folder / "renode"
        self.path.write_text(
            f'#!/bin/sh\nexec {" ".join(real)} --pid-file "{folder}/renode-$$.pid" "$@"\n'
        )
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)

    def pids(self) -> list[int]:
        return [int(p.read_text()) for p in sorted(self.folder.glob("renode-*.pid")) if p.read_text().strip()]

    def all_gone(self, within: float = 15.0) -> bool:
        return all(pid_gone(pid, within) for pid in self.pids())


@pytest.fixture
def counted_renode(tmp_path, monkeypatch):
    counted = CountedRenode(tmp_path)
    monkeypatch.setenv("TIFED_RENODE", str(counted.path))
    return counted


def _tifed_run(out: Path, *boards: str, devices: int, buffers: int = 1, **popen):
    argv = [sys.executable, "-c", "import sys; from tifed.cli import main; sys.exit(main())", "run",
            *[a for b in boards for a in ("--board", b)], "--devices", str(devices), "--mode", "full",
            "--dataset", "digits", "--model", "64-16-10", "--buffers", str(buffers), "--epochs", "2", "--validate",
            "--out", str(out)]
    if popen:
        return subprocess.Popen(argv, **popen)
    return subprocess.run(argv, capture_output=True, text=True, timeout=1800)


def _assert_bitexact_with_counts(out: Path, boards: list[str], counted: list[str]) -> None:
    results = json.loads((out / "results.json").read_text())
    assert [d["board"] for d in results["devices"]] == boards
    assert results["final"]["bitexact_all"] is True and results["final"]["complete"] is True
    for round_ in results["rounds"]:
        assert round_["bitexact"] is True
        for board, n in zip(boards, round_["device_instructions"]):
            if board in counted:
                assert isinstance(n, int) and n > 0, (board, n)


def test_federated_run_is_bitexact_on_a_mixed_renode_fleet_in_one_renode(tmp_path, counted_renode):
    out = tmp_path / "run"
    done = _tifed_run(out, "renode-nrf52840", "renode-stm32f4", devices=4)
    assert done.returncode == 0, done.stderr[-2000:]
    boards = ["renode-nrf52840", "renode-stm32f4"] * 2
    _assert_bitexact_with_counts(out, boards, boards)
    assert len(counted_renode.pids()) == 1  # one Renode for both boards
    assert counted_renode.all_gone()


def test_federated_run_mixes_renode_qemu_and_host(tmp_path, counted_renode):
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm not installed (apt-get install qemu-system-arm)")
    out = tmp_path / "run"
    boards = ["renode-nrf52840", "qemu-mps2-an386", "renode-stm32f4", "host"]
    done = _tifed_run(out, *boards, devices=4)
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_bitexact_with_counts(out, boards, ["renode-nrf52840", "renode-stm32f4", "qemu-mps2-an386"])
    assert len(counted_renode.pids()) == 1
    assert counted_renode.all_gone()


def test_ctrl_c_stops_every_renode_it_started(tmp_path, counted_renode):
    out = tmp_path / "run"
    proc = _tifed_run(out, "renode-stm32f4", "renode-nrf52840", devices=2, buffers=14,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:  # wait for the event: a round is done, so Renode runs
            if line.startswith("round 1/"):
                break
        else:
            pytest.fail(f"tifed run ended before its first round (exit {proc.wait()})")
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, rest[-2000:]
    assert len(counted_renode.pids()) == 1 and counted_renode.all_gone()


def _scripts_copy(tmp_path: Path, overlay: str, replace: tuple[str, str]) -> Path:
    """renode/ copied, one overlay changed: a user's broken platform."""
    folder = tmp_path / "scripts"
    shutil.copytree(ROOT / "renode", folder)
    text = (folder / overlay).read_text()
    assert replace[0] in text
    (folder / overlay).write_text(text.replace(*replace))
    return folder


def test_a_platform_that_does_not_load_is_one_error_naming_the_log(tmp_path, counted_renode, monkeypatch):
    scripts = _scripts_copy(tmp_path, "tifed-stm32f4.repl", ("usart2:\n", "usart2: UART.NoSuchUart @ sysbus 0x40004400\n"))
    monkeypatch.setenv("TIFED_RENODE_SCRIPTS", str(scripts))
    monkeypatch.setattr(renode_board.tempfile, "tempdir", str(tmp_path))  # the kept log goes here
    with pytest.raises(DeviceError) as info:
        get_board("renode-stm32f4").start_many([0, 1])
    message = str(info.value)
    assert "LoadPlatformDescription" in message and "NoSuchUart" in message and "\n" not in message
    log = Path(message.rsplit("Renode log: ", 1)[1].rstrip(")"))
    assert log.is_file() and "Monitor available" in log.read_text()
    assert len(counted_renode.pids()) == 1 and counted_renode.all_gone()


def test_a_board_that_never_answers_is_one_error_and_nothing_left_running(tmp_path, counted_renode, monkeypatch):
    # Renode's stock UARTE (EasyDMA) model in place of the legacy UART the
    # firmware drives: the firmware runs, but its ready byte never leaves.
    scripts = _scripts_copy(tmp_path, "tifed-nrf52840.repl", ("easyDMA: false", "easyDMA: true"))
    monkeypatch.setenv("TIFED_RENODE_SCRIPTS", str(scripts))
    monkeypatch.setattr(renode_board.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(renode_board, "READY_TIMEOUT", 5.0)
    with pytest.raises(DeviceError, match=r"dev0: the firmware sent no ready byte within 5 s.*Renode log: "):
        get_board("renode-nrf52840").start_many([0])
    assert len(counted_renode.pids()) == 1 and counted_renode.all_gone()


def test_power_cycled_renode_machines_rejoin_and_the_run_is_bitexact(tmp_path):
    """The reset fault on real Renode: each machine is paused, reset and
    reloaded through the Monitor, and started again half a second later;
    the run ends complete and bit-exact with each redone round recorded."""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from tifed.cli import main; sys.exit(main())", "run",
         "--board", "renode-nrf52840", "--board", "renode-stm32f4", "--devices", "2", "--mode", "full",
         "--dataset", "digits", "--model", "64-16-10", "--rounds", "4", "--faults", "reset=40,seed=1",
         "--out", str(out)],
        capture_output=True, text=True, timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    final = results["final"]
    assert final["complete"] is True and final["bitexact_all"] is True and final["dropped_devices"] == []
    events = [e for r in results["rounds"] for e in r["events"]]
    assert events and {e["event"] for e in events} == {"reset"}
    assert len(events) <= sum(d["faults_injected"]["resets"] for d in results["devices"])


def test_stop_leaves_no_renode():
    devices = get_board("renode-nrf52840").start_many([7])
    proc = devices[0].fleet._proc
    assert devices[0].alive()
    devices[0].stop()
    assert proc.poll() is not None and not devices[0].alive()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


def _renode_test() -> list[str] | None:
    explicit = os.environ.get("TIFED_RENODE")
    if explicit:
        sibling = Path(explicit).with_name("renode-test")
        if sibling.is_file():
            return [str(sibling)]
    if shutil.which("renode-test"):
        return [shutil.which("renode-test")]
    if shutil.which("renode-run"):
        return [shutil.which("renode-run"), "test", "--"]
    return None


@pytest.mark.skipif(_renode_test() is None, reason="renode-test not found (it ships with Renode's portable package)")
@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_robot_suites_pass_under_renode_test(board, tmp_path):
    from tifed.boards.registry import get_board

    get_board(board).build()  # the suites load the image `tifed build` makes
    suites = ROOT / "renode" / "robot"
    done = subprocess.run(
        [*_renode_test(), "--variable", f"BOARD:{board}", "-r", str(tmp_path),
         str(suites / "identify.robot"), str(suites / "train_epoch.robot")],
        capture_output=True, text=True, timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
