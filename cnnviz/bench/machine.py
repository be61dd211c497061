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
import timeit

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
    """fp32 GFLOP/s of a 2048×2048 matmul: the practical peak of this machine.

    The peak is NumPy's BLAS (OpenBLAS in the wheels) with its thread pool checked by
    ``threadpoolctl`` and set to every CPU, which is the higher and the honest reference;
    TensorFlow's own matmul is measured beside it (``tensorflow``) and reaches less (facts.md).
    Keys: ``gflops_median`` / ``gflops_best`` / ``median_ms`` (the peak), ``blas`` (library,
    version, threads), ``tensorflow`` (its GFLOP/s).
    """
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    cpus = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    a = rng.random((MATMUL_N, MATMUL_N), dtype=np.float32)
    b = rng.random((MATMUL_N, MATMUL_N), dtype=np.float32)
    with threadpool_limits(limits=cpus, user_api="blas"):
        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        np_times = _times(lambda: a @ b, runs)
    flops = 2 * MATMUL_N**3
    tf_times = _tf_times(runs)
    best, med = min(np_times), statistics.median(np_times)
    info = blas[0] if blas else {}
    return {"n": MATMUL_N, "median_ms": med * 1000, "gflops_median": flops / med / 1e9,
            "gflops_best": flops / best / 1e9, "source": "numpy-blas",
            "blas": {"library": info.get("internal_api", "?"), "version": info.get("version"),
                     "threads": info.get("num_threads"), "cpus": cpus,
                     "threading": info.get("threading_layer"), "architecture": info.get("architecture")},
            "tensorflow": {"gflops_median": flops / statistics.median(tf_times) / 1e9,
                           "gflops_best": flops / min(tf_times) / 1e9}}


def _times(fn, runs: int) -> list[float]:
    """Seconds of each of ``runs`` calls after one warm-up call."""
    fn()
    return timeit.repeat(fn, number=1, repeat=runs)


def _tf_times(runs: int) -> list[float]:
    import tensorflow as tf  # heavy: TF

    a = tf.random.uniform([MATMUL_N, MATMUL_N])
    b = tf.random.uniform([MATMUL_N, MATMUL_N])
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    return _times(lambda: mm(a, b).numpy(), runs)


def describe(device) -> dict:
    """CPUs, platform, Python and TensorFlow versions, and the device label."""
    import tensorflow as tf  # heavy: TF

    from cnnviz.infer import server_engine

    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "device": device.label(), "engine_setting": server_engine()}


def _measure(ctx: Context) -> dict:
    return {"machine": describe(ctx.device)}


def _lines(report: dict) -> list[str]:
    m = report["machine"]
    return [f"machine: {m['cpus']} CPUs, {m['device']}, TensorFlow {m['tensorflow']}, "
            f"CNNVIZ_ENGINE={m.get('engine_setting', 'auto')}"]


SECTION = Section("machine", _measure, _lines)
