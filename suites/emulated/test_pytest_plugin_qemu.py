"""The `tifed` pytest plugin on a QEMU board, as a firmware team runs it:
docs/PYTEST_PLUGIN.md's example on host and qemu-mps2-an386 in one pytest
session (the image built if stale, QEMU started once, stopped at the end),
and the counter marker, which only a board with a counter passes."""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.emulated

BOARD = "qemu-mps2-an386"


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_doc_example_passes_on_host_and_qemu(pytester, host_image, plugin_doc_example):
    pytester.makepyfile(test_dfa_update=plugin_doc_example)
    result = pytester.runpytest("-v", "--tifed-board", "host", "--tifed-board", BOARD)
    result.assert_outcomes(passed=60)
    result.stdout.fnmatch_lines([f"*test_dfa_update_is_bit_exact[[]host-0--1[]] PASSED*",
                                 f"*test_dfa_update_is_bit_exact[[]{BOARD}-9-1[]] PASSED*"])


def test_qemu_device_counts_instructions_runs_once_and_is_stopped(pytester):
    pytester.makepyfile(f"""
        import pytest
        from tifed.step_cases import make_case

        @pytest.mark.tifed_requires("instructions")
        @pytest.mark.parametrize("epochs", [1, 2])
        def test_counter_grows_with_epochs(tifed_device, epochs):
            print("DEVICE-PID", tifed_device.running.pid)
            assert tifed_device.identify()["board"] == "{BOARD}"
            case = make_case("16-8-4", 20, batch=5, epochs=epochs, lr_inv=256, layer=-1, seed=1)
            tifed_device.step(case)
            with open("counters.txt", "a") as out:
                out.write(f"{{epochs}} {{tifed_device.last_counter}}\\n")
    """)
    result = pytester.runpytest("-s", "--tifed-board", BOARD)
    result.assert_outcomes(passed=2)
    pids = {int(line.split("DEVICE-PID ")[1].split()[0]) for line in result.stdout.lines if "DEVICE-PID " in line}
    assert len(pids) == 1 and gone(pids.pop())  # one QEMU for the session, reaped at its end
    counters = dict(line.split() for line in (pytester.path / "counters.txt").read_text().splitlines())
    assert 0 < int(counters["1"]) < int(counters["2"])
