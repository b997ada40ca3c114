"""Physical boards as the harness drives them (harness/tifed/boards/hw.py), with
a pseudo-terminal pair in place of the probe's serial port and small
Python commands in place of the flash tool: names and BOARD@PORT, the
model-size refusal before anything is flashed, flash -> boot byte -> run,
and the one-line errors when a flash fails or the board stays silent."""
from __future__ import annotations

import json
import shutil
import sys

import pytest

from pty_pair import PtyPair
from tifed.boards.flashing import FlashSettings
from tifed.boards.hw import HwBoard
from tifed.boards.registry import get_board
from tifed.boards.serial_port import claim_port, release_port
from tifed.cli import main
from tifed.errors import ConfigError, DeviceError

needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("make") is None,
                               reason="arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi "
                                      "libnewlib-arm-none-eabi)")
RUN = ["--mode", "full", "--dataset", "digits", "--model", "64-16-10", "--rounds", "2",
       "--buffer-len", "20", "--batch", "10"]


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def fleet_file(tmp_path, **entry) -> str:
    lines = ["[[device]]"] + [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
    path = tmp_path / "fleet.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_board_names_and_board_at_port():
    board = get_board("nrf52840dk@/dev/ttyACM0")
    assert isinstance(board, HwBoard) and (board.name, board.port) == ("nrf52840dk", "/dev/ttyACM0")
    assert not board.flash.flashes and not board.flash.resets  # BOARD@PORT never flashes
    url = get_board("stm32f4-nucleo@rfc2217://lab1:7001?ign_set_control")
    assert url.port == "rfc2217://lab1:7001?ign_set_control" and url.label == "stm32f4-nucleo@" + url.port
    bare = get_board("nrf52840dk")
    assert bare.port is None and bare.image_path().name == "tifed-nrf52840dk.elf"
    assert "a port" in bare.availability().missing
    with pytest.raises(ConfigError, match="give the port after '@'"):
        get_board("nrf52840dk@")


def test_a_board_name_alone_does_not_run(tmp_path, capsys):
    assert main(["run", "--board", "nrf52840dk", "--devices", "1", *RUN, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "board nrf52840dk is a physical board: say where it is, --board nrf52840dk@/dev/ttyACM0" in err


def test_board_and_fleet_together_are_refused(tmp_path, capsys):
    path = fleet_file(tmp_path, port="/dev/null")
    assert main(["run", "--board", "sim", "--fleet", path, *RUN, "--out", str(tmp_path / "o")]) == 2
    assert "give --board or --fleet, not both" in capsys.readouterr().err


def test_devices_is_required_without_a_fleet(tmp_path, capsys):
    assert main(["run", "--board", "sim", *RUN, "--out", str(tmp_path)]) == 2
    assert "--devices K is required" in capsys.readouterr().err


@needs_arm
def test_model_too_big_is_refused_before_flashing(tmp_path, capsys):
    marker = tmp_path / "flashed"
    path = fleet_file(tmp_path, name="nucleo-a", board="stm32f4-nucleo", port="/dev/null",
                      flash=py(f"open({str(marker)!r}, 'w')"))
    args = ["run", "--fleet", path, "--mode", "full", "--dataset", "digits", "--model", "64-2000-10",
            "--rounds", "1", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    room = HwBoard("stm32f4-nucleo").ram_arena_bytes()
    assert err.startswith("tifed: error: model 64-2000-10") and err.endswith(f"board nucleo-a (stm32f4-nucleo) has {room}")
    assert "\n" not in err and not marker.exists()


@pytest.fixture
def board_on_pty(tmp_path, host_image):
    """The host firmware behind a pty pair: it plays the flashed board."""
    pair = PtyPair(tmp_path)
    pair.run_firmware(host_image)
    yield pair
    pair.stop()


@needs_arm
def test_fleet_device_is_flashed_then_waited_for_then_run(tmp_path, board_on_pty):
    log = tmp_path / "flash.log"
    # The "flash tool" records its arguments and, like a reset board, sends
    # the firmware's boot byte from the far end of the line.
    flash = py(f"import sys; open({str(log)!r}, 'w').write(' '.join(sys.argv[1:])); "
               f"open({str(board_on_pty.device)!r}, 'wb').write(bytes(1))") + ["{elf}", "{probe}", "{port}"]
    path = fleet_file(tmp_path, name="nrf-a", board="nrf52840dk", port=str(board_on_pty.port),
                      flash=flash, probe="683512345", baud=1000000)
    code = main(["run", "--fleet", path, *RUN, "--out", str(tmp_path / "out")])
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert code == 0, doc["final"].get("error")
    elf = HwBoard("nrf52840dk").image_path()
    assert log.read_text() == f"{elf} 683512345 {board_on_pty.port}"
    assert doc["final"]["bitexact_all"] is True
    device = doc["devices"][0]
    assert device["board"] == "nrf52840dk" and device["link"]["baud"] == 1000000
    assert doc["config"]["boards"] == ["nrf-a"] and doc["config"]["fleet"] == path


@needs_arm
def test_a_failing_flash_is_one_line(tmp_path, board_on_pty, capsys):
    flash = py("import sys; print('Error: No connected debug probes', file=sys.stderr); sys.exit(1)")
    path = fleet_file(tmp_path, name="nrf-a", board="nrf52840dk", port=str(board_on_pty.port), flash=flash)
    assert main(["run", "--fleet", path, *RUN, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tifed: error: flashing nrf-a (device nrf52840dk):")
    assert err[0].endswith("failed (exit 1): Error: No connected debug probes")


@needs_arm
def test_a_silent_board_after_reset_is_reported_and_the_port_freed(tmp_path, board_on_pty):
    port = str(board_on_pty.port)
    board = HwBoard("nrf52840dk", port, flash=FlashSettings(reset=tuple(py("pass"))), label="nrf-a",
                    ready_timeout=0.3)
    with pytest.raises(DeviceError, match=r"nrf-a \(device nrf52840dk\): no boot byte from the firmware within 0.3 s"):
        board.start(0)
    claim_port(port)  # not left claimed by the failed start
    release_port(port)
