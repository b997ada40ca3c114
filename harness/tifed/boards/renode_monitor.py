"""A small client for Renode's Monitor on its telnet port (`renode -P PORT`).

What the Monitor does there (Renode 1.15.3: SocketServerProvider.cs and the
AntShell line editor; suites/unit/fake_renode.py plays it back):
- on connect it sends telnet negotiation (IAC DO BINARY, WILL ECHO, WILL
  SUPPRESS-GO-AHEAD, WONT LINEMODE) and then reads, and throws away, nine
  bytes, the replies a telnet client owes. Until those nine bytes arrive it
  sends nothing, not even its banner or prompt, and whatever arrives first
  is lost. So the client answers each negotiation the way telnet does
  (DO x -> WILL x, WILL x -> DO x; a WONT needs no answer): exactly nine
  bytes for Renode's four, after which the banner and `(monitor) ` come;
- it echoes what we type, ends a line on CR (LF also works; CR LF would be
  two Enters, the second answered by an extra prompt), and ends every answer
  with a prompt, `(monitor) ` or the current machine's `(dev0) `;
- with --plain it writes no colour codes, so an error is told from an
  answer by its text alone (the caller knows what each command prints).

`MonitorClient` sends one command at a time and returns the text between the
echo of the command and the next prompt, telnet and terminal noise removed.
Numbers print as `0x...` (the default numbersMode), as plain decimals, or as
`0x... (decimal)`; `parse_number` accepts all three.
"""
from __future__ import annotations

import codecs
import re
import socket
import threading
import time

from tifed.errors import DeviceError

IAC = 0xFF
SB = 0xFA
SE = 0xF0
WILL, WONT, DO, DONT = 0xFB, 0xFC, 0xFD, 0xFE
NEGOTIATION = (WILL, WONT, DO, DONT)  # one option byte follows

# CSI (ESC [ ... final), OSC (ESC ] ... BEL), and two-byte ESC sequences.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[@-Z\\-_]")
# The prompt ends the text: "(monitor) ", "(dev0) " (AntShell writes "(name) ",
# usually on a line of its own, but nothing here relies on the line break).
_PROMPT = re.compile(r"\(([^()\r\n]+)\) $")
_NUMBER = re.compile(r"^(?:0x([0-9A-Fa-f]+)(?:\s*\((\d+)\))?|(\d+))$")


class MonitorError(DeviceError):
    """The Monitor could not be reached or did not answer as expected."""


class TelnetStream:
    """Splits what a telnet server sends into data and the negotiation
    replies a client owes; a sequence cut between two chunks is carried
    over to the next."""

    def __init__(self):
        self._pending = b""

    def feed(self, chunk: bytes) -> tuple[bytes, bytes]:
        """(data bytes, reply bytes to send back) for the next chunk."""
        data = self._pending + chunk
        self._pending = b""
        out, replies = bytearray(), bytearray()
        i = 0
        while i < len(data):
            b = data[i]
            if b != IAC:
                out.append(b)
                i += 1
                continue
            if i + 1 >= len(data):
                self._pending = data[i:]
                break
            cmd = data[i + 1]
            if cmd == IAC:  # an escaped 0xFF data byte
                out.append(IAC)
                i += 2
            elif cmd in NEGOTIATION:
                if i + 2 >= len(data):
                    self._pending = data[i:]
                    break
                option = data[i + 2]
                if cmd == DO:
                    replies += bytes((IAC, WILL, option))
                elif cmd == WILL:
                    replies += bytes((IAC, DO, option))
                i += 3  # WONT / DONT: the option is off, nothing to answer (RFC 854)
            elif cmd == SB:
                end = data.find(bytes((IAC, SE)), i + 2)
                if end < 0:
                    self._pending = data[i:]
                    break
                i = end + 2
            else:  # a two-byte command (NOP, GA, ...)
                i += 2
        return bytes(out), bytes(replies)


def clean_text(text: str) -> str:
    """Drop ANSI escape sequences and NUL padding."""
    return _ANSI.sub("", text).replace("\x00", "")


def split_answer(text: str, command: str) -> tuple[str, str] | None:
    """(answer, prompt name) when `text` (everything received since the
    command was sent) ends with a prompt, else None. The echo of the command
    and blank lines are dropped from the answer."""
    match = _PROMPT.search(text)
    if match is None:
        return None
    body = text[: match.start()]
    lines = [line.strip() for line in re.split(r"[\r\n]+", body)]
    lines = [line for line in lines if line]
    if lines and lines[0].endswith(command.strip()):
        lines = lines[1:]  # the echo (possibly after an earlier prompt)
    return "\n".join(lines), match.group(1)


