"""The `tifed` pytest plugin (entry point `pytest11`, docs/PYTEST_PLUGIN.md):
a firmware team's own tests get a running device of every board the command
line names.

    pytest --tifed-board host --tifed-board qemu-mps2-an386 tests/

- `--tifed-board BOARD` (repeatable; default host): anything `tifed run
  --board` takes, or the name of an entry of `--tifed-fleet FILE`.
- `tifed_device`: parametrized over those boards (the value given is in the
  test id), started once per session per board, stopped when the session
  ends, also on failures, Ctrl-C and SIGTERM.
- `tifed_reference`: the NumPy reference with the same step(case).
- Markers `tifed_boards(*names)` and `tifed_requires(*capabilities, **at_least)`.

Active wherever the package is installed, so it costs nothing until a test
asks for `tifed_device`: no board module is imported and nothing starts
before that (`-p no:tifed` turns it off altogether).
"""
from __future__ import annotations

import signal
import threading
import warnings

import pytest

_TARGETS = pytest.StashKey[list]()
_SIGTERM_SET = pytest.StashKey[bool]()


class DeviceRestartedWarning(UserWarning):
    """A test found its board's device stopped (a test before it crashed it)
    and got a freshly started one."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tifed", "TIFeD boards (tifed_device fixture; docs/PYTEST_PLUGIN.md)")
    group.addoption(
        "--tifed-board", action="append", default=[], dest="tifed_boards", metavar="BOARD",
        help="run tests that use tifed_device on BOARD: host, qemu-..., renode-..., a physical board at a "
             "port (nrf52840dk@/dev/ttyACM0), a serial port or URL, or an entry of --tifed-fleet; "
             "repeat for several boards (default: host)",
    )
    group.addoption(
        "--tifed-fleet", dest="tifed_fleet", metavar="FILE",
        help="fleet file of physical/remote boards (docs/BOARD_FARM.md); without --tifed-board, every entry",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "tifed_boards(*boards): run the test only on these boards (a --tifed-board value, a firmware "
                   "board name such as nrf52840dk, or a family: host, qemu, renode, hw, serial); skipped on others")
    config.addinivalue_line(
        "markers", "tifed_requires(*capabilities, arena_bytes=N, max_payload=N): skip on a device that lacks "
                   "them (capabilities: counter, instructions, cycles)")
    if config.getoption("tifed_boards") or config.getoption("tifed_fleet"):
        _targets(config)  # a wrong board or fleet file stops pytest now, not in the first test


def _targets(config: pytest.Config) -> list:
    if _TARGETS not in config.stash:
        from tifed.errors import ConfigError
        from tifed.pytest_plugin.targets import resolve_targets

        try:
            config.stash[_TARGETS] = resolve_targets(config.getoption("tifed_boards"),
                                                     config.getoption("tifed_fleet"))
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
    return config.stash[_TARGETS]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_tifed_session_device" not in metafunc.fixturenames:
        return
    from tifed.errors import ConfigError
    from tifed.pytest_plugin.targets import check_boards, check_requirements

    requires = metafunc.definition.get_closest_marker("tifed_requires")
    only = metafunc.definition.get_closest_marker("tifed_boards")
    try:
        if requires is not None:
            check_requirements(requires.args, requires.kwargs)
        if only is not None:
            check_boards(only.args)
    except ConfigError as exc:
        raise pytest.Collector.CollectError(f"{metafunc.definition.nodeid}: {exc}") from None  # no traceback
    params = []
    for target in _targets(metafunc.config):
        reason = (only and target.excluded_by(only.args)) or target.why_not_runnable
        params.append(pytest.param(target, id=target.label, marks=[pytest.mark.skip(reason=reason)] if reason else []))
    # Session scope: pytest groups the tests by board, so each board's device
    # is started once and stopped before the next board's starts.
    metafunc.parametrize("_tifed_session_device", params, indirect=True, scope="session")


@pytest.fixture(scope="session")
def _tifed_session_device(request: pytest.FixtureRequest):
    from tifed.pytest_plugin.device import TifedDevice

    device = TifedDevice(request.param)
    _stop_on_sigterm(request.config)
    _start(device, device.start)  # a failure is cached by pytest: one attempt per board and session
    yield device
    device.stop()


def _start(device, how) -> None:
    from tifed.errors import TifedError, one_line

    try:
        how()
        return
    except TifedError as exc:
        reason = one_line(exc)
    pytest.fail(f"tifed_device {device.board} did not start: {reason}", pytrace=False)  # no chained traceback


@pytest.fixture
def tifed_device(_tifed_session_device, request: pytest.FixtureRequest):
    """A running device of one of the --tifed-board boards (the test runs once per board)."""
    device = _tifed_session_device
    if not device.alive():
        why = device.describe_exit()
        _start(device, device.restart)
        warnings.warn(DeviceRestartedWarning(f"{device.board}: the device had stopped ({why}); started it again"))
    requires = request.node.get_closest_marker("tifed_requires")
    if requires is not None:
        from tifed.pytest_plugin.targets import unmet_requirement

        reason = unmet_requirement(device.board, device.info, requires.args, requires.kwargs)
        if reason:
            pytest.skip(reason)
    return device


@pytest.fixture(scope="session")
def tifed_reference():
    """The NumPy integer reference, with the same step(case) as tifed_device."""
    from tifed.pytest_plugin.device import ReferenceEngine

    return ReferenceEngine()


def _stop_on_sigterm(config: pytest.Config) -> None:
    """pytest dies of SIGTERM (a CI job cancelled) without tearing fixtures
    down. While devices run, SIGTERM becomes the orderly stop Ctrl-C is, as
    in the `tifed` command, unless someone already handles SIGTERM."""
    if config.stash.get(_SIGTERM_SET, False) or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    from tifed.errors import raise_terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    config.stash[_SIGTERM_SET] = True
    config.add_cleanup(lambda: signal.signal(signal.SIGTERM, previous))
