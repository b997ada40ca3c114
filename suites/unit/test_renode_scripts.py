"""What the harness tells Renode, checked without Renode: the command line,
the fleet's Monitor commands, the hand-written .resc and .repl files in
renode/ agreeing with the harness's board facts, and the ELF path they name
being the one `tifed build` produces."""
from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tifed.boards import renode_script as rs
from tifed.boards.registry import get_board

RENODE_BOARDS = sorted(rs.BOARDS)


def _machines(board, elf, n=3):
    return [rs.MachineSpec(f"dev{i}", board, elf, elf.parent / f"dev{i}.uart") for i in range(n)]


# --- command line -----------------------------------------------------------------


def test_command_line_runs_headless_with_the_monitor_on_the_port():
    argv = rs.renode_command(["/opt/renode/renode"], 41234)
    assert argv[0] == "/opt/renode/renode"
    assert argv[argv.index("--port") + 1] == "41234"
    assert "--disable-xwt" in argv and "--plain" in argv
    # --console would move the Monitor from the port to stdin (CommandLineInterface.cs).
    assert "--console" not in argv and "-e" not in argv


def test_command_line_through_renode_run_and_with_a_script(tmp_path):
    script = tmp_path / "fleet.resc"
    argv = rs.renode_command(["/usr/bin/renode-run", "exec", "--"], 5000, script)
    assert argv[:3] == ["/usr/bin/renode-run", "exec", "--"]
    assert argv[-1] == str(script.resolve())


