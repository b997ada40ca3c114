"""Building firmware images with `make -C firmware BOARD=<board>` and reading
their size. The harness finds firmware/ at the top of the checkout (the
repository layout); TIFED_FIRMWARE_DIR overrides that for an installed copy.
Which image a board runs is the board's to say (Board.image_path()): every
function here takes it."""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from tifed.errors import BuildError

# What to apt-get install for each tool a build or a run may need.
APT_PACKAGES = {
    "make": "make",
    "cc": "gcc",
    "gcc": "gcc",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "size": "binutils",
    "qemu-system-arm": "qemu-system-arm",
}

@dataclasses.dataclass(frozen=True)
class FirmwareInfo:
    """What an image costs, as results.json reports it."""

    flash_bytes: int
    ram_bytes: int


_build_lock = threading.Lock()  # one build at a time within this process


def firmware_dir() -> Path:
    override = os.environ.get("TIFED_FIRMWARE_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[3] / "firmware"


def build_dir(board_name: str) -> Path:
    return firmware_dir() / "build" / board_name


def install_hint(tools: list[str] | tuple[str, ...]) -> str:
    packages = sorted({APT_PACKAGES[t] for t in tools if t in APT_PACKAGES})
    return f"apt-get install {' '.join(packages)}" if packages else ""


def compiler_for(board_name: str) -> str:
    """The C compiler a board's build needs."""
    return "cc" if board_name == "host" else "arm-none-eabi-gcc"


def missing_build_tools(board_name: str) -> list[str]:
    return [tool for tool in ("make", compiler_for(board_name)) if shutil.which(tool) is None]


def source_paths(board_name: str) -> list[Path]:
    """Everything the board's image is built from (a change to any of these
    makes the image stale). Other boards' folders and firmware/tests are not."""
    fw = firmware_dir()
    paths = [fw / "core", fw / "protocol", fw / "app", fw / "boards" / board_name, fw / "Makefile"]
    paths += sorted((fw / "boards").glob("*.h")) + sorted((fw / "boards").glob("*.mk"))
    if board_name != "host":
        paths.append(fw / "boards" / "cortex-m")
    return paths


def _newest_source_mtime(board_name: str) -> float:
    newest = 0.0
    for path in source_paths(board_name):
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for f in path.rglob("*"):
                if f.is_file():
                    newest = max(newest, f.stat().st_mtime)
    return newest


def needs_build(board_name: str, image: Path) -> bool:
    """True when the board's image is missing or older than any of its sources."""
    if not image.is_file():
        return True
    return image.stat().st_mtime < _newest_source_mtime(board_name)


def run_make(board_name: str) -> None:
    """`make -C firmware BOARD=<board>`; its output is shown only on failure."""
    missing = missing_build_tools(board_name)
    if missing:
        raise BuildError(
            f"cannot build board {board_name}: {', '.join(missing)} not found (install: {install_hint(missing)})"
        )
    fw = firmware_dir()
    if not (fw / "Makefile").is_file():
        raise BuildError(f"no firmware Makefile in {fw}")
    command = ["make", "-C", str(fw), f"BOARD={board_name}"]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    if done.returncode != 0:
        sys.stderr.write(done.stdout)
        last = [line for line in done.stdout.splitlines() if line.strip()]
        tail = last[-1].strip() if last else "no output"
        raise BuildError(f"building board {board_name} failed (make exit {done.returncode}): {tail}")


@contextlib.contextmanager
def _locked(board_name: str):
    """Serialise builds of one board across threads and processes (parallel
    test sessions, several fleets), so two makes never race on build/."""
    lock_dir = firmware_dir() / "build"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock, open(lock_dir / f".{board_name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(board_name: str, image: Path) -> Path:
    """`tifed build`: run make for the board (make itself skips what is up to
    date) and return the image's path."""
    return _make_image(board_name, image, always=True)


def ensure_built(board_name: str, image: Path) -> Path:
    """For board plug-ins' start(): run make only when the image is missing
    or stale, so starting K devices costs one staleness check each."""
    return _make_image(board_name, image, always=False)


def _make_image(board_name: str, image: Path, *, always: bool) -> Path:
    with _locked(board_name):
        if always or needs_build(board_name, image):
            run_make(board_name)
            if not image.is_file():
                raise BuildError(f"make for board {board_name} succeeded but produced no {image}")
            # make may leave the image alone when only files it does not track
            # changed; touching it keeps needs_build() from asking again.
            image.touch()
    return image


def _elf_machine(elf: Path) -> int | None:
    try:
        with open(elf, "rb") as handle:
            head = handle.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


def firmware_info(elf: Path) -> FirmwareInfo:
    """Flash (text + data) and static RAM (data + bss) of an image, from
    `arm-none-eabi-size` for ARM images and `size` for native ones."""
    elf = Path(elf)
    machine = _elf_machine(elf)
    if machine is None:
        raise BuildError(f"{elf} is not an ELF image")
    tool = "arm-none-eabi-size" if machine == 0x28 else "size"
    if shutil.which(tool) is None:
        raise BuildError(f"{tool} not found (install: {install_hint([tool])})")
    done = subprocess.run([tool, "-B", str(elf)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"{tool} failed on {elf}: {done.stderr.strip()}")
    return parse_size_output(done.stdout, elf)


def parse_size_output(text: str, elf: Path | str = "image") -> FirmwareInfo:
    """Berkeley format: a header line, then `text data bss dec hex filename`."""
    lines = [line.split() for line in text.strip().splitlines()]
    if len(lines) < 2 or len(lines[1]) < 3:
        raise BuildError(f"cannot read the size of {elf} from: {text.strip()!r}")
    try:
        text_b, data_b, bss_b = (int(v) for v in lines[1][:3])
    except ValueError:
        raise BuildError(f"cannot read the size of {elf} from: {text.strip()!r}") from None
    return FirmwareInfo(flash_bytes=text_b + data_b, ram_bytes=data_b + bss_b)
