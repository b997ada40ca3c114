"""Writes tifed_frames.py, the Robot variable file the Renode suites send and
expect: real PROTOCOL.md frames, built with the harness's encoder, and the
answers the reference (tifed_models) says a correct device gives.

    /work/venv/bin/python renode/robot/make_frames.py     # rewrites renode/robot/tifed_frames.py

The Robot suites then need neither the harness nor NumPy: renode-test's own
Python loads the file. suites/unit/test_renode_robot.py fails when the
committed file differs from what this script makes now.

How answers are matched (TifedUart.py's `Wait For Answer`: a regex over the
raw bytes as Latin-1 text, anchored at the first unread byte, `\\xNN` escapes
only, so the pattern is plain ASCII):
- fully known answers (WRITE_*, SET_FEEDBACK_SEED, READ_TENSOR) are the exact
  escaped bytes of the encoded frame;
- answers with board-dependent fields (IDENTIFY: arena, version; CONFIGURE:
  arena size; TRAIN: the instruction counter) are checked up to their status
  byte. COBS makes that exact: the raw answer is 01 seq code status ...; with
  status OK (0) the first zero of the frame is at offset 3, so the encoding
  starts 04 01 seq code, and any other status would change those bytes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import tifed_models
from tifed.protocol import payloads as cmd
from tifed.protocol.payloads import Command, TensorKind, tensor_id
from tifed.protocol.frames import RESPONSE_BIT, encode_frame

OUT = Path(__file__).resolve().parent / "tifed_frames.py"

# The case: small (frames stay short and readable in Robot's log), big
# enough that every tensor changes in the epoch.
DIMS = (8, 6, 4)
SAMPLES = 8
BATCH = 4
LR_INV = 16
FEEDBACK_SEED = 7
DATA_SEED = 2024
WARMUP_EPOCHS = 6  # the initial model: the reference trained from zero
CHUNK_VALUES = 12  # values per WRITE/READ_TENSOR: payloads stay under 64 bytes
CHUNK_SAMPLES = 4
# IDENTIFY answers for these boards; `host` lets suites/unit/test_renode_robot.py
# run the suites against the native build where Renode is absent.
BOARDS = ("renode-nrf52840", "renode-stm32f4", "host")


def key_codes(data: bytes) -> list[str]:
    """Bytes as `Send Frame` arguments: hex strings (`0x1b`), which Robot's
    log shows as they are."""
    return [f"0x{b:02x}" for b in data]


def escaped(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def ok_prefix(seq: int, command: Command) -> str:
    """Pattern of an OK answer whose later bytes vary: see the module doc."""
    return escaped(bytes((0x04, 0x01, seq, command | RESPONSE_BIT))) + r"[^\x00]*\x00"


def exact(seq: int, command: Command, payload: bytes) -> str:
    return escaped(encode_frame(seq, command | RESPONSE_BIT, payload))


def make_case():
    rng = np.random.default_rng(DATA_SEED)
    pixels = rng.integers(0, 256, size=(SAMPLES, DIMS[0]))
    x = tifed_models.to_input(pixels)
    labels = rng.integers(0, DIMS[-1], size=SAMPLES)
    t = tifed_models.targets(labels, DIMS[-1])
    feedback = tifed_models.feedback_matrices(DIMS, FEEDBACK_SEED)
    start = tifed_models.train(tifed_models.Model.zeros(DIMS), feedback, x, t, LR_INV, BATCH, WARMUP_EPOCHS)
    trained = tifed_models.train(start, feedback, x, t, LR_INV, BATCH, 1)
    for layer in range(len(DIMS) - 1):
        for name, before, after in (("W", start.weights, trained.weights), ("b", start.biases, trained.biases)):
            if np.array_equal(before[layer], after[layer]):
                raise SystemExit(f"the case is too weak: {name}{layer} does not change in the epoch; pick other seeds")
    return x, labels, start, trained


class Exchange:
    def __init__(self):
        self.steps: list[dict] = []
        self.seq = 0

    def add(self, name: str, command: Command, payload: bytes, answer) -> None:
        self.seq += 1
        pattern = answer(self.seq) if callable(answer) else answer
        request = key_codes(encode_frame(self.seq, command, payload))
        self.steps.append({"name": name, "request": request, "answer": pattern})


def training_exchange():
    x, labels, start, trained = make_case()
    ex = Exchange()
    ex.add("IDENTIFY", Command.IDENTIFY, b"", lambda s: ok_prefix(s, Command.IDENTIFY))
    ex.add("CONFIGURE", Command.CONFIGURE, cmd.encode_configure(DIMS, SAMPLES, BATCH), lambda s: ok_prefix(s, Command.CONFIGURE))
    ex.add("SET_FEEDBACK_SEED", Command.SET_FEEDBACK_SEED, cmd.encode_set_feedback_seed(FEEDBACK_SEED),
           lambda s: exact(s, Command.SET_FEEDBACK_SEED, b"\x00"))
    for layer in range(len(DIMS) - 1):
        for kind, values in ((TensorKind.WEIGHTS, start.weights[layer]), (TensorKind.BIAS, start.biases[layer])):
            flat = np.asarray(values).ravel()
            for first in range(0, flat.size, CHUNK_VALUES):
                chunk = flat[first : first + CHUNK_VALUES]
                ex.add(f"WRITE_TENSOR {kind.name} {layer} @{first}", Command.WRITE_TENSOR,
                       cmd.encode_write_tensor(tensor_id(kind, layer), first, chunk),
                       lambda s: exact(s, Command.WRITE_TENSOR, b"\x00"))
    for first in range(0, SAMPLES, CHUNK_SAMPLES):
        ex.add(f"WRITE_SAMPLES @{first}", Command.WRITE_SAMPLES,
               cmd.encode_write_samples(first, x[first : first + CHUNK_SAMPLES], labels[first : first + CHUNK_SAMPLES]),
               lambda s: exact(s, Command.WRITE_SAMPLES, b"\x00"))
    ex.add("TRAIN", Command.TRAIN, cmd.encode_train(SAMPLES, BATCH, 1, LR_INV, -1), lambda s: ok_prefix(s, Command.TRAIN))
    for layer in range(len(DIMS) - 1):
        for kind, values in ((TensorKind.WEIGHTS, trained.weights[layer]), (TensorKind.BIAS, trained.biases[layer])):
            flat = np.asarray(values).ravel()
            for first in range(0, flat.size, CHUNK_VALUES):
                chunk = flat[first : first + CHUNK_VALUES]
                payload = b"\x00" + chunk.astype("<i4").tobytes()
                ex.add(f"READ_TENSOR {kind.name} {layer} @{first}", Command.READ_TENSOR,
                       cmd.encode_read_tensor(tensor_id(kind, layer), first, chunk.size),
                       lambda s, p=payload: exact(s, Command.READ_TENSOR, p))
    return ex.steps


def identify_answers() -> dict[str, str]:
    """Per board: an OK IDENTIFY answer to seq 1 whose `board` string (its
    length byte, then the name) is the board's name."""
    answers = {}
    for board in BOARDS:
        name = board.encode("ascii")
        answers[board] = (
            escaped(bytes((0x04, 0x01, 0x01, Command.IDENTIFY | RESPONSE_BIT)))
            + r"[^\x00]*"
            + escaped(bytes((len(name),)) + name)
            + r"[^\x00]*\x00"
        )
    return answers


def render() -> str:
    lines = [
        '"""Generated by renode/robot/make_frames.py; do not edit (rerun it)."""',
        "",
        f"IDENTIFY_REQUEST = {key_codes(encode_frame(1, Command.IDENTIFY, b''))!r}",
        f"IDENTIFY_ANSWER = {identify_answers()!r}",
        "",
        f"# One epoch of {'-'.join(map(str, DIMS))} on {SAMPLES} samples, batch {BATCH}, 1/lr {LR_INV},",
        f"# feedback seed {FEEDBACK_SEED}, from the reference trained {WARMUP_EPOCHS} epochs from zero.",
        "TRAIN_EXCHANGE = [",
    ]
    for step in training_exchange():
        lines.append(f"    {step!r},")
    lines.append("]")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv[1:] == ["--check"]:
        if OUT.read_text() != text:
            print(f"{OUT} is out of date: rerun {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
