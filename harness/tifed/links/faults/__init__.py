"""Fault injection for the links between the harness and its devices.

`fault://<inner URL>#<faults>` is a pyserial URL (protocol_fault.py) that
wraps any other link and corrupts, drops, duplicates and delays its bytes
and frames at the rates of a FaultSpec (spec.py), from a seeded random
stream (injector.py). `tifed run --faults SPEC` puts every device of a run
behind one; tests use it to show the protocol survives a bad line.
"""
from __future__ import annotations

import serial

from tifed.links.faults.injector import FaultCounts, FaultStream, sum_fault_counts
from tifed.links.faults.spec import FaultSpec, parse_faults

PACKAGE = "tifed.links.faults"

__all__ = ["FaultCounts", "FaultSpec", "FaultStream", "fault_url", "parse_faults", "register", "sum_fault_counts"]


def register() -> None:
    """Make serial.serial_for_url accept fault:// URLs (idempotent)."""
    if PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(PACKAGE)


def fault_url(inner_url: str, spec: FaultSpec) -> str:
    """The fault:// URL that puts `spec` between the harness and `inner_url`."""
    register()
    return f"fault://{inner_url}#{spec.text() or 'seed=0'}"
