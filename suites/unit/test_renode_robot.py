"""The Renode Robot suites (renode/robot/) without Renode: they parse
(robot --dryrun against stand-ins of Renode's keywords), their frame file is
what make_frames.py makes from the reference today, and they pass against
the host build through renode_on_host.py, and fail when their claim is
false (another board name, one wrong weight)."""
from __future__ import annotations

import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tifed.protocol.payloads import Command, Status
from tifed.protocol.frames import RESPONSE_BIT, decode_frame, encode_frame

ROOT = Path(__file__).resolve().parents[2]
ROBOT_DIR = ROOT / "renode" / "robot"
STAND_INS = ROBOT_DIR / "dryrun" / "renode-keywords.resource"
ON_HOST = Path(__file__).with_name("renode_on_host.resource")

pytest.importorskip("robot", reason="robotframework is not installed (pip install robotframework)")


def _robot(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "robot", "--output", "NONE", "--report", "NONE", "--log", "NONE", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _frames(folder: Path = ROBOT_DIR) -> dict:
    return runpy.run_path(str(folder / "tifed_frames.py"))


def _request(step: dict) -> bytes:
    return bytes(int(code, 16) for code in step["request"])


def _bytes_of(pattern: str) -> bytes:
    """The bytes of an exact answer pattern (nothing but \\xNN escapes)."""
    assert re.fullmatch(r"(\\x[0-9a-f]{2})+", pattern), pattern
    return bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", pattern))


# --- the frame file ----------------------------------------------------------------------


def test_frame_file_is_what_make_frames_makes_now():
    done = subprocess.run([sys.executable, str(ROBOT_DIR / "make_frames.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_requests_are_valid_frames_numbered_from_one():
    steps = _frames()["TRAIN_EXCHANGE"]
    for seq, step in enumerate(steps, start=1):
        request = _request(step)
        assert request.endswith(b"\x00") and request.count(0) == 1
        frame = decode_frame(request[:-1])
        assert frame.seq == seq and Command(frame.code).name == step["name"].split()[0]


def test_read_answers_are_ok_and_differ_from_what_was_written():
    """TRAIN must change every tensor, or reading back the written model
    would pass for a device that never trained."""
    written: dict[int, list[int]] = {}
    read: dict[int, list[int]] = {}
    for step in _frames()["TRAIN_EXCHANGE"]:
        request = decode_frame(_request(step)[:-1])
        tensor = request.payload[0] if request.payload else None
        if request.code == Command.WRITE_TENSOR:
            written.setdefault(tensor, []).extend(np.frombuffer(request.payload[7:], "<i4").tolist())
        elif request.code == Command.READ_TENSOR:
            answer = decode_frame(_bytes_of(step["answer"])[:-1])
            assert answer.seq == request.seq and answer.code == Command.READ_TENSOR | RESPONSE_BIT
            assert answer.payload[0] == Status.OK
            read.setdefault(tensor, []).extend(np.frombuffer(answer.payload[1:], "<i4").tolist())
    assert set(written) == set(read) and len(read) == 4  # W0 b0 W1 b1
    for tensor in read:
        assert written[tensor] != read[tensor], f"tensor 0x{tensor:02x} unchanged by the epoch"


# --- parsing ----------------------------------------------------------------------------------


def test_suites_pass_a_dry_run():
    done = _robot("--dryrun", "--variable", f"RENODEKEYWORDS:{STAND_INS}", str(ROBOT_DIR))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 tests, 2 passed" in done.stdout


def test_dry_run_catches_a_misspelt_keyword(tmp_path):
    broken = tmp_path / "robot"
    shutil.copytree(ROBOT_DIR, broken)
    suite = broken / "train_epoch.robot"
    suite.write_text(suite.read_text().replace("Exchange    ${step}", "Exchnage    ${step}"))
    done = _robot("--dryrun", "--variable", f"RENODEKEYWORDS:{STAND_INS}", str(broken))
    assert done.returncode != 0 and "Exchnage" in done.stdout


# --- running against the host build -------------------------------------------------------------


def _run_on_host(host_image: Path, folder: Path, board: str, *suites: str, out: Path,
                 timeout: float = 8) -> subprocess.CompletedProcess:
    return _robot(
        "--outputdir", str(out),  # where the suites put the UART's pty link
        "--variable", f"UART_TIMEOUT:{timeout}",
        "--variable", f"RENODEKEYWORDS:{ON_HOST}",
        "--variable", f"BOARD:{board}",
        "--variable", f"HOST_IMAGE:{host_image}",
        *[str(folder / s) for s in suites],
    )


def test_suites_pass_against_the_host_build(host_image, tmp_path):
    done = _run_on_host(host_image, ROBOT_DIR, "host", "identify.robot", "train_epoch.robot", out=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 tests, 2 passed" in done.stdout


def test_identify_fails_when_the_board_name_differs(host_image, tmp_path):
    done = _run_on_host(host_image, ROBOT_DIR, "renode-nrf52840", "identify.robot", out=tmp_path, timeout=1)
    assert done.returncode != 0 and "1 failed" in done.stdout


def test_train_epoch_fails_when_one_weight_is_off_by_one(host_image, tmp_path):
    copy = tmp_path / "robot"
    shutil.copytree(ROBOT_DIR, copy)
    frames = _frames(copy)
    steps = frames["TRAIN_EXCHANGE"]
    last_read = max(i for i, s in enumerate(steps) if s["name"].startswith("READ_TENSOR"))
    answer = decode_frame(_bytes_of(steps[last_read]["answer"])[:-1])
    values = np.frombuffer(answer.payload[1:], "<i4").copy()
    values[-1] += 1
    wrong = encode_frame(answer.seq, answer.code, b"\x00" + values.astype("<i4").tobytes())  # a valid frame, CRC and all
    steps[last_read]["answer"] = "".join(f"\\x{b:02x}" for b in wrong)
    text = (copy / "tifed_frames.py").read_text()
    head = text[: text.index("TRAIN_EXCHANGE = [")]
    (copy / "tifed_frames.py").write_text(head + f"TRAIN_EXCHANGE = {steps!r}\n")
    done = _run_on_host(host_image, copy, "host", "train_epoch.robot", out=tmp_path, timeout=1)
    assert done.returncode != 0 and "1 failed" in done.stdout
