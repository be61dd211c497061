"""``python -m cnnviz bench``: latency, throughput and memory of the app's inference on this machine.

For each model it prints the parameters and MACs, then the median latency of three ways
of running the same model on the same preprocessed image, measured interleaved in the
same loop so that the noise of a shared machine hits all three alike:

* ``app``: the app's path, ``Predictor``'s compiled function (what the page reports);
* ``bare``: a bare ``tf.function(lambda x: model(x, training=False))``;
* ``predict``: Keras' ``model.predict`` (what most tutorials use).

``app/bare`` should stay ≤ 1.10. Achieved GFLOP/s = 2·MACs / app latency, compared with
this machine's fp32 peak measured in the same run (a 2048×2048 matmul). Memory: peak RSS
with every model loaded and warm, and the RSS growth over repeated predictions (should be
~0). "Upload → results" times what the page does for a new photo: decode a 12 MP JPEG,
then one prediction per model, next to the sum of the four inference latencies.

Weights: ImageNet when cached, random otherwise (the amount of computation is the same;
the output says which).
"""

from __future__ import annotations

import argparse
import inspect as _inspect
import io
import json
import os
import platform
import resource
import statistics
import sys
import time

from cnnviz import HOMEWORK_MODELS

MATMUL_N = 2048
PHOTO_SIZE = (4032, 3024)  # a 12 MP phone photo


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("--models", default=",".join(HOMEWORK_MODELS),
                   help="comma-separated registry names (default: the homework four)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--runs", type=int, default=20, help="interleaved timed runs per path (default 20)")
    p.add_argument("--repeat", type=int, default=30,
                   help="predictions per model for the memory-growth check (default 30)")
    p.add_argument("--random-weights", action="store_true", help="random weights even when ImageNet ones are cached")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
    p.add_argument("--no-page", action="store_true",
                   help="skip the page measurement (the Classify page run headlessly, upload → results)")
    p.add_argument("--no-extras", action="store_true",
                   help="skip the explorer/visualize benchmarks (cnnviz.inspect/visualize.benchmark)")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- measurements

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
    import tensorflow as tf

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


def _macs(model) -> int | None:
    try:
        from cnnviz import inspect as cinspect
    except ImportError:
        return None
    summarize = getattr(cinspect, "summarize", None)
    if summarize is None:
        return None
    try:
        return int(summarize(model).macs)
    except Exception:
        return None


def _sample_photo(size=PHOTO_SIZE, variant: int = 0) -> bytes:
    """A 12 MP JPEG like a phone's: a sample photo scaled up, or a synthetic gradient.

    ``variant`` changes a corner patch, so each variant is a new upload (new content hash).
    """
    import numpy as np
    from PIL import Image

    img = None
    try:
        from cnnviz import samples

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


def _extra_benchmarks(names: list[str], runs: int) -> list[dict]:
    """Rows of ``cnnviz.inspect.benchmark`` and ``cnnviz.visualize.benchmark`` when they exist."""
    out = []
    for module_name in ("cnnviz.inspect", "cnnviz.visualize"):
        try:
            module = __import__(module_name, fromlist=["benchmark"])
        except ImportError:
            continue
        bench = getattr(module, "benchmark", None)
        if bench is None:
            continue
        params = _inspect.signature(bench).parameters
        kwargs = {}
        for key, value in (("models", names), ("names", names), ("runs", runs)):
            if key in params:
                kwargs[key] = value
        try:
            rows = bench(**kwargs)
        except Exception as exc:  # another area's benchmark must not sink this one
            rows = [{"error": f"{type(exc).__name__}: {exc}"}]
        if isinstance(rows, dict):
            rows = [rows]
        for row in rows or []:
            out.append({"source": module_name, **(row if isinstance(row, dict) else {"value": row})})
    return out


# --------------------------------------------------------------------------- the run

