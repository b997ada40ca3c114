"""The bench's reliability section on host firmware: one clean run, a 1 %
line and power cycles, each a row that says what happened; the Markdown
table shows them."""
from __future__ import annotations

from tifed.bench import markdown, reliability


def test_reliability_rows_say_what_each_fault_cost(host_image):
    rows = reliability.measure((("host", "64-16-10", "digits", 4),), log=lambda *_: None,
                               noise=(0.01,), resets_every=(2,))
    clean, noisy, reset = rows
    assert [r["fault"] for r in rows] == ["clean", "1 % bytes", "reset every 2 rounds' requests"]
    assert all(r["complete"] and r["bitexact"] and r["dropped"] == 0 and r["error"] is None for r in rows)
    assert clean["retransmissions_per_device_round"] == 0 and clean["frame_payload"] == 1024
    assert noisy["retransmissions_per_device_round"] > 0 and noisy["frame_payload"] < 1024
    assert noisy["wire_bytes_per_device_round"] > clean["wire_bytes_per_device_round"]
    assert 0.005 < noisy["estimated_byte_error_rate"] < 0.02
    assert reset["resets"] >= 1 and 1 <= reset["rounds_redone"] <= reset["resets"]
    assert reset["recovery_seconds"] > 0 and abs(reset["reset_requests"] - 2 * clean["requests_per_device_round"]) <= 1
    text = "\n".join(markdown._reliability(rows))
    assert "| host | 64-16-10 | 1 % bytes | yes | yes | 0 |" in text
