"""Shared fixtures of the emulated suite: the QEMU boards, each built once per
session, and one running device per board shared by a module's tests.

Every test here is skipped, with the reason, on a machine without
qemu-system-arm, arm-none-eabi-gcc or make.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from qemu_support import QEMU_BOARDS

TOOLS = ("qemu-system-arm", "arm-none-eabi-gcc", "make")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def pytest_collection_modifyitems(config, items):
    missing = missing_tools()
    skip = pytest.mark.skip(reason=f"{', '.join(missing)} not installed (apt-get install qemu-system-arm "
                                   "gcc-arm-none-eabi libnewlib-arm-none-eabi make)")
    for item in items:
        if item.get_closest_marker("emulated") and missing:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def images():
    """Build every QEMU board's image once (make skips what is up to date)."""
    from tifed.boards.registry import get_board

    return {name: get_board(name).build() for name in QEMU_BOARDS}


@pytest.fixture(scope="session")
def probe_images():
    """The counter probe (firmware/boards/cortex-m/probe) for every board, in
    its own build directory so it never replaces the real image."""
    from tifed.firmware import build

    fw = build.firmware_dir()
    out = {}
    for name in QEMU_BOARDS:
        done = subprocess.run(
            ["make", "-C", str(fw), f"BOARD={name}", "APP_MAIN=boards/cortex-m/probe/counter_probe.c",
             f"BUILD=build/probe-{name}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert done.returncode == 0, done.stdout[-2000:]
        out[name] = fw / "build" / f"probe-{name}" / f"tifed-{name}.elf"
    return out
