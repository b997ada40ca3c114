"""Shared by every suite: the host firmware, built once per test session through harness/tifed/firmware/build.py."""
from __future__ import annotations

import pytest

# pytester: the pytest plugin's own tests (suites/unit/test_pytest_plugin.py)
# run pytest on a made-up user's test file.
pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def host_image():
    from tifed.boards.registry import get_board
    from tifed.firmware import build

    if not (build.firmware_dir() / "Makefile").is_file():
        pytest.skip("firmware/Makefile is not in this checkout")
    return get_board("host").build()


@pytest.fixture(scope="session")
def plugin_doc_example() -> str:
    """The example of docs/PYTEST_PLUGIN.md (its first python block), which
    the plugin's tests run as a user would."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "PYTEST_PLUGIN.md").read_text()
    return re.search(r"```python\n(.*?)```", doc, re.DOTALL).group(1)
