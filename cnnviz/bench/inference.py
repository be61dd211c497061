"""Classification: latency, GFLOP/s, upload → results and memory of the app's inference.

Three sections:

* ``inference``: per model, the parameters and MACs, then the median latency of three ways
  of running the same model on the same preprocessed image, measured interleaved in the
  same loop so that the noise of a shared machine hits all three alike: ``app`` (the app's
  path, ``Predictor``'s compiled function: what the page reports), ``bare`` (a bare
  ``tf.function(lambda x: model(x, training=False))``) and ``predict`` (Keras'
  ``model.predict``, what most tutorials use). ``app/bare`` should stay ≤ 1.10. Achieved
  GFLOP/s = 2·MACs / app latency, compared with this machine's fp32 peak measured before
  and after the models (:func:`cnnviz.bench.machine.matmul_peak`).
* ``upload``: what the page does for a new photo: decode a 12 MP JPEG, then one prediction
  per model, next to the sum of the inference latencies.
* ``memory``: peak RSS with every model loaded and warm, and the RSS growth over repeated
  predictions (should be ~0).

Weights: ImageNet when cached, random otherwise (the amount of computation is the same;
the report says which). The predictors loaded by ``inference`` are reused by the two others.
"""

from __future__ import annotations

import io
import statistics
import time
from typing import Callable

import numpy as np
from PIL import Image

from cnnviz import images, infer, samples
from cnnviz.zoo import pretrained
from cnnviz.bench.base import Context, Section, fmt, timed_ms
from cnnviz.bench.machine import MATMUL_N, honest_peak, int8_peak, matmul_peak, peak_rss_mb, peak_share, rss_mb
from cnnviz.inspect import summarize

#: Engines whose arithmetic is int8 (full-integer, dynamic-range): measured against the int8 peak.
INT8_ENGINES = tuple(engine for engine, quant in infer.LITERT_ENGINES.items() if quant != "fp32")

PHOTO_SIZE = (4032, 3024)  # a 12 MP phone photo


def sample_photo(size=PHOTO_SIZE, variant: int = 0) -> bytes:
    """A 12 MP JPEG like a phone's: a sample photo scaled up, or a synthetic gradient.

    ``variant`` changes a corner patch, so each variant is a new upload (new content hash).
    """
    img = None
    try:
        names = samples.list_samples()
        if names:
            img = samples.load_sample(names[0])
    except Exception:
        img = None
    if img is None:
        yy, xx = np.mgrid[0:480, 0:640]
        arr = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=-1).astype("uint8")
        img = Image.fromarray(arr)
    img = img.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    if variant:
        img.paste((37 * variant % 256, 91 * variant % 256, 53 * variant % 256), (0, 0, 64, 64))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def model_macs(model) -> int | None:
    """The model's multiply-accumulates per image (``inspect.summarize``), or None when a layer cannot be counted."""
    try:
        macs = summarize(model).macs
    except Exception:  # a layer inspect cannot count must not sink the latency figures
        return None
    return int(macs) if macs is not None else None


def _weights_modes(names: list[str], force_random: bool) -> dict[str, str | None]:
    if force_random:
        return {n: None for n in names}
    try:
        cached = {e.name for e in pretrained.status(names, verify=False) if e.state == "cached"}
    except Exception:
        cached = set()
    return {n: "imagenet" if n in cached else None for n in names}


# --------------------------------------------------------------------------- latency

