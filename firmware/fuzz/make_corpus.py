"""Write the fuzz targets' seed corpus (corpus/stream/, corpus/requests/,
corpus/codes/).

Seeds are short, valid protocol sessions built with the harness's own
encoders (tifed.protocol), so the fuzzer starts from inputs that reach every
command, plus the framing faults a real link produces. The files are
checked in; rerun this after a protocol change:

    /work/venv/bin/python firmware/fuzz/make_corpus.py
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tifed.protocol import delta_code, sample_code
from tifed.protocol import payloads as cmd
from tifed.protocol.payloads import Command, TensorKind, tensor_id
from tifed.protocol.frames import encode_frame, raw_frame

HERE = Path(__file__).resolve().parent
DIMS = (4, 3, 2)
N = 8


def session(dims=DIMS, n=N, layer=-1, weight_bits=32) -> list[tuple[int, bytes]]:
    """(code, payload) of one small training session."""
    rng = np.random.default_rng(sum(dims) + n)
    x = rng.integers(-128, 128, size=(n, dims[0])).astype(np.int8)
    labels = rng.integers(0, dims[-1], size=n)
    steps = [
        (Command.IDENTIFY, b""),
        (Command.CONFIGURE, cmd.encode_configure(dims, n, 4, weight_bits)),
        (Command.SET_FEEDBACK_SEED, cmd.encode_set_feedback_seed(7)),
    ]
    for l in range(len(dims) - 1):
        w = rng.integers(-3000, 3000, size=dims[l] * dims[l + 1])
        steps.append((Command.WRITE_TENSOR, cmd.encode_write_tensor(tensor_id(TensorKind.WEIGHTS, l), 0, w)))
        steps.append((Command.WRITE_TENSOR, cmd.encode_write_tensor(tensor_id(TensorKind.BIAS, l), 0,
                                                                    rng.integers(-50, 50, size=dims[l + 1]))))
    steps += [
        (Command.WRITE_SAMPLES, cmd.encode_write_samples(0, x, labels)),
        (Command.TRAIN, cmd.encode_train(n, 4, 2, 16, layer)),
        (Command.READ_TENSOR, cmd.encode_read_tensor(tensor_id(TensorKind.WEIGHTS, 0), 0, dims[0] * dims[1])),
        (Command.READ_TENSOR, cmd.encode_read_tensor(tensor_id(TensorKind.FEEDBACK, 0), 0, dims[-1] * dims[1])),
        (Command.PREDICT, cmd.encode_predict(0, n)),
        (Command.STATS, b""),
        (Command.SESSION, cmd.encode_session(0xC0FFEE01)),
        (Command.SESSION, b""),
        (Command.RESET, b""),
        (Command.READ_TENSOR, cmd.encode_read_tensor(0, 0, 1)),  # BAD_STATE after the reset
    ]
    return steps


def protocol2(dims=DIMS, n=N) -> list[tuple[int, bytes]]:
    """(code, payload) of protocol 2's coded transfers on a configured model."""
    rng = np.random.default_rng(sum(dims) * 7 + n)
    steps = []
    for l in range(len(dims) - 1):
        for kind, shape in ((TensorKind.WEIGHTS, (dims[l], dims[l + 1])), (TensorKind.BIAS, (dims[l + 1],))):
            held = np.zeros(shape, dtype=np.int64)
            new = rng.integers(-3000, 3000, size=shape)
            if len(shape) == 2 and shape[0] >= 4:
                new[1:4] = new[0]  # identical rows: a SHARED block
            for p in delta_code.delta_payloads(tensor_id(kind, l), new, held, 1024):
                steps.append((Command.WRITE_DELTA, p))
    x = rng.integers(-128, 128, size=(n, dims[0])).astype(np.int8)
    x[:, : dims[0] // 2] = -128
    for _, _, p in sample_code.payloads(x, rng.integers(0, dims[-1], size=n), 1024, 1 + dims[0]):
        steps.append((Command.WRITE_SAMPLES_CODED, p))
    ids = cmd.model_tensor_ids(len(dims) - 1)
    steps.append((Command.DIGEST, cmd.encode_digest(ids)))
    steps.append((Command.READ_LOW_BITS, cmd.encode_read_low_bits(ids[0], 0, dims[0] * dims[1], 11)))
    steps.append((Command.READ_LOW_BITS, cmd.encode_read_low_bits(ids[1], 1, dims[1] - 1, 32)))
    return steps


CODES = [Command.DIGEST, Command.WRITE_DELTA, Command.READ_LOW_BITS, Command.WRITE_SAMPLES_CODED]
CODE_MODELS = [(4, 5, 3), (6, 4), (12, 2), (9, 1, 2)]  # fuzz_codes.c's models, in order


def code_records(model: int, steps) -> bytes:
    """fuzz_codes input: the model's index, then (command index, length, payload) records."""
    return bytes([model]) + b"".join(struct.pack("<BH", CODES.index(code), len(p)) + p for code, p in steps)


def stream(steps, seq0=1) -> bytes:
    return b"".join(encode_frame((seq0 + i - 1) % 255 + 1, code, p) for i, (code, p) in enumerate(steps))


def records(steps, flags=0) -> bytes:
    return b"".join(struct.pack("<BBH", flags, code, len(p)) + p for code, p in steps)


def main() -> None:
    small = session()
    deep = session((6, 5, 4, 3), 12)
    single = session(layer=1)
    int16 = session((9, 8, 5), 10, weight_bits=16)  # 16-bit weights: the SMLAD kernels
    too_big = cmd.encode_configure((200, 200, 10), 50, 25)  # NO_ROOM on the fuzz arena
    good = encode_frame(1, Command.IDENTIFY)
    bad_crc = bytearray(encode_frame(2, Command.STATS))
    bad_crc[2] ^= 0x10
    seeds = {
        "stream": {
            "session": stream(small),
            "deep": stream(deep),
            "single_layer": stream(single),
            "int16": stream(int16),
            "garbage_then_frame": b"\x13\x37\xff\x01" + good,
            "bad_crc_then_retry": bytes(bad_crc) + encode_frame(2, Command.STATS),
            "oversize": b"\x01" * 2000 + b"\x00" + good,
            "empty_frames": b"\x00\x00" + good + b"\x00",
            "bad_version": encode_frame(3, Command.IDENTIFY, version=2) + good,
            "duplicate": good + good,
            "truncated": good[:-3] + b"\x00" + good,
            "no_room": encode_frame(4, Command.CONFIGURE, too_big),
            "short_raw": bytes([2, 1, 1, 0]),  # COBS of a 3-byte frame: too short for a CRC
            "raw_frame_of_ff": raw_frame(5, 0xFF) + b"\x00",
        },
        "requests": {
            "session": records(small),
            "deep": records(deep),
            "single_layer": records(single),
            "int16": records(int16),
            "duplicates": records(small, flags=1),
            "bad_version": records(small[:3], flags=2),
            "no_room": records([(Command.CONFIGURE, too_big)]),
            "unknown": records([(0x42, b"\x00"), (0xFF, b""), (0x81, b"")]),
            "protocol2": records(small[:3] + protocol2()),
        },
        "codes": {**{f"model{i}": code_records(i, protocol2(dims)) for i, dims in enumerate(CODE_MODELS)},
                  # bit 2 of the model byte: int16 weights and biases
                  **{f"model{i}-int16": code_records(i | 4, protocol2(dims)) for i, dims in enumerate(CODE_MODELS)}},
    }
    seeds["stream"]["protocol2"] = stream(small[:3] + protocol2())
    for target, files in seeds.items():
        folder = HERE / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        print(f"{folder.relative_to(HERE.parent)}: {len(files)} seeds")


if __name__ == "__main__":
    main()
