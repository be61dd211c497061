"""Engines: LiteRT (XNNPACK) vs a bare ``tf.function`` vs the app's path, per model.

Section ``engines`` (runs after ``inference``, reusing its predictors and its matmul peak):

* per model, interleaved in one loop so a shared machine's noise hits all three alike: ``litert``
  (a forced-LiteRT predictor converted from the very model the app path uses), ``bare`` (a bare
  ``tf.function(lambda x: model(x, training=False))``) and ``app`` (the app's predictor with
  ``engine="auto"``: LiteRT where it answers, TensorFlow otherwise; its engine is printed);
  the share of the matmul peak each reaches (2 × MACs / latency);
* the sum of the app latencies over the sum of the bare ``tf.function`` latencies (issue 12's
  target: ≤ 0.35 on a 2-core CPU);
* the first conversion's cost (wall seconds, from this run or from the conversion's record);
* a fresh Python process loading every model from the cached conversions and answering one
  photo: "server start to warm" (with ImageNet weights through ``load_predictor``; with random
  weights the conversions of this run's weights are opened directly, which is what a cache hit does).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cnnviz import infer, litert
from cnnviz.bench.base import Context, Section, fmt, timed_ms
from cnnviz.bench.inference import model_macs


def measure(ctx: Context) -> dict:
    import tensorflow as tf  # heavy: TF

    from cnnviz.bench.machine import matmul_peak

    peak = matmul_peak()["gflops_median"]  # measured in this section, beside its latencies
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
        lite.run_compiled(x, 1)
        lite_ms, bare_ms, app_ms = [], [], []
        paths = [lambda: lite_ms.append(lite.run_compiled(x, 1)[1][0]),
                 lambda: bare_ms.append(timed_ms(lambda: bare(xt).numpy())),
                 lambda: app_ms.append(app.run_compiled(x, 1)[1][0])]
        for r in range(ctx.runs):
            for k in range(len(paths)):
                paths[(r + k) % len(paths)]()
        med = {k: statistics.median(v) for k, v in (("litert", lite_ms), ("bare", bare_ms), ("app", app_ms))}
        macs = model_macs(model)
        share = {k: (2 * macs / (v / 1000) / 1e9 / peak if macs else None) for k, v in med.items()}
        rows.append({
            "model": name, "display_name": app.display_name, "weights": app.weights or "random",
            "app_engine": app.engine.label("en"), "app_engine_note": app.engine.reason("en"),
            "litert_ms": med["litert"], "bare_ms": med["bare"], "app_ms": med["app"],
            "litert_peak_share": share["litert"], "bare_peak_share": share["bare"], "app_peak_share": share["app"],
            "macs": macs, "threads": lite.engine.threads, "check": lite.engine.check,
            "converted_in_this_run_s": lite.engine.converted_s, "litert_load_s": lite_load_s,
            "conversion_wall_s": _conversion_wall_s(name),
        })
    sums = {k: sum(r[f"{k}_ms"] for r in rows) for k in ("litert", "bare", "app")}
    start = _server_start(ctx, rows)
    return {"engines": {"runs": ctx.runs, "peak_gflops": peak, "models": rows, "sums_ms": sums,
                        "ratio_app_bare": sums["app"] / sums["bare"] if sums["bare"] else None,
                        "ratio_litert_bare": sums["litert"] / sums["bare"] if sums["bare"] else None,
                        "server_start": start}}


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
    out = ["", f"{'model':<18} {'weights':<8} {'LiteRT ms':>9} {'bare tf ms':>10} {'app ms':>8} {'LiteRT %pk':>10} "
               f"{'bare %pk':>8} {'app engine':<26} {'conversion':>10}"]
    for r in e["models"]:
        pct = lambda v: fmt(v and v * 100, "5.1f")  # noqa: E731
        conv = fmt(r["converted_in_this_run_s"] or r["conversion_wall_s"], "7.0f") + " s"
        out.append(f"{r['display_name']:<18} {r['weights']:<8} {r['litert_ms']:>9.1f} {r['bare_ms']:>10.1f} "
                   f"{r['app_ms']:>8.1f} {pct(r['litert_peak_share']):>9}% {pct(r['bare_peak_share']):>7}% "
                   f"{r['app_engine']:<26} {conv:>10}")
    s = e["sums_ms"]
    out.append(f"sums: LiteRT {s['litert']:.1f} ms, bare tf.function {s['bare']:.1f} ms, app {s['app']:.1f} ms; "
               f"app/bare {fmt(e['ratio_app_bare'], '.2f')}, LiteRT/bare {fmt(e['ratio_litert_bare'], '.2f')} "
               f"(median of {e['runs']} interleaved runs; %pk = 2·MACs/latency over the {e['peak_gflops']:.1f} "
               f"GFLOP/s matmul peak)")
    st = e["server_start"]
    out.append(f"server start → {len(e['models'])} models warm from cached conversions ({st['mode']}): "
               f"{fmt(st['process_wall_s'], '.1f')} s process wall, {fmt(st['import_to_warm_s'], '.1f')} s after "
               f"Python started" + ("" if st["ok"] else f" — FAILED: {st['error']}"))
    for r in e["models"]:
        if r["app_engine_note"]:
            out.append(f"  {r['display_name']}: {r['app_engine_note']}")
    return out


SECTION = Section("engines", measure, lines, when=lambda ctx: bool(ctx.predictors))
