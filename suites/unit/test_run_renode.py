"""suites/run_renode.py, the `tox -e renode` runner, where Renode is absent
or broken: an explicit skip that passes, or a failure; never pytest's exit
5 (collected nothing), which tox counts as a failure."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(env_path: str, **env) -> subprocess.CompletedProcess:
    import os

    environment = {k: v for k, v in os.environ.items() if k != "TIFED_RENODE"}
    environment.update(PATH=env_path, **env)
    return subprocess.run([sys.executable, str(ROOT / "suites" / "run_renode.py")], capture_output=True, text=True,
                          env=environment, timeout=120)


def test_without_renode_it_says_skipped_and_passes(tmp_path):
    done = _run(str(tmp_path))  # a PATH with no renode and no renode-run
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("renode: SKIPPED (renode not found on PATH")


def test_a_tifed_renode_that_is_no_program_fails(tmp_path):
    done = _run(str(tmp_path), TIFED_RENODE=str(tmp_path / "nothing-here"))
    assert done.returncode == 1 and "renode: FAILED: TIFED_RENODE=" in done.stderr


def test_a_renode_that_is_not_renode_fails(tmp_path):
    fake = tmp_path / "renode"
    fake.write_text("#!/bin/sh\necho 'hello'\n")
    fake.chmod(0o755)
    done = _run(str(tmp_path), TIFED_RENODE=str(fake))
    assert done.returncode == 1 and "is not Renode" in done.stderr
