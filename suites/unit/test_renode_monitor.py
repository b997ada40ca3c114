"""The Renode Monitor client against a fake Monitor on 127.0.0.1
(suites/unit/fake_renode.py) that behaves as Renode 1.15.3's does: telnet
negotiation, nine bytes discarded before any output, no prompt until then,
echo, prompts, colour codes, and the three ways Renode prints a number."""
from __future__ import annotations

import threading
import time

import pytest

from fake_renode import TELNET_HELLO, FakeMonitor
from tifed.boards.renode_monitor import (
    MonitorClient,
    MonitorError,
    TelnetStream,
    clean_text,
    parse_number,
    split_answer,
)


def test_telnet_stream_removes_negotiation_and_keeps_escaped_ff():
    data = bytes([255, 253, 0, ord("a"), 255, 255, ord("b"), 255, 250, 31, 0, 80, 0, 24, 255, 240, ord("c")])
    assert TelnetStream().feed(data) == (b"a\xffbc", bytes([255, 251, 0]))


def test_telnet_stream_carries_a_sequence_split_across_chunks():
    stream = TelnetStream()
    assert stream.feed(b"x\xff") == (b"x", b"")
    assert stream.feed(b"\xfb") == (b"", b"")
    assert stream.feed(b"\x01y") == (b"y", bytes([255, 253, 1]))


def test_renodes_negotiation_is_answered_with_exactly_the_nine_bytes_it_discards():
    # DO BINARY -> WILL BINARY, WILL ECHO -> DO ECHO, WILL SGA -> DO SGA,
    # WONT LINEMODE -> nothing: nine bytes, so the first command is intact.
    data, replies = TelnetStream().feed(TELNET_HELLO)
    assert data == b""
    assert replies == bytes([255, 251, 0, 255, 253, 1, 255, 253, 3])


def test_the_fake_monitor_says_nothing_and_eats_a_naive_clients_first_bytes():
    """What a new user saw on the real Renode, played back by the fake: a
    client that does not answer the negotiation gets no prompt, and its
    first nine bytes (a whole LF-ended command and more) are lost."""
    import socket

    monitor = FakeMonitor()
    port = monitor.listen()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            hello = b""
            while len(hello) < len(TELNET_HELLO):
                hello += sock.recv(64)
            assert hello == TELNET_HELLO  # and nothing else: no banner, no prompt
            sock.sendall(b"help\nversion\r")
            text = b""
            while not text.endswith(b"(monitor) ") or text.count(b"(monitor) ") < 2:
                text += sock.recv(4096)
        assert monitor.discarded == [b"help\nvers"]
        assert monitor.commands == ["ion"]  # the rest of "version", an unknown command
        assert b"No such command or device: ion" in text
    finally:
        monitor.close()


def test_clean_text_drops_ansi_sequences():
    assert clean_text("\x1b[33m(dev0) \x1b[0m") == "(dev0) "


@pytest.mark.parametrize(
    "answer, value",
    [("0x00000000000F4240", 1_000_000), ("1000000", 1_000_000), ("0xF4240 (1000000)", 1_000_000), ("0x0", 0)],
)
def test_parse_number_reads_every_numbers_mode(answer, value):
    assert parse_number(answer) == value


@pytest.mark.parametrize("answer", ["", "No such command", "0xZZ", "12 apples"])
def test_parse_number_rejects_what_is_not_a_number(answer):
    assert parse_number(answer) is None


def test_split_answer_needs_the_prompt_and_drops_the_echo():
    command = "sysbus.cpu ExecutedInstructions"
    assert split_answer(f"{command}\n\r0x00000000000003E8\r\n", command) is None  # no prompt yet
    answer, prompt = split_answer(f"{command}\n\r0x00000000000003E8\r\n(dev3) ", command)
    assert (answer, prompt) == ("0x00000000000003E8", "dev3")


@pytest.fixture
def fake_monitor(request):
    options = getattr(request, "param", {})
    monitor = FakeMonitor(**options)
    port = monitor.listen()
    yield monitor, port
    monitor.close()


@pytest.mark.parametrize(
    "fake_monitor",
    [{}, {"colour": True}, {"number_format": "decimal"}, {"number_format": "both"}, {"chunk": 1, "colour": True}],
    indirect=True,
)
def test_client_reads_executed_instructions_per_machine(fake_monitor):
    monitor, port = fake_monitor
    client = MonitorClient.connect(port, deadline=time.monotonic() + 10)
    try:
        assert client.prompt == "monitor"
        assert client.execute('mach create "dev0"') == ""
        assert client.prompt == "dev0"
        client.execute('mach create "dev1"')
        client.execute('mach set "dev0"')
        assert client.query_number("sysbus.cpu ExecutedInstructions") == 1000
        assert client.query_number("sysbus.cpu ExecutedInstructions") == 2000
        client.execute('mach set "dev1"')
        assert client.query_number("sysbus.cpu ExecutedInstructions") == 1000
    finally:
        client.close()
    assert monitor.commands[-1] == "sysbus.cpu ExecutedInstructions"


def test_client_returns_error_text_and_query_number_refuses_it(fake_monitor):
    _, port = fake_monitor
    client = MonitorClient.connect(port, deadline=time.monotonic() + 10)
    try:
        assert client.execute("frobnicate now") == "No such command or device: frobnicate"
        with pytest.raises(MonitorError, match="not a number"):
            client.query_number("sysbus.cpu ExecutedInstructions")  # no machine selected
    finally:
        client.close()


def test_connect_waits_for_the_listening_event_then_connects():
    monitor = FakeMonitor()
    listening = threading.Event()
    probe = FakeMonitor()  # take a free port, then give it to the late monitor
    port = probe.listen()
    probe.close()

    def late_start():
        monitor.listen(port)
        listening.set()

    timer = threading.Timer(0.3, late_start)
    timer.start()
    try:
        client = MonitorClient.connect(port, deadline=time.monotonic() + 10, listening=listening)
        assert client.prompt == "monitor"
        client.close()
    finally:
        timer.join()
        monitor.close()


def test_connect_gives_up_when_renode_died():
    probe = FakeMonitor()
    port = probe.listen()
    probe.close()  # nothing listens there now
    with pytest.raises(MonitorError, match="exited before"):
        MonitorClient.connect(port, deadline=time.monotonic() + 10, alive=lambda: False)


def test_execute_times_out_without_a_prompt():
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []

    def serve():
        conn, _ = server.accept()
        accepted.append(conn)
        conn.sendall(b"(monitor) ")  # a prompt, then silence

    thread = threading.Thread(target=serve)
    thread.start()
    client = MonitorClient.connect(port, deadline=time.monotonic() + 10)
    thread.join()
    try:
        with pytest.raises(MonitorError, match="no prompt after `start`"):
            client.execute("start", timeout=0.3)
    finally:
        client.close()
        for conn in accepted:
            conn.close()
        server.close()


def test_split_answer_finds_a_prompt_right_after_output():
    assert split_answer("start\n\rStarting emulation...(dev0) ", "start") == ("Starting emulation...", "dev0")
    assert split_answer("start\n\rStarting emulation...(dev0)", "start") is None  # the prompt is not complete