def measure_models(ctx: Context) -> dict:
    """Load every model, time the three paths interleaved; the peak before and after."""
    import tensorflow as tf  # heavy: TF

    peak_before = matmul_peak()
    blas = peak_before.get("blas", {})
    cands = ", ".join(f"{k} {v:.1f}" for k, v in peak_before["candidates"].items())
    ctx.log(f"matmul {MATMUL_N}×{MATMUL_N} fp32: {peak_before['gflops_median']:.1f} GFLOP/s (median, best of "
            f"{cands}: {peak_before['source']}; NumPy {blas.get('library', 'BLAS')}, {blas.get('threads')} threads)")
    weights = _weights_modes(ctx.names, ctx.random_weights)
    photo = ctx.photo = images.load_image(sample_photo())
    rows = []
    runs = ctx.runs
    ctx.rss_start_mb = rss_mb()
    for name in ctx.names:
        t0 = time.perf_counter()
        predictor = infer.load_predictor(name, weights[name], runs=1, device=ctx.device,
                                           engine=getattr(ctx, "engine", "auto"))
        ctx.predictors[name] = predictor
        model = predictor.model
        x = predictor.preprocess(photo)
        xt = tf.constant(x)
        bare = tf.function(lambda v, m=model: m(v, training=False))
        bare_first_ms = timed_ms(lambda: bare(xt).numpy())
        predict_first_ms = timed_ms(lambda: model.predict(x, verbose=0))
        ctx.log(f"{predictor.display_name}: loaded in {(time.perf_counter() - t0):.1f} s "
                f"({'ImageNet' if weights[name] else 'random'} weights, {predictor.engine.label()})")

        app_ms, bare_ms, predict_ms = [], [], []
        paths = [
            ("app", lambda: app_ms.append(predictor.run_compiled(x, 1)[1][0])),
            ("bare", lambda: bare_ms.append(timed_ms(lambda: bare(xt).numpy()))),
            ("predict", lambda: predict_ms.append(timed_ms(lambda: model.predict(x, verbose=0)))),
        ]
        for r in range(runs):
            # Rotate the order every run so no path always follows the same neighbour.
            for k in range(len(paths)):
                paths[(r + k) % len(paths)][1]()
        app, bare_med, pred_med = (statistics.median(v) for v in (app_ms, bare_ms, predict_ms))
        macs = model_macs(model)
        gflops = 2 * macs / (app / 1000) / 1e9 if macs else None
        rows.append({
            "model": name, "display_name": predictor.display_name, "weights": weights[name] or "random",
            "engine": predictor.engine.id,
            "params": predictor.params, "macs": macs, "input": list(predictor.input_size),
            "load_ms": predictor.load_ms, "first_call_ms": predictor.first_call_ms,
            "bare_first_call_ms": bare_first_ms, "predict_first_call_ms": predict_first_ms,
            "app_ms": app, "bare_ms": bare_med, "predict_ms": pred_med,
            "app_min_ms": min(app_ms), "bare_min_ms": min(bare_ms),
            "ratio_app_bare": app / bare_med, "ratio_app_bare_min": min(app_ms) / min(bare_ms),
            "ratio_predict_app": pred_med / app,
            "gflops": gflops,
        })

    peak_after = matmul_peak()
    best = max((peak_before, peak_after), key=lambda p: p["gflops_median"])
    honest, peak8 = assign_peak_shares(rows, best, int8_peak)
    out = {"runs": runs, "matmul_peak": {"before": peak_before, "after": peak_after,
                                         "gflops": honest["gflops_median"], "source": honest["source"]},
           "models": rows}
    if peak8:
        out["int8_peak"] = {"gops": peak8.get("gops_median"), "source": peak8.get("source")}
    return out


def assign_peak_shares(rows: list[dict], fp32_peak: dict, measure_int8: Callable[[], dict]) -> tuple[dict, dict]:
    """Each row's ``peak_kind`` and ``peak_share``: an int8 engine multiplies int8, so its share is of
    the int8 peak (measured by ``measure_int8`` only when such a row exists), never of the fp32 one;
    each kind's honest peak is raised only by its own rows. Returns (fp32 peak, int8 peak or {})."""
    for row in rows:
        row["peak_kind"] = "int8" if row["engine"] in INT8_ENGINES else "fp32"
    rates = {kind: {r["display_name"]: r["gflops"] for r in rows if r["peak_kind"] == kind} for kind in ("fp32", "int8")}
    honest = honest_peak(fp32_peak, rates["fp32"])
    peak8 = honest_peak(measure_int8(), rates["int8"], "gops_median") if rates["int8"] else {}
    for row in rows:
        row["peak_share"] = (peak_share(row["gflops"], peak8, "gops_median") if row["peak_kind"] == "int8"
                             else peak_share(row["gflops"], honest))
    return honest, peak8


def models_lines(report: dict) -> list[str]:
    rows = report["models"]
    out = ["", f"{'model':<18} {'weights':<8} {'params':>12} {'MACs':>8} {'app ms':>8} {'bare ms':>8} "
               f"{'predict ms':>10} {'app/bare':>8} {'(min)':>6} {'pred/app':>8} {'GFLOP/s':>8} {'of peak':>7} "
               f"{'1st call':>9}"]
    for r in rows:
        macs = f"{r['macs'] / 1e9:.2f}G" if r["macs"] else "n/a"
        out.append(f"{r['display_name']:<18} {r['weights']:<8} {r['params']:>12,} {macs:>8} {r['app_ms']:>8.1f} "
                   f"{r['bare_ms']:>8.1f} {r['predict_ms']:>10.1f} {r['ratio_app_bare']:>8.3f} "
                   f"{r['ratio_app_bare_min']:>6.3f} {r['ratio_predict_app']:>7.1f}× {fmt(r['gflops'], '8.1f'):>8} "
                   f"{fmt(r['peak_share'] and r['peak_share'] * 100, '6.1f'):>6}% {r['first_call_ms']:>7.0f}ms")
    peak = report["matmul_peak"]
    out.append(f"\napp/bare: ratio of medians, (min): ratio of the fastest runs; "
               f"median of {report['runs']} interleaved runs each; peak = {MATMUL_N}×{MATMUL_N} fp32 matmul, the best "
               f"of NumPy's BLAS, TensorFlow and a LiteRT fully connected layer: "
               f"{peak['gflops']:.1f} GFLOP/s ({peak.get('source')}; before {peak['before']['gflops_median']:.1f}, "
               f"after {peak['after']['gflops_median']:.1f}); a share never exceeds 100 %")
    if report.get("int8_peak"):
        p8 = report["int8_peak"]
        out.append(f"int8 engines (GOP/s) over the int8 peak instead: {fmt(p8['gops'], '.1f')} GOP/s ({p8['source']})")
    if any(r["weights"] == "random" for r in rows):
        out.append("random weights where ImageNet weights are not cached: same computation, meaningless classes")
    return out


