"""Robot Framework keywords for the acceptance suite (suites/acceptance/).

    Library    tifed.robot.TifedKeywords

The keywords run the real `tifed` command as a user does (a subprocess) and
read what it leaves behind, so a suite written with them is a user's spec:
each keyword states a claim and fails with one clear message when the claim
is false. Needs robotframework (the `test` extra).
"""
from tifed.robot.keywords import TifedKeywords

__all__ = ["TifedKeywords"]
