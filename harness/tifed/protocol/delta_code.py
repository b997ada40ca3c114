"""WRITE_DELTA's code (PROTOCOL.md "WRITE_DELTA"): a tensor sent as the
change from what the device holds, in blocks of Rice codes.

A tensor is seen as a matrix (W_l and B_l as they are, b_l as a column).
One WRITE_DELTA payload is a block: a set of rows (runs of consecutive
rows) times a range of columns, traversed column by column; each column
starts with its own 5-bit Rice parameter. Form EACH carries one delta per
(row, column); form SHARED one delta per column, added to every listed row.

`delta_payloads` plans the blocks that turn `held` into `new`:
- rows whose delta is zero everywhere are not sent;
- sets of identical rows (MNIST's background pixels give every such row of
  an update the same delta) go once, as SHARED blocks over their row runs;
- the other rows go in EACH blocks of up to ROWSET_ROWS rows, as many
  columns per payload as fit (a Rice parameter per column of the block
  follows the hidden units' different scales).
`decode_block` is the reference decoder (the firmware's twin, used by the
fake device and the tests).
"""
from __future__ import annotations

import dataclasses
import struct

import numpy as np

from tifed.protocol.bitcode import K_BITS, MAX_K, BitReader, CodeError, pack_fields, unzigzag, wrap32, zigzag

FORM_EACH, FORM_SHARED = 0, 1
HEADER = struct.Struct("<BBHHB")  # tensor, form, col, cols, runs
RUN = struct.Struct("<HH")  # first row, rows
MAX_RUNS = 255
ROWSET_ROWS = 128  # rows of one EACH block: enough for a good Rice parameter per column
MAX_QUOTIENT = 32  # the encoder keeps every code within 33 + k bits
MIN_GROUP_ROWS = 3  # identical rows worth a SHARED block
FRAME_COST = 16  # bytes a payload costs beyond itself (frame, answer): for "does a group pay"


def as_matrix(values: np.ndarray) -> np.ndarray:
    """A tensor as the matrix the code walks: 2-D as is, 1-D as a column."""
    a = np.asarray(values)
    return a.reshape(-1, 1) if a.ndim == 1 else a


@dataclasses.dataclass(frozen=True)
class Block:
    form: int
    col: int
    cols: int
    runs: tuple[tuple[int, int], ...]  # (first row, rows), ascending, disjoint

    def rows(self) -> np.ndarray:
        return np.concatenate([np.arange(r, r + n) for r, n in self.runs])

    def header(self, tensor: int) -> bytes:
        return HEADER.pack(tensor, self.form, self.col, self.cols, len(self.runs)) + b"".join(
            RUN.pack(r, n) for r, n in self.runs)


def runs_of(rows: np.ndarray) -> list[tuple[int, int]]:
    """Sorted row indices as (first, count) runs of consecutive rows."""
    if rows.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(rows) != 1) + 1
    return [(int(part[0]), int(part.size)) for part in np.split(rows, cuts)]


def delta_payloads(tensor: int, new: np.ndarray, held: np.ndarray, max_payload: int) -> list[bytes] | None:
    """WRITE_DELTA payloads that turn `held` into `new` (same shape): [] when
    they are equal, None when `max_payload` cannot carry one value of some
    column (the caller then writes the tensor whole)."""
    d = wrap32(as_matrix(new).astype(np.int64) - as_matrix(held).astype(np.int64))
    nonzero = d.any(axis=1)
    if not nonzero.any():
        return []
    payloads: list[bytes] = []
    grouped = np.zeros(d.shape[0], dtype=bool)
    for rows in _identical_rows(d, nonzero):
        shared = _shared_payloads(tensor, d, rows, max_payload)
        if shared is not None:
            payloads += shared
            grouped[rows] = True
    rest = np.flatnonzero(nonzero & ~grouped)
    for rowset in _rowsets(rest, max_payload):
        each = _each_payloads(tensor, d, rowset, max_payload)
        if each is None:
            return None
        payloads += each
    return payloads


