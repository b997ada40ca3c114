"""Firmware cost on the QEMU and Renode boards: instructions per training
sample and per MAC (the TRAIN counter: exact under QEMU's `-icount`; under
Renode the DWT cycle counter, which advances one count per executed
instruction, renode/README.md), flash, static RAM, the RAM arena a model
takes (and its parts) and the stack peak, for int32 and int16 weight
storage (`--weights`).

One fresh device per (board, model), so each stack peak belongs to that
model's commands alone. The device trains from the zero model CONFIGURE
leaves (no 636 KB weight upload); the full bench also uploads a model the
reference trained first and counts again, which shows that the count
hardly depends on the weights' values.
"""
from __future__ import annotations


import tifed_models
from tifed.training import datasets
from tifed.bench.macs import macs_per_sample, model_name
from tifed.bench.rows import Skipped
from tifed.errors import TifedError, one_line

BOARDS = ("qemu-mps2-an386", "qemu-netduinoplus2", "qemu-microbit", "renode-nrf52840", "renode-stm32f4")
MODELS = {"784-200-10": "mnist5k", "784-64-10": "mnist5k", "64-32-10": "digits", "64-16-10": "digits"}
WIDTHS = (32, 16)  # weight_bits: int32 (the paper's) and int16 storage
BUFFER, BATCH, EPOCHS, LR_INV, SEED = 50, 25, 1, 2048, 0
# The paper's buffer of 50 first; a board too small for it (the micro:bit)
# gets one mini-batch per buffer, recorded in the row.
BUFFERS = (BUFFER, BATCH)


def _samples(dataset: str, n: int):
    data = datasets.load(dataset, SEED)
    return data.x_train[:n], data.y_train[:n], data


def _trained_model(dims, data, weight_bits):
    fb = tifed_models.feedback_matrices(dims, SEED)
    x, y = data.x_train[BUFFER:BUFFER + 1000], data.y_train[BUFFER:BUFFER + 1000]
    return tifed_models.train(tifed_models.Model.zeros(dims), fb, x, tifed_models.targets(y, dims[-1]), LR_INV, BATCH, 1,
                              weight_bits=weight_bits)


def _open(board, index: int = 0):
    from tifed.protocol.client import DeviceClient
    from tifed.links.transport import open_link

    device = board.start(index)
    try:
        port = open_link(device.url, **(device.kwargs or {}))
    except BaseException:
        device.stop()
        raise
    return device, port, DeviceClient(port, name=f"{board.name} bench device", device=device)


