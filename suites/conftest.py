"""Shared by every suite: the host firmware, built once per test session through harness/tifed/firmware/build.py."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def host_image():
    from tifed.boards.registry import get_board
    from tifed.firmware import build

    if not (build.firmware_dir() / "Makefile").is_file():
        pytest.skip("firmware/Makefile is not in this checkout")
    return get_board("host").build()
