"""A stand-in for Renode's outside, for testing harness/tifed/boards/renode.py on a
machine without Renode: `renode --version`, the log line that says the
Monitor listens, the Monitor on its telnet port, UART pseudo-terminals from
`emulation CreateUartPtyTerminal`, and a ready byte (0x00) on each UART once
`start` ran, as the TIFeD firmware sends it. `machine Pause` stops the
current machine's firmware (its RAM is lost) and `machine Start` boots it
again, as the harness's power cycle (the reset fault) uses them.

The Monitor behaves as Renode 1.15.3's does (read in its sources and seen on
the real program; the harness was once written against a friendlier fake
and failed at once on the real one):
- the telnet server (SocketServerProvider.cs) sends IAC DO BINARY, WILL ECHO,
  WILL SUPPRESS-GO-AHEAD, WONT LINEMODE on connect and then READS NINE BYTES
  AND DISCARDS THEM (a telnet client's replies) before it sends anything
  else: a client that only waits for a prompt gets nothing, and a command
  sent before nine other bytes loses its first characters;
- the shell's output is queued from start-up on, so the banner and the first
  prompt arrive only after those nine bytes (never before);
- the line editor (AntShell) echoes what it receives, takes CR or LF as
  Enter, answers Enter with "\n\r", runs the line, and writes the prompt:
  `(monitor) `, or `(name) ` once a machine is selected (an empty line
  just gets a prompt, so CR LF makes two);
- errors are written as text ending in "\r\n" (red unless --plain);
- one client at a time.

Run as a program it takes Renode's options (`--port N` etc.). FAKE_RENODE_MODE:
  normal       the above
  exit-early   print a log line and exit with status 3 before listening
  no-ready     never send the ready byte
  ignore-quit  keep running after `quit` and ignore SIGTERM too, like a hung
               program (the harness must then SIGKILL its whole group)
  bad-platform LoadPlatformDescription fails as Renode's does on a bad .repl
  old          `--version` says Renode v1.11.0
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
import sys
import threading
from pathlib import Path

from pty_device import PtyDevice

# SocketServerProvider.cs: IAC DO BINARY, IAC WILL ECHO, IAC WILL SGA, IAC WONT LINEMODE.
TELNET_HELLO = bytes([255, 253, 0, 255, 251, 1, 255, 251, 3, 255, 252, 34])
TELNET_REPLY_BYTES = 9  # what it then reads and throws away
VERSION = "1.15.3.12345"
BANNER = f"\n\n\nRenode, version {VERSION} (fake-renode-2024)\n\r\n\r"
NUMBER_FORMATS = {"hex": "0x{:016X}", "decimal": "{}", "both": "0x{:X} ({})"}
RED, DARK_RED, DARK_YELLOW, RESET = "\x1b[;031m", "\x1b[31;1m", "\x1b[33;1m", "\x1b[0m"


class FakeMonitor:
    """The Monitor and the emulation behind it."""

    def __init__(self, *, mode: str = "normal", colour: bool = False, number_format: str = "hex", chunk: int = 0):
        self.mode = mode
        self.colour = colour
        self.number_format = number_format
        self.chunk = chunk  # >0: send output in pieces of this size (a split IAC or escape code)
        self.machines: dict[str, dict] = {}
        self.current: str | None = None
        self.commands: list[str] = []
        self.discarded: list[bytes] = []  # the nine bytes each connection lost
        self.started = False
        self.quit = threading.Event()
        self.uarts: list[FakeUart] = []
        self._out = bytearray()  # the shell's output not yet sent (queued without a client)
        self._out_cond = threading.Condition()
        self._line = ""
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._write(BANNER)
        self._write_prompt()

    # --- the Monitor's socket ------------------------------------------------

    def close(self) -> None:
        """Stop listening everywhere (shutdown first: a thread blocked in
        accept() would otherwise keep the port open)."""
        self.quit.set()
        with self._out_cond:
            self._out_cond.notify_all()
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

    def _session(self, conn: socket.socket) -> None:
        try:
            conn.sendall(TELNET_HELLO)
            lost = b""
            while len(lost) < TELNET_REPLY_BYTES:  # stream.ReadByte() nine times
                data = conn.recv(TELNET_REPLY_BYTES - len(lost))
                if not data:
                    return
                lost += data
            self.discarded.append(lost)
        except OSError:
            return
        done = threading.Event()
        writer = threading.Thread(target=self._writer, args=(conn, done), daemon=True)
        writer.start()
        try:
            while not self.quit.is_set():
                try:
                    data = conn.recv(1024)
                except OSError:
                    break
                if not data:
                    break
                for b in data:
                    self._key(chr(b))
                    if self.quit.is_set():
                        break
        finally:
            done.set()
            with self._out_cond:
                self._out_cond.notify_all()
            writer.join()

    def _writer(self, conn: socket.socket, done: threading.Event) -> None:
        """Like Renode's writer thread: sends the queue; output to a client
        that hung up is dropped, and the command still runs."""
        while True:
            with self._out_cond:
                while not self._out and not done.is_set() and not self.quit.is_set():
                    self._out_cond.wait()
                data, self._out = bytes(self._out), bytearray()
            if data:
                try:
                    step = self.chunk or len(data)
                    for i in range(0, len(data), step):
                        conn.sendall(data[i : i + step])
                except OSError:
                    return
            elif done.is_set() or self.quit.is_set():
                return

    def _write(self, text: str) -> None:
        with self._out_cond:
            self._out += text.encode()
            self._out_cond.notify_all()

    def _write_prompt(self) -> None:
        text = f"({self.current or 'monitor'}) "
        colour = DARK_YELLOW if self.current else DARK_RED
        self._write(f"{colour}{text}{RESET}" if self.colour else text)

    def _key(self, c: str) -> None:
        """AntShell's line editor, for the keys the harness sends."""
        if c in "\r\n":
            self._write("\n\r")
            if self._line:
                command, self._line = self._line, ""
                answer, error = self.run(command)
                if self.quit.is_set():
                    return
                if error:
                    self._write(f"{RED}{answer}\r\n{RESET}" if self.colour else f"{answer}\r\n")
                elif answer:
                    self._write(answer + "\r\n")
            self._write_prompt()
        elif c.isprintable():
            self._line += c
            self._write(c)  # echo

    # --- commands ------------------------------------------------------------

    def run(self, command: str) -> tuple[str, bool]:
        """(what the command prints, whether it is an error)."""
        self.commands.append(command)
        log = os.environ.get("FAKE_RENODE_COMMANDS")
        if log:
            with open(log, "a") as handle:
                handle.write(command + "\n")
        words = command.split()
        if command == "quit":
            if self.mode != "ignore-quit":
                self.close()
            return "", False
        if command == "version":
            return f"Renode, version {VERSION} (fake-renode-2024)", False
        if m := re.fullmatch(r'mach (create|set) "([^"]+)"', command):
            if m.group(1) == "create":
                self.machines[m.group(2)] = {"instructions": 0}
            elif m.group(2) not in self.machines:
                return f"Machine with name {m.group(2)} not found.", True
            self.current = m.group(2)
            return "", False
        if words[:2] in (["machine", "LoadPlatformDescription"], ["sysbus", "LoadELF"]):
            path = Path(command.split("@", 1)[1].replace("\\ ", " "))
            if not path.is_file():
                return f"Could not find file '{path}'", True
            if words[1] == "LoadPlatformDescription" and self.mode == "bad-platform":
                return (f"Error E21: Could not find type 'UART.NoSuchUart'.\r\n"
                        f"At {path}:8:8:\r\nuart0: UART.NoSuchUart @ sysbus 0x40002000"), True
            return "", False
        if words[:2] == ["emulation", "CreateUartPtyTerminal"]:
            m = re.fullmatch(r'emulation CreateUartPtyTerminal "([^"]+)" "([^"]+)"(?: (true|false))?', command)
            if not m:
                return f"Bad parameters for command emulation CreateUartPtyTerminal {' '.join(words[2:])}", True
            link = Path(m.group(2))
            if link.exists() and m.group(3) != "true":
                return f"File `{link}' already exists. Use forceCreate to overwrite it.", True
            self.uarts.append(FakeUart(link, self))
            if self.current is not None:
                self.machines[self.current]["uart"] = self.uarts[-1]
            return "", False
        if words[:2] == ["connector", "Connect"] or words[:1] == ["emulation"]:
            return "", False
        if words[:1] == ["machine"] and words[1:] in (["Pause"], ["Reset"], ["Start"]):
            if self.current is None:
                return "No machine selected", True
            uart = self.machines[self.current].get("uart")
            if uart is not None and words[1] == "Pause":
                uart.power_off()  # its RAM is lost; Reset then changes nothing more here
            elif uart is not None and words[1] == "Start":
                uart.start()
            return "", False
        if command == "start":
            self.started = True
            for uart in self.uarts:
                uart.start()
            return "Starting emulation...", False
        if command == "sysbus.cpu ExecutedInstructions":
            if self.current is None:
                return "No machine selected.", True
            machine = self.machines[self.current]
            machine["instructions"] += 1000
            n = machine["instructions"]
            return NUMBER_FORMATS[self.number_format].format(n, n), False
        return f"No such command or device: {words[0] if words else command}", True