def measure_model(board, spec: str, *, trained: bool, weight_bits: int = 32, log=print) -> dict | Skipped:
    dims = tifed_models.parse_model(spec)
    what = f"{board.name} {spec} int{weight_bits}"
    device, port, client = _open(board)
    try:
        info = client.identify()
        if info.counter_kind == 0:
            return Skipped("firmware", what, "the board has no instruction counter")
        fits = [b for b in BUFFERS if tifed_models.arena_bytes(dims, b, BATCH, weight_bits) <= info.arena_bytes]
        if not fits:
            need = tifed_models.arena_bytes(dims, BUFFERS[-1], BATCH, weight_bits)
            return Skipped("firmware", what,
                           f"needs {need:,} arena bytes even with buffer {BUFFERS[-1]} (batch {BATCH}), "
                           f"the board has {info.arena_bytes:,}")
        buffer = fits[0]
        x, y, data = _samples(MODELS.get(spec, "digits"), buffer)
        configured = client.configure(dims, buffer, BATCH, weight_bits)
        client.set_feedback_seed(SEED)
        client.write_samples(x, y)
        count = client.train(buffer, BATCH, EPOCHS, LR_INV, -1)
        single = [client.train(buffer, BATCH, EPOCHS, LR_INV, l) for l in range(len(dims) - 1)]
        trained_count = None
        if trained:
            client.write_model(_trained_model(dims, data, weight_bits))
            trained_count = client.train(buffer, BATCH, EPOCHS, LR_INV, -1)
        stats = client.stats()
    finally:
        try:
            port.close()
        finally:
            device.stop()
    per_sample = count / (buffer * EPOCHS)
    macs = macs_per_sample(dims)
    fw = board.firmware_info()
    row = {
        "board": board.name,
        "model": model_name(dims),
        "weights": f"int{weight_bits}",
        "instructions_per_mac": round(per_sample / macs, 4),
        "instructions_per_sample": int(round(per_sample)),
        "flash_bytes": fw.flash_bytes if fw else None,
        "ram_bytes": fw.ram_bytes if fw else None,
        "stack_peak_bytes": int(stats.stack_peak),
        "counter": info.counter_name,
        "macs_per_sample": macs,
        "train": {"samples": buffer, "batch": BATCH, "epochs": EPOCHS, "lr_inv": LR_INV, "start": "zero model"},
        "single_layer_instructions_per_sample": [int(round(c / (buffer * EPOCHS))) for c in single],
        "single_layer_instructions_per_mac": [
            round(c / (buffer * EPOCHS) / macs_per_sample(dims, l), 4) for l, c in enumerate(single)
        ],
        "trained_instructions_per_sample": None if trained_count is None else int(round(trained_count / (buffer * EPOCHS))),
        "stack_size_bytes": int(stats.stack_size),
        "arena_bytes": int(info.arena_bytes),
        "arena_used_bytes": int(configured.arena_used),
        "arena_breakdown": tifed_models.arena_breakdown(dims, buffer, BATCH, weight_bits),
        "fw_version": info.fw_version,
        "ram_needed_bytes": None if fw is None else fw.ram_bytes + int(configured.arena_used),
    }
    log(f"  {board.name} {row['model']} {row['weights']}: {row['instructions_per_mac']:.3f} instructions/MAC, "
        f"{row['instructions_per_sample']:,} per sample, stack {row['stack_peak_bytes']} B")
    return row


def measure(boards=BOARDS, models=tuple(MODELS), *, trained: bool = False, widths=WIDTHS,
            log=print) -> tuple[list[dict], list[Skipped]]:
    """bench.json "firmware" rows, and what could not be measured and why."""
    from tifed.boards.registry import get_board

    rows: list[dict] = []
    skipped: list[Skipped] = []
    for name in boards:
        try:
            board = get_board(name)
            avail = board.availability()
        except TifedError as exc:
            skipped.append(Skipped("firmware", name, str(exc)))
            continue
        if not avail.runnable:
            skipped.append(Skipped("firmware", name, f"cannot run here: {', '.join(avail.missing)} missing"))
            continue
        for spec in models:
            for bits in widths:
                try:
                    result = measure_model(board, spec, trained=trained, weight_bits=bits, log=log)
                except TifedError as exc:
                    result = Skipped("firmware", f"{name} {spec} int{bits}", one_line(exc))
                (skipped if isinstance(result, Skipped) else rows).append(result)
    return rows, skipped


def capacity(log=print) -> list[dict]:
    """bench.json "capacity" (an extension): per board with an image and per
    width and buffer, its RAM arena and the largest 784-H-10 it trains
    (tifed boards prints the same table)."""
    from tifed.boards.table import CAPACITY_BATCH, board_arenas, capacity_rows

    rows = []
    for r in capacity_rows(board_arenas()):
        if r.arena_bytes is None:
            continue
        for (weights, buffer), hidden in r.largest.items():
            rows.append({"board": r.board, "arena_bytes": r.arena_bytes, "weights": weights, "buffer": buffer,
                         "batch": CAPACITY_BATCH, "largest_hidden": hidden,
                         "model": f"784-{hidden}-10" if hidden else None})
    log(f"  capacity of {len({r['board'] for r in rows})} boards")
    return rows
