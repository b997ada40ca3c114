"""What the harness tells Renode: the board facts (platform overlay, UART
peripheral), the Monitor commands that build a fleet of K machines in one
emulation, and the command line that starts Renode.

The same command list is sent to the Monitor by harness/tifed/boards/renode.py and
written out as a .resc for running a fleet by hand:

    python -m tifed.boards.renode_script --board renode-nrf52840 --devices 4 --out fleet.resc
    renode --console --disable-xwt fleet.resc    # device i: UART on the pty ./dev<i>.uart

Each machine's UART is a pseudo-terminal (`emulation CreateUartPtyTerminal`),
reached through a symlink the harness names: unlike
CreateServerSocketTerminal, which listens on every network interface, it
puts no board on the network.

renode/renode-<board>.resc is the single-machine script for humans and the
Robot suites; suites/unit/test_renode_scripts.py checks that both name the
same overlay and UART as BOARDS below.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from tifed.firmware import build

# Where to get Renode (it is not in any package registry this project uses).
INSTALL_HINT = (
    "unpack Renode's Linux portable package (renode-<version>.linux-portable.tar.gz from the "
    "renode/renode GitHub releases) and put its folder on PATH or set TIFED_RENODE to its `renode`, "
    "or: pip install git+https://github.com/antmicro/renode-run && renode-run download"
)


@dataclasses.dataclass(frozen=True)
class RenodePlatform:
    overlay: str  # file in renode/ that loads Renode's platform plus our additions
    uart: str  # the peripheral the firmware's link is on


BOARDS = {
    "renode-nrf52840": RenodePlatform(overlay="tifed-nrf52840.repl", uart="sysbus.uart0"),
    "renode-stm32f4": RenodePlatform(overlay="tifed-stm32f4.repl", uart="sysbus.usart2"),
}

# Emulation-wide settings for a fleet (see renode/README.md, "Determinism").
DEFAULT_QUANTUM = "0.0001"  # seconds of virtual time between machine synchronisations

# The Renode versions the harness was run against (renode/README.md); older
# ones are refused with the version they report.
MIN_VERSION = (1, 15, 0)
VERSION_TIMEOUT = 60.0  # seconds for `renode --version` (Mono starts slowly on a busy machine)
_VERSION = re.compile(r"^Renode,? v(?:ersion )?(\d+)\.(\d+)\.(\d+)", re.MULTILINE)

# What a setup command prints when it worked; anything else is Renode's
# error message (with --plain the Monitor marks errors by no colour).
SETUP_OUTPUT = {"start": ("Starting emulation...",)}


@dataclasses.dataclass(frozen=True)
class MachineSpec:
    name: str  # Renode machine name, "dev<index>"
    board: str  # a key of BOARDS
    elf: Path
    uart_link: Path  # the symlink Renode points at the UART's pseudo-terminal

    @property
    def terminal(self) -> str:
        return f"{self.name}_uart"


def scripts_dir() -> Path:
    """renode/ at the top of the checkout (TIFED_RENODE_SCRIPTS overrides)."""
    override = os.environ.get("TIFED_RENODE_SCRIPTS")
    return Path(override) if override else build.firmware_dir().parent / "renode"


def find_renode() -> list[str] | None:
    """The command that starts Renode: $TIFED_RENODE, `renode` on PATH, or
    `renode-run exec --` (renode-run's managed install); None if none."""
    explicit = os.environ.get("TIFED_RENODE")
    if explicit:
        path = shutil.which(explicit) or (explicit if os.access(explicit, os.X_OK) else None)
        return [path] if path else None
    path = shutil.which("renode")
    if path:
        return [path]
    runner = shutil.which("renode-run")
    if runner:
        return [runner, "exec", "--"]
    return None


def missing_reason() -> str:
    """Why find_renode() found nothing, in a few words."""
    explicit = os.environ.get("TIFED_RENODE")
    if explicit:
        return f"TIFED_RENODE={explicit} is not an executable"
    return "renode not found on PATH"


def check_version(prefix: list[str]) -> tuple[int, int, int]:
    """The version `renode --version` reports; RenodeError if the program
    does not say it is Renode or is older than MIN_VERSION."""
    shown = " ".join(prefix)
    try:
        done = subprocess.run([*prefix, "--version"], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", timeout=VERSION_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RenodeError(f"{shown} --version did not answer within {VERSION_TIMEOUT:g} s: is it Renode?") from None
    except OSError as exc:
        raise RenodeError(f"cannot run {shown}: {exc.strerror or exc}") from None
    said = (done.stdout + done.stderr).strip()
    match = _VERSION.search(said)
    if match is None:
        first = said.splitlines()[0] if said else f"nothing (exit status {done.returncode})"
        raise RenodeError(f"{shown} is not Renode: `--version` printed {first!r}")
    version = tuple(int(g) for g in match.groups())
    if version < MIN_VERSION:
        want = ".".join(map(str, MIN_VERSION))
        raise RenodeError(f"{shown} is Renode {'.'.join(map(str, version))}; the harness needs {want} or newer "
                          f"({INSTALL_HINT})")
    return version


class RenodeError(Exception):
    """Renode is missing, too old, or not Renode (turned into a DeviceError by the board)."""


def unexpected_output(command: str, answer: str) -> str | None:
    """The Monitor's answer to a setup command when it is not what the
    command prints on success (so an error message), else None."""
    if not answer.strip() or answer.strip() in SETUP_OUTPUT.get(command, ()):
        return None
    return " ".join(answer.split())


def renode_command(prefix: list[str], monitor_port: int, script: Path | None = None) -> list[str]:
    """Renode headless, its Monitor on a telnet port and its log, without
    colour codes, on stdout. (--console would put the Monitor on stdin
    instead of the port; --disable-xwt is the old name of --disable-gui
    that every Renode version accepts.)"""
    argv = [*prefix, "--disable-xwt", "--plain", "--port", str(monitor_port)]
    if script is not None:
        argv.append(str(Path(script).resolve()))
    return argv


def _path(p: Path) -> str:
    """A Monitor path token: `@` and the path, spaces escaped (Renode's
    tokenizer ends a path at an unescaped space or a `;`)."""
    text = str(Path(p).resolve())
    if ";" in text or any(c in text for c in "\r\n\t"):
        raise ValueError(f"Renode cannot load a path containing ';' or control characters: {text!r}")
    return "@" + text.replace(" ", "\\ ")


def _string(p: Path) -> str:
    """A Monitor string argument: the absolute path in double quotes."""
    text = str(Path(p).absolute())
    if '"' in text or any(c in text for c in "\r\n\t"):
        raise ValueError(f"Renode cannot take a path containing '\"' or control characters: {text!r}")
    return f'"{text}"'


def machine_commands(spec: MachineSpec, overlay_dir: Path | None = None) -> list[str]:
    """One machine: its platform, its firmware and its UART on a
    pseudo-terminal behind the symlink spec.uart_link (`true`: replace a
    stale link of an earlier run)."""
    platform = BOARDS[spec.board]
    overlay = (overlay_dir or scripts_dir()) / platform.overlay
    return [
        f'mach create "{spec.name}"',
        f"machine LoadPlatformDescription {_path(overlay)}",
        f"sysbus LoadELF {_path(spec.elf)}",
        f'emulation CreateUartPtyTerminal "{spec.terminal}" {_string(spec.uart_link)} true',
        f"connector Connect {platform.uart} {spec.terminal}",
    ]


def fleet_commands(
    machines: list[MachineSpec],
    *,
    quantum: str = DEFAULT_QUANTUM,
    serial: bool = True,
    advance_immediately: bool = True,
    overlay_dir: Path | None = None,
    start: bool = True,
) -> list[str]:
    """Every machine of the fleet in one emulation, then the emulation-wide
    settings (they apply to the machines that exist), then `start`."""
    if not machines:
        raise ValueError("a fleet needs at least one machine")
    names = [m.name for m in machines]
    if len(set(names)) != len(names):
        raise ValueError(f"machine names repeat: {names}")
    links = [str(m.uart_link) for m in machines]
    if len(set(links)) != len(links):
        raise ValueError(f"UART links repeat: {links}")
    commands: list[str] = []
    for spec in machines:
        commands += machine_commands(spec, overlay_dir)
    commands += [
        # Machines run one after another in each quantum instead of on host
        # threads: the same interleaving every run.
        f"emulation SetGlobalSerialExecution {str(serial).lower()}",
        f'emulation SetGlobalQuantum "{quantum}"',
        # Do not slow virtual time down to host time: a machine computes at
        # host speed, and a machine asleep in WFI skips ahead.
        f"emulation SetGlobalAdvanceImmediately {str(advance_immediately).lower()}",
    ]
    if start:
        commands.append("start")
    return commands


def script_text(commands: list[str], title: str) -> str:
    return f":name: {title}\n:description: generated by tifed.boards.renode_script\n\n" + "\n".join(commands) + "\n"


def free_tcp_port() -> int:
    """A port that was free a moment ago, for the Monitor (the kernel picks
    it; another process could still take it before Renode binds it, which
    the caller detects and retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def power_off_commands(spec: MachineSpec) -> list[str]:
    """Cut one machine's power (the reset fault): pause it, reset its CPU
    and peripherals (its firmware's start-up code then clears RAM's
    variables again) and load its image again, which points the CPU at the
    image's vector table (a bare reset leaves an STM32 core halted at
    address 0). Renode refuses LoadELF on a running machine."""
    return [f'mach set "{spec.name}"', "machine Pause", "machine Reset", f"sysbus LoadELF {_path(spec.elf)}"]


def power_on_commands(spec: MachineSpec) -> list[str]:
    """Give a machine cut by power_off_commands its power back: it boots."""
    return [f'mach set "{spec.name}"', "machine Start"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tifed.boards.renode_script", description="Write a Renode fleet script (.resc)."
    )
    parser.add_argument("--board", required=True, choices=sorted(BOARDS))
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--elf", type=Path, help="firmware image (default: what `tifed build --board B` makes)")
    parser.add_argument("--uart-dir", type=Path, default=Path("."),
                        help="device i's UART is the pty behind DIR/dev<i>.uart (default: the current folder)")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    if args.devices < 1:
        parser.error("--devices must be at least 1")
    if args.elf is None:
        from tifed.boards.registry import get_board

        args.elf = get_board(args.board).image_path()
    machines = [MachineSpec(f"dev{i}", args.board, args.elf, args.uart_dir / f"dev{i}.uart")
                for i in range(args.devices)]
    text = script_text(fleet_commands(machines), f"TIFeD fleet: {args.devices} x {args.board}")
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

