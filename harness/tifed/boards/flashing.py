"""Flashing and resetting physical boards with pyOCD, OpenOCD or nrfjprog,
or with a command of the user's own, as a fleet file configures.

The command lines are built here, from the board's facts (hw_boards.py)
and the device's settings, and run with subprocess (no shell). A custom
command is a list of arguments in which {elf}, {hex}, {bin}, {probe} and
{port} are replaced.

After flashing, each tool resets the chip and lets it run (`pyocd load`
resets unless told --no-reset; OpenOCD's `program ... reset`; nrfjprog's
--reset), so a separate reset follows only when nothing was flashed.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import string
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from tifed.errors import ConfigError, DeviceError

TOOLS = ("pyocd", "openocd", "nrfjprog")
NONE = "none"
TOOL_TIMEOUT = 180.0  # seconds: a mass erase plus a 1 MB write over a slow probe
PLACEHOLDERS = ("elf", "hex", "bin", "probe", "port")

INSTALL_HINTS = {
    "pyocd": "pip install 'tifed-hil[hw]' (pyOCD; for the STM32F446 also `pyocd pack install stm32f446re`)",
    "openocd": "apt-get install openocd",
    "nrfjprog": "install Nordic's nRF Command Line Tools (nrfjprog) from nordicsemi.com",
}

Command = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ChipFacts:
    """What the tools need to know about a board's chip."""

    pyocd_target: str
    openocd_interface: str  # the on-board probe's OpenOCD interface file
    openocd_target: str
    nrfjprog_family: str | None  # None: nrfjprog cannot program this chip


@dataclasses.dataclass(frozen=True)
class FlashSettings:
    """How one device is flashed and reset (a fleet file's entry)."""

    flash: str | Command = NONE  # a TOOLS name, "none", or a custom command
    reset: str | Command = NONE
    probe: str | None = None  # the probe's serial number / unique ID (pyocd -u, OpenOCD adapter serial, nrfjprog --snr)
    target: str | None = None  # overrides the pyOCD target name or the OpenOCD target file
    interface: str | None = None  # overrides the OpenOCD interface file

    @property
    def flashes(self) -> bool:
        return self.flash != NONE

    @property
    def resets(self) -> bool:
        return self.reset != NONE


@dataclasses.dataclass(frozen=True)
class Images:
    elf: Path
    hex: Path
    bin: Path

    @classmethod
    def next_to(cls, elf: Path) -> "Images":
        """hw.mk writes the .hex and .bin next to the ELF."""
        return cls(elf=elf, hex=elf.with_suffix(".hex"), bin=elf.with_suffix(".bin"))


