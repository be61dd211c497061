"""Labs training throughput: the app's training path vs plain ``model.fit``, per lab model.

For each model of the measured labs (default: ``cifar-progression``, the five CIFAR-10
versions), built as the lab builds it, compiled as :func:`cnnviz.training.fit.train_model`
compiles it, on the same data (the offline ``digits``, resized as the lab resizes it,
cut to a whole number of batches) and the lab's batch size, two training loops are timed
**interleaved** in the same process (app, plain, app, plain...; one warm-up epoch of each
first, so tracing is not timed):

- ``app``: what a lab run trains through: :func:`cnnviz.training.fit.pipeline` (tf.data,
  cached, seeded shuffle, prefetch) and the :class:`cnnviz.training.fit.RunCallback` bridge
  recording every batch into a :class:`cnnviz.training.RunContext` (the live curves);
- ``plain``: ``model.fit(x, y, batch_size=...)`` on the NumPy arrays, no callbacks.

Validation, test prediction and saving (the rest of ``train_model``) are left out of both:
they are not training. Reported per model: images/s of each path (median over the rounds),
``app_over_plain`` = plain images/s ÷ app images/s (time ratio; the target is ≤ 1.05: live
curves must not slow training), and the share of this machine's fp32 matmul peak
(:func:`cnnviz.bench.machine.matmul_peak`), counting a training step as ≈ 3 forward passes,
i.e. 3 × 2·MACs FLOPs per image (MACs from :func:`cnnviz.inspect.summarize`).

Report key ``training``: ``labs``, ``rounds``, ``steps``, ``batch_size``, ``matmul_gflops``
and ``models`` (rows with the keys of :data:`ROW_KEYS`). Bounded so ``python -m cnnviz bench``
stays reasonable (``ROUNDS`` × 2 epochs of ``STEPS`` batches per model, about a minute for the
five CIFAR versions on 2 cores); ``--skip training`` leaves it out.
"""

from __future__ import annotations

import statistics
import time
from typing import Sequence

from cnnviz.bench.base import Context, Section

LABS: tuple[str, ...] = ("cifar-progression",)
"""Labs whose models are measured by default."""
ROUNDS = 3
"""Timed epochs per path and model (interleaved)."""
STEPS = 20
"""Batches per timed epoch."""
ROW_KEYS: tuple[str, ...] = ("lab", "model", "params", "macs", "batch_size", "images", "app_ips", "plain_ips",
                             "app_over_plain", "train_gflops", "peak_share")


