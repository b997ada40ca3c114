"""What the harness tells Renode: the board facts (platform overlay, UART
peripheral), the Monitor commands that build a fleet of K machines in one
emulation, and the command line that starts Renode.

The same command list is sent to the Monitor by harness/tifed/boards/renode.py and
written out as a .resc for running a fleet by hand:

    python -m tifed.boards.renode_script --board renode-nrf52840 --devices 4 --out fleet.resc
    renode --console --disable-xwt fleet.resc    # device i: UART on TCP port 3456 + i

renode/renode-<board>.resc is the single-machine script for humans and the
Robot suites; suites/unit/test_renode_scripts.py checks that both name the
same overlay and UART as BOARDS below.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import socket
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
    mips: int  # the overlay's PerformanceInMips (= its DWT frequency / 1e6)


BOARDS = {
    "renode-nrf52840": RenodePlatform(overlay="tifed-nrf52840.repl", uart="sysbus.uart0", mips=64),
    "renode-stm32f4": RenodePlatform(overlay="tifed-stm32f4.repl", uart="sysbus.usart2", mips=168),
}

# Emulation-wide settings for a fleet (see renode/README.md, "Determinism").
DEFAULT_QUANTUM = "0.0001"  # seconds of virtual time between machine synchronisations
BASE_PORT = 3456  # UART of device i on BASE_PORT + i in hand-written fleets


@dataclasses.dataclass(frozen=True)
class MachineSpec:
    name: str  # Renode machine name, "dev<index>"
    board: str  # a key of BOARDS
    elf: Path
    uart_port: int  # TCP port of the machine's UART (raw socket)

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


def machine_commands(spec: MachineSpec, overlay_dir: Path | None = None) -> list[str]:
    """One machine: its platform, its firmware and its UART on a raw TCP socket
    (third argument false: no telnet negotiation, bytes pass unchanged)."""
    platform = BOARDS[spec.board]
    overlay = (overlay_dir or scripts_dir()) / platform.overlay
    return [
        f'mach create "{spec.name}"',
        f"machine LoadPlatformDescription {_path(overlay)}",
        f"sysbus LoadELF {_path(spec.elf)}",
        f'emulation CreateServerSocketTerminal {spec.uart_port} "{spec.terminal}" false',
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
    ports = [m.uart_port for m in machines]
    if len(set(ports)) != len(ports):
        raise ValueError(f"UART ports repeat: {ports}")
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


def free_tcp_ports(count: int) -> list[int]:
    """`count` distinct ports that were free a moment ago (the kernel picks
    them; another process could still take one before Renode binds it, which
    the caller detects and retries)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tifed.boards.renode_script", description="Write a Renode fleet script (.resc)."
    )
    parser.add_argument("--board", required=True, choices=sorted(BOARDS))
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--elf", type=Path, help="firmware image (default: what `tifed build --board B` makes)")
    parser.add_argument("--base-port", type=int, default=BASE_PORT, help="device i's UART port is BASE + i")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    if args.devices < 1:
        parser.error("--devices must be at least 1")
    if args.elf is None:
        from tifed.boards.registry import get_board

        args.elf = get_board(args.board).image_path()
    machines = [MachineSpec(f"dev{i}", args.board, args.elf, args.base_port + i) for i in range(args.devices)]
    text = script_text(fleet_commands(machines), f"TIFeD fleet: {args.devices} x {args.board}")
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