def parse_number(answer: str) -> int | None:
    """The integer a property query printed (the last line that is one)."""
    for line in reversed(answer.splitlines()):
        match = _NUMBER.match(line.strip())
        if match:
            hex_digits, decimal, plain = match.groups()
            if decimal is not None:
                return int(decimal)
            return int(hex_digits, 16) if hex_digits is not None else int(plain)
    return None


class MonitorClient:
    """One connection to the Monitor. Commands are serialised by a lock, so
    the devices of one fleet can share it from their own threads."""

    def __init__(self, sock: socket.socket, *, timeout: float = 30.0):
        self._sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._telnet = TelnetStream()
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self.prompt: str | None = None

    @classmethod
    def connect(
        cls,
        port: int,
        *,
        deadline: float,
        host: str = "127.0.0.1",
        listening: threading.Event | None = None,
        alive=None,
        timeout: float = 30.0,
    ) -> "MonitorClient":
        """Connect once Renode listens, answer its telnet negotiation, then
        wait for its first prompt (after the banner).

        `listening` is set by whoever reads Renode's log when it says
        "Monitor available ... on port N"; until then each try waits on it
        (up to half a second, in case a Renode version words the line
        differently). `alive()` ends the wait at once if Renode died."""
        last_error: OSError | None = None
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=max(0.05, min(1.0, deadline - time.monotonic())))
                break
            except OSError as exc:
                last_error = exc
            if alive is not None and not alive():
                raise MonitorError(f"Renode exited before its Monitor listened on port {port}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise MonitorError(f"Renode's Monitor did not listen on port {port} in time ({last_error})")
            waiter = listening if listening is not None and not listening.is_set() else threading.Event()
            waiter.wait(min(left, 0.5 if waiter is listening else 0.05))
        client = cls(sock, timeout=timeout)
        try:
            client._read_until_prompt("", deadline)
        except BaseException:
            client.close()
            raise
        return client

    def execute(self, command: str, *, timeout: float | None = None) -> str:
        """Run one Monitor command; return what it printed (without echo and prompt)."""
        if "\n" in command or "\r" in command:
            raise ValueError("one Monitor command per call")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._lock:
            self._text = ""
            try:
                self._sock.sendall(command.encode("utf-8") + b"\r")
            except OSError as exc:
                raise MonitorError(f"Renode Monitor: cannot send {command!r} ({exc})") from None
            return self._read_until_prompt(command, deadline)

    def query_number(self, command: str, *, timeout: float | None = None) -> int:
        answer = self.execute(command, timeout=timeout)
        value = parse_number(answer)
        if value is None:
            raise MonitorError(f"Renode Monitor: `{command}` printed {answer!r}, not a number")
        return value

    def send_quit(self) -> None:
        """Ask Renode to exit; the connection closes without a prompt."""
        with self._lock:
            try:
                self._sock.sendall(b"quit\r")
            except OSError:
                pass

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def _read_until_prompt(self, command: str, deadline: float) -> str:
        while True:
            done = split_answer(clean_text(self._text), command)
            if done is not None:
                answer, self.prompt = done
                self._text = ""
                return answer
            left = deadline - time.monotonic()
            if left <= 0:
                tail = clean_text(self._text)[-200:]
                raise MonitorError(f"Renode Monitor: no prompt after `{command or 'connect'}` (got {tail!r})")
            self._sock.settimeout(min(left, 1.0))
            try:
                chunk = self._sock.recv(4096)
                _quick_ack(self._sock)
            except socket.timeout:
                continue
            except OSError as exc:
                raise MonitorError(f"Renode Monitor connection failed ({exc})") from None
            if not chunk:
                raise MonitorError(f"Renode Monitor closed the connection during `{command or 'connect'}`")
            data, replies = self._telnet.feed(chunk)
            if replies:
                try:
                    self._sock.sendall(replies)
                except OSError as exc:
                    raise MonitorError(f"Renode Monitor connection failed ({exc})") from None
            self._text += self._utf8.decode(data)  # cleaned as a whole: a sequence may span chunks


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge at once (Linux): the Monitor echoes in tiny segments, and
    with delayed ACKs against its Nagle algorithm every command would wait
    some 40 ms per segment."""
    if hasattr(socket, "TCP_QUICKACK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass
