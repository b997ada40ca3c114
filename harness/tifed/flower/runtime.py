"""Runs the ClientApp's tasks inside `tifed node`, where the boards live.

`tifed node` starts its SuperNode with `--isolation process`: the SuperNode
then runs no ClientApp itself but queues a task per message on its local
Runtime API and waits for an outside process to claim it. Flower's own
claimant (flower-superexec) spawns one `flwr-clientapp` process per task;
this TaskRunner claims the tasks instead and calls the ClientApp in this
process, so the devices stay up from round to round and no Python start-up
is paid per message. Per task it does what flwr-clientapp does (pull the
message and context, run the app, push the reply and the task's status,
heartbeat while it works), with Flower's own functions.

Everything version-specific about Flower is in this file: the Runtime API
is Flower's process-isolation interface, not its app API. FLOWER_SERIES is
the release series this was written and tested against; another one gets a
clear error at `tifed node` start (see docs/FLOWER.md).
"""
from __future__ import annotations

import importlib.metadata
import logging
import threading
import traceback
from typing import Callable

from tifed.errors import ConfigError, TifedError, one_line

FLOWER_SERIES = "1.42"
APP_FAB_ID = "tifed/tifed-flower"  # [tool.flwr.app] publisher / [project] name in app/pyproject.toml
CLAIM_FALLBACK = 3.0  # seconds between task claims without a notify() (a safety net: notify is the event)
RETRY_POLL = 0.25  # seconds between attempts while the Runtime API is not up

try:
    import httpx
    from flwr.app import Error, Message
    from flwr.clientapp import ClientApp
    from flwr.common.constant import ErrorCode, SubStatus
    from flwr.proto.runtime_pb2 import AcquireTaskRequest, SendTaskHeartbeatRequest
    from flwr.supercore.constant import TaskType
    from flwr.supercore.heartbeat import HeartbeatSender
    from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
    from flwr.supercore.runtime import RuntimeHttpClient
    from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output
except ImportError as exc:  # pragma: no cover - depends on the installed Flower
    _IMPORT_ERROR: str | None = f"{exc}"
else:
    _IMPORT_ERROR = None

log = logging.getLogger("tifed.flower")


def check_flower() -> None:
    """A clear error when the installed Flower lacks what this file uses."""
    try:
        version = importlib.metadata.version("flwr")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if _IMPORT_ERROR is not None:
        raise ConfigError(f"tifed node needs Flower {FLOWER_SERIES}.x (pip install 'tifed-hil[flower]'); "
                          f"with the installed flwr {version or '(none)'}: {_IMPORT_ERROR}")
    if not str(version).startswith(FLOWER_SERIES + "."):
        raise ConfigError(f"tifed node speaks Flower {FLOWER_SERIES}.x's Runtime API; installed is flwr {version} "
                          f"(pip install 'tifed-hil[flower]' installs the tested version)")


class SuperNodeGone(TifedError):
    """The SuperNode whose tasks we run has exited."""


class TaskRunner:
    """Claims ClientApp tasks from a SuperNode's Runtime API at `address`
    (host:port, plain HTTP on loopback) and runs them with `app`.

    It claims when notify() says the SuperNode has stored a message (its
    launcher prints a line then: supernode.py), so a task is neither waited
    for nor claimed before the message's content is in (a claim that early
    would wait in Flower's object pull, 1 s at least)."""

    def __init__(self, address: str, app: "ClientApp", supernode_alive: Callable[[], bool]):
        check_flower()
        self.address = address
        self.app = app
        self.supernode_alive = supernode_alive
        self.tasks_done = 0
        self._stored = threading.Event()
        self._stopping = False

    def notify(self) -> None:
        """The SuperNode has stored a message: a task is there to claim."""
        self._stored.set()

    def stop(self) -> None:
        """serve() returns after the task it may be running."""
        self._stopping = True
        self._stored.set()

    def _client(self, *interceptors) -> "RuntimeHttpClient":
        # No retry invoker: Flower's would send this process SIGINT on an
        # expired token; a failed call is handled here instead.
        return RuntimeHttpClient.from_server_address(server_address=self.address, insecure=True,
                                                     root_certificates=None, interceptors=list(interceptors))

    def serve(self) -> None:
        """Claim and run tasks until stop(); SuperNodeGone when the SuperNode
        exits under us."""
        claims = self._client(RuntimeVersionHttpInterceptor(component_name="SuperExec"))
        request = AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP])
        try:
            while True:
                self._stored.clear()  # a notify() from here on means a task this claim may miss
                if self._stopping:
                    return
                try:
                    answer = claims.AcquireTask(request)
                except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                    if not self.supernode_alive():
                        raise SuperNodeGone("the SuperNode exited") from None
                    log.debug("Runtime API not answering yet: %s", exc)
                    self._stored.wait(RETRY_POLL)
                    continue
                if answer.HasField("task") and answer.token:
                    self.run_task(answer.token)
                else:
                    self._stored.wait(CLAIM_FALLBACK)
        finally:
            claims.close()

    def run_task(self, token: str) -> None:
        """One message: pull, run the app, push the reply and the status."""
        client = self._client(RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"),
                              RuntimeTokenHttpInterceptor(token))
        heartbeat = HeartbeatSender(lambda: _beat(client))
        heartbeat.start()
        context, status, details = None, SubStatus.FAILED, "tifed node stopped"
        try:
            message, context, run, _fab = pull_task_input(client)
            if run.fab_id != APP_FAB_ID:
                reason = f"this node runs only the TIFeD app ({APP_FAB_ID}), not {run.fab_id}"
                reply, details = Message(Error(code=ErrorCode.LOAD_CLIENT_APP_EXCEPTION, reason=reason),
                                         reply_to=message), reason
            else:
                try:
                    reply = self.app(message=message, context=context)
                    status, details = SubStatus.COMPLETED, ""
                except Exception as exc:  # noqa: BLE001 - a bug in a handler: the server gets its one line
                    details = one_line(exc)
                    traceback.print_exc()
                    reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=details),
                                    reply_to=message)
            push_message(client, reply, context)
            self.tasks_done += 1
        finally:
            heartbeat.stop()
            push_task_output(client, context, status, details)
            client.close()


def _beat(client: "RuntimeHttpClient") -> bool:
    """A task heartbeat; False (retry later) on any failure, never a signal."""
    try:
        return bool(client.SendTaskHeartbeat(SendTaskHeartbeatRequest()).success)
    except httpx.HTTPError:
        return False

