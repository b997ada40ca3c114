"""The `tifed` pytest plugin (docs/PYTEST_PLUGIN.md), run the way a firmware
team runs it: pytest (pytester) on a test file of theirs, with the plugin
loaded from the installed package's pytest11 entry point.

Inline runs share this process, so a device's pid can be checked after the
inner session: gone (reaped) means the plugin really stopped it. The Ctrl-C
and SIGTERM tests run pytest as a subprocess and signal it mid-test."""
from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib.metadata import entry_points

import pytest

from tifed.errors import ConfigError
from tifed.step import reference_result, run_step
from tifed.step_cases import first_difference, make_case


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False  # running, or a zombie nobody reaped


def pids_in(text: str) -> list[int]:
    """The pids the inner tests print (pytest -s puts the first after the file name)."""
    return [int(pid) for pid in re.findall(r"DEVICE-PID (\d+)", text)]


def read_until(proc: subprocess.Popen, pattern: str, timeout: float) -> str:
    """What `proc` wrote to its stdout up to the first match of `pattern`;
    fails when it does not come within `timeout` seconds."""
    out = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not re.search(pattern.encode(), out):
            left = deadline - time.monotonic()
            chunk = os.read(proc.stdout.fileno(), 4096) if left > 0 and sel.select(left) else b""
            if not chunk:
                pytest.fail(f"no {pattern!r} from the inner pytest:\n{out.decode(errors='replace')}")
            out += chunk
    return out.decode(errors="replace")


def inner_output(result) -> str:
    return result.stdout.str() + result.stderr.str()


# --- registration and options (nothing started) --------------------------------


def test_the_plugin_is_registered_as_tifed_through_pytest11():
    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("tifed") == "tifed.pytest_plugin"


def test_help_lists_the_options(pytester):
    result = pytester.runpytest("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--tifed-board=BOARD*", "*--tifed-fleet=FILE*"])


DEVICE_TEST = """
def test_uses_device(tifed_device):
    pass
"""


def test_default_board_is_host_and_the_board_is_in_the_test_id(pytester):
    pytester.makepyfile(DEVICE_TEST)
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_default_board_is_host_and_the_board_is_in_the_test_id.py::test_uses_device[host]"])
    assert result.ret == 0


def test_repeated_tifed_board_parametrizes_over_every_board(pytester):
    pytester.makepyfile(DEVICE_TEST)
    result = pytester.runpytest("--collect-only", "-q", "--tifed-board", "host",
                                "--tifed-board", "socket://127.0.0.1:9", "--tifed-board", "host")
    ids = [line.split("::")[1] for line in result.stdout.lines if "::" in line]
    assert ids == ["test_uses_device[host]", "test_uses_device[socket://127.0.0.1:9]"]  # a repeat counts once


def test_fleet_entries_are_boards_and_can_be_picked_by_name(pytester):
    pytester.makepyfile(DEVICE_TEST)
    pytester.path.joinpath("lab.toml").write_text(
        '[[device]]\nname = "bench-a"\nport = "socket://127.0.0.1:9"\n\n'
        '[[device]]\nboard = "nrf52840dk"\nport = "rfc2217://lab:7000"\n'
    )
    every = pytester.runpytest("--collect-only", "-q", "--tifed-fleet", "lab.toml")
    assert [l.split("::")[1] for l in every.stdout.lines if "::" in l] == [
        "test_uses_device[bench-a]", "test_uses_device[nrf52840dk@rfc2217://lab:7000]"]
    picked = pytester.runpytest("--collect-only", "-q", "--tifed-fleet", "lab.toml",
                                "--tifed-board", "bench-a", "--tifed-board", "host")
    assert [l.split("::")[1] for l in picked.stdout.lines if "::" in l] == [
        "test_uses_device[bench-a]", "test_uses_device[host]"]