def check_tool_setting(value: object, what: str, chip: ChipFacts, where: str) -> str | Command:
    """A fleet file's `flash` or `reset` value, checked: a tool name, "none",
    or a non-empty list of strings whose {placeholders} are known."""
    if isinstance(value, str):
        if value == NONE:
            return value
        if value not in TOOLS:
            raise ConfigError(f"{where}: {what} must be one of {', '.join(TOOLS)}, {NONE}, "
                              f"or a command as a list of strings, not {value!r}")
        if value == "nrfjprog" and chip.nrfjprog_family is None:
            raise ConfigError(f"{where}: nrfjprog programs only Nordic chips; use pyocd or openocd")
        return value
    if isinstance(value, list) and value and all(isinstance(a, str) for a in value):
        for arg in value:
            for _, field, _, _ in string.Formatter().parse(arg):
                if field is not None and field not in PLACEHOLDERS:
                    raise ConfigError(f"{where}: {what} command has an unknown placeholder {{{field}}} "
                                      f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
        return tuple(value)
    raise ConfigError(f"{where}: {what} must be a tool name or a non-empty list of strings, not {value!r}")


def tool_program(tool: str) -> list[str]:
    """How to start a tool: its executable on PATH; pyOCD also as
    `python -m pyocd` when it is installed in this interpreter only."""
    if shutil.which(tool):
        return [tool]
    if tool == "pyocd" and importlib.util.find_spec("pyocd") is not None:
        return [sys.executable, "-m", "pyocd"]
    return [tool]


def missing_tools(settings: FlashSettings) -> list[str]:
    """Tools the settings name that are not installed here."""
    missing = []
    for value in (settings.flash, settings.reset):
        if isinstance(value, str) and value in TOOLS:
            program = tool_program(value)[0]
            if shutil.which(program) is None and program != sys.executable and value not in missing:
                missing.append(value)
        elif isinstance(value, tuple) and shutil.which(value[0]) is None and value[0] not in missing:
            missing.append(value[0])
    return missing


def _openocd_adapter(chip: ChipFacts, s: FlashSettings) -> list[str]:
    interface = s.interface or chip.openocd_interface
    args = ["-f", interface]
    # ST-LINK interface files choose their transport; J-Link and CMSIS-DAP
    # speak JTAG too, and the nRF52 and STM32F4 targets want SWD.
    if "stlink" not in interface:
        args += ["-c", "transport select swd"]
    if s.probe:
        args += ["-c", f"adapter serial {s.probe}"]
    return args + ["-f", s.target or chip.openocd_target]


def flash_command(chip: ChipFacts, s: FlashSettings, images: Images, port: str = "") -> list[str]:
    """The command that writes the image and leaves the chip running it."""
    tool = s.flash
    if isinstance(tool, tuple):
        return _custom(tool, images, s, port)
    if tool == "pyocd":
        cmd = tool_program("pyocd") + ["load", "--target", s.target or chip.pyocd_target]
        if s.probe:
            cmd += ["--uid", s.probe]
        return cmd + [str(images.elf)]
    if tool == "openocd":
        # Braces quote the path for OpenOCD's Tcl.
        return ["openocd", *_openocd_adapter(chip, s), "-c", f"program {{{images.elf}}} verify reset exit"]
    if tool == "nrfjprog":
        cmd = ["nrfjprog", "-f", chip.nrfjprog_family or "", "--program", str(images.hex),
               "--sectorerase", "--verify", "--reset"]
        return cmd + (["--snr", s.probe] if s.probe else [])
    raise ConfigError(f"no flash tool configured ({tool!r})")


def reset_command(chip: ChipFacts, s: FlashSettings, images: Images, port: str = "") -> list[str]:
    """The command that resets the chip and lets it run."""
    tool = s.reset
    if isinstance(tool, tuple):
        return _custom(tool, images, s, port)
    if tool == "pyocd":
        cmd = tool_program("pyocd") + ["reset", "--target", s.target or chip.pyocd_target]
        return cmd + (["--uid", s.probe] if s.probe else [])
    if tool == "openocd":
        return ["openocd", *_openocd_adapter(chip, s), "-c", "init", "-c", "reset run", "-c", "shutdown"]
    if tool == "nrfjprog":
        cmd = ["nrfjprog", "-f", chip.nrfjprog_family or "", "--reset"]
        return cmd + (["--snr", s.probe] if s.probe else [])
    raise ConfigError(f"no reset tool configured ({tool!r})")


def _custom(template: Sequence[str], images: Images, s: FlashSettings, port: str) -> list[str]:
    values = {"elf": str(images.elf), "hex": str(images.hex), "bin": str(images.bin),
              "probe": s.probe or "", "port": port}
    return [arg.format_map(values) for arg in template]


def run_tool(command: list[str], what: str, timeout: float = TOOL_TIMEOUT) -> None:
    """Run a flash or reset command; a failure is one DeviceError line with
    the tool's last words."""
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout)
    except FileNotFoundError:
        hint = INSTALL_HINTS.get(Path(command[0]).name, "")
        raise DeviceError(f"{what}: {command[0]} not found" + (f" (install: {hint})" if hint else "")) from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{what}: {command[0]} did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise DeviceError(f"{what}: cannot run {command[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        tail = lines[-1] if lines else "no output"
        raise DeviceError(f"{what}: {' '.join(command[:2])} ... failed (exit {done.returncode}): {tail}")
