"""Which SuperNode holds which device of the global fleet.

A node (`tifed node --device-offset O` with n boards) holds global devices
O .. O+n-1: device i gets the same shard and, in single-layer mode, the same
layer as device i of `tifed run` with the same --devices and --seed. The
server asks every connected node what it holds (a `query.join` message) and
builds the roster once the nodes cover 0 .. K-1 exactly, each device once.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from tifed.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class NodeInfo:
    """One node's answer to `query.join`."""

    node_id: int
    offset: int
    boards: tuple[str, ...]  # per device, in order
    families: tuple[str, ...]  # per device: "sim", "host", "qemu", ...
    host: str

    @property
    def devices(self) -> range:
        return range(self.offset, self.offset + len(self.boards))

    def describe(self) -> str:
        last = self.offset + len(self.boards) - 1
        span = f"device {self.offset}" if last == self.offset else f"devices {self.offset}-{last}"
        return f"node {self.node_id} on {self.host} ({span})"

    def to_json(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "host": self.host, "devices": list(self.devices), "boards": list(self.boards)}

    @classmethod
    def from_join(cls, node_id: int, values: Mapping[str, Any]) -> "NodeInfo":
        try:
            boards = tuple(str(b) for b in values["boards"])
            families = tuple(str(f) for f in values["families"])
            offset = int(values["offset"])
            host = str(values.get("host", "?"))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"node {node_id} answered join without offset/boards (not a tifed node?)") from None
        if not boards or len(families) != len(boards) or offset < 0:
            raise ConfigError(f"node {node_id} answered join with an empty or malformed device list")
        return cls(node_id, offset, boards, families, host)


@dataclasses.dataclass
class Roster:
    devices: int  # K
    nodes: dict[int, NodeInfo] = dataclasses.field(default_factory=dict)

    def add(self, info: NodeInfo) -> None:
        """Take a node in; a node that claims a device beyond K or one that
        another node holds is a configuration mistake: one clear line."""
        if info.offset + len(info.boards) > self.devices:
            raise ConfigError(f"{info.describe()} reaches past the run's {self.devices} devices "
                              f"(check --device-offset and --devices of that node)")
        for other in self.nodes.values():
            both = set(info.devices) & set(other.devices)
            if both and other.node_id != info.node_id:
                raise ConfigError(f"{info.describe()} and {other.describe()} both claim device(s) "
                                  f"{_spans(sorted(both))}: give every node its own --device-offset")
        self.nodes[info.node_id] = info

    def missing(self) -> list[int]:
        held = {d for info in self.nodes.values() for d in info.devices}
        return [d for d in range(self.devices) if d not in held]

    @property
    def complete(self) -> bool:
        return not self.missing()

    def node_of(self, device: int) -> NodeInfo:
        for info in self.nodes.values():
            if device in info.devices:
                return info
        raise KeyError(device)

    def board_of(self, device: int) -> str:
        info = self.node_of(device)
        return info.boards[device - info.offset]

    def family_of(self, device: int) -> str:
        info = self.node_of(device)
        return info.families[device - info.offset]

    def missing_text(self) -> str:
        return _spans(self.missing())


def _spans(ids: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    parts: list[str] = []
    start = prev = None
    for i in ids:
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = i
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(parts)
