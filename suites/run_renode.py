"""`tox -e renode`: every Renode test against the real Renode, or one
explicit, passing skip where there is no Renode.

    python suites/run_renode.py [pytest args]    (tox -e renode [-- pytest args])

Renode absent (no TIFED_RENODE, no `renode` or `renode-run` on PATH, as in
CI, where no package installs it): prints `renode: SKIPPED (<why>)` and
exits 0. pytest would exit 5 on a run where everything is deselected, and
tox counts that as a failure, hence this wrapper.

Renode present: checks its version, then runs and judges
- pytest -m renode suites/emulated (the boards through the harness, the
  federated runs, bad input, and the Robot suites under renode-test);
- robot --include renode suites/acceptance (the acceptance cases on Renode).
It fails on any failure, and also on any skipped test or a part where
nothing passed: with Renode here, a skip means something else is missing
(the ARM toolchain, QEMU for the mixed run, renode-test), and the env has
then not run what it promises. TIFED_RENODE naming something that is not
an executable is a failure too, not an absence.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from tifed.boards import renode_script as rs

ROOT = Path(__file__).resolve().parents[1]


def _pytest(args: list[str], report: Path) -> tuple[int, dict[str, int]]:
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "-m", "renode",
                            f"--junitxml={report}", "suites/emulated", *args], cwd=ROOT)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if report.is_file():
        for suite in ET.parse(report).getroot().iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
    return code, counts


def _acceptance(folder: Path) -> int:
    subprocess.call([sys.executable, "-m", "robot", "--outputdir", str(folder), "--consolewidth", "100",
                     "--include", "renode", "suites/acceptance"], cwd=ROOT)
    return subprocess.call([sys.executable, "-m", "tifed.robot.check_output", "--label", "renode acceptance",
                            "--fail-on-skip", str(folder / "output.xml")], cwd=ROOT)


def main(argv: list[str]) -> int:
    command = rs.find_renode()
    if command is None:
        if os.environ.get("TIFED_RENODE"):
            print(f"renode: FAILED: {rs.missing_reason()}", file=sys.stderr)
            return 1
        print(f"renode: SKIPPED ({rs.missing_reason()}; nothing to run against; install: {rs.INSTALL_HINT})")
        return 0
    try:
        version = rs.check_version(command)
    except rs.RenodeError as exc:
        print(f"renode: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"renode: {' '.join(command)} is Renode {'.'.join(map(str, version))}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tifed-renode-env-") as tmp:
        code, counts = _pytest(argv, Path(tmp) / "pytest.xml")
        passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        print(f"renode pytest: {passed} passed, {counts['failures'] + counts['errors']} failed, "
              f"{counts['skipped']} skipped", flush=True)
        problems = []
        if code != 0:
            problems.append(f"pytest exited {code}")
        if counts["skipped"]:
            problems.append(f"{counts['skipped']} Renode tests skipped with Renode present (reasons above)")
        if passed == 0:
            problems.append("no Renode test passed")
        if argv:  # a selection of the pytest tests: the acceptance cases are not wanted then
            print("renode acceptance: not run (pytest arguments given)")
        elif _acceptance(Path(tmp) / "acceptance") != 0:
            problems.append("the acceptance suite's Renode cases did not all pass")
    for problem in problems:
        print(f"renode: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
