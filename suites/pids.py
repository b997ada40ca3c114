"""Waiting for a process that is not our child (a grandchild behind a
launcher script, a Renode started by `tifed run`) to be gone."""
from __future__ import annotations

import os
import select


def pid_gone(pid: int, within: float = 10.0) -> bool:
    """True once `pid` has exited (a zombie counts: it runs no more), waiting
    up to `within` seconds for the exit event: a grandchild killed with its
    group dies a moment after the kill returns."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([pidfd], [], [], within)[0])
    finally:
        os.close(pidfd)