def _epoch_seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def benchmark(labs: Sequence[str] = LABS, *, models: Sequence[str] | None = None, rounds: int = ROUNDS,
              steps: int = STEPS, peak_gflops: float | None = None, log=lambda text: None) -> dict:
    """Images/s of the app's training path and of plain ``model.fit``, interleaved, per lab model.

    Args:
        labs: lab ids whose models are measured.
        models: only these model names of those labs (None: all).
        rounds: timed epochs per path and model.
        steps: batches per epoch (capped by the digits training split).
        peak_gflops: the machine's fp32 matmul GFLOP/s (None: measured here).

    Returns:
        ``{"labs", "rounds", "steps", "batch_size", "matmul_gflops", "models": [row, ...]}``.
    """
    import keras  # heavy: TF
    import numpy as np

    from cnnviz import datasets
    from cnnviz.bench.machine import matmul_peak
    from cnnviz.inspect import summarize
    from cnnviz.labs.registry import get_lab
    from cnnviz.labs.run import build, nested_layers  # heavy: TF
    from cnnviz.training.fit import RunCallback, local_context, pipeline  # heavy: TF

    if peak_gflops is None:
        peak_gflops = matmul_peak(runs=5)["gflops_median"]
    rows: list[dict] = []
    batch_sizes = set()
    used_steps = steps
    for lab_id in labs:
        lab = get_lab(lab_id)
        data = datasets.load("digits", seed=0, val_split=lab.val_split, size=lab.image_size)
        used_steps = max(1, min(steps, len(data.x_train) // lab.batch_size))
        n = used_steps * lab.batch_size  # whole batches: one traced shape per path
        x, y = data.x_train[:n], data.y_train[:n]
        batch_sizes.add(lab.batch_size)
        for spec in lab.models:
            if models is not None and spec.name not in models:
                continue
            keras.utils.set_random_seed(0)
            model = build(spec, data.input_shape, data.num_classes)
            if lab.bn_momentum is not None:
                for layer in nested_layers(model):
                    if isinstance(layer, keras.layers.BatchNormalization):
                        layer.momentum = lab.bn_momentum
            macs = summarize(model).macs
            model.compile(optimizer=keras.optimizers.Adam(learning_rate=lab.learning_rate),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            ctx = local_context("bench")
            ctx.begin_model(spec.name, epochs=rounds + 1, steps=used_steps)
            bridge = RunCallback(ctx, spec.name)
            train = pipeline(x, y, lab.batch_size, shuffle=True, seed=0)

            def app():
                model.fit(train, epochs=1, callbacks=[bridge], verbose=0, shuffle=False)

            def plain():
                model.fit(x, y, batch_size=lab.batch_size, epochs=1, verbose=0)

            app()  # warm-up: traces the train step, fills the tf.data cache
            plain()
            times: dict[str, list[float]] = {"app": [], "plain": []}
            for _ in range(max(1, rounds)):
                times["app"].append(_epoch_seconds(app))
                times["plain"].append(_epoch_seconds(plain))
            app_ips = n / statistics.median(times["app"])
            plain_ips = n / statistics.median(times["plain"])
            gflops = 6 * macs * app_ips / 1e9 if macs else None
            row = {"lab": lab_id, "model": spec.name, "params": int(model.count_params()), "macs": macs,
                   "batch_size": lab.batch_size, "images": n, "app_ips": app_ips, "plain_ips": plain_ips,
                   "app_over_plain": plain_ips / app_ips, "train_gflops": gflops,
                   "peak_share": gflops / peak_gflops if gflops and peak_gflops else None}
            rows.append(row)
            log(f"training {spec.name}: app {app_ips:.0f} img/s, plain {plain_ips:.0f} img/s, "
                f"app/plain {row['app_over_plain']:.3f}")
            del model
            keras.backend.clear_session()
    return {"labs": list(labs), "rounds": rounds, "steps": used_steps, "batch_size": sorted(batch_sizes),
            "matmul_gflops": peak_gflops, "models": rows}


def _measure(ctx: Context) -> dict:
    return {"training": benchmark(log=ctx.log)}


def _lines(report: dict) -> list[str]:
    t = report["training"]
    out = [f"\nlabs training (digits, batch {'/'.join(map(str, t['batch_size']))}, {t['steps']} steps × "
           f"{t['rounds']} interleaved epochs per path; peak {t['matmul_gflops']:.1f} GFLOP/s; "
           f"target app/plain ≤ 1.05):",
           f"{'model':<14} {'params':>10} {'MACs':>8} {'app img/s':>10} {'plain img/s':>11} {'app/plain':>9} "
           f"{'GFLOP/s':>8} {'of peak':>7}"]
    for r in t["models"]:
        macs = f"{r['macs'] / 1e6:.1f}M" if r["macs"] else "n/a"
        gf = f"{r['train_gflops']:8.2f}" if r["train_gflops"] is not None else f"{'n/a':>8}"
        share = f"{100 * r['peak_share']:6.1f}%" if r["peak_share"] is not None else f"{'n/a':>7}"
        out.append(f"{r['model']:<14} {r['params']:>10,} {macs:>8} {r['app_ips']:>10.0f} {r['plain_ips']:>11.0f} "
                   f"{r['app_over_plain']:>9.3f} {gf} {share}")
    return out


SECTION = Section("training", _measure, _lines)
