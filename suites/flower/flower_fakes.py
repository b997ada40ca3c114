"""An in-process stand-in for a SuperLink and its SuperNodes: the ServerApp's
Grid on one side, the real ClientApp over a real BoardHost per node on the
other. Every message and reply goes through Flower's own serialisation
(deflate to bytes, inflate back), as on the wire, so what the tests see is
what crosses a network. Nodes can vanish (Flower's "node unavailable" error
reply) or fall silent (no reply at all).
"""
from __future__ import annotations

import dataclasses

from flwr.app import Context, Error, Message, RecordDict
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents
from flwr.supercore.task_identity import TaskIdentity

from tifed.flower import client_app
from tifed.flower.board_host import BoardHost

RUN_ID = 7
# What Flower's ServerApp process knows about itself; Message() reads it.
TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = RUN_ID, 0, 1


def over_the_wire(message: Message) -> Message:
    """`message` serialised to bytes and rebuilt, as Flower carries it."""
    message.metadata.__dict__["_message_id"] = message.object_id
    contents = {oid: obj.deflate() for oid, obj in get_all_nested_objects(message).items()}
    copy = inflate_object_from_contents(message.object_id, contents)
    copy.metadata.__dict__["_message_id"] = message.object_id
    return copy


@dataclasses.dataclass
class _Run:
    run_id: int = RUN_ID


class FakeGrid(Grid):
    def __init__(self, hosts: dict[int, BoardHost]):
        self.hosts = dict(hosts)  # node id -> its boards
        self.vanished: set[int] = set()  # answer with Flower's "node unavailable"
        self.silent: set[int] = set()  # never answer
        self.replies: dict[str, Message] = {}
        self.held: list[tuple[int, Message]] = []  # (pushes left, message): answered after that many pushes
        self.sent: list[Message] = []
        self._run = _Run()

    # Grid API -----------------------------------------------------------------
    def set_run(self, run) -> None:
        self._run = run

    @property
    def run(self):
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
        return Message(content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id)

    def get_node_ids(self):
        return sorted(self.hosts)

    def push_messages(self, messages):
        ids = []
        for message in messages:
            wire = over_the_wire(message)
            self.sent.append(wire)
            ids.append(wire.metadata.message_id)
            self._release_held()
            self._deliver(wire)
        return ids

    def pull_messages(self, message_ids):
        return [self.replies.pop(mid) for mid in list(message_ids) if mid in self.replies]

    def send_and_receive(self, messages, *, timeout=None):
        return self.pull_messages(self.push_messages(messages))

    # the nodes ----------------------------------------------------------------
    def _release_held(self) -> None:
        held, self.held = self.held, []
        for left, wire in held:
            if left <= 1:
                self._deliver(wire)
            else:
                self.held.append((left - 1, wire))

    def _deliver(self, wire: Message) -> None:
        node = wire.metadata.dst_node_id
        if node in self.silent:
            return
        if node in self.vanished:
            reply = Message(Error(code=ErrorCode.NODE_UNAVAILABLE, reason="Error: Node Unavailable"), reply_to=wire)
            reply.metadata.__dict__["_src_node_id"] = 0  # the SuperLink writes it, not the node
        else:
            client_app.attach(self.hosts[node])
            try:
                context = Context(run_id=RUN_ID, node_id=node, node_config={}, state=RecordDict(), run_config={})
                reply = client_app.app(wire, context)
            finally:
                client_app.attach(None)
        self.replies[wire.metadata.message_id] = over_the_wire(reply)

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()