def _fake_executable(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_renode_prefers_tifed_renode_then_path_then_renode_run(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.delenv("TIFED_RENODE", raising=False)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert rs.find_renode() is None
    runner = _fake_executable(bin_dir, "renode-run")
    assert rs.find_renode() == [str(runner), "exec", "--"]
    renode = _fake_executable(bin_dir, "renode")
    assert rs.find_renode() == [str(renode)]
    portable = _fake_executable(tmp_path, "renode-portable")
    monkeypatch.setenv("TIFED_RENODE", str(portable))
    assert rs.find_renode() == [str(portable)]
    monkeypatch.setenv("TIFED_RENODE", str(tmp_path / "missing"))
    assert rs.find_renode() is None


# --- fleet commands -----------------------------------------------------------------


@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_fleet_creates_each_machine_with_its_platform_elf_and_uart(board, tmp_path):
    elf = tmp_path / "fw.elf"
    machines = _machines(board, elf)
    commands = rs.fleet_commands(machines)
    platform = rs.BOARDS[board]
    for i, spec in enumerate(machines):
        block = commands[5 * i : 5 * i + 5]
        assert block[0] == f'mach create "dev{i}"'
        assert block[1] == f"machine LoadPlatformDescription @{rs.scripts_dir().resolve() / platform.overlay}"
        assert block[2] == f"sysbus LoadELF @{elf.resolve()}"
        # A pseudo-terminal, not CreateServerSocketTerminal (which listens on every interface).
        assert block[3] == f'emulation CreateUartPtyTerminal "dev{i}_uart" "{tmp_path / f"dev{i}.uart"}" true'
        assert block[4] == f"connector Connect {platform.uart} dev{i}_uart"


def test_fleet_settings_follow_the_machines_and_start_is_last(tmp_path):
    commands = rs.fleet_commands(_machines("renode-nrf52840", tmp_path / "fw.elf", n=2))
    settings = [c for c in commands if c.startswith("emulation SetGlobal")]
    # The SetGlobal* extensions walk the time sources that exist, so they
    # must come after every `mach create`.
    last_machine = max(i for i, c in enumerate(commands) if c.startswith("mach create"))
    assert settings and all(commands.index(c) > last_machine for c in settings)
    assert "emulation SetGlobalSerialExecution true" in settings
    assert commands[-1] == "start"
    assert "start" not in rs.fleet_commands(_machines("renode-nrf52840", tmp_path / "fw.elf"), start=False)


def test_fleet_refuses_repeated_names_or_links(tmp_path):
    elf, a, b = tmp_path / "fw.elf", tmp_path / "a", tmp_path / "b"
    with pytest.raises(ValueError, match="names repeat"):
        rs.fleet_commands([rs.MachineSpec("dev0", "renode-nrf52840", elf, a), rs.MachineSpec("dev0", "renode-nrf52840", elf, b)])
    with pytest.raises(ValueError, match="links repeat"):
        rs.fleet_commands([rs.MachineSpec("dev0", "renode-nrf52840", elf, a), rs.MachineSpec("dev1", "renode-nrf52840", elf, a)])
    with pytest.raises(ValueError, match="at least one"):
        rs.fleet_commands([])


def test_a_mixed_fleet_gives_each_machine_its_own_platform_and_uart(tmp_path):
    elf = tmp_path / "fw.elf"
    machines = [rs.MachineSpec("dev0", "renode-nrf52840", elf, tmp_path / "0"),
                rs.MachineSpec("dev1", "renode-stm32f4", elf, tmp_path / "1")]
    commands = rs.fleet_commands(machines)
    assert "connector Connect sysbus.uart0 dev0_uart" in commands
    assert "connector Connect sysbus.usart2 dev1_uart" in commands
    assert commands.count("start") == 1


def test_paths_with_spaces_are_escaped_and_semicolons_or_quotes_refused(tmp_path):
    spaced = tmp_path / "my firmware" / "fw.elf"
    commands = rs.machine_commands(rs.MachineSpec("dev0", "renode-stm32f4", spaced, spaced.with_name("u 0")))
    assert commands[2] == "sysbus LoadELF @" + str(spaced.resolve()).replace(" ", "\\ ")
    assert f'"{spaced.with_name("u 0")}"' in commands[3]
    with pytest.raises(ValueError, match="';'"):
        rs.machine_commands(rs.MachineSpec("dev0", "renode-stm32f4", tmp_path / "a;b.elf", tmp_path / "u"))
    with pytest.raises(ValueError, match="'\"'"):
        rs.machine_commands(rs.MachineSpec("dev0", "renode-stm32f4", tmp_path / "fw.elf", tmp_path / 'u"'))


def test_setup_output_other_than_the_success_text_is_an_error():
    assert rs.unexpected_output('mach create "dev0"', "") is None
    assert rs.unexpected_output("start", "Starting emulation...") is None
    assert rs.unexpected_output("machine LoadPlatformDescription @x.repl",
                                "Error E21: Could not find type\r\nAt x.repl:8:8") == "Error E21: Could not find type At x.repl:8:8"
    assert rs.unexpected_output("start", "Could not start") == "Could not start"


def test_free_tcp_port_is_a_user_port():
    assert 1024 <= rs.free_tcp_port() < 65536


def test_generator_cli_writes_a_fleet_script_for_the_built_image(tmp_path):
    out = tmp_path / "fleet.resc"
    assert rs.main(["--board", "renode-stm32f4", "--devices", "2", "--uart-dir", str(tmp_path), "--out", str(out)]) == 0
    text = out.read_text()
    image = get_board("renode-stm32f4").image_path()
    assert text.count("mach create") == 2
    assert f"sysbus LoadELF @{image.resolve()}" in text
    assert f'CreateUartPtyTerminal "dev1_uart" "{tmp_path / "dev1.uart"}" true' in text
    assert text.rstrip().endswith("start")


# --- renode/: the hand-written scripts agree with the harness ---------------------------------


def _resc(board: str) -> str:
    return (rs.scripts_dir() / f"{board}.resc").read_text()


@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_board_resc_names_the_overlay_uart_and_pty(board):
    text = _resc(board)
    platform = rs.BOARDS[board]
    assert f"machine LoadPlatformDescription $ORIGIN/{platform.overlay}" in text
    assert "emulation CreateUartPtyTerminal $term $uart true" in text
    assert "ServerSocketTerminal" not in text  # it would listen on every network interface
    assert f"connector Connect {platform.uart} $term" in text
    assert (rs.scripts_dir() / platform.overlay).is_file()


@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_board_resc_default_elf_is_what_tifed_build_produces(board):
    match = re.search(r"^\$elf\?=\$ORIGIN/(\S+)$", _resc(board), re.MULTILINE)
    assert match, "the .resc sets no default $elf"
    named = (rs.scripts_dir() / match.group(1)).resolve()
    # `tifed build --board B` prints board.image_path() (harness/tifed/cli.py), which
    # follows the Makefile's IMAGE (cortex-m.mk).
    assert named == get_board(board).image_path().resolve()


@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_overlay_counts_instructions_with_the_cpus_own_counter(board):
    """Renode's Miscellaneous.DWT derives CYCCNT from virtual time, which lags
    the CPU between its synchronisation points (about 8 % low across a
    TRAIN); tifed-dwt.repl answers with `ExecutedInstructions` instead."""
    text = (rs.scripts_dir() / rs.BOARDS[board].overlay).read_text()
    assert 'using "./tifed-dwt.repl"' in text
    assert "Miscellaneous.DWT" not in text
    dwt = (rs.scripts_dir() / "tifed-dwt.repl").read_text()
    assert re.search(r"^dwt: Python\.PythonPeripheral @ sysbus 0xE0001000$", dwt, re.MULTILINE)
    assert "cpu.ExecutedInstructions" in dwt and "request.offset == 4" in dwt  # CYCCNT


@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_overlay_replaces_the_platforms_svd_download(board):
    """Offline: the stock platforms' sysbus init downloads an SVD file
    (ApplySVD @https://...), an error under renode-test without a network.
    The overlay's `init:` (not `init add:`) replaces that section."""
    text = (rs.scripts_dir() / rs.BOARDS[board].overlay).read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    assert re.search(r"^sysbus:\s*\n\s+init:\s*$", code, re.MULTILINE)
    assert "init add" not in code and "ApplySVD" not in code and "http" not in code


def test_nrf_overlay_selects_the_legacy_uart_the_driver_uses():
    text = (rs.scripts_dir() / "tifed-nrf52840.repl").read_text()
    assert re.search(r"^uart0:\s*\n\s+easyDMA:\s*false", text, re.MULTILINE)
    assert 'using "platforms/cpus/nrf52840.repl"' in text


def test_stm32_overlay_clocks_usart2_like_the_firmware():
    text = (rs.scripts_dir() / "tifed-stm32f4.repl").read_text()
    board_c = (rs.scripts_dir().parent / "firmware" / "boards" / "renode-stm32f4" / "board.c").read_text()
    hsi = int(re.search(r"#define HSI_HZ (\d+)u", board_c).group(1))
    freq = int(re.search(r"^usart2:\s*\n\s+frequency:\s*(\d+)", text, re.MULTILINE).group(1))
    assert freq == hsi
    link_c = (rs.scripts_dir().parent / "firmware" / "boards" / "cortex-m" / "link_stm32f4_usart2.c").read_text()
    assert "link_usart2_init(HSI_HZ," in board_c
    assert "USART2_BASE 0x40004400u" in link_c  # Renode's usart2 (platforms/cpus/stm32f4.repl)
    assert 'using "platforms/boards/stm32f4_discovery-kit.repl"' in text
