"""The hardware suite: physical (or remote) boards named in a fleet file.

    tox -e hw -- --fleet lab.toml            (or TIFED_FLEET=lab.toml)
    pytest -m hw suites/hw --fleet lab.toml [--hw-bench-out FILE]

Without a fleet every test here is skipped, with the reason. The session
first brings every device up once as the fleet says (flash and reset, or
neither); the tests after that talk to the image already running, except
the federated run, which goes through `tifed run --fleet` like a user.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os

import pytest

NO_FLEET = ("no fleet file: run `tox -e hw -- --fleet FILE` or set TIFED_FLEET=FILE "
            "(docs/BOARD_FARM.md says how to write one)")


def pytest_addoption(parser):
    group = parser.getgroup("tifed hardware suite")
    group.addoption("--fleet", metavar="FILE", help="fleet file of the boards to test (TIFED_FLEET)")
    group.addoption("--hw-bench-out", metavar="FILE", help="where the hardware benchmark writes its JSON")


def fleet_path(config) -> str | None:
    return config.getoption("--fleet", default=None) or os.environ.get("TIFED_FLEET") or None


def pytest_collection_modifyitems(config, items):
    if fleet_path(config):
        return
    skip = pytest.mark.skip(reason=NO_FLEET)
    for item in items:
        if item.get_closest_marker("hw"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fleet_file(pytestconfig) -> str:
    path = fleet_path(pytestconfig)
    if not path:
        pytest.skip(NO_FLEET)
    return path


@pytest.fixture(scope="session")
def fleet(fleet_file):
    """The fleet's devices, each brought up once (flashed and reset as the
    file says), returned with flashing turned off for the tests that follow."""
    from tifed.boards.flashing import FlashSettings
    from tifed.boards.fleet_file import load_fleet

    devices = load_fleet(fleet_file).devices
    for d in devices:
        if d.flash.flashes or d.flash.resets:
            d.make_board().start(0).stop()
    return [dataclasses.replace(d, flash=FlashSettings()) for d in devices]


@pytest.fixture
def clients(fleet):
    """(FleetDevice, DeviceClient) for every device; links closed after."""
    from tifed.protocol.client import DeviceClient
    from tifed.links.transport import open_link

    with contextlib.ExitStack() as stack:
        out = []
        for d in fleet:
            running = d.make_board().start(0)
            stack.callback(running.stop)
            port = open_link(running.url, **running.kwargs)
            stack.callback(port.close)
            out.append((d, DeviceClient(port, name=d.label, device=running, **running.client_options)))
        yield out
