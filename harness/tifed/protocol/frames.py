"""Frames of PROTOCOL.md: COBS-encoded raw frames delimited by one 0x00.

Raw frame: version u8, seq u8, code u8, payload, CRC-16/CCITT-FALSE u16
(little-endian, over every byte before it). `encode_frame` builds the bytes
for the wire, `decode_frame` checks one delimited chunk, and `FrameDecoder`
turns an arbitrary byte stream (chunks split anywhere, garbage included)
into frames, resynchronising at every zero byte.
"""
from __future__ import annotations

import dataclasses
import struct

import crcmod.predefined
from cobs import cobs

from tifed.errors import ProtocolError

VERSION = 1
HEADER_BYTES = 3  # version, seq, code
CRC_BYTES = 2
NAK_CODE = 0xFF
RESPONSE_BIT = 0x80

crc16 = crcmod.predefined.mkPredefinedCrcFun("crc-ccitt-false")


class FrameError(ProtocolError):
    """One delimited chunk that is not a frame (`reason`: cobs, short, crc)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Frame:
    seq: int
    code: int
    payload: bytes = b""
    version: int = VERSION


def raw_frame(seq: int, code: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """The raw (un-stuffed) frame, CRC included."""
    body = bytes((version & 0xFF, seq & 0xFF, code & 0xFF)) + bytes(payload)
    return body + struct.pack("<H", crc16(body))


def encode_frame(seq: int, code: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """The bytes to write on the wire: COBS(raw frame) + 0x00."""
    return cobs.encode(raw_frame(seq, code, payload, version)) + b"\x00"


def decode_frame(chunk: bytes) -> Frame:
    """Decode one chunk (the bytes between two zero delimiters)."""
    try:
        raw = cobs.decode(chunk)
    except cobs.DecodeError as exc:
        raise FrameError(f"bad COBS encoding ({exc})", "cobs") from None
    if len(raw) < HEADER_BYTES + CRC_BYTES:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than a header and CRC", "short")
    body, (crc,) = raw[:-CRC_BYTES], struct.unpack("<H", raw[-CRC_BYTES:])
    if crc16(body) != crc:
        raise FrameError(f"CRC mismatch (got 0x{crc:04X}, computed 0x{crc16(body):04X})", "crc")
    return Frame(version=body[0], seq=body[1], code=body[2], payload=bytes(body[HEADER_BYTES:]))


class FrameDecoder:
    """Feed it bytes as they arrive; it returns the complete frames.

    Chunks that fail COBS or CRC are counted in `frames_bad` (with their bytes
    in `garbage_bytes`) and skipped. A run of bytes longer than `max_chunk`
    without a delimiter is dropped whole (it cannot be a frame), so a noisy
    link cannot make the buffer grow without bound."""

    def __init__(self, max_chunk: int = 1 << 17):
        self.max_chunk = max_chunk
        self._buf = bytearray()
        self._overflow = False
        self.frames_ok = 0
        self.frames_bad = 0
        self.garbage_bytes = 0
        self.idle_delimiters = 0  # delimiters that ended no frame (idle line fill between frames)
        self.last_error: FrameError | None = None

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                self._append(data[start:])
                return frames
            self._append(data[start:end])
            frame = self._finish_chunk()
            if frame is not None:
                frames.append(frame)
            start = end + 1

    @property
    def pending(self) -> int:
        """Bytes received since the last delimiter."""
        return len(self._buf)

    def _append(self, part: bytes) -> None:
        if self._overflow:
            self.garbage_bytes += len(part)
            return
        self._buf += part
        if len(self._buf) > self.max_chunk:
            self.garbage_bytes += len(self._buf)
            self._buf.clear()
            self._overflow = True

    def _finish_chunk(self) -> Frame | None:
        if self._overflow:
            self._overflow = False
            self.frames_bad += 1
            self.last_error = FrameError(f"more than {self.max_chunk} bytes without a delimiter", "long")
            return None
        if not self._buf:  # back-to-back delimiters: an empty chunk, not an error
            self.idle_delimiters += 1
            return None
        chunk = bytes(self._buf)
        self._buf.clear()
        try:
            frame = decode_frame(chunk)
        except FrameError as exc:
            self.frames_bad += 1
            self.garbage_bytes += len(chunk) + 1
            self.last_error = exc
            return None
        self.frames_ok += 1
        return frame