@pytest.mark.parametrize("args, message", [
    (["--tifed-board", "qemu-nosuch"], "ERROR: --tifed-board qemu-nosuch: unknown board 'qemu-nosuch'; valid: *"),
    (["--tifed-board", "sim"], "ERROR: --tifed-board sim: sim is the reference alone*tifed_reference*"),
    (["--tifed-fleet", "missing.toml"], "ERROR: fleet missing.toml: no such file"),
])
def test_a_bad_board_or_fleet_is_a_usage_error_before_any_test(pytester, args, message):
    pytester.makepyfile(DEVICE_TEST)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize("marker, message", [
    ('tifed_requires("fpu")',
     "tifed_requires: unknown capability 'fpu'; known: counter, instructions, cycles, arena_bytes=N, max_payload=N"),
    ("tifed_requires(arena_bytes='64k')", "tifed_requires: arena_bytes='64k'; known: *with N an integer"),
    ("tifed_boards()", "tifed_boards(): give one or more board names, e.g. *"),
])
def test_a_bad_marker_is_a_collection_error(pytester, marker, message):
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.{marker}
        def test_x(tifed_device):
            pass
    """)
    # In-process, tifed is imported before pytest loads the plugin, which makes
    # pytest warn (from its own files) that it cannot rewrite our asserts.
    result = pytester.runpytest("-W", "ignore::pytest.PytestAssertRewriteWarning")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*::test_x: {message}"])
    assert "Traceback" not in result.stdout.str() and "_pytest" not in result.stdout.str()


def test_a_suite_without_the_fixture_starts_and_imports_no_board(pytester):
    """The plugin is active in every suite where the package is installed:
    it must cost nothing there."""
    pytester.makeconftest("""
        import sys

        def pytest_unconfigure(config):
            loaded = sorted(m for m in sys.modules if m.startswith(("tifed.boards", "tifed.pytest_plugin.")))
            print("LOADED", loaded)
    """)
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["LOADED []"])


def test_a_board_that_cannot_run_here_is_skipped_with_the_reason(pytester):
    pytester.makepyfile(DEVICE_TEST)
    result = pytester.runpytest("-rs", "--tifed-board", "nrf52840dk@/dev/tifed-no-such-port")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*nrf52840dk@/dev/tifed-no-such-port cannot run here: "
                                 "/dev/tifed-no-such-port missing*"])


def test_an_installed_package_without_the_firmware_says_where_to_point_it(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("TIFED_FIRMWARE_DIR", str(tmp_path))  # no firmware/ there
    pytester.makepyfile(DEVICE_TEST)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*host cannot run here: firmware/Makefile missing (install: pip install -e a "
                                 "checkout, or set TIFED_FIRMWARE_DIR to its firmware/)"])


# --- a board that fails to start --------------------------------------------------


@pytest.fixture
def hangup_server():
    """A TCP port that accepts and at once closes every connection, counting
    them: a 'board' whose link opens but never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed at teardown
                return
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone would not)
    server.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_board_that_fails_to_start_errors_every_test_once_and_spares_the_others(pytester, host_image,
                                                                                   hangup_server):
    port, accepted = hangup_server
    pytester.makepyfile("""
        def test_one(tifed_device):
            assert tifed_device.identify()["max_payload"] > 0

        def test_two(tifed_device):
            assert tifed_device.identify()["arena_bytes"] > 0
    """)
    url = f"socket://127.0.0.1:{port}"
    result = pytester.runpytest("--tifed-board", url, "--tifed-board", "host")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines([f"*ERROR at setup of test_one[[]{url}[]]*",
                                 f"tifed_device {url} did not start: *"])
    assert "During handling" not in result.stdout.str()  # one line, no chained traceback
    assert len(accepted) == 1  # one start attempt for the session, not one per test


# --- start, step, stop on the host board ---------------------------------------------


