"""What the numbers were measured on, and pinning BLAS to one thread.

The reference multiplies integer matrices through float64 BLAS
(tifed_models.exact_matmul), so its speed depends on the BLAS library and
its thread count. "Samples per second on one core" is measured with BLAS
limited to one thread by threadpoolctl; the thread count in force and the
OPENBLAS_* variables the machine sets are recorded next to the number.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys

import numpy as np


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def blas_info() -> list[dict]:
    """The BLAS libraries NumPy loaded, with their current thread counts."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("internal_api", "version", "num_threads", "architecture", "threading_layer")
    return [{k: v for k, v in pool.items() if k in keep} for pool in threadpool_info() if pool.get("user_api") == "blas"]


@contextlib.contextmanager
def one_blas_thread():
    """BLAS limited to one thread inside the block; yields the thread count
    in force (1, or None when threadpoolctl is missing and it is unknown)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield None
        return
    with threadpool_limits(limits=1, user_api="blas"):
        threads = {pool.get("num_threads") for pool in blas_info()}
        yield threads.pop() if len(threads) == 1 else None


@contextlib.contextmanager
def all_blas_threads():
    """BLAS allowed one thread per core inside the block (undoes an outer
    one_blas_thread), for the informational all-threads figure."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=os.cpu_count() or 1, user_api="blas"):
        yield


def machine_info() -> dict:
    """bench.json "machine"."""
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count() or 1,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "python_implementation": sys.implementation.name,
        "blas": blas_info(),
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(("OPENBLAS_", "OMP_", "MKL_"))},
        "load_average_start": load_average(),
    }