def run(args) -> int:
    from cnnviz import infer
    from cnnviz.commands.predict import parse_models

    names = parse_models(args.models)
    runs = infer._check_runs(args.runs)
    repeat = max(1, int(args.repeat))
    import tensorflow as tf

    from cnnviz import images

    device = infer.select_device(force_cpu=args.cpu or None)
    report: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "device": device.label()},
        "runs": runs,
    }
    _log(args, f"device: {device.label()} · {os.cpu_count()} CPUs · TensorFlow {tf.__version__}")
    peak_before = matmul_peak()
    _log(args, f"matmul {MATMUL_N}×{MATMUL_N} fp32: {peak_before['gflops_median']:.1f} GFLOP/s (median)")

    weights = _weights_modes(names, args.random_weights)
    photo = images.load_image(_sample_photo())
    rows, predictors = [], {}
    rss_start = rss_mb()
    for name in names:
        t0 = time.perf_counter()
        predictor = infer.load_predictor(name, weights[name], runs=1, device=device)
        predictors[name] = predictor
        model = predictor.model
        x = predictor.preprocess(photo)
        xt = tf.constant(x)
        bare = tf.function(lambda v, m=model: m(v, training=False))
        t1 = time.perf_counter()
        bare(xt).numpy()
        bare_first_ms = (time.perf_counter() - t1) * 1000
        t1 = time.perf_counter()
        model.predict(x, verbose=0)
        predict_first_ms = (time.perf_counter() - t1) * 1000
        _log(args, f"{predictor.display_name}: loaded in {(time.perf_counter() - t0):.1f} s "
                   f"({'ImageNet' if weights[name] else 'random'} weights)")

        app_ms, bare_ms, predict_ms = [], [], []
        paths = [
            ("app", lambda: app_ms.append(predictor.run_compiled(x, 1)[1][0])),
            ("bare", lambda: bare_ms.append(_timed(lambda: bare(xt).numpy()))),
            ("predict", lambda: predict_ms.append(_timed(lambda: model.predict(x, verbose=0)))),
        ]
        for r in range(runs):
            # Rotate the order every run so no path always follows the same neighbour.
            for k in range(len(paths)):
                paths[(r + k) % len(paths)][1]()
        app, bare_med, pred_med = (statistics.median(v) for v in (app_ms, bare_ms, predict_ms))
        macs = _macs(model)
        gflops = 2 * macs / (app / 1000) / 1e9 if macs else None
        rows.append({
            "model": name, "display_name": predictor.display_name, "weights": weights[name] or "random",
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
    peak = max(peak_before["gflops_median"], peak_after["gflops_median"])
    for row in rows:
        row["peak_share"] = row["gflops"] / peak if row["gflops"] else None
    report["matmul_peak"] = {"before": peak_before, "after": peak_after, "gflops": peak}

    # Upload → results: what the page does for a new photo (decode + one prediction per model).
    jpeg = _sample_photo()
    upload = []
    for _ in range(3):
        t0 = time.perf_counter()
        img = images.load_image(jpeg)
        decode_ms = (time.perf_counter() - t0) * 1000
        preds = [predictors[n].predict(img, runs=1) for n in names]
        total_ms = (time.perf_counter() - t0) * 1000
        infer_sum = sum(p.inference_ms for p in preds)
        upload.append({"decode_ms": decode_ms, "preprocess_sum_ms": sum(p.preprocess_ms for p in preds),
                       "total_ms": total_ms, "inference_sum_ms": infer_sum, "overhead_ms": total_ms - infer_sum})
    report["upload_to_results"] = {
        "photo": f"{PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEG, {len(jpeg) / 2**20:.1f} MB",
        "runs": upload,
        "median_total_ms": statistics.median(u["total_ms"] for u in upload),
        "median_inference_sum_ms": statistics.median(u["inference_sum_ms"] for u in upload),
        "median_overhead_ms": statistics.median(u["overhead_ms"] for u in upload),
        "median_decode_ms": statistics.median(u["decode_ms"] for u in upload),
        "median_preprocess_sum_ms": statistics.median(u["preprocess_sum_ms"] for u in upload),
    }

    # Memory: all models warm; then repeated predictions must not grow the process.
    # Allocator arenas fill during the first calls: settle, then sample RSS every round.
    for _ in range(5):
        for n in names:
            predictors[n].predict(photo, runs=1)
    rss_before = rss_mb()
    samples = [rss_before]
    for _ in range(repeat):
        for n in names:
            predictors[n].predict(photo, runs=1)
        samples.append(rss_mb())
    rss_after = samples[-1]
    tracing = {n: int(predictors[n]._fn.experimental_get_tracing_count()) for n in names}
    report["memory"] = {
        "rss_at_start_mb": rss_start, "peak_rss_mb": peak_rss_mb(), "rss_before_repeat_mb": rss_before,
        "rss_after_repeat_mb": rss_after, "growth_mb": rss_after - rss_before,
        "growth_second_half_mb": samples[-1] - samples[len(samples) // 2], "rss_samples_mb": samples,
        "predictions": repeat * len(names), "traces_per_model": tracing,
    }
    report["models"] = rows
    report["extras"] = [] if args.no_extras else _extra_benchmarks(names, runs)
    if not args.no_page and names == list(HOMEWORK_MODELS):
        _log(args, "Classify page (headless): loading its four models…")
        report["page"] = page_timing(3)

    if args.json:
        json.dump(report, sys.stdout, indent=2, default=_jsonable)
        sys.stdout.write("\n")
    else:
        _print_report(report)
    return 0


def page_timing(uploads: int = 3) -> dict | None:
    """The Classify page run headlessly (Streamlit's AppTest): time from a new upload to the
    finished script with four results, next to the sum of the four inference latencies it shows.

    The first upload loads the page's own (cached) predictors and is reported apart; the
    following ones are warm. Browser rendering is not included. None outside a source
    checkout (no ``pages/classify.py``).
    """
    from pathlib import Path

    import cnnviz

    page = Path(cnnviz.__file__).resolve().parents[1] / "pages" / "classify.py"
    if not page.exists():
        return None
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(page), default_timeout=900)
    at.query_params["lang"] = "en"
    at.run()
    rows = []
    for i in range(uploads + 1):
        data = _sample_photo(variant=i + 1)
        t0 = time.perf_counter()
        at.file_uploader[0].upload(f"phone-{i}.jpg", data, "image/jpeg").run()
        wall = (time.perf_counter() - t0) * 1000
        problems = [e.value for e in at.exception] + [e.value for e in at.error]
        latencies = []
        for metric in at.metric:
            try:
                latencies.append(float(str(metric.value).split()[0]))
            except ValueError:
                pass
        rows.append({"cold": i == 0, "wall_ms": wall, "results": len(latencies),
                     "inference_sum_ms": sum(latencies), "overhead_ms": wall - sum(latencies),
                     "problems": problems})
    warm = [r for r in rows if not r["cold"]]
    return {
        "uploads": rows,
        "cold_ms": rows[0]["wall_ms"],
        "warm_median_ms": statistics.median(r["wall_ms"] for r in warm),
        "warm_median_inference_sum_ms": statistics.median(r["inference_sum_ms"] for r in warm),
        "warm_median_overhead_ms": statistics.median(r["overhead_ms"] for r in warm),
    }


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _weights_modes(names: list[str], force_random: bool) -> dict[str, str | None]:
    if force_random:
        return {n: None for n in names}
    try:
        from cnnviz.zoo import pretrained

        cached = {e.name for e in pretrained.status(names, verify=False) if e.state == "cached"}
    except Exception:
        cached = set()
    return {n: "imagenet" if n in cached else None for n in names}


def _log(args, text: str) -> None:
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _fmt(v, spec: str, na: str = "n/a") -> str:
    return na if v is None else format(v, spec)


def _print_report(report: dict) -> None:
    rows = report["models"]
    print()
    print(f"{'model':<18} {'weights':<8} {'params':>12} {'MACs':>8} {'app ms':>8} {'bare ms':>8} "
          f"{'predict ms':>10} {'app/bare':>8} {'(min)':>6} {'pred/app':>8} {'GFLOP/s':>8} {'of peak':>7} {'1st call':>9}")
    for r in rows:
        macs = f"{r['macs'] / 1e9:.2f}G" if r["macs"] else "n/a"
        print(f"{r['display_name']:<18} {r['weights']:<8} {r['params']:>12,} {macs:>8} {r['app_ms']:>8.1f} "
              f"{r['bare_ms']:>8.1f} {r['predict_ms']:>10.1f} {r['ratio_app_bare']:>8.3f} {r['ratio_app_bare_min']:>6.3f} "
              f"{r['ratio_predict_app']:>7.1f}× {_fmt(r['gflops'], '8.1f'):>8} "
              f"{_fmt(r['peak_share'] and r['peak_share'] * 100, '6.1f'):>6}% {r['first_call_ms']:>7.0f}ms")
    peak = report["matmul_peak"]
    print(f"\napp/bare: ratio of medians, (min): ratio of the fastest runs; "
          f"median of {report['runs']} interleaved runs each; peak = {MATMUL_N}×{MATMUL_N} fp32 matmul: "
          f"{peak['gflops']:.1f} GFLOP/s (before {peak['before']['gflops_median']:.1f}, "
          f"after {peak['after']['gflops_median']:.1f})")
    if any(r["weights"] == "random" for r in rows):
        print("random weights where ImageNet weights are not cached: same computation, meaningless classes")
    up = report["upload_to_results"]
    print(f"\nupload → results ({up['photo']}, one prediction per model): {up['median_total_ms']:.0f} ms "
          f"= inference {up['median_inference_sum_ms']:.0f} ms + overhead {up['median_overhead_ms']:.0f} ms "
          f"(decode {up['median_decode_ms']:.0f} ms, resize/crop + preprocessing {up['median_preprocess_sum_ms']:.0f} ms)")
    mem = report["memory"]
    print(f"memory: peak RSS {mem['peak_rss_mb']:.0f} MB with {len(rows)} models warm; "
          f"RSS {mem['rss_before_repeat_mb']:.0f} → {mem['rss_after_repeat_mb']:.0f} MB over "
          f"{mem['predictions']} predictions (growth {mem['growth_mb']:+.1f} MB, "
          f"second half {mem['growth_second_half_mb']:+.1f} MB); "
          f"traces per model: {sorted(set(mem['traces_per_model'].values()))}")
    page = report.get("page")
    if page:
        print(f"Classify page (headless AppTest, 12 MP upload → 4 results, warm): {page['warm_median_ms']:.0f} ms = "
              f"inference {page['warm_median_inference_sum_ms']:.0f} ms + overhead {page['warm_median_overhead_ms']:.0f} ms "
              f"(first upload, loading the models: {page['cold_ms'] / 1000:.1f} s; browser drawing not included)")
        for row in page["uploads"]:
            if row["problems"] or row["results"] != 4:
                print(f"  page problem: {row['results']} results, {row['problems']}")
    print(f"machine: {report['machine']['cpus']} CPUs, {report['machine']['device']}, "
          f"TensorFlow {report['machine']['tensorflow']}")
    if report["extras"]:
        print("\nother benchmarks:")
        for row in report["extras"]:
            print("  " + " · ".join(f"{k}={_fmt_extra(v)}" for k, v in row.items()))


def _fmt_extra(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
