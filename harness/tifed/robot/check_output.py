"""Judge a Robot run by its output.xml: fail when a test failed AND when no
test passed. Robot itself exits 0 when every test was skipped, or filtered
away by --include, which for an acceptance suite proves nothing.

    python -m tifed.robot.check_output OUTPUT.xml

Prints each failed and skipped test with its message, then one closing line
`acceptance: N passed, N failed, N skipped`. Exit 0 only with at least one
pass and no failure (and, with --fail-on-skip, no skipped test).
"""
from __future__ import annotations

import argparse
import sys

from robot.api import ExecutionResult
from robot.errors import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check_output", description=__doc__.splitlines()[0])
    parser.add_argument("output", help="Robot's output.xml")
    parser.add_argument("--label", default="acceptance", help="the word before the counts")
    parser.add_argument("--fail-on-skip", action="store_true", help="a skipped test fails the run too")
    args = parser.parse_args(argv)
    try:
        result = ExecutionResult(args.output)
    except (DataError, OSError) as exc:
        print(f"{args.label}: error: cannot read {args.output} ({exc}); did robot run?", file=sys.stderr)
        return 2
    for test in result.suite.all_tests:
        if test.status in ("FAIL", "SKIP"):
            message = (test.message.strip().splitlines() or [""])[0]
            print(f"  {test.status}  {test.longname}: {message}")
    total = result.statistics.total
    print(f"{args.label}: {total.passed} passed, {total.failed} failed, {total.skipped} skipped")
    if total.failed:
        return 1
    if args.fail_on_skip and total.skipped:
        print(f"{args.label}: error: {total.skipped} skipped; every selected test must run here", file=sys.stderr)
        return 1
    if total.passed == 0:
        print(f"{args.label}: error: no test passed ({total.skipped} skipped); nothing was accepted", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
