"""Engines: LiteRT (XNNPACK) vs a bare ``tf.function`` vs the app's path, per model.

Section ``engines`` (runs after ``inference``, reusing its predictors and its matmul peak):

* per model, interleaved in one loop so a shared machine's noise hits all alike: ``litert``
  (a forced-LiteRT predictor converted from the very model the app path uses), ``int8``
  (``engine="litert-int8"``, full-integer) and ``dynamic`` (``engine="litert-dynamic"``) of the
  same weights, ``bare`` (a bare ``tf.function(lambda x: model(x, training=False))``) and ``app``
  (the app's predictor with ``engine="auto"``: LiteRT where it answers, TensorFlow otherwise; its
  engine is printed); the share of the honest peak each reaches (2 × MACs / latency over
  :func:`cnnviz.bench.machine.matmul_peak`, the best of NumPy, TensorFlow and a LiteRT layer;
  int8 over :func:`~cnnviz.bench.machine.int8_peak`), never above 100 %
  (:func:`~cnnviz.bench.machine.honest_peak`); the size of each conversion on disk; int8's
  agreement with fp32 on the evaluation photos (:mod:`cnnviz.infer.quantized`);
* the sum of the app latencies over the sum of the bare ``tf.function`` latencies (issue 12's
  target: ≤ 0.35 on a 2-core CPU);
* the first conversion's cost (wall seconds, from this run or from the conversion's record);
* a fresh Python process loading every model from the cached conversions and answering one
  photo: "server start to warm" (with ImageNet weights through ``load_predictor``; with random
  weights the conversions of this run's weights are opened directly, which is what a cache hit does).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cnnviz import infer, litert
from cnnviz.bench.base import Context, Section, fmt, timed_ms
from cnnviz.bench.inference import model_macs
from cnnviz.bench.machine import honest_peak, int8_peak, matmul_peak, peak_share
from cnnviz.infer import quantized

#: The timed paths (shuffled every run).
PATHS = ("litert", "int8", "dynamic", "bare", "app")


def _load_quantized(name: str, app, engine: str):
    return infer.load_predictor(name, app.weights, model=app.model if app.weights is None else None,
                                engine=engine, runs=1, progress=lambda s, f: None)


def measure(ctx: Context) -> dict:
    import tensorflow as tf  # heavy: TF

    fp32_peak = matmul_peak()  # measured in this section, beside its latencies
    i8_peak = int8_peak()
    rows = []
    for name in ctx.names:
        app = ctx.predictors.get(name) or infer.load_predictor(name, None, runs=1, device=ctx.device)
        t0 = time.perf_counter()
        lite = infer.load_predictor(name, app.weights, model=app.model if app.weights is None else None,
                                    engine="litert", runs=1, progress=lambda s, f: None)
        lite_load_s = time.perf_counter() - t0
        model = app.model
        x = app.preprocess(ctx.photo)
        xt = tf.constant(x)
        bare = tf.function(lambda v, m=model: m(v, training=False))
        bare(xt).numpy()
        q8 = _load_quantized(name, app, "litert-int8")
        dyn = _load_quantized(name, app, "litert-dynamic")
        lite.run_compiled(x, 1)
        runners = {"litert": lite.run_compiled, "int8": q8.run_compiled, "dynamic": dyn.run_compiled,
                   "bare": lambda v, n: (None, [timed_ms(lambda: bare(xt).numpy())]), "app": app.run_compiled}
        times = {k: [] for k in PATHS}
        order = random.Random(21)
        for _ in range(ctx.runs):
            # A new order every run: a rotation keeps the same cyclic neighbours (LiteRT after LiteRT,
            # whose XNNPACK threads may still spin), a shuffle gives every path every neighbour.
            keys = list(PATHS)
            order.shuffle(keys)
            for key in keys:
                times[key].append(runners[key](x, 1)[1][0])
        med = {k: statistics.median(v) for k, v in times.items()}
        macs = model_macs(model)
        rate = {k: (2 * macs / (v / 1000) / 1e9 if macs else None) for k, v in med.items()}
        agreement = (q8.engine.check or {}).get("agreement")
        rows.append({
            "int8_ms": med["int8"], "dynamic_ms": med["dynamic"],
            "int8_speedup": med["litert"] / med["int8"], "dynamic_speedup": med["litert"] / med["dynamic"],
            "bytes": {"fp32": lite.model_bytes, "int8": q8.model_bytes, "dynamic": dyn.model_bytes},
            "int8_agreement": agreement, "int8_agreement_text": quantized.summary(agreement),
            "dynamic_agreement_text": quantized.summary((dyn.engine.check or {}).get("agreement")),
            "int8_flat": bool((q8.engine.check or {}).get("flat")),
            "rates": rate,
            "model": name, "display_name": app.display_name, "weights": app.weights or "random",
            "app_engine": app.engine.label("en"), "app_engine_note": app.engine.reason("en"),
            "litert_ms": med["litert"], "bare_ms": med["bare"], "app_ms": med["app"],
            "macs": macs, "threads": lite.engine.threads, "check": lite.engine.check,
            "converted_in_this_run_s": lite.engine.converted_s, "litert_load_s": lite_load_s,
            "conversion_wall_s": _conversion_wall_s(name),
        })
    peak, peak8 = add_peak_shares(rows, fp32_peak, i8_peak)
    sums = {k: sum(r[f"{k}_ms"] for r in rows) for k in PATHS}
    start = _server_start(ctx, rows)
    return {"engines": {"runs": ctx.runs, "peak_gflops": peak["gflops_median"], "peak": peak,
                        "int8_peak": peak8, "models": rows, "sums_ms": sums,
                        "ratio_app_bare": sums["app"] / sums["bare"] if sums["bare"] else None,
                        "ratio_litert_bare": sums["litert"] / sums["bare"] if sums["bare"] else None,
                        "server_start": start}}


#: Which peak each path is measured against: fp32 computation, or int8 (dynamic-range multiplies
#: int8 weights by activations quantized on the fly: XNNPACK's int8 kernels, not fp32 ones).
FP32_PATHS = ("litert", "bare", "app")
INT8_PATHS = ("int8", "dynamic")


def add_peak_shares(rows: list[dict], fp32_peak: dict, i8_peak: dict) -> tuple[dict, dict]:
    """Each row's ``<path>_peak_share`` over the honest peak of its arithmetic; returns (fp32 peak, int8 peak).

    A path's rate can raise only its own kind's peak (:func:`~cnnviz.bench.machine.honest_peak`): an
    int8 model beating every fp32 matmul says nothing about the fp32 peak.
    """
    peak = honest_peak(fp32_peak, {f"{r['display_name']} {k}": r["rates"][k] for r in rows for k in FP32_PATHS})
    peak8 = honest_peak(i8_peak, {f"{r['display_name']} {k}": r["rates"][k] for r in rows for k in INT8_PATHS},
                        "gops_median")
    for r in rows:
        for k in FP32_PATHS:
            r[f"{k}_peak_share"] = peak_share(r["rates"][k], peak)
        for k in INT8_PATHS:
            r[f"{k}_peak_share"] = peak_share(r["rates"][k], peak8, "gops_median")
    return peak, peak8


def _conversion_wall_s(name: str) -> float | None:
    walls = [row.get("wall_s") for row in litert.status() if row.get("model") == name and row.get("wall_s")]
    return max(walls) if walls else None


def _server_start(ctx: Context, rows: list[dict]) -> dict:
    """A fresh process: import, load every model from cached conversions, answer one photo."""
    imagenet = all(r["weights"] == "imagenet" for r in rows)
    if imagenet:
        code = ("import time,sys;t=time.perf_counter()\n"
                "from cnnviz import infer,images,samples\n"
                "img=samples.load_sample(samples.list_samples()[0])\n"
                "ps=[infer.load_predictor(n,'imagenet',runs=1) for n in sys.argv[1:]]\n"
                "[p.predict(img) for p in ps]\n"
                "print('ENGINES',[p.engine.id for p in ps]);print('WARM',time.perf_counter()-t)")
        args = list(ctx.names)
    else:
        paths = [str(p) for r in rows for p in _paths_of(r["model"])]
        code = ("import time,sys;t=time.perf_counter()\n"
                "import numpy as np\nfrom cnnviz import litert\n"
                "ms=[litert.LiteRTModel(p) for p in sys.argv[1:]]\n"
                "x=np.zeros((1,224,224,3),np.float32);[m(x) for m in ms]\n"
                "print('WARM',time.perf_counter()-t)")
        args = paths
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=str(Path(__file__).resolve().parents[2]), timeout=600)
    wall = time.perf_counter() - t0
    inside = next((float(l.split()[1]) for l in proc.stdout.splitlines() if l.startswith("WARM")), None)
    return {"mode": "load_predictor (ImageNet)" if imagenet else "cached conversions opened directly (random weights)",
            "process_wall_s": wall, "import_to_warm_s": inside, "ok": proc.returncode == 0,
            "error": None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1:]}


def _paths_of(name: str) -> list[Path]:
    files = sorted(litert.folder().glob(f"{name}-*.tflite"), key=lambda p: p.stat().st_mtime)
    return files[-1:]


def lines(report: dict) -> list[str]:
    e = report["engines"]
    pct = lambda v: fmt(v and v * 100, "5.1f")  # noqa: E731
    mb = lambda b: fmt(b and b / 1e6, "5.1f")  # noqa: E731
    out = ["", f"{'model':<18} {'weights':<8} {'LiteRT ms':>9} {'int8 ms':>8} {'dyn ms':>7} {'int8 ×':>6} "
               f"{'bare tf ms':>10} {'app ms':>8} {'LiteRT %pk':>10} {'int8 %pk8':>9} {'dyn %pk8':>8} {'bare %pk':>8} "
               f"{'MB fp32/int8/dyn':>18} {'app engine':<26} {'conversion':>10}"]
    for r in e["models"]:
        conv = fmt(r["converted_in_this_run_s"] or r["conversion_wall_s"], "7.0f") + " s"
        b = r["bytes"]
        sizes = f"{mb(b['fp32'])}/{mb(b['int8'])}/{mb(b['dynamic'])}"
        out.append(f"{r['display_name']:<18} {r['weights']:<8} {r['litert_ms']:>9.1f} {r['int8_ms']:>8.1f} "
                   f"{r['dynamic_ms']:>7.1f} {r['int8_speedup']:>5.2f}× {r['bare_ms']:>10.1f} "
                   f"{r['app_ms']:>8.1f} {pct(r['litert_peak_share']):>9}% {pct(r['int8_peak_share']):>8}% "
                   f"{pct(r.get('dynamic_peak_share')):>7}% "
                   f"{pct(r['bare_peak_share']):>7}% {sizes:>18} {r['app_engine']:<26} {conv:>10}")
    s = e["sums_ms"]
    pk, pk8 = e["peak"], e.get("int8_peak") or {}
    cands = ", ".join(f"{k} {v:.1f}" for k, v in (pk.get("candidates") or {}).items())
    out.append(f"sums: LiteRT {s['litert']:.1f} ms, int8 {s['int8']:.1f} ms, dynamic {s['dynamic']:.1f} ms, "
               f"bare tf.function {s['bare']:.1f} ms, app {s['app']:.1f} ms; "
               f"app/bare {fmt(e['ratio_app_bare'], '.2f')}, LiteRT/bare {fmt(e['ratio_litert_bare'], '.2f')} "
               f"(median of {e['runs']} interleaved runs)")
    out.append(f"%pk = 2·MACs/latency over the fp32 peak {pk['gflops_median']:.1f} GFLOP/s ({pk.get('source')}; "
               f"matmul 2048² candidates: {cands}); %pk8 = the same over the int8 peak "
               f"{fmt(pk8.get('gops_median'), '.1f')} GOP/s ({pk8.get('source')}; int8 and dynamic-range paths); "
               f"never above 100 %")
    for r in e["models"]:
        flat = " (random weights: flat outputs, agreement proves nothing)" if r["weights"] == "random" else ""
        slower = " — int8 is SLOWER than fp32 here" if r["int8_speedup"] < 1 else ""
        out.append(f"  {r['display_name']} int8 vs fp32: {r['int8_agreement_text']}{flat}{slower}")
    st = e["server_start"]
    out.append(f"server start → {len(e['models'])} models warm from cached conversions ({st['mode']}): "
               f"{fmt(st['process_wall_s'], '.1f')} s process wall, {fmt(st['import_to_warm_s'], '.1f')} s after "
               f"Python started" + ("" if st["ok"] else f" — FAILED: {st['error']}"))
    for r in e["models"]:
        if r["app_engine_note"]:
            out.append(f"  {r['display_name']}: {r['app_engine_note']}")
    return out


SECTION = Section("engines", measure, lines, when=lambda ctx: bool(ctx.predictors))
