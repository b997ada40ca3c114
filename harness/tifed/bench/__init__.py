"""`tifed bench`: the benchmark suite (interfaces.md "DIR/bench.json").

Sections, each in its own module: reference throughput (reference.py),
firmware cost on QEMU (firmware.py), wire bytes and fleet scaling
(fleet.py), accuracy with the paper's protocol (accuracy.py); runner.py
runs them, report.py writes bench.json and bench.md, plots.py the PNGs.
"""
