"""The Renode boards end to end, through the harness's plug-in: a fleet of two
machines in one Renode answers IDENTIFY, trains bit-exactly like the NumPy
reference, reports a TRAIN count that Renode's own ExecutedInstructions
bounds, runs a whole federated training bit-exactly from the CLI, passes the
Robot suites under renode-test, and leaves no Renode behind.

Every test here is skipped, with the reason, where Renode is absent."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qemu_support import fixed_case, make_case
from tifed.boards import renode_script as rs
from tifed.boards.registry import get_board
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
        # trained, and answered; asleep in WFI otherwise (no instructions).
        assert 0 < counter <= after - before <= counter + 100_000
        counts.append(counter)
    assert counts[0] == counts[1]


def test_federated_run_is_bitexact_on_a_mixed_renode_fleet(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from tifed.cli import main; sys.exit(main())", "run",
         "--board", "renode-nrf52840", "--board", "renode-stm32f4", "--devices", "4", "--mode", "full",
         "--dataset", "digits", "--model", "64-16-10", "--buffers", "1", "--epochs", "2", "--validate",
         "--out", str(out)],
        capture_output=True, text=True, timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert [d["board"] for d in results["devices"]] == ["renode-nrf52840", "renode-stm32f4"] * 2
    assert results["final"]["bitexact_all"] is True
    for round_ in results["rounds"]:
        assert round_["bitexact"] is True
        assert all(isinstance(n, int) and n > 0 for n in round_["device_instructions"])


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