DEVICE_PID_TEST = """
import numpy as np

from tifed.step_cases import first_difference, make_case

def test_identify(tifed_device):
    print("DEVICE-PID", tifed_device.running.pid)
    info = tifed_device.identify()
    assert tifed_device.board == "host" and info["board"] == "host"
    assert info["max_payload"] >= 16 and info["arena_bytes"] > 0 and info["counter"] == "none"

def test_step_matches_reference(tifed_device, tifed_reference):
    print("DEVICE-PID", tifed_device.running.pid)
    case = make_case("12-8-4", 20, batch=5, epochs=2, lr_inv=64, layer=-1, seed=7)
    result = tifed_device.step(case)
    assert sorted(result) == ["b0", "b1", "pred", "w0", "w1"]
    assert first_difference(result, tifed_reference.step(case)) is None
    assert not np.array_equal(result["w1"], case["w1"])  # it trained

def test_that_fails(tifed_device):
    print("DEVICE-PID", tifed_device.running.pid)
    assert False, "a failing test"
"""


def test_host_device_is_started_once_and_stopped_after_a_failing_session(pytester, host_image):
    pytester.makepyfile(DEVICE_PID_TEST)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=2, failed=1)
    pids = pids_in(result.stdout.str())
    assert len(pids) == 3 and len(set(pids)) == 1  # one device for the whole session
    assert gone(pids[0])  # stopped and reaped at the end


def test_step_is_tifed_step_on_the_same_case(pytester, host_image, tmp_path):
    """tifed_device.step and tifed_reference.step give what `tifed step` writes."""
    import numpy as np

    case = make_case("9-6-3", 12, batch=4, epochs=1, lr_inv=32, layer=1, seed=2)
    np.savez(tmp_path / "case.npz", **case)
    run_step("host", tmp_path / "case.npz", tmp_path / "host.npz")
    run_step("reference", tmp_path / "case.npz", tmp_path / "ref.npz")
    with np.load(tmp_path / "host.npz") as host, np.load(tmp_path / "ref.npz") as ref:
        files = {"host": dict(host), "reference": dict(ref)}
    assert first_difference(reference_result(case), files["reference"]) is None
    assert all(a.dtype == files["reference"][k].dtype for k, a in reference_result(case).items())

    np.savez(pytester.path / "expected.npz", **files["host"])
    pytester.makepyfile(f"""
        import numpy as np
        import pytest
        from tifed.errors import ConfigError
        from tifed.step_cases import make_case, first_difference

        def test_same_as_tifed_step(tifed_device):
            case = make_case("9-6-3", 12, batch=4, epochs=1, lr_inv=32, layer=1, seed=2)
            with np.load("expected.npz") as expected:
                result = tifed_device.step(case)
                assert first_difference(result, dict(expected)) is None
                assert all(result[k].dtype == expected[k].dtype for k in expected.files)

        def test_a_bad_case_is_one_clear_error(tifed_device):
            case = make_case("9-6-3", 12, batch=4, epochs=1, lr_inv=32, layer=1, seed=2)
            del case["x"]
            with pytest.raises(ConfigError, match="^host: step case: missing key 'x'$"):
                tifed_device.step(case)
    """)
    pytester.runpytest().assert_outcomes(passed=2)


def test_reference_rejects_a_bad_case_like_tifed_step():
    case = make_case("4-3", 2, batch=1, epochs=1, lr_inv=8, layer=-1, seed=0)
    case["layer"] = case["layer"] + 5
    with pytest.raises(ConfigError, match="layer = 4; -1 \\(all\\) or 0..0"):
        reference_result(case)


def test_a_device_that_died_is_started_again_for_the_next_test(pytester, host_image):
    pytester.makepyfile("""
        import os, signal

        def test_kills_it(tifed_device):
            print("DEVICE-PID", tifed_device.running.pid)
            os.kill(tifed_device.running.pid, signal.SIGKILL)
            assert tifed_device.running.wait_gone(10)

        def test_after(tifed_device):
            print("DEVICE-PID", tifed_device.running.pid)
            assert tifed_device.identify()["board"] == "host"
    """)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*DeviceRestartedWarning: host: the device had stopped (host device 0 *"
                                 "killed by SIGKILL); started it again*"])
    first, second = pids_in(result.stdout.str())
    assert first != second and gone(second)


