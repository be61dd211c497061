"""This machine: its fp32 and int8 peaks (a 2048×2048 matmul), its memory readings, what it is.

:func:`matmul_peak` is what the inference section's GFLOP/s are compared with: the *best* of
NumPy's BLAS, TensorFlow's matmul and a one-layer LiteRT model (a 2048×2048 fully connected layer
on a batch of 2048, XNNPACK's kernels — what the LiteRT engines use), naming the one used
(``source``). :func:`int8_peak` is the same LiteRT layer converted full-integer (GOP/s).
:func:`peak_share` turns a rate into a share of a peak that is never above 100 %: a rate above
every reference means the references missed a faster kernel, so the peak becomes that rate and
says so (``source`` "<model> (above every matmul)").

:func:`rss_mb` / :func:`peak_rss_mb` are the one reader of the process's memory.
The ``machine`` section prints the closing "machine:" line.
"""

from __future__ import annotations

import contextlib
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


def matmul_peak(runs: int = 10, *, litert_fc: bool = True) -> dict:
    """fp32 GFLOP/s of a 2048×2048 matmul: the practical peak of this machine, the best of three.

    Candidates (``candidates``: GFLOP/s median of each): NumPy's BLAS (``numpy-blas``, OpenBLAS in
    the wheels, its thread pool checked by ``threadpoolctl`` and set to every CPU), TensorFlow's
    matmul (``tensorflow``) and a one-layer LiteRT model (``litert-fc``, skipped when LiteRT is
    not installed or ``litert_fc=False``). The peak is the highest median (``source`` names it).
    Keys: ``gflops_median`` / ``gflops_best`` / ``median_ms`` (the peak), ``source``,
    ``candidates``, ``blas`` (library, version, threads), ``tensorflow`` (its GFLOP/s).
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
    times = {"numpy-blas": np_times, "tensorflow": tf_times}
    if litert_fc:
        fc = litert_fc_times("fp32", runs)
        if fc:
            times["litert-fc"] = fc
    source = min(times, key=lambda k: statistics.median(times[k]))
    best, med = min(times[source]), statistics.median(times[source])
    info = blas[0] if blas else {}
    return {"n": MATMUL_N, "median_ms": med * 1000, "gflops_median": flops / med / 1e9,
            "gflops_best": flops / best / 1e9, "source": source,
            "candidates": {k: flops / statistics.median(v) / 1e9 for k, v in times.items()},
            "blas": {"library": info.get("internal_api", "?"), "version": info.get("version"),
                     "threads": info.get("num_threads"), "cpus": cpus,
                     "threading": info.get("threading_layer"), "architecture": info.get("architecture")},
            "tensorflow": {"gflops_median": flops / statistics.median(tf_times) / 1e9,
                           "gflops_best": flops / min(tf_times) / 1e9}}


def int8_peak(runs: int = 10) -> dict:
    """int8 GOP/s of the one-layer LiteRT model converted full-integer (XNNPACK's int8 kernels, VNNI
    where the CPU has it): the reference of the int8 figures. Empty dict without LiteRT."""
    times = litert_fc_times("int8", runs)
    if not times:
        return {}
    ops = 2 * MATMUL_N**3
    med = statistics.median(times)
    return {"n": MATMUL_N, "median_ms": med * 1000, "gops_median": ops / med / 1e9,
            "gops_best": ops / min(times) / 1e9, "source": "litert-fc-int8"}


def litert_fc_times(quant: str, runs: int) -> list[float] | None:
    """Seconds per call of a LiteRT model with one 2048×2048 fully connected layer on a 2048×2048
    batch (``quant`` "fp32" or "int8" full-integer, float32 in and out); None without LiteRT."""
    import shutil
    import tempfile
    from pathlib import Path

    import numpy as np

    from cnnviz import litert

    try:
        litert.runtime()
    except litert.LiteRTUnavailable:
        return None
    flat = _fc_flatbuffer(quant)
    folder = Path(tempfile.mkdtemp(prefix="cnnviz-fc-"))
    try:
        path = folder / f"fc-{quant}.tflite"
        path.write_bytes(flat)  # a scratch file of this call only: no reader to protect
        model = litert.LiteRTModel(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    x = np.random.default_rng(1).random((MATMUL_N, MATMUL_N), dtype=np.float32)
    return _times(lambda: model(x), runs)


@contextlib.contextmanager
def _stdout_to_stderr():
    """The converter prints to stdout (Python and C++): keep ``bench --json``'s stdout clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _fc_flatbuffer(quant: str) -> bytes:
    with _stdout_to_stderr():
        return _fc_convert(quant)


def _fc_convert(quant: str) -> bytes:
    import numpy as np
    import tensorflow as tf  # heavy: TF

    n = MATMUL_N
    dense = tf.keras.layers.Dense(n, use_bias=False)
    inp = tf.keras.Input((n,), batch_size=n)
    model = tf.keras.Model(inp, dense(inp))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quant == "int8":
        rng = np.random.default_rng(2)

        def representative():
            for _ in range(2):
                yield [rng.random((n, n), dtype=np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def peak_share(rate: float | None, peak: dict, key: str = "gflops_median") -> float | None:
    """``rate`` (GFLOP/s or GOP/s) as a share of ``peak[key]``, never above 1 (see :func:`honest_peak`)."""
    if not rate or not peak or not peak.get(key):
        return None
    return min(1.0, float(rate) / float(peak[key]))


def honest_peak(peak: dict, rates: dict[str, float | None], key: str = "gflops_median") -> dict:
    """The peak that no measured rate exceeds: ``peak`` itself, or — when a model's rate in ``rates``
    (name → GFLOP/s) is above it — that rate, with ``source`` "<name> (above every matmul)" and the
    matmul's own figure kept as ``matmul``. A share of it (:func:`peak_share`) is then ≤ 100 %."""
    out = dict(peak or {})
    best = max(((r, n) for n, r in rates.items() if r), default=None)
    if best and (not out.get(key) or best[0] > out[key]):
        out["matmul"] = {"source": out.get("source"), key: out.get(key)}
        out[key] = best[0]
        out["source"] = f"{best[1]} (above every matmul)"
    return out


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
