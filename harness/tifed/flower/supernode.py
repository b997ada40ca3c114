"""flower-supernode as `tifed node` starts it: Flower's own, with the waits
of its message loop shortened (waits.py; docs/FLOWER.md, "Speed").

    python -m tifed.flower.supernode ARGS     # flower-supernode ARGS

It runs `flower_supernode()`, the function behind Flower's
`flower-supernode` command (same arguments, same code), in a process where
waits.pace_supernode_loop() has paced the loop. It also prints
MESSAGE_STORED each time the loop has stored a message and its task: the
event on which `tifed node` claims the task (runtime.TaskRunner.notify), so
that it neither polls for tasks nor claims one whose content is not in yet.
"""
from __future__ import annotations

import sys

MESSAGE_STORED = "tifed-supernode: message stored"


def command() -> list[str]:
    """The argv prefix that starts flower-supernode through this launcher."""
    return [sys.executable, "-m", "tifed.flower.supernode"]


def say_stored() -> None:
    print(MESSAGE_STORED, flush=True)


def main() -> None:
    from tifed.errors import ConfigError
    from tifed.flower import waits

    try:
        waits.pace_supernode_loop(on_message=say_stored)
    except ConfigError as exc:
        sys.exit(f"tifed: error: {exc}")
    from flwr.supernode.cli import flower_supernode

    sys.argv[0] = "flower-supernode"
    flower_supernode()


if __name__ == "__main__":
    main()