MARKER_TESTS = """
import pytest

@pytest.mark.tifed_boards("qemu", "renode")
def test_emulators_only(tifed_device):
    pass

@pytest.mark.tifed_boards("host")
def test_host_only(tifed_device):
    assert tifed_device.board == "host"

@pytest.mark.tifed_requires("counter")
def test_needs_a_counter(tifed_device):
    pass

@pytest.mark.tifed_requires(arena_bytes=1 << 40)
def test_needs_a_terabyte(tifed_device):
    pass

@pytest.mark.tifed_requires(arena_bytes=1024, max_payload=16)
def test_needs_little(tifed_device):
    pass
"""


def test_markers_restrict_boards_and_skip_with_the_reason(pytester, host_image):
    pytester.makepyfile(MARKER_TESTS)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=2, skipped=3)
    result.stdout.fnmatch_lines_random([
        "*host: the test is only for qemu, renode (tifed_boards)",
        "*host has no instruction or cycle counter (it reports counter: none) (tifed_requires)",
        "*host has arena_bytes *, the test needs at least 1099511627776 (tifed_requires)",
    ])


def test_client_is_there_for_tests_that_send_their_own_frames(pytester, host_image):
    pytester.makepyfile("""
        from tifed.protocol.payloads import Command, Status

        def test_raw_identify(tifed_device):
            status, body = tifed_device.client.transact(Command.IDENTIFY, b"")
            assert status == Status.OK and b"host" in body
    """)
    pytester.runpytest().assert_outcomes(passed=1)


# --- Ctrl-C and SIGTERM -----------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_session_stops_the_device(pytester, host_image, signum):
    pytester.makeconftest("""
        import os

        PIDS = []

        def pytest_unconfigure(config):
            for pid in PIDS:
                try:
                    os.kill(pid, 0)
                    print("AFTER-SESSION", pid, "alive", flush=True)
                except ProcessLookupError:
                    print("AFTER-SESSION", pid, "gone", flush=True)
    """)
    pytester.makepyfile("""
        import signal
        import conftest

        def test_waits_for_a_signal(tifed_device):
            conftest.PIDS.append(tifed_device.running.pid)
            print("DEVICE-PID", tifed_device.running.pid, flush=True)
            signal.pause()
    """)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "-p", "no:timeout"],
                            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        pid = pids_in(read_until(proc, r"DEVICE-PID \d+\s", timeout=60))[0]  # the device runs, the test waits
        proc.send_signal(signum)
        out = proc.communicate(timeout=60)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert f"AFTER-SESSION {pid} gone" in out, out  # stopped by the plugin, before pytest exited


# --- the documentation's example ------------------------------------------------------


def test_the_doc_example_passes_on_host(pytester, host_image, plugin_doc_example):
    pytester.makepyfile(test_dfa_update=plugin_doc_example)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=30)
    result.stdout.fnmatch_lines(["*test_dfa_update_is_bit_exact[[]host-0--1[]] PASSED*"])


def test_the_doc_example_fails_with_the_first_difference_when_the_device_is_not_bit_exact(
        pytester, host_image, plugin_doc_example, monkeypatch):
    """A device off by one in one weight fails the example, and says where."""
    import tifed.step

    real = tifed.step.device_step

    def off_by_one(client, case):
        model, pred, counter = real(client, case)
        model.weights[1][2, 1] += 1
        return model, pred, counter

    monkeypatch.setattr(tifed.step, "device_step", off_by_one)
    pytester.makepyfile(test_dfa_update=plugin_doc_example)
    result = pytester.runpytest("-k", "host-3-0")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: assert 'w1[[]2, 1[]]: * vs * (1 of 160 values differ)' is None*"])
