"""A board farm on one machine, for the emulated suite: QEMU with its UART
on a pseudo-terminal (as a USB serial port would appear), and ser2net
publishing such a port as RFC2217 on 127.0.0.1, as a lab machine would
(docs/BOARD_FARM.md).

Every wait here waits for an event with a deadline: QEMU's line naming its
pty, the firmware's boot byte, ser2net's "Ready" line (-r). Ports are the
kernel's choice (ser2net listens on port 0; the port is read back from
/proc). Every process is spawned like the harness's own children
(tifed.boards.process: it dies with the test process) and is stopped and
reaped by stop().
"""
from __future__ import annotations

import os
import re
import selectors
import subprocess
import time
import tty
from pathlib import Path

from tifed.boards.process import spawn, terminate

START_TIMEOUT = 20.0


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        terminate(proc)


def read_until(proc: subprocess.Popen, pattern: str, timeout: float = START_TIMEOUT) -> re.Match:
    """Read the process's (merged) output until a line matches `pattern`."""
    regex = re.compile(pattern)
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            match = regex.search(seen.decode(errors="replace"))
            if match:
                return match
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"{proc.args[0]} did not print /{pattern}/ within {timeout:g} s: {seen[-300:]!r}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"{proc.args[0]} exited ({proc.wait()}) before /{pattern}/: {seen[-300:]!r}")
            seen += chunk


def wait_for_byte(fd: int, byte: bytes, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"no {byte!r} within {timeout:g} s")
            if byte in os.read(fd, 256):
                return


class QemuOnPty:
    """qemu-system-arm with one UART on a pty (`-serial pty`), started
    paused (-S) so the firmware's boot byte cannot be sent before the test
    holds the pty open; the test keeps it open (without reading) for the
    whole run, so QEMU never sees the pty hung up between clients."""

    def __init__(self, machine: str, image: Path, serial_index: int = 0):
        serials = ["-serial", "null"] * serial_index + ["-serial", "pty"]
        self.proc = spawn(
            ["qemu-system-arm", "-M", machine, "-nographic", "-S", "-monitor", "stdio", "-no-reboot",
             "-icount", "shift=8,sleep=off", *serials, "-kernel", str(image)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self._fd: int | None = None
        try:
            self.pty = read_until(self.proc, r"char device redirected to (/dev/pts/\d+)").group(1)
            self._fd = os.open(self.pty, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self._fd)
            self.proc.stdin.write(b"cont\n")
            self.proc.stdin.flush()
            wait_for_byte(self._fd, b"\x00")  # the firmware's boot delimiter: its UART listens
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop(self.proc)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def listening_ports(pid: int) -> list[int]:
    """TCP ports the process listens on (its socket inodes in /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Ser2net:
    """ser2net 4 publishing one serial device as RFC2217 on 127.0.0.1 (the
    connection a lab machine's /etc/ser2net.yaml would have, docs/BOARD_FARM.md)."""

    def __init__(self, device: str, workdir: Path, baud: int = 115200):
        config = workdir / "ser2net.yaml"
        config.write_text(
            "connection: &board0\n"
            "    accepter: telnet(rfc2217),tcp,127.0.0.1,0\n"
            f"    connector: serialdev,{device},{baud}n81,local\n"
        )
        # -n: stay in the foreground (our child); -u: no UUCP lock files;
        # -r: print "Ready" once the port listens.
        self.proc = spawn(["ser2net", "-n", "-u", "-r", "-c", str(config)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            read_until(self.proc, r"Ready")
            ports = listening_ports(self.proc.pid)
            if len(ports) != 1:
                raise RuntimeError(f"ser2net listens on {ports}, expected one port")
            self.port = ports[0]
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop(self.proc)
