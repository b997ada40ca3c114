"""The harness's exceptions.

Every error a user can cause or meet (bad option, missing toolchain, a device
that answered badly or vanished) is a TifedError whose message is one line
that makes sense on its own: the CLI prints `tifed: error: <message>` and
exits non-zero, without a traceback. Anything that is not a TifedError is a
bug in the harness and keeps its traceback.
"""
from __future__ import annotations


class TifedError(Exception):
    """Base class: a one-line message meant for the user."""


class ConfigError(TifedError):
    """Bad input from the user: options, board names, case files, data."""


class BuildError(TifedError):
    """The firmware could not be built (missing tool, compiler error)."""


class DeviceError(TifedError):
    """A device answered a request with a status other than OK.

    `status` is the PROTOCOL.md status name ("NO_ROOM", "BAD_ARGUMENT", ...),
    `command` the request's name ("CONFIGURE", ...)."""

    def __init__(self, message: str, *, status: str = "", command: str = ""):
        super().__init__(message)
        self.status = status
        self.command = command


class NoRoomError(DeviceError):
    """CONFIGURE answered NO_ROOM: the model and buffers do not fit the arena.

    `needed` and `available` are the bytes the device reported."""

    def __init__(self, message: str, *, needed: int, available: int, command: str = "CONFIGURE"):
        super().__init__(message, status="NO_ROOM", command=command)
        self.needed = needed
        self.available = available


class ProtocolError(TifedError):
    """The device's answers broke PROTOCOL.md (bad frames past the retry
    budget, wrong length, wrong sequence number, no answer in time)."""


class DeviceGone(TifedError):
    """The link closed or the device's process exited."""


class DeviceUnusable(TifedError):
    """A device kept failing (lost its model, stopped answering) after the
    server re-provisioned it; the run drops it."""


class QuorumError(TifedError):
    """Too few devices delivered an accepted update for a round to close."""


class LinkError(TifedError):
    """The link to a device (port, pty, socket URL) could not be opened."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the same orderly stop as Ctrl-C: devices stopped,
    results kept (the default action would orphan emulator processes). The
    `tifed` command and the pytest plugin install raise_terminated for it."""


def raise_terminated(signum, frame):
    """A SIGTERM handler (signal.signal) that raises Terminated."""
    raise Terminated("terminated (SIGTERM)")


def fold(text: object) -> str:
    """Text as one line: every run of whitespace (newlines too) one space."""
    return " ".join(str(text).split())


def one_line(exc: BaseException) -> str:
    """An exception as one line for a user (results.json reasons, error
    lines): the message with its whitespace folded; anything not a
    TifedError is a harness bug or an interruption, so its type is named."""
    if isinstance(exc, KeyboardInterrupt):
        return str(exc) or "interrupted"
    text = fold(exc)
    if isinstance(exc, TifedError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
