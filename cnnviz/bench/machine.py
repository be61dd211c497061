"""This machine: its fp32 peak (a 2048×2048 matmul), its memory readings, what it is.

:func:`matmul_peak` is what the inference section's GFLOP/s are compared with;
:func:`rss_mb` / :func:`peak_rss_mb` are the one reader of the process's memory.
The ``machine`` section prints the closing "machine:" line.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time

from cnnviz.bench.base import Context, Section

MATMUL_N = 2048


def _proc_status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status ("VmRSS", "VmHWM") in MB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; falls back to the peak elsewhere)."""
    current = _proc_status_mb("VmRSS")
    return current if current is not None else peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size in MB: VmHWM on Linux (same source as :func:`rss_mb`), else getrusage."""
    peak_mb = _proc_status_mb("VmHWM")
    if peak_mb is not None:
        return peak_mb
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KB on Linux


def matmul_peak(runs: int = 10) -> dict:
    """fp32 GFLOP/s of a 2048×2048 matmul (the practical peak of this machine)."""
    import tensorflow as tf  # heavy: TF

    a = tf.random.uniform([MATMUL_N, MATMUL_N])
    b = tf.random.uniform([MATMUL_N, MATMUL_N])
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    mm(a, b).numpy()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        mm(a, b).numpy()
        times.append(time.perf_counter() - t0)
    best, med = min(times), statistics.median(times)
    flops = 2 * MATMUL_N**3
    return {"n": MATMUL_N, "median_ms": med * 1000, "gflops_median": flops / med / 1e9, "gflops_best": flops / best / 1e9}


def describe(device) -> dict:
    """CPUs, platform, Python and TensorFlow versions, and the device label."""
    import tensorflow as tf  # heavy: TF

    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "device": device.label()}


def _measure(ctx: Context) -> dict:
    return {"machine": describe(ctx.device)}


def _lines(report: dict) -> list[str]:
    m = report["machine"]
    return [f"machine: {m['cpus']} CPUs, {m['device']}, TensorFlow {m['tensorflow']}"]


SECTION = Section("machine", _measure, _lines)