class FakeUart(PtyDevice):
    """One `emulation CreateUartPtyTerminal "name" "link" true`. With
    FAKE_RENODE_FIRMWARE set, the device behind it is that program (the host
    build of the firmware); otherwise nothing answers."""

    def __init__(self, link: Path, monitor: FakeMonitor):
        super().__init__(link)
        self.monitor = monitor

    def start(self) -> None:
        """`start`: the firmware boots and sends its ready byte."""
        if self.monitor.mode != "no-ready":
            self.write(b"\x00")
        firmware = os.environ.get("FAKE_RENODE_FIRMWARE")
        if firmware:
            self.run(firmware)

    def power_off(self) -> None:
        """`machine Pause` + `machine Reset`: the firmware stops, its RAM gone."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", "-P", type=int, default=-1)
    parser.add_argument("--plain", "-p", action="store_true")
    parser.add_argument("--disable-xwt", "--disable-gui", action="store_true")
    parser.add_argument("--version", "-v", action="store_true")
    parser.add_argument("script", nargs="?")
    args = parser.parse_args(argv)
    mode = os.environ.get("FAKE_RENODE_MODE", "normal")
    if args.version:
        version = "1.11.0.1234" if mode == "old" else VERSION
        print(f"Renode v{version}\n  build: fake\n  build type: Release\n  runtime: Mono 6.8.0.105")
        return 0
    pidfile = os.environ.get("FAKE_RENODE_PIDFILE")
    if pidfile:
        Path(pidfile).write_text(str(os.getpid()))
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
