"""Plain-Python-loop twins of the harness's hot paths, the baseline its
library-backed code (cobs and crcmod C extensions, NumPy) is compared with.
Written straight from the definitions, byte by byte and value by value."""
from __future__ import annotations

import struct


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xor-out."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def cobs_encode(data: bytes) -> bytes:
    out = bytearray([0])
    code_at, code = 0, 1
    for byte in data:
        if byte == 0:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
            continue
        out.append(byte)
        code += 1
        if code == 0xFF:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
    out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise ValueError("zero byte inside a COBS block")
        out += data[i + 1 : i + code]
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(seq: int, code: int, payload: bytes, version: int = 1) -> bytes:
    body = bytes((version, seq, code)) + payload
    return cobs_encode(body + struct.pack("<H", crc16_ccitt_false(body))) + b"\x00"


def decode_stream(stream: bytes) -> list[tuple[int, int, bytes]]:
    """Every valid frame in a byte stream as (seq, code, payload)."""
    frames = []
    for chunk in stream.split(b"\x00"):
        if not chunk:
            continue
        raw = cobs_decode(chunk)
        body, crc = raw[:-2], struct.unpack("<H", raw[-2:])[0]
        if len(raw) >= 5 and crc16_ccitt_false(body) == crc:
            frames.append((body[1], body[2], bytes(body[3:])))
    return frames


def aggregate(models: list[list[list[int]]]) -> list[list[int]]:
    """Mean over devices truncated toward zero, per value; each model is a
    list of flat int lists (one per tensor)."""
    k = len(models)
    out = []
    for t in range(len(models[0])):
        tensor = []
        for i in range(len(models[0][t])):
            s = 0
            for m in models:
                s += m[t][i]
            tensor.append(-((-s) // k) if s < 0 else s // k)
        out.append(tensor)
    return out
