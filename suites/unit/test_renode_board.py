"""RenodeBoard's process handling against a fake `renode` program
(suites/unit/fake_renode.py, which behaves like Renode 1.15.3's Monitor):
one process for the fleet (also a mixed one), the version check, the
Monitor handshake and command sequence, a setup command that fails, ready
bytes, per-machine instruction counts, clean stop, and no process left
behind on any path. The firmware image is a stand-in file here;
test_renode_firmware.py builds the real ones."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pids import pid_gone
from tifed.boards import renode as renode_board
from tifed.boards.registry import get_board
from tifed.errors import DeviceError
from tifed.links.transport import open_link

FAKE = Path(__file__).with_name("fake_renode.py")


def _pid_running(pid: int) -> bool:
    return not pid_gone(pid, within=0)


def _wrapper(folder: Path, body: str, name: str = "renode") -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _log_named_in(message: str) -> Path:
    return Path(message.rsplit("Renode log: ", 1)[1].rstrip(")"))


@pytest.fixture
def fake_renode(tmp_path, monkeypatch):
    """TIFED_RENODE -> a wrapper around fake_renode.py; returns a namespace
    with the pid file, the command log and a way to pick the mode."""
    wrapper = tmp_path / "renode"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    image = tmp_path / "firmware.elf"
    image.write_bytes(b"\x7fELF stand-in")
    built = []

    def fake_ensure_built(name, path):
        built.append((name, path))
        return image

    monkeypatch.setattr(renode_board.build, "ensure_built", fake_ensure_built)
    # A failed start keeps its work folder (log) for the user: here, in tmp_path.
    monkeypatch.setattr(renode_board.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TIFED_RENODE", str(wrapper))
    monkeypatch.setenv("FAKE_RENODE_PIDFILE", str(tmp_path / "renode.pid"))
    monkeypatch.setenv("FAKE_RENODE_COMMANDS", str(tmp_path / "commands.txt"))

    class Fake:
        path = wrapper
        pidfile = tmp_path / "renode.pid"
        commands = tmp_path / "commands.txt"
        builds = built

        @staticmethod
        def mode(name):
            monkeypatch.setenv("FAKE_RENODE_MODE", name)

        @staticmethod
        def pid() -> int:
            return int(Fake.pidfile.read_text())

    return Fake


def test_without_renode_the_board_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("TIFED_RENODE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no renode, no renode-run
    board = get_board("renode-nrf52840")
    available = board.availability()
    assert not available.runnable and "renode" in available.missing
    assert "renode-run download" in available.install_hint and "linux-portable" in available.install_hint
    with pytest.raises(DeviceError, match="renode not found on PATH"):
        board.start_many([0, 1])


def test_a_wrong_tifed_renode_is_named_in_the_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TIFED_RENODE", str(tmp_path / "no-such-renode"))
    with pytest.raises(DeviceError, match="TIFED_RENODE=.*no-such-renode is not an executable"):
        get_board("renode-stm32f4").start_many([0])


def test_a_fleet_is_one_renode_with_one_machine_and_uart_per_device(fake_renode):
    board = get_board("renode-stm32f4")
    devices = board.start_many([0, 1, 2])
    try:
        assert fake_renode.builds == [("renode-stm32f4", board.image_path())]  # built if stale
        assert len({d.url for d in devices}) == 3
        assert all(Path(d.url).is_symlink() and Path(d.url).resolve().is_char_device() and d.alive() for d in devices)
        # Renode deletes the $TMPDIR folders named renode-* that no live process owns.
        assert not Path(devices[0].url).parent.name.startswith("renode-")
        commands = fake_renode.commands.read_text().splitlines()
        assert [c for c in commands if c.startswith("mach create")] == [f'mach create "dev{i}"' for i in range(3)]
        assert commands.index("start") > max(i for i, c in enumerate(commands) if c.startswith("connector Connect"))
        # The harness's own link opens like any other pyserial URL.
        link = open_link(devices[1].url)
        link.close()
        # Start-up read each machine's counter once (fake: +1000 per read).
        assert devices[0].instructions() == 2000
        assert devices[0].instructions() == 3000
        assert devices[2].instructions() == 2000
    finally:
        for device in devices:
            device.stop()
    pid = fake_renode.pid()
    assert pid_gone(pid)
    assert fake_renode.commands.read_text().splitlines()[-1] == "quit"  # asked politely first
    assert devices[0].instructions() is None and not devices[0].alive()


def test_stopping_some_devices_keeps_renode_for_the_others(fake_renode):
    devices = get_board("renode-nrf52840").start_many([4, 5])
    try:
        devices[0].stop()
        devices[0].stop()  # twice is fine
        assert devices[1].alive() and devices[1].instructions() == 2000
        assert _pid_running(fake_renode.pid())
    finally:
        devices[1].stop()
    assert pid_gone(fake_renode.pid())


def test_a_mixed_renode_fleet_is_one_process(fake_renode):
    from tifed.boards.base import start_in_groups

    nrf, stm = get_board("renode-nrf52840"), get_board("renode-stm32f4")
    groups = list(start_in_groups([(0, nrf), (1, stm), (2, nrf)]))
    devices = [d for group in groups for _, d in group]
    try:
        assert len(groups) == 1 and [i for i, _ in groups[0]] == [0, 1, 2]
        assert len({d.fleet for d in devices}) == 1
        commands = fake_renode.commands.read_text().splitlines()
        assert commands.count("start") == 1
        assert [c for c in commands if c.startswith("connector Connect")] == [
            "connector Connect sysbus.uart0 dev0_uart", "connector Connect sysbus.usart2 dev1_uart",
            "connector Connect sysbus.uart0 dev2_uart"]
        assert sorted(name for name, _ in fake_renode.builds) == ["renode-nrf52840", "renode-stm32f4"]
    finally:
        for device in devices:
            device.stop()
    assert pid_gone(fake_renode.pid())


def test_renode_that_dies_on_start_is_reported_with_its_log(fake_renode):
    fake_renode.mode("exit-early")
    with pytest.raises(DeviceError) as info:
        get_board("renode-nrf52840").start_many([0])
    message = str(info.value)
    assert "exited before its Monitor listened" in message and "renode.log" in message
    assert "giving up on purpose" in _log_named_in(message).read_text()  # kept for the user to read
    assert pid_gone(fake_renode.pid())


def test_a_platform_that_fails_to_load_is_one_error_naming_the_log(fake_renode):
    fake_renode.mode("bad-platform")
    with pytest.raises(DeviceError) as info:
        get_board("renode-stm32f4").start_many([0, 1])
    message = str(info.value)
    assert "LoadPlatformDescription" in message and "Could not find type 'UART.NoSuchUart'" in message
    assert "\n" not in message and _log_named_in(message).is_file()
    assert "start" not in fake_renode.commands.read_text().splitlines()  # stopped at the first error
    assert pid_gone(fake_renode.pid())


def test_a_renode_too_old_is_refused_with_its_version(fake_renode):
    fake_renode.mode("old")
    with pytest.raises(DeviceError, match=r"is Renode 1\.11\.0; the harness needs 1\.15\.0 or newer"):
        get_board("renode-nrf52840").start_many([0])
    assert not fake_renode.pidfile.exists()  # never started for a fleet


@pytest.mark.parametrize("body, said", [
    ("echo 'Python 3.11.2'", "is not Renode: `--version` printed 'Python 3.11.2'"),
    ("exit 3", r"is not Renode: `--version` printed 'nothing \(exit status 3\)'"),
    ("echo \"Cannot open assembly 'Renode.exe': No such file or directory.\" >&2; exit 2",
     "is not Renode: `--version` printed \"Cannot open assembly"),
])
def test_a_program_that_is_not_renode_is_refused(tmp_path, monkeypatch, body, said):
    monkeypatch.setenv("TIFED_RENODE", str(_wrapper(tmp_path, body, "not-renode")))
    with pytest.raises(DeviceError, match=said):
        get_board("renode-stm32f4").start_many([0])


def test_firmware_without_ready_byte_fails_the_start_and_leaves_no_process(fake_renode, monkeypatch):
    fake_renode.mode("no-ready")
    monkeypatch.setattr(renode_board, "READY_TIMEOUT", 0.5)
    with pytest.raises(DeviceError, match="no ready byte"):
        get_board("renode-nrf52840").start_many([0])
    assert pid_gone(fake_renode.pid())


def test_renode_ignoring_quit_is_killed_with_its_process_group(fake_renode, monkeypatch, tmp_path):
    # A wrapper that stays the parent (like renode-run) and a program that
    # ignores both `quit` and SIGTERM: the wrapper dies of SIGTERM, and
    # stopping there would orphan the real program.
    wrapper = tmp_path / "renode-run-like"
    wrapper.write_text(f'#!/bin/sh\n"{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("TIFED_RENODE", str(wrapper))
    fake_renode.mode("ignore-quit")
    monkeypatch.setattr(renode_board, "QUIT_TIMEOUT", 0.5)
    devices = get_board("renode-nrf52840").start_many([0])
    wrapper_pid = devices[0].fleet._proc.pid
    assert wrapper_pid != fake_renode.pid()
    devices[0].stop()
    assert pid_gone(fake_renode.pid()) and pid_gone(wrapper_pid)


@pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("make", "arm-none-eabi-gcc")),
    reason="builds the Renode images: needs make and arm-none-eabi-gcc",
)
def test_federated_run_through_the_plugin_is_bitexact(host_image, tmp_path):
    """`tifed run` on a mixed Renode fleet, each machine's UART served by the
    host build behind the fake: the server's start_many, links, validation
    and stop all go through harness/tifed/boards/renode.py."""
    wrapper = tmp_path / "renode"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, TIFED_RENODE=str(wrapper), FAKE_RENODE_FIRMWARE=str(host_image),
               FAKE_RENODE_PIDFILE=str(tmp_path / "renode.pid"), FAKE_RENODE_COMMANDS=str(tmp_path / "commands.txt"))
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from tifed.cli import main; sys.exit(main())", "run",
         "--board", "renode-nrf52840", "--board", "renode-stm32f4", "--devices", "4", "--mode", "full",
         "--dataset", "digits", "--model", "64-8-10", "--buffers", "1", "--epochs", "2", "--validate",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert [d["board"] for d in results["devices"]] == ["renode-nrf52840", "renode-stm32f4"] * 2
    assert results["final"]["bitexact_all"] is True and len(results["rounds"]) == 2
    assert (tmp_path / "commands.txt").read_text().splitlines().count("start") == 1  # one Renode for both boards
    assert pid_gone(int((tmp_path / "renode.pid").read_text()))


def test_a_fleet_nobody_stops_goes_with_its_folder_at_exit(fake_renode, tmp_path):
    """The harness exits without stopping its devices (a caller's bug): the
    finalizer stops Renode and removes the work folder no error named."""
    script = (f"import sys; sys.path[:0] = {sys.path!r}\n"
              "from tifed.boards import renode\n"
              f"renode.build.ensure_built = lambda name, path: {str(tmp_path / 'firmware.elf')!r}\n"
              "from tifed.boards.registry import get_board\n"
              "devices = get_board('renode-nrf52840').start_many([0])\n"
              "print(devices[0].fleet.workdir, flush=True)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent == tmp_path and not Path(done.stdout.strip()).exists()
    assert pid_gone(fake_renode.pid())


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("make") is None,
    reason="builds the Renode images: needs make and arm-none-eabi-gcc",
)
def test_a_power_cycled_renode_machine_rejoins_and_the_run_is_bitexact(host_image, tmp_path):
    """The reset fault on Renode boards: the harness pauses, resets and
    reloads one machine through the Monitor and starts it again (the fake
    then restarts the firmware behind its UART); the run ends complete and
    bit-exact with each power cycle in results.json."""
    wrapper = tmp_path / "renode"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    commands = tmp_path / "commands.txt"
    env = dict(os.environ, TIFED_RENODE=str(wrapper), FAKE_RENODE_FIRMWARE=str(host_image),
               FAKE_RENODE_COMMANDS=str(commands))
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from tifed.cli import main; sys.exit(main())", "run",
         "--board", "renode-nrf52840", "--board", "renode-stm32f4", "--devices", "2", "--mode", "full",
         "--dataset", "digits", "--model", "64-8-10", "--rounds", "4", "--faults", "reset=22,seed=1",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    final = results["final"]
    assert final["complete"] is True and final["bitexact_all"] is True and final["dropped_devices"] == []
    events = [e for r in results["rounds"] for e in r["events"]]
    resets = sum(d["faults_injected"]["resets"] for d in results["devices"])
    # A power cycle after the last round (the final STATS) has no round to redo.
    assert 2 <= len(events) <= resets and {e["event"] for e in events} == {"reset"}
    sent = commands.read_text().splitlines()
    assert sent.count("machine Pause") == resets and sent.count("machine Start") >= len(events)
