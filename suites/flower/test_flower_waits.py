"""The waits tifed shortens inside Flower (waits.py, supernode.py; docs/
FLOWER.md, "Speed"): held against the installed Flower 1.42, refused with
one line for any other, and what they rebind, in this process only for
the length of a test. `tifed node` claiming on the launcher's line (not
by polling) is tested here on a fake Runtime API; the real processes run
in test_flower_cluster.py."""
from __future__ import annotations

import functools
import importlib
import subprocess
import sys
import threading
import types

import pytest

pytest.importorskip("flwr", reason="Flower is not installed (pip install 'tifed-hil[flower]')")

from flwr.proto.runtime_pb2 import AcquireTaskResponse  # noqa: E402
from flwr.supercore.inflatable import inflatable_utils  # noqa: E402

from tifed.errors import ConfigError  # noqa: E402
from tifed.flower import runtime, supernode, waits  # noqa: E402

LOOP = importlib.import_module(waits.LOOP_MODULE)
GRID = importlib.import_module(waits.GRID_MODULE)


@pytest.fixture
def restored(monkeypatch):
    """Whatever pace_supernode_loop / quicken_grid rebind is put back after the test."""
    for module, names in ((LOOP, ("time", "_push_messages", "pull_objects")), (GRID, ("pull_objects",))):
        for name in names:
            monkeypatch.setattr(module, name, getattr(module, name))
    monkeypatch.setattr(waits, "_grid_quickened", False)
    return monkeypatch


def test_the_installed_flower_is_the_one_paced():
    assert waits.check_loop() is LOOP


def test_another_loop_or_series_is_one_clear_line(monkeypatch):
    source = waits.inspect.getsource(LOOP).replace("time.sleep(3)", "time.sleep(2)")
    monkeypatch.setattr(waits.inspect, "getsource", lambda module: source)
    with pytest.raises(ConfigError, match=r"Flower 1\.42\.x's flwr\.supernode\.start_client_internal.*"
                                          r"pip install 'tifed-hil\[flower\]'"):
        waits.check_loop()
    monkeypatch.undo()
    monkeypatch.setattr(runtime.importlib.metadata, "version", lambda name: "1.43.0")
    with pytest.raises(ConfigError, match="installed is flwr 1.43.0"):
        waits.check_loop()


def test_loop_clock_paces_flower_s_two_waits_and_leaves_the_rest(monkeypatch):
    slept = []
    monkeypatch.setattr(waits, "time", types.SimpleNamespace(sleep=slept.append))
    clock = waits.LoopClock()
    for seconds in (3, 3, 3, 0.5, 0.5, 0.1):
        clock.sleep(seconds)
    f, r = waits.IDLE_FIRST, waits.REPLY_FIRST
    g = clock.idle.factor
    assert slept == pytest.approx([f, g * f, g * g * f, r, g * r, 0.1])


def test_pacing_the_loop_rebinds_three_names_and_keeps_flower_s_push(restored):
    pushed, heard = [], []
    restored.setattr(LOOP, "_push_messages", lambda **kw: pushed.append(kw))
    clock = waits.pace_supernode_loop(on_message=lambda: heard.append(len(pushed)))
    assert LOOP.time is clock
    assert isinstance(LOOP.pull_objects, functools.partial)
    assert LOOP.pull_objects.func is inflatable_utils.pull_objects
    assert LOOP.pull_objects.keywords == {"initial_backoff": waits.OBJECT_FIRST}
    idle = [clock.idle.next() for _ in range(4)]
    assert idle[-1] > waits.IDLE_FIRST
    LOOP._push_messages(state="s")  # what the loop does once per stored message
    assert pushed == [{"state": "s"}] and heard == [0]  # told before the reply is awaited
    assert clock.idle.next() == waits.IDLE_FIRST  # the next idle spell starts short


def test_the_server_app_s_grid_pulls_objects_quickly(restored):
    waits.quicken_grid()
    waits.quicken_grid()  # once per process
    assert GRID.pull_objects.func is inflatable_utils.pull_objects
    assert GRID.pull_objects.keywords == {"initial_backoff": waits.OBJECT_FIRST}


def _launcher(*args: str, code: str = "") -> subprocess.CompletedProcess:
    prog = code + "from tifed.flower import supernode; supernode.main()"
    return subprocess.run([sys.executable, "-c", prog, *args], capture_output=True, text=True, timeout=120)


def test_the_launcher_is_flower_s_flower_supernode():
    done = _launcher("--version")
    assert done.returncode == 0 and "Flower version: 1.42" in done.stdout, (done.stdout, done.stderr)
    assert supernode.command()[:3] == [sys.executable, "-m", "tifed.flower.supernode"]


def test_the_launcher_refuses_another_flower_in_one_line():
    done = _launcher("--version", code="import tifed.flower.runtime as r; r.FLOWER_SERIES = '9.9'; ")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("tifed: error:") and len(done.stderr.splitlines()) == 1, done.stderr


def test_tifed_node_claims_a_task_when_the_supernode_says_so(monkeypatch):
    """Without notify() the second claim would wait CLAIM_FALLBACK (an hour here)."""
    monkeypatch.setattr(runtime, "CLAIM_FALLBACK", 3600.0)
    first, second = threading.Event(), threading.Event()

    class Claims:
        calls = 0

        def AcquireTask(self, request):
            Claims.calls += 1
            (first if Claims.calls == 1 else second).set()
            if Claims.calls > 1:
                runner.stop()
            return AcquireTaskResponse()  # no task

        def close(self):
            pass

    runner = runtime.TaskRunner("127.0.0.1:1", app=None, supernode_alive=lambda: True)
    monkeypatch.setattr(runner, "_client", lambda *interceptors: Claims())
    worker = threading.Thread(target=runner.serve, daemon=True)
    worker.start()
    assert first.wait(60)
    runner.notify()  # what the launcher's MESSAGE_STORED line does in `tifed node`
    assert second.wait(60), "the runner did not claim again on notify()"
    worker.join(60)
    assert not worker.is_alive() and Claims.calls == 2


def test_a_server_app_on_another_flower_stops_with_one_line(tmp_path, monkeypatch, capsys):
    from flwr.app import Context, RecordDict

    from tifed.config import RunConfig
    from tifed.flower import server_app
    from tifed.flower.options import FederationOptions, to_run_config

    def refuse():
        raise ConfigError("tifed shortens waits in Flower 1.42.x's flwr.superlink.grid.http_grid, ...")

    monkeypatch.setattr(waits, "quicken_grid", refuse)
    config = RunConfig.of(boards=("sim",), devices=2, mode="full", dataset="digits", model="64-32-10",
                          out=str(tmp_path / "out"), rounds=1)
    context = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(),
                      run_config=to_run_config(config, FederationOptions()))
    server_app.main(grid=None, context=context)  # never reaches the grid
    assert capsys.readouterr().out == ("tifed: error: tifed shortens waits in Flower 1.42.x's "
                                       "flwr.superlink.grid.http_grid, ...\n")
    assert not (tmp_path / "out").exists()
