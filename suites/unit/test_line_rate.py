"""The line-rate model (tifed.links.line_rate): a UART's pace on any link.
The arithmetic of one direction exactly; then lower bounds only on real
links (a loaded machine can make a paced link slower, never faster): bytes
are not through before 10 bit times each, in both directions, and a
federated run behind it stays bit-exact."""
from __future__ import annotations

import json
import time

import pytest

from tifed.config import RunConfig
from tifed.errors import ConfigError
from tifed.links.line_rate import PacedLink, UartLine, paced
from tifed.links.transport import open_link
from tifed.plan import prepare
from tifed.server.federation import Federation


def test_a_line_carries_one_byte_per_ten_bit_times():
    line = UartLine(1000)  # 100 bytes a second
    assert line.byte_time == pytest.approx(0.01)
    assert line.carry(0.0, 3) == pytest.approx(0.01)  # the first byte is through after one byte time
    assert line.free_at == pytest.approx(0.03)
    assert line.carry(0.02, 1) == pytest.approx(0.04)  # waits for the line to be free
    assert line.carry(1.0, 2) == pytest.approx(1.01)  # an idle line starts at once
    assert line.free_at == pytest.approx(1.02)
    with pytest.raises(ValueError):
        UartLine(0)


def test_bytes_take_their_line_time_both_ways():
    baud, n = 200_000, 2000  # 0.1 s each way
    link = paced(open_link("loop://"), baud)
    assert isinstance(link, PacedLink)
    try:
        link.timeout = 2.0
        t0 = time.monotonic()
        link.write(bytes(range(256)) * 7 + bytes(n - 256 * 7))
        sent = time.monotonic()
        got = b""
        while len(got) < n:
            part = link.read(n - len(got))
            assert part, "the loop gave back fewer bytes than written"
            got += part
        done = time.monotonic()
        assert got == bytes(range(256)) * 7 + bytes(n - 256 * 7)
        line = n * 10 / baud
        assert sent - t0 >= line * 0.99  # the write lasted as long as the line needs
        assert done - sent >= line * 0.99  # and the echo came back no faster
        link.timeout = 0
        assert link.read(10) == b"" and link.in_waiting == 0
    finally:
        link.close()


def test_run_behind_the_line_rate_model_is_bitexact_and_no_faster_than_the_line(tmp_path):
    base = RunConfig.of(boards=("host",), devices=2, mode="full", dataset="digits", model="64-32-10",
                        out=str(tmp_path / "free"), rounds=3)
    free = Federation(prepare(base))
    free.run()
    baud = 50_000
    paced = Federation(prepare(base.replace(out=str(tmp_path / "paced"), line_rate=baud)))
    paced.run()
    assert paced.global_model.equal(free.global_model)
    doc = json.loads((tmp_path / "paced" / "results.json").read_text())
    assert doc["final"]["bitexact_all"] is True and doc["config"]["line_rate"] == baud
    for r in doc["rounds"]:  # two devices, each on its own line: half the round's bytes on each
        assert r["seconds"] >= r["wire_bytes"] / 2 * 10 / baud * 0.99


def test_line_rate_out_of_range_is_one_line():
    config = RunConfig.of(boards=("host",), devices=1, mode="full", dataset="digits", model="64-32-10",
                          out="x", line_rate=10)
    with pytest.raises(ConfigError, match="--line-rate: the line rate must be an integer from 50"):
        prepare(config)
