"""A stand-in for Renode's outside, for testing harness/tifed/boards/renode.py on a
machine without Renode: the Monitor on a telnet port (negotiation bytes, an
echoing line editor, prompts named after the current machine), the log line
that says the Monitor listens, raw UART sockets from
`emulation CreateServerSocketTerminal`, and a ready byte (0x00) on each UART
once `start` ran, as the TIFeD firmware sends it.

It models what harness/tifed/boards/renode.py assumes about Renode, from Renode's
sources (UI/CommandLineInterface.cs, SocketServerProvider.cs,
MonitorCommands.cs); agreement with the real program is checked only where
Renode is installed (suites/emulated/test_renode_fleet.py).

Run as a program it takes Renode's options (`--port N` etc.). FAKE_RENODE_MODE:
  normal       the above
  exit-early   print a log line and exit with status 3 before listening
  no-ready     never send the ready byte
  ignore-quit  keep running after `quit` and ignore SIGTERM too, like a hung
               program (the harness must then SIGKILL its whole group)
FAKE_RENODE_PIDFILE: write the pid there (tests check for orphans).
FAKE_RENODE_COMMANDS: append every Monitor command there, one per line.
FAKE_RENODE_FIRMWARE: a program to run behind each UART from `start` on
  (the host build of the firmware, on stdin/stdout), so the harness can run
  a whole federated training through harness/tifed/boards/renode.py.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

TELNET_HELLO = bytes([255, 253, 0, 255, 253, 31, 255, 251, 1, 255, 251, 3, 255, 252, 34])
NUMBER_FORMATS = {"hex": "0x{:016X}", "decimal": "{}", "both": "0x{:X} ({})"}


class FakeMonitor:
    """The Monitor and the emulation behind it, for one client at a time."""

    def __init__(self, *, mode: str = "normal", colour: bool = False, number_format: str = "hex", chunk: int = 0):
        self.mode = mode
        self.colour = colour
        self.number_format = number_format
        self.chunk = chunk  # >0: send output in pieces of this size (a split IAC or escape code)
        self.machines: dict[str, dict] = {}
        self.current: str | None = None
        self.commands: list[str] = []
        self.started = False
        self.quit = threading.Event()
        self.uarts: list[FakeUart] = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    # --- the Monitor's socket ------------------------------------------------

    def close(self) -> None:
        """Stop listening everywhere (shutdown first: a thread blocked in
        accept() would otherwise keep the port open)."""
        self.quit.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for uart in self.uarts:
            uart.close()

    def listen(self, port: int = 0) -> int:
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        threading.Thread(target=self._serve, daemon=True).start()
        return self.listener.getsockname()[1]

    def _serve(self) -> None:
        while not self.quit.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self._session(conn)

    def _send(self, conn: socket.socket, data: bytes) -> None:
        """Like Renode's queued writer: output to a client that hung up is
        dropped, and the command still runs."""
        try:
            if self.chunk:
                for i in range(0, len(data), self.chunk):
                    conn.sendall(data[i : i + self.chunk])
            else:
                conn.sendall(data)
        except OSError:
            pass

    def _prompt(self) -> bytes:
        name = self.current or "monitor"
        text = f"({name}) "
        return (f"\x1b[33m{text}\x1b[0m" if self.colour else text).encode()

    def _session(self, conn: socket.socket) -> None:
        self._send(conn, TELNET_HELLO + b"Renode, version 0.0 (fake)\r\n\r\n" + self._prompt())
        line = b""
        while True:
            try:
                data = conn.recv(1024)
            except OSError:
                return
            if not data:
                return
            for b in data:
                if b in (10, 13):
                    if not line:
                        continue
                    command = line.decode()
                    line = b""
                    self._send(conn, b"\n\r")  # the line editor ends the echoed line
                    answer = self.run(command)
                    if self.quit.is_set():
                        return
                    self._send(conn, answer.encode() + self._prompt())
                else:
                    line += bytes([b])
                    self._send(conn, bytes([b]))  # echo, as the line editor does

    # --- commands ------------------------------------------------------------

    def run(self, command: str) -> str:
        self.commands.append(command)
        log = os.environ.get("FAKE_RENODE_COMMANDS")
        if log:
            with open(log, "a") as handle:
                handle.write(command + "\n")
        words = command.split()
        if command == "quit":
            if self.mode != "ignore-quit":
                self.close()
            return ""
        if m := re.fullmatch(r'mach (create|set) "([^"]+)"', command):
            if m.group(1) == "create":
                self.machines[m.group(2)] = {"instructions": 0}
            elif m.group(2) not in self.machines:
                return f"machine {m.group(2)} not found\r\n"
            self.current = m.group(2)
            return ""
        if words[:2] in (["machine", "LoadPlatformDescription"], ["sysbus", "LoadELF"]):
            path = Path(command.split("@", 1)[1].replace("\\ ", " "))
            return "" if path.is_file() else f"Could not find file '{path}'\r\n"
        if words[:2] == ["emulation", "CreateServerSocketTerminal"]:
            self._open_uart(int(words[2]))
            return ""
        if words[:2] == ["connector", "Connect"] or words[:1] == ["emulation"]:
            return ""
        if command == "start":
            self.started = True
            for uart in self.uarts:
                uart.start()
            return "Starting emulation...\r\n"
        if command == "sysbus.cpu ExecutedInstructions":
            if self.current is None:
                return "No machine selected\r\n"
            machine = self.machines[self.current]
            machine["instructions"] += 1000
            n = machine["instructions"]
            return NUMBER_FORMATS[self.number_format].format(n, n) + "\r\n"
        return f"There was an error executing command '{command}'\r\n"

    # --- UART sockets ----------------------------------------------------------

    def _open_uart(self, port: int) -> None:
        self.uarts.append(FakeUart(port, self))


class FakeUart:
    """One `CreateServerSocketTerminal ... false`: a raw socket that queues
    the device's bytes until a client connects (Renode's flushOnConnect is
    false) and serves one client at a time. With FAKE_RENODE_FIRMWARE set,
    the device behind it is that program (the host build of the firmware)
    on stdin/stdout; otherwise nothing answers."""

    def __init__(self, port: int, monitor: FakeMonitor):
        self.monitor = monitor
        self.lock = threading.Lock()
        self.conn: socket.socket | None = None
        self.pending = bytearray()
        self.proc: subprocess.Popen | None = None
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        threading.Thread(target=self._serve, daemon=True).start()

    def start(self) -> None:
        """`start`: the firmware boots and sends its ready byte."""
        firmware = os.environ.get("FAKE_RENODE_FIRMWARE")
        if firmware:
            self.proc = subprocess.Popen([firmware], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
            threading.Thread(target=self._pump_device, daemon=True).start()
        if self.monitor.mode != "no-ready":
            self.deliver(b"\x00")

    def deliver(self, data: bytes) -> None:
        with self.lock:
            if self.conn is not None:
                try:
                    self.conn.sendall(data)
                    return
                except OSError:
                    self.conn = None
            self.pending += data

    def _pump_device(self) -> None:
        for chunk in iter(lambda: self.proc.stdout.read(4096), b""):
            self.deliver(chunk)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.conn = conn
                if self.pending:
                    conn.sendall(bytes(self.pending))
                    self.pending.clear()
            try:
                for data in iter(lambda: conn.recv(4096), b""):
                    if self.proc is not None:
                        self.proc.stdin.write(data)
            except OSError:
                pass
            with self.lock:
                self.conn = None
            conn.close()

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        if self.proc is not None:
            self.proc.stdin.close()  # the host build exits at end of input
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", "-P", type=int, required=True)
    parser.add_argument("--plain", "-p", action="store_true")
    parser.add_argument("--disable-xwt", "--disable-gui", action="store_true")
    parser.add_argument("script", nargs="?")
    args = parser.parse_args(argv)
    pidfile = os.environ.get("FAKE_RENODE_PIDFILE")
    if pidfile:
        Path(pidfile).write_text(str(os.getpid()))
    mode = os.environ.get("FAKE_RENODE_MODE", "normal")
    if mode == "ignore-quit":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("12:00:00.0000 [INFO] Loaded monitor commands from: scripts/monitor.py", flush=True)
    if mode == "exit-early":
        print("12:00:00.0001 [ERROR] fake renode: giving up on purpose", flush=True)
        return 3
    monitor = FakeMonitor(mode=mode, colour=not args.plain)
    port = monitor.listen(args.port)
    print(f"12:00:00.0002 [INFO] Monitor available in telnet mode on port {port}", flush=True)
    if mode == "ignore-quit":
        threading.Event().wait()  # until killed
    monitor.quit.wait()
    print("12:00:01.0000 [INFO] fake renode: quitting", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
