"""RequestExchange: the request/response half of the server's side of
PROTOCOL.md over one byte link (DeviceClient, client.py, adds the commands).

The link is anything with pyserial's `read(n)`, `write(b)` and `timeout`
(normally what `tifed.links.transport.open_link` returns). One request is
outstanding at a time. A NAK or a garbled response makes the client send the
same request again with the same `seq`: the device answers a repeated
`seq`/`code` from its stored response without executing it twice, so a retry
is always safe. Responses with another `seq` (late duplicates of an earlier
answer) are dropped.

A request with no answer is sent again after a retransmission timeout (RTO)
learnt from the answers so far, per command (RFC 6298's estimator, Karn's
rule: only answers to requests sent once count), doubling on every miss up
to `timeout`, so a frame lost on a healthy link costs a fraction of a second,
not the whole timeout. A resend the device answers twice was spurious (the
first copy was not lost, only slow: RFC 3708's D-SACK idea): the late
duplicate answer proves it, and the first answer's time then counts as an
RTT sample, so a link slower than it first looked (a busy emulator on a
loaded machine) stops costing resends.

The frame size adapts to the line (frame_size.py: the FrameSizer learns the
byte error rate and the time of an exchange from every try): a transfer
whose frame the sizer shrank below its size is split again (FrameShrunk,
caught by the client's transfer loops) rather than sent again as it was. The retry
budget is measured in progress and time, not in tries: a request gives up
when `timeout * (retries + 1)` seconds pass without the link making progress
(an answered request; a frame split again carries on its budget).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

from tifed.errors import DeviceError, DeviceGone, ProtocolError
from tifed.protocol import payloads as cmd
from tifed.protocol.payloads import Command, Status
from tifed.protocol.frame_size import FrameSizer
from tifed.protocol.frames import NAK_CODE, RESPONSE_BIT, VERSION, Frame, FrameDecoder, encode_frame
from tifed.links.reading import read_available
from tifed.links.transport import LINK_ERRORS

DEFAULT_TIMEOUT = 10.0  # seconds for one answer to an ordinary command
DEFAULT_TRAIN_TIMEOUT = 1800.0  # TRAIN on a slow emulator with a big model takes long
DEFAULT_RETRIES = 5
POLL_INTERVAL = 0.1  # seconds one read blocks, so a dead device is noticed
GONE_WAIT = 2.0  # seconds for a device whose link broke to show its exit status
MIN_RTO = 0.2  # seconds: the earliest a request is sent again for want of an answer
# Commands whose answer takes as long as the device computes: with no
# measured answer time yet, their first RTO is the ordinary `timeout`.
LONG_COMMANDS = frozenset({Command.TRAIN, Command.PREDICT})
# Extra delimiters around every request (empty frames on a clean line): one
# before it ends whatever noise the device holds, one more after it ends the
# request even when the line corrupts its own delimiter, so the device NAKs
# the damage at once instead of holding a frame without an end until the
# retransmission timeout. The firmware sends a second delimiter after each
# answer for the same reason.
EXTRA_DELIMITER = b"\x00"


class FrameShrunk(ProtocolError):
    """The frame size shrank below a transfer's frame while it was being
    retried: split the rest again (client.py's transfer loops catch it)."""


@dataclasses.dataclass
class LinkCounters:
    """Running totals; the server takes differences per round. Wire bytes
    are the bytes of frames (each with its delimiter) and of garbage, both
    ways; the idle delimiters around frames (EXTRA_DELIMITER, and the one a
    device sends after each answer) are line fill, not counted: when that
    fill is read depends on timing, so counting it would make a round's
    figure vary by a byte."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    retransmissions: int = 0
    naks: int = 0
    bad_frames: int = 0  # received frames that failed COBS/CRC
    stale_frames: int = 0  # well-formed responses to an earlier request
    spurious_retransmissions: int = 0  # resends the device answered twice (the first copy was only slow)
    timeouts: int = 0

    @property
    def wire_bytes(self) -> int:
        return self.bytes_sent + self.bytes_received

    def snapshot(self) -> "LinkCounters":
        return dataclasses.replace(self)


class RequestExchange:
    """One request outstanding at a time over a byte link: framing, seq
    numbers, retransmission, duplicate and stale answers, a dead device told
    from a slow one. DeviceClient adds the commands; it must provide
    identify(), which transact() sends first in every session."""

    def identify(self) -> "cmd.Identify":  # pragma: no cover - DeviceClient's
        raise NotImplementedError

    def __init__(
        self,
        port: Any,
        *,
        name: str = "device",
        device: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        train_timeout: float = DEFAULT_TRAIN_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        first_seq: int = 1,
        chunk: int | None = None,
    ):
        """`device` (optional, a boards.base.RunningDevice) lets the client
        tell a dead process from a slow one and say why it died. `chunk`
        (optional) caps the payload of the frames the client splits tensors,
        samples and predictions into, below the device's max_payload (--chunk)."""
        self.port = port
        self.chunk = chunk
        self.name = name
        self.device = device
        self.timeout = timeout
        self.train_timeout = train_timeout
        self.retries = retries
        self.counters = LinkCounters()
        self.info: cmd.Identify | None = None
        self.sizer: FrameSizer | None = None  # once IDENTIFY told the device's max_payload
        self._stalled_since: float | None = None  # a split-again transfer's first failure: its budget goes on
        self._seq = (first_seq - 1) % 255  # _next_seq() yields first_seq
        self._decoder = FrameDecoder()
        self._frames: list[Frame] = []
        self._rtt: dict[int, tuple[float, float]] = {}  # command -> (smoothed RTT, RTT variation)
        # The last request answered after a resend: (seq, command, seconds to its
        # first answer), until a duplicate answer shows the resend was spurious.
        self._resent_answer: tuple[int, Command, float] | None = None
        try:
            port.timeout = POLL_INTERVAL
        except (AttributeError, ValueError, *LINK_ERRORS):
            pass  # not settable: reads then block as long as the port says

    # --- request / response ---------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255, never 0 (0 is the NAK's seq)
        return self._seq

    def request(self, command: Command, payload: bytes = b"", *, timeout: float | None = None,
                size: int | None = None, splittable: bool = False) -> bytes:
        """Send one request; return the response payload after its OK status."""
        status, body = self.transact(command, payload, timeout=timeout, size=size, splittable=splittable)
        if status != Status.OK:
            raise DeviceError(
                f"{self.name}: {command.name} failed with {cmd.status_name(status)}",
                status=cmd.status_name(status),
                command=command.name,
            )
        return body

    def transact(self, command: Command, payload: bytes = b"", *, timeout: float | None = None,
                 size: int | None = None, splittable: bool = False) -> tuple[int, bytes]:
        """Send one request; return (status, rest of the response payload).
        `size` is the frame's payload for the FrameSizer (the larger of the
        request's and the answer's; default the request's); `splittable`: the
        caller can split it again (FrameShrunk) if the size shrinks below it."""
        if self.info is None and command != Command.IDENTIFY:
            # The first request of a session is always IDENTIFY. A device that
            # outlived an earlier session still stores that session's last
            # (seq, code) and would answer a colliding request from storage
            # without executing it; for IDENTIFY that is harmless, and after
            # it the device's stored request is ours.
            self.identify()
        limit = self.info.max_payload if self.info else None
        if limit is not None and len(payload) > limit:
            raise ProtocolError(
                f"{self.name}: {command.name} payload of {len(payload)} bytes exceeds max_payload {limit}"
            )
        self._settle_queued()
        size = len(payload) if size is None else size
        cap = self.timeout if timeout is None else timeout
        seq = self._next_seq()
        wire = EXTRA_DELIMITER + encode_frame(seq, command, payload) + EXTRA_DELIMITER
        self.counters.requests += 1
        started = time.monotonic()
        since = started if self._stalled_since is None else self._stalled_since
        self._stalled_since = None
        give_up = since + cap * (self.retries + 1)
        rto = self._first_rto(command, cap)
        self._send(wire)
        sent_at, resent, damaged, tries, damage = started, False, 0, 1, ""
        while True:
            outcome = self._await(seq, command, min(sent_at + rto, give_up))
            if isinstance(outcome, Frame):
                elapsed = time.monotonic() - started
                if not resent:  # Karn: an answer to a resent request could be to either copy
                    self._learn_rtt(command, elapsed)
                else:  # ...unless a second answer turns up later (_stale)
                    self._resent_answer = (seq, command, elapsed)
                if self.sizer is not None:  # the time of a computing command says nothing of the link
                    timed = not resent and command not in LONG_COMMANDS
                    self.sizer.passed(size, first_try=not resent, seconds=elapsed if timed else None)
                if not outcome.payload:
                    raise ProtocolError(f"{self.name}: {command.name} response has no status byte")
                return outcome.payload[0], outcome.payload[1:]
            if outcome == "timeout":
                rto = min(2 * rto, cap)
            else:
                damaged, damage = damaged + 1, outcome
                if self.sizer is not None and self.sizer.damaged(size) and splittable:
                    self._stalled_since = since
                    raise FrameShrunk(f"{self.name}: {command.name} frame of {size} bytes: split again "
                                      f"to {self.sizer.limit}")
            if time.monotonic() >= give_up:
                if not damaged:
                    raise ProtocolError(
                        f"{self.name}: no answer to {command.name} within {give_up - started:.3g} s "
                        f"({self.counters.retransmissions} retransmissions on this link so far)"
                    )
                raise ProtocolError(f"{self.name}: no valid answer to {command.name} within "
                                    f"{give_up - started:.3g} s ({tries} tries; last: {damage})")
            self.counters.retransmissions += 1
            resent = True
            tries += 1
            self._send(wire)
            sent_at = time.monotonic()

    def _first_rto(self, command: Command, cap: float) -> float:
        """How long to wait before sending a request again (RFC 6298:
        SRTT + 4 RTTVAR, at least MIN_RTO, at most `cap`)."""
        if command in self._rtt:
            srtt, rttvar = self._rtt[command]
        elif command not in LONG_COMMANDS and self._rtt:
            srtt, rttvar = max(self._rtt.values())  # the link's, from the slowest command seen
        else:
            return min(cap, self.timeout)
        return min(cap, max(MIN_RTO, srtt + 4 * rttvar))

    def _learn_rtt(self, command: Command, rtt: float) -> None:
        if command not in self._rtt:
            self._rtt[command] = (rtt, rtt / 2)
            return
        srtt, rttvar = self._rtt[command]
        rttvar = 0.75 * rttvar + 0.25 * abs(srtt - rtt)
        self._rtt[command] = (0.875 * srtt + 0.125 * rtt, rttvar)

    def _settle_queued(self) -> None:
        """Before a new request: every answer still queued belongs to an
        earlier one; what it proves is learnt now, before the new request's
        RTO is chosen. (NAKs stay: the device sends them with seq 0.)"""
        naks = [frame for frame in self._frames if frame.code == NAK_CODE]
        for frame in self._frames:
            if frame.code != NAK_CODE:
                self._stale(frame)
        self._frames = naks

    def _stale(self, frame: Frame) -> None:
        """Count an answer to an earlier request. If it is a second answer
        to the last request that was resent, the device got both copies, so
        the first was only slow and its answer (the one taken) timed a whole
        round trip of the first copy."""
        self.counters.stale_frames += 1
        if self._resent_answer is None:
            return
        seq, command, elapsed = self._resent_answer
        if frame.seq == seq and frame.code == command | RESPONSE_BIT:
            self._resent_answer = None
            self.counters.spurious_retransmissions += 1
            self._learn_rtt(command, elapsed)

    def attach(self, port: Any) -> None:
        """Talk over `port` from now on (the link was opened again): nothing
        of the old link is kept but the counters and the sequence number,
        and the next request identifies the device first."""
        self.port = port
        self.info = None
        self._frames.clear()
        self._decoder = FrameDecoder()
        self._stalled_since = None
        try:
            port.timeout = POLL_INTERVAL
        except (AttributeError, ValueError, *LINK_ERRORS):
            pass

    def resync(self) -> None:
        """Start the next request clean after a failed one: forget partial
        input, queued frames and what the port has buffered. The sequence
        number and the counters go on."""
        self._frames.clear()
        self._decoder = FrameDecoder()
        self._stalled_since = None
        try:
            self.port.reset_input_buffer()
        except AttributeError:
            pass  # a link without an input buffer of its own
        except LINK_ERRORS as exc:
            raise self._gone(f"link failed ({exc})") from None

    def _send(self, wire: bytes) -> None:
        # No flush(): on a tty it is tcdrain(), which blocks until the device
        # reads, with no timeout, and a device busy training does not read.
        try:
            self.port.write(wire)
        except LINK_ERRORS as exc:
            raise self._gone(f"write failed ({exc})") from None
        self.counters.bytes_sent += len(wire) - 2 * len(EXTRA_DELIMITER)

    def _await(self, seq: int, command: Command, deadline: float) -> Frame | str:
        """The response to (seq, command), or a string saying why to retransmit."""
        bad_before = self._decoder.frames_bad
        while True:
            while self._frames:
                frame = self._frames.pop(0)
                if frame.code == NAK_CODE:
                    self.counters.naks += 1
                    status = cmd.status_name(frame.payload[0]) if frame.payload else "no status"
                    return f"NAK {status}"
                if frame.version == VERSION and frame.seq == seq and frame.code == command | RESPONSE_BIT:
                    return frame
                self._stale(frame)
            if self._decoder.frames_bad != bad_before:
                self.counters.bad_frames += self._decoder.frames_bad - bad_before
                return f"garbled response ({self._decoder.last_error})"
            if time.monotonic() > deadline:
                self.counters.timeouts += 1
                if self.device is not None and not self.device.alive():
                    raise self._gone("no answer")
                return "timeout"
            self._receive()

    def _receive(self) -> None:
        try:
            data = self.port.read(max(1, getattr(self.port, "in_waiting", 0)))
            if data and getattr(self.port, "in_waiting", 0):
                data += self._read_available()
        except LINK_ERRORS as exc:
            raise self._gone(f"link closed ({exc})") from None
        if not data:
            if self.device is not None and not self.device.alive():
                raise self._gone("link quiet")
            return
        idle = self._decoder.idle_delimiters
        self._frames.extend(self._decoder.feed(data))
        self.counters.bytes_received += len(data) - (self._decoder.idle_delimiters - idle)

    def _read_available(self) -> bytes:
        return read_available(self.port, POLL_INTERVAL)

    def _gone(self, what: str) -> DeviceGone:
        why = what
        if self.device is not None:
            wait_gone = getattr(self.device, "wait_gone", None)
            gone = wait_gone(GONE_WAIT) if wait_gone else not self.device.alive()
            if gone:
                why = self.device.describe_exit()
        return DeviceGone(f"{self.name}: device gone: {why}")