# --------------------------------------------------------------------------- upload → results

def measure_upload(ctx: Context) -> dict:
    """Decode a new 12 MP photo, then one prediction per model (what the page does)."""
    jpeg = sample_photo()
    upload = []
    for _ in range(3):
        t0 = time.perf_counter()
        img = images.load_image(jpeg, max_side=images.PAGE_MAX_SIDE)  # what the pages decode
        decode_ms = (time.perf_counter() - t0) * 1000
        preds = [ctx.predictors[n].predict(img, runs=1) for n in ctx.names]
        total_ms = (time.perf_counter() - t0) * 1000
        infer_sum = sum(p.inference_ms for p in preds)
        upload.append({"decode_ms": decode_ms, "preprocess_sum_ms": sum(p.preprocess_ms for p in preds),
                       "total_ms": total_ms, "inference_sum_ms": infer_sum, "overhead_ms": total_ms - infer_sum})
    return {"upload_to_results": {
        "photo": f"{PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEG, {len(jpeg) / 2**20:.1f} MB",
        "runs": upload,
        "median_total_ms": statistics.median(u["total_ms"] for u in upload),
        "median_inference_sum_ms": statistics.median(u["inference_sum_ms"] for u in upload),
        "median_overhead_ms": statistics.median(u["overhead_ms"] for u in upload),
        "median_decode_ms": statistics.median(u["decode_ms"] for u in upload),
        "median_preprocess_sum_ms": statistics.median(u["preprocess_sum_ms"] for u in upload),
    }}


def upload_lines(report: dict) -> list[str]:
    up = report["upload_to_results"]
    return [f"\nupload → results ({up['photo']}, one prediction per model): {up['median_total_ms']:.0f} ms "
            f"= inference {up['median_inference_sum_ms']:.0f} ms + overhead {up['median_overhead_ms']:.0f} ms "
            f"(decode {up['median_decode_ms']:.0f} ms, resize/crop + preprocessing "
            f"{up['median_preprocess_sum_ms']:.0f} ms)"]


# --------------------------------------------------------------------------- memory

def measure_memory(ctx: Context) -> dict:
    """All models warm; then repeated predictions must not grow the process.

    Allocator arenas fill during the first calls: settle, then sample RSS every round.
    """
    photo = ctx.photo
    names = ctx.names
    for _ in range(5):
        for n in names:
            ctx.predictors[n].predict(photo, runs=1)
    rss_before = rss_mb()
    rss_samples = [rss_before]
    for _ in range(ctx.repeat):
        for n in names:
            ctx.predictors[n].predict(photo, runs=1)
        rss_samples.append(rss_mb())
    rss_after = rss_samples[-1]
    # LiteRT predictors have no tf.function (0 traces).
    tf_engines = {n: ctx.predictors[n].tf_engine for n in names}
    tracing = {n: int(e.fn.experimental_get_tracing_count()) if e is not None else 0 for n, e in tf_engines.items()}
    return {"memory": {
        "rss_at_start_mb": ctx.rss_start_mb, "peak_rss_mb": peak_rss_mb(),
        "rss_before_repeat_mb": rss_before, "rss_after_repeat_mb": rss_after, "growth_mb": rss_after - rss_before,
        "growth_second_half_mb": rss_samples[-1] - rss_samples[len(rss_samples) // 2],
        "rss_samples_mb": rss_samples, "predictions": ctx.repeat * len(names), "traces_per_model": tracing,
    }}


def memory_lines(report: dict) -> list[str]:
    mem = report["memory"]
    return [f"memory: peak RSS {mem['peak_rss_mb']:.0f} MB with {len(report['models'])} models warm; "
            f"RSS {mem['rss_before_repeat_mb']:.0f} → {mem['rss_after_repeat_mb']:.0f} MB over "
            f"{mem['predictions']} predictions (growth {mem['growth_mb']:+.1f} MB, "
            f"second half {mem['growth_second_half_mb']:+.1f} MB); "
            f"traces per model: {sorted(set(mem['traces_per_model'].values()))}"]


MODELS = Section("inference", measure_models, models_lines)
# Both reuse the predictors the inference section loaded (skipped with it).
UPLOAD = Section("upload", measure_upload, upload_lines, when=lambda ctx: bool(ctx.predictors))
MEMORY = Section("memory", measure_memory, memory_lines, when=lambda ctx: bool(ctx.predictors))
