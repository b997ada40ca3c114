"""Flower 1.42's fixed waits on a round's path, and how tifed shortens the
ones Flower has no setting for (docs/FLOWER.md, "Speed").

A round crosses: ServerApp -> SuperLink -> SuperNode -> `tifed node` (the
ClientApp, the boards) -> SuperNode -> SuperLink -> ServerApp. On the way,
in flwr 1.42.0:

- flwr/supernode/start_client_internal.py:263, `time.sleep(3)` after a pull
  that found no message. Between two rounds a node almost always finds
  nothing on its first pull (the server is still collecting the other
  nodes' replies), so this cost up to 3 s a round;
- same file :470 and :506, `time.sleep(0.5)` between looks for the
  ClientApp's reply, and for its content, in the SuperNode's memory;
- flwr/supercore/inflatable/inflatable_utils.py `pull_objects`, whose first
  retry waits PULL_INITIAL_BACKOFF = 1 s (supercore/constant.py:48) when an
  object is not uploaded yet. A message is visible before its content is
  (push the message, then its objects), so a receiver that looks quickly
  often arrives in between: the SuperNode pulling the server's message
  (start_client_internal.py:415) and the ServerApp pulling a reply
  (superlink/grid/http_grid.py:325) both paid that second.

All are module-level names in those two modules. pace_supernode_loop() and
quicken_grid() rebind them in the process they run in (the SuperNode's
launcher, supernode.py; the ServerApp): `time` in the loop module becomes a
LoopClock whose sleep paces the two loop waits with a Backoff, and
`pull_objects` the same function with a first retry after OBJECT_FIRST.
Nothing else of Flower changes. Each checks first that the module is the
one this was written against (the Flower series, the exact calls) and
fails with one line otherwise.

Flower has settings for the rest, set where tifed starts the process:
FLWR_SUPEREXEC_TASK_POLL_INTERVAL (serve_node.py), and the ServerApp's own
pull interval (server_app.py).
"""
from __future__ import annotations

import functools
import importlib
import inspect
import re
import time
from types import ModuleType

from tifed.errors import ConfigError
from tifed.flower.pacing import Backoff

LOOP_MODULE = "flwr.supernode.start_client_internal"
GRID_MODULE = "flwr.superlink.grid.http_grid"
OBJECTS_MODULE = "flwr.supercore.inflatable.inflatable_utils"
IDLE_SLEEP, REPLY_SLEEP = 3, 0.5  # the loop's waits, as Flower's source writes them
LOOP_CALLS = {f"time.sleep({IDLE_SLEEP})": 1, f"time.sleep({REPLY_SLEEP})": 2}
IDLE_FIRST, IDLE_MOST = 0.02, 1.0  # seconds between a SuperNode's pulls while no message comes
REPLY_FIRST, REPLY_MOST = 0.002, 0.05  # seconds between looks for the reply (in the SuperNode's memory)
OBJECT_FIRST = 0.01  # seconds before the first retry of an object not uploaded yet (Flower: 1 s, doubling)


def _mismatch(module: str, what: str) -> ConfigError:
    from tifed.flower.runtime import FLOWER_SERIES

    return ConfigError(f"tifed shortens waits in Flower {FLOWER_SERIES}.x's {module}, and the installed one "
                       f"differs ({what}): pip install 'tifed-hil[flower]' installs the tested version")


def _checked(name: str) -> ModuleType:
    """Module `name` of the installed Flower, if its series is ours and its
    `pull_objects` is Flower's own (not yet rebound)."""
    from tifed.flower.runtime import check_flower

    check_flower()
    module = importlib.import_module(name)
    objects = importlib.import_module(OBJECTS_MODULE)
    if getattr(module, "pull_objects", None) is not objects.pull_objects:
        raise _mismatch(name, "its pull_objects is not inflatable_utils.pull_objects")
    if "initial_backoff" not in inspect.signature(objects.pull_objects).parameters:
        raise _mismatch(OBJECTS_MODULE, "pull_objects has no initial_backoff")
    return module


def check_loop() -> ModuleType:
    """The SuperNode loop module, if it is the one pace_supernode_loop() paces."""
    loop = _checked(LOOP_MODULE)
    source = inspect.getsource(loop)
    calls = {call: source.count(call) for call in LOOP_CALLS}
    other = sorted(set(re.findall(r"\btime\.(?!sleep\()\w+", source)))
    if calls != LOOP_CALLS or other:
        raise _mismatch(LOOP_MODULE, f"sleeps {calls}, other uses of time {other}")
    if getattr(loop, "time", None) is not time or not callable(getattr(loop, "_push_messages", None)):
        raise _mismatch(LOOP_MODULE, "no module-level time or _push_messages")
    return loop


class LoopClock:
    """Stands for the `time` module inside Flower's SuperNode loop module,
    where its one use is time.sleep(IDLE_SLEEP) and time.sleep(REPLY_SLEEP)."""

    def __init__(self) -> None:
        self.idle = Backoff(IDLE_FIRST, IDLE_MOST)
        self.reply = Backoff(REPLY_FIRST, REPLY_MOST)

    def sleep(self, seconds: float) -> None:
        if seconds == IDLE_SLEEP:
            seconds = self.idle.next()
        elif seconds == REPLY_SLEEP:
            seconds = self.reply.next()
        time.sleep(seconds)


def quick_object_pulls(module: ModuleType) -> None:
    module.pull_objects = functools.partial(module.pull_objects, initial_backoff=OBJECT_FIRST)


def pace_supernode_loop(on_message=None) -> LoopClock:
    """In this process (a SuperNode's, before it starts): the loop's sleeps
    paced, its object pulls quick, and its _push_messages (which the loop
    calls once per message it has stored with its task, and which returns
    once the reply is sent) wrapped so that each reply wait and each idle
    spell start short, and `on_message()` is called as it starts."""
    loop = check_loop()
    clock = LoopClock()
    push_messages = loop._push_messages

    def push_then_listen(*args, **kwargs):
        if on_message is not None:
            on_message()
        clock.reply.reset()
        try:
            return push_messages(*args, **kwargs)
        finally:
            clock.idle.reset()

    quick_object_pulls(loop)
    loop.time = clock
    loop._push_messages = push_then_listen
    return clock


_grid_quickened = False


def quicken_grid() -> None:
    """In this process (the ServerApp's): replies pulled through Flower's
    HttpGrid retry an object not uploaded yet after OBJECT_FIRST. Once per
    process (a second call changes nothing)."""
    global _grid_quickened
    if not _grid_quickened:
        quick_object_pulls(_checked(GRID_MODULE))
        _grid_quickened = True
