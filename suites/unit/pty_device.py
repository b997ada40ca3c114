"""A program behind a pseudo-terminal, reached through a symlink, as Renode's
`emulation CreateUartPtyTerminal "name" "link" true` offers a machine's UART:
the slave in raw mode (and kept open here, as Renode keeps it, so a reader
can come and go and bytes written meanwhile wait in the pty), the program
(the host build of the firmware) on the master side through its stdin and
stdout. Used by fake_renode.py and renode_on_host.py."""
from __future__ import annotations

import os
import subprocess
import threading
import tty
from pathlib import Path


class PtyDevice:
    def __init__(self, link: Path):
        self.link = Path(link)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        if self.link.is_symlink() or self.link.exists():
            self.link.unlink()
        self.link.symlink_to(os.ttyname(self.slave))
        self.proc: subprocess.Popen | None = None
        self._closed = False

    def write(self, data: bytes) -> None:
        """Bytes from the device, for whoever reads the pty."""
        os.write(self.master, data)

    def run(self, program: str) -> None:
        """Put `program` behind the pty: its stdout to the reader, what the
        reader writes to its stdin."""
        self.proc = subprocess.Popen([program], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        threading.Thread(target=self._pump, args=(self.proc.stdout.read, self.write), daemon=True).start()
        threading.Thread(target=self._pump, args=(self._read, self.proc.stdin.write), daemon=True).start()

    def _read(self, size: int) -> bytes:
        try:
            return os.read(self.master, size)
        except OSError:  # closed
            return b""

    @staticmethod
    def _pump(read, write) -> None:
        try:
            for chunk in iter(lambda: read(4096), b""):
                write(chunk)
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.proc is not None:
            try:
                self.proc.stdin.close()  # the host build exits at end of input
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
        for fd in (self.slave, self.master):
            os.close(fd)
        self.link.unlink(missing_ok=True)