def _identical_rows(d: np.ndarray, nonzero: np.ndarray) -> list[np.ndarray]:
    """Sets of MIN_GROUP_ROWS or more identical nonzero rows, biggest first."""
    rows = np.flatnonzero(nonzero)
    if rows.size < MIN_GROUP_ROWS or d.shape[1] < 2:
        return []
    probe = np.random.default_rng(0x7E1D).integers(1, 1 << 62, size=d.shape[1], dtype=np.uint64)
    hashes = d[rows].astype(np.uint64) @ probe  # wraps mod 2**64
    _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    groups = []
    for h in np.flatnonzero(counts >= MIN_GROUP_ROWS):
        members = rows[inverse.ravel() == h]
        same = (d[members] == d[members[0]]).all(axis=1)  # a hash collision is not trusted
        if same.sum() >= MIN_GROUP_ROWS:
            groups.append(members[same])
    return sorted(groups, key=len, reverse=True)


def _shared_payloads(tensor: int, d: np.ndarray, rows: np.ndarray, max_payload: int) -> list[bytes] | None:
    """SHARED blocks for identical `rows`, or None when they would not pay."""
    runs = runs_of(rows)
    z = zigzag(d[rows[0]])
    per_frame = max(1, min(MAX_RUNS, (max_payload // 2 - HEADER.size) // RUN.size))
    run_sets = [tuple(runs[i : i + per_frame]) for i in range(0, len(runs), per_frame)]
    payloads = []
    for run_set in run_sets:
        blocks = _column_blocks(FORM_SHARED, run_set, z[None, :], max_payload)
        if blocks is None:
            return None
        payloads += [b.header(tensor) + code for b, code in blocks]
    saved = (rows.size - 1) * z.size  # values not sent
    cost = sum(len(p) + FRAME_COST for p in payloads) - z.size  # bytes beyond one row's values
    return payloads if saved > cost else None


def _rowsets(rows: np.ndarray, max_payload: int) -> list[tuple[tuple[int, int], ...]]:
    """Rows split into sets of up to ROWSET_ROWS rows, whose runs keep a
    block header well inside a payload."""
    max_runs = max(1, min(MAX_RUNS, (max_payload // 4 - HEADER.size) // RUN.size))
    sets, current, count = [], [], 0
    for first, n in runs_of(rows):
        while n:
            take = min(n, ROWSET_ROWS - count)
            current.append((first, take))
            count += take
            first, n = first + take, n - take
            if count == ROWSET_ROWS or len(current) == max_runs:
                sets.append(tuple(current))
                current, count = [], 0
    if current:
        sets.append(tuple(current))
    return sets


def _each_payloads(tensor: int, d: np.ndarray, runs: tuple[tuple[int, int], ...],
                   max_payload: int) -> list[bytes] | None:
    rows = np.concatenate([np.arange(r, r + n) for r, n in runs])
    blocks = _column_blocks(FORM_EACH, runs, zigzag(d[rows]), max_payload)
    if blocks is None:
        if len(rows) == 1:
            return None
        half = len(rows) // 2  # one column of these rows does not fit: fewer rows per block
        parts = [runs_of(rows[:half]), runs_of(rows[half:])]
        out = []
        for part in parts:
            sub = _each_payloads(tensor, d, tuple(part), max_payload)
            if sub is None:
                return None
            out += sub
        return out
    return [b.header(tensor) + code for b, code in blocks]


def _column_blocks(form: int, runs: tuple[tuple[int, int], ...], z: np.ndarray,
                   max_payload: int) -> list[tuple[Block, bytes]] | None:
    """Codes z (rows of the block x every column) cut into blocks of whole
    columns, as many per payload as fit; None when one column alone does not."""
    header = HEADER.size + RUN.size * len(runs)
    room_bits = (max_payload - header) * 8
    k = column_k(z)
    kk = k[None, :].astype(np.uint64)
    values = np.vstack([k[None, :].astype(np.uint64), (np.uint64(1) << kk) | (z & ((np.uint64(1) << kk) - np.uint64(1)))])
    widths = np.vstack([np.full((1, z.shape[1]), K_BITS, dtype=np.int64), (z >> kk).astype(np.int64) + 1 + k[None, :]])
    col_bits = widths.sum(axis=0)
    if int(col_bits.max()) > room_bits:
        return None
    cuts = _cuts(col_bits, room_bits)
    # Stream order: column after column, its k first; each payload padded to a byte.
    values, widths = values.T.ravel(), widths.T.ravel()
    per_col = z.shape[0] + 1
    pad_values, pad_widths, sizes = [], [], []
    for start, end in zip(cuts[:-1], cuts[1:]):
        bits = int(col_bits[start:end].sum())
        pad_values.append(values[start * per_col : end * per_col])
        pad_widths.append(widths[start * per_col : end * per_col])
        pad = -bits % 8
        pad_values.append(np.zeros(1, dtype=np.uint64))
        pad_widths.append(np.array([pad], dtype=np.int64))
        sizes.append((bits + pad) // 8)
    code = pack_fields(np.concatenate(pad_values), np.concatenate(pad_widths))
    out, at = [], 0
    for (start, end), size in zip(zip(cuts[:-1], cuts[1:]), sizes):
        out.append((Block(form, int(start), int(end - start), runs), code[at : at + size]))
        at += size
    return out


def column_k(z: np.ndarray) -> np.ndarray:
    """Per column of codes z (uint64, rows x cols): the Rice parameter with
    the fewest bits among those that keep every quotient <= MAX_QUOTIENT."""
    top = z.max(axis=0).astype(np.float64)
    k_min = np.maximum(0, np.ceil(np.log2((top + 1) / (MAX_QUOTIENT + 1)))).astype(np.int64)
    while True:  # float rounding: make sure the bound holds
        over = (z.max(axis=0) >> k_min.astype(np.uint64)) > MAX_QUOTIENT
        if not over.any():
            break
        k_min = k_min + over
    best_bits = np.full(z.shape[1], np.iinfo(np.int64).max)
    best_k = k_min.copy()
    for k in range(0, MAX_K + 1):
        allowed = k >= k_min
        if not allowed.any():
            continue
        bits = (z >> np.uint64(k)).sum(axis=0).astype(np.int64) + z.shape[0] * (k + 1)
        better = allowed & (bits < best_bits)
        best_bits = np.where(better, bits, best_bits)
        best_k = np.where(better, k, best_k)
        if k > int(k_min.max()) + 1 and (bits > best_bits).all():
            break  # past every column's minimum: bits only grow from here
    return best_k


def _cuts(col_bits: np.ndarray, room_bits: int) -> list[int]:
    """Column boundaries [0, ..., n] of payloads holding whole columns, greedily."""
    cuts, start = [0], 0
    n = len(col_bits)
    while start < n:
        total = np.cumsum(col_bits[start:])
        end = start + int(np.searchsorted(total, room_bits, side="right"))
        cuts.append(end)
        start = end
    return cuts


# --- the reference decoder ------------------------------------------------------


def parse_block(payload: bytes) -> tuple[int, Block, bytes]:
    """(tensor, block, code) of a WRITE_DELTA payload; CodeError if the header is short."""
    if len(payload) < HEADER.size:
        raise CodeError(f"WRITE_DELTA payload of {len(payload)} bytes has no header")
    tensor, form, col, cols, n_runs = HEADER.unpack_from(payload)
    end = HEADER.size + RUN.size * n_runs
    if len(payload) < end:
        raise CodeError(f"WRITE_DELTA payload of {len(payload)} bytes is shorter than its {n_runs} runs")
    runs = tuple(RUN.unpack_from(payload, HEADER.size + RUN.size * i) for i in range(n_runs))
    return tensor, Block(form, col, cols, runs), payload[end:]


def check_block(block: Block, shape: tuple[int, int]) -> str | None:
    """Why a block does not fit a tensor of `shape` (rows, cols), or None."""
    rows, cols = shape
    if block.form not in (FORM_EACH, FORM_SHARED):
        return f"form {block.form}"
    if block.cols < 1 or block.col + block.cols > cols:
        return f"columns {block.col}..+{block.cols} of {cols}"
    if not block.runs:
        return "no rows"
    end = 0
    for first, n in block.runs:
        if n < 1 or first < end or first + n > rows:
            return f"row run {first}..+{n} (after row {end}, of {rows})"
        end = first + n
    return None


def decode_block(block: Block, code: bytes, held: np.ndarray) -> np.ndarray:
    """The tensor matrix after the block: `held` (the tensor as a matrix)
    plus the block's deltas, two's complement; CodeError for a bad code."""
    out = as_matrix(held).astype(np.int64).copy()
    rows = block.rows()
    reader = BitReader(code)
    for c in range(block.col, block.col + block.cols):
        k = reader.read(K_BITS)
        if block.form == FORM_SHARED:
            out[rows, c] += int(unzigzag(reader.rice(k)))
        else:
            for r in rows:
                out[r, c] += int(unzigzag(reader.rice(k)))
    reader.finish()
    return wrap32(out)
