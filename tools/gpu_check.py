"""One short, self-contained check of the GPU path, for a machine that has a GPU.

    python tools/gpu_check.py [--out DIR] [--backends tensorflow,jax,torch] [--quick]

What it checks, and writes to ``DIR/gpu_check.json`` (one object) and prints:

* device detection: ``nvidia-smi``; :func:`cnnviz.device.probe` (the sidebar's probe, no
  TensorFlow); with TensorFlow, :func:`cnnviz.device.select_device` (what predictors use);
* for each Keras backend that is installed (a fresh process each, ``KERAS_BACKEND`` set):
  the four homework models built by :mod:`cnnviz.zoo` (random weights — the amount of work
  is the same), batch-1 latency (median) and batch-64 throughput, in float32 and in the
  mixed-precision policy the app uses on a GPU (``mixed_float16``), with the achieved
  TFLOP/s from the published multiply-adds (2 × MACs per image);
* a short training run: the course's CIFAR-10 v5 net on the offline digits set
  (:func:`cnnviz.datasets.load`), float32 vs mixed, images/s and validation accuracy;
* the homework's fine-tuning step: ResNet50 without its top + a new head, batch 32 at
  224 px, float32 vs mixed, images/s;
* with TensorFlow only, the app's own path: :func:`cnnviz.infer.load_predictor` on the GPU
  (engine, device label, latency) — the path the Classify page takes.

The app's GPU path is TensorFlow's. A GPU machine without TensorFlow (or without the CUDA
libraries its wheel was built for) still runs the Keras models on JAX or PyTorch: those
figures measure the same Keras graphs on the same chip, not the app's TensorFlow path, and
the report says which backend produced each figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODELS = ("resnet50", "efficientnetb0", "mobilenetv3small", "convnexttiny")
POLICIES = ("float32", "mixed_float16")


def _log(*parts) -> None:
    print(*parts, flush=True)


# --------------------------------------------------------------------------- parent side


def nvidia_smi() -> dict:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return {"available": False}
    out = subprocess.run([exe, "--query-gpu=name,memory.total,driver_version,compute_cap",
                          "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    return {"available": out.returncode == 0, "gpus": [line.strip() for line in out.stdout.splitlines()],
            "stderr": out.stderr.strip()[-300:]}


def probe_device() -> dict:
    """The sidebar's probe (never imports TensorFlow)."""
    from cnnviz import device

    found = device.probe()
    return {"kind": found.kind, "name": found.name, "memory_mb": found.memory_mb,
            "compute_capability": found.compute_capability, "mixed_precision": found.mixed_precision,
            "source": found.source, "label_en": found.label("en"), "label_es": found.label("es"),
            "tensorflow_imported": "tensorflow" in sys.modules}


def run_backend(backend: str, args, timeout: float) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONUNBUFFERED="1")
    if backend == "jax":
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", backend, "--out", str(args.out)]
    if args.quick:
        cmd.append("--quick")
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or b"")[-2000:]
        partial = Path(args.out) / f"gpu_check_{backend}.json"
        result = json.loads(partial.read_text()) if partial.exists() else {"backend": backend}
        result.update(error=f"timed out after {timeout:.0f} s",
                      log_tail=tail.decode(errors="replace") if isinstance(tail, bytes) else tail)
        return result
    _log(proc.stdout[-6000:])
    result_file = Path(args.out) / f"gpu_check_{backend}.json"
    if proc.returncode == 0 and result_file.exists():
        result = json.loads(result_file.read_text())
    else:
        result = {"backend": backend, "error": f"exit {proc.returncode}", "stderr_tail": proc.stderr[-3000:]}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def parent(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
              "nvidia_smi": nvidia_smi()}
    try:
        report["probe"] = probe_device()
    except Exception as exc:  # the check reports, it does not stop
        report["probe"] = {"error": f"{type(exc).__name__}: {exc}"}
    _log("nvidia-smi:", report["nvidia_smi"])
    _log("cnnviz.device.probe():", report["probe"])
    backends = [b for b in args.backends.split(",") if b]
    report["backends"] = {}
    deadline = time.monotonic() + args.budget
    for backend in backends:
        module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
        if importlib.util.find_spec(module) is None:
            report["backends"][backend] = {"backend": backend, "skipped": f"{module} is not installed"}
            _log(f"[{backend}] not installed")
            continue
        left = deadline - time.monotonic()
        if left < 60:
            report["backends"][backend] = {"backend": backend, "skipped": "out of time budget"}
            continue
        _log(f"[{backend}] running (≤ {left:.0f} s)")
        result = run_backend(backend, args, left)
        report["backends"][backend] = result
        if args.first_only and "error" not in result:
            break
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    _log(json.dumps(report, indent=1, default=str)[:12000])
    return 0


# --------------------------------------------------------------------------- child side


def _sync(x):
    """Block until a backend's result is computed (JAX/torch dispatch asynchronously)."""
    import numpy as np

    return np.asarray(x)


def _gpu_devices(backend: str) -> list[str]:
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices()]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def _time_calls(fn, warm: int, runs: int) -> list[float]:
    """Seconds of each of ``runs`` calls after ``warm`` warm-up calls."""
    for _ in range(warm):
        fn()
    return timeit.repeat(fn, number=1, repeat=runs)


def _models(policy: str, quick: bool) -> list[dict]:
    import keras
    import numpy as np

    from cnnviz import timeline, zoo

    keras.mixed_precision.set_global_policy(policy)
    rows = []
    rng = np.random.default_rng(0)
    for name in (MODELS[2:3] if quick else MODELS):  # quick: a smoke run on MobileNetV3Small only
        keras.backend.clear_session()
        t0 = time.perf_counter()
        model = zoo.create_model(name)
        build_s = time.perf_counter() - t0
        h, w, c = model.input_shape[1:]
        one = rng.uniform(0, 255, (1, h, w, c)).astype("float32")
        batch = 16 if quick else 64
        many = rng.uniform(0, 255, (batch, h, w, c)).astype("float32")
        t0 = time.perf_counter()
        first = _sync(model.predict_on_batch(one))
        first_s = time.perf_counter() - t0
        lat = _time_calls(lambda: _sync(model.predict_on_batch(one)), 3, 5 if quick else 30)
        thr = _time_calls(lambda: _sync(model.predict_on_batch(many)), 2, 2 if quick else 10)
        ref = timeline.reference_macs(name)
        macs = float(ref.value) if ref else None
        med1 = statistics.median(lat)
        medb = statistics.median(thr)
        row = {"model": name, "policy": policy, "build_s": round(build_s, 2), "first_call_s": round(first_s, 2),
               "batch1_ms": round(med1 * 1e3, 3), "batch1_min_ms": round(min(lat) * 1e3, 3),
               "batch": batch, "batch_img_per_s": round(batch / medb, 1),
               "output_finite": bool(np.isfinite(first).all()), "output_dtype": str(first.dtype),
               "reference_macs": macs}
        if macs:
            row["batch1_tflops"] = round(2 * macs / med1 / 1e12, 3)
            row["batch_tflops"] = round(2 * macs * batch / medb / 1e12, 2)
        _log(f"  {name:18s} {policy:14s} b1 {row['batch1_ms']:8.2f} ms  b{batch} {row['batch_img_per_s']:9.1f} img/s"
             f"  first {first_s:5.1f} s")
        rows.append(row)
    return rows


def _train_lab(policy: str, quick: bool) -> dict:
    import keras
    import numpy as np

    from cnnviz import datasets, zoo

    keras.mixed_precision.set_global_policy(policy)
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    data = datasets.load("digits", seed=0, subset=300 if quick else None)
    model = zoo.create_model("cifar10_v5", classes=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    epochs = 1 if quick else 6
    x_train = np.asarray(data.x_train, "float32")
    x_val = np.asarray(data.x_val, "float32")
    t0 = time.perf_counter()
    model.fit(x_train[:128], data.y_train[:128], batch_size=128, epochs=1, verbose=0)  # compile
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hist = model.fit(x_train, data.y_train, validation_data=(x_val, data.y_val), batch_size=128,
                     epochs=epochs, verbose=0)
    seconds = time.perf_counter() - t0
    row = {"model": "cifar10_v5", "dataset": "digits", "policy": policy, "train_images": int(len(x_train)),
           "epochs": epochs, "compile_s": round(compile_s, 2), "seconds": round(seconds, 2),
           "img_per_s": round(len(x_train) * epochs / seconds, 1),
           "val_accuracy": [round(float(v), 4) for v in hist.history["val_accuracy"]]}
    _log(f"  lab cifar10_v5 {policy:14s} {row['img_per_s']:9.1f} img/s  val {row['val_accuracy'][-1]}")
    return row


def _finetune_step(policy: str, quick: bool) -> dict:
    import keras
    import numpy as np

    from cnnviz import zoo

    keras.mixed_precision.set_global_policy(policy)
    keras.backend.clear_session()
    name = "mobilenetv3small" if quick else "resnet50"
    base = zoo.create_model(name, include_top=False)
    layers = base.layers
    # ResNet50's last stage (conv5_*), as the homework's default unfreezes; quick: the last sixth.
    first = len(layers) * 5 // 6 if quick else next(i for i, l in enumerate(layers) if l.name.startswith("conv5"))
    for i, layer in enumerate(layers):
        layer.trainable = i >= first and not isinstance(layer, keras.layers.BatchNormalization)
    inputs = keras.Input(base.input_shape[1:])
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(5, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    batch = 32
    x = rng.uniform(0, 255, (batch, 224, 224, 3)).astype("float32")
    y = rng.integers(0, 5, batch)
    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    first_s = time.perf_counter() - t0
    times = _time_calls(lambda: _sync(model.train_on_batch(x, y)), 2, 3 if quick else 10)
    med = statistics.median(times)
    row = {"model": f"{name} (top unfrozen) + head", "policy": policy, "batch": batch,
           "first_step_s": round(first_s, 2), "step_ms": round(med * 1e3, 2), "img_per_s": round(batch / med, 1)}
    _log(f"  fine-tune resnet50 {policy:14s} {row['img_per_s']:9.1f} img/s")
    return row


def _app_path(quick: bool) -> dict:
    """TensorFlow only: what the Classify page does on a GPU."""
    from cnnviz import device, infer, samples

    dev = device.select_device()
    out = {"select_device": {"kind": dev.kind, "name": dev.name, "tf_name": dev.tf_name,
                             "mixed_precision": dev.mixed_precision, "fallback": dev.fallback,
                             "label_en": dev.label("en")}, "models": []}
    image = samples.load_sample(samples.list_samples()[0])
    for name in MODELS:
        predictor = infer.load_predictor(name, None, engine="auto")
        pred = predictor.predict(image, runs=3 if quick else 15)
        out["models"].append({"model": name, "engine": pred.engine, "engine_label": pred.engine_label,
                              "device": pred.device, "latency_ms": round(pred.inference_ms, 2),
                              "first_call_ms": round(pred.first_call_ms, 1), "top1": pred.top5[0][0]})
        _log(f"  app path {name:18s} {pred.engine:8s} {pred.inference_ms:8.2f} ms  {pred.device}")
    return out


def child(args) -> int:
    import keras

    backend = keras.backend.backend()
    result = {"backend": backend, "keras": keras.__version__, "devices": _gpu_devices(backend)}
    _log(f"[{backend}] keras {keras.__version__}, devices: {result['devices']}")
    if backend == "jax":
        import jax

        result["jax"] = jax.__version__
    elif backend == "torch":
        import torch

        result["torch"] = torch.__version__
    else:
        import tensorflow as tf

        result["tensorflow"] = tf.__version__
    sections = [("models", lambda: [r for p in POLICIES for r in _models(p, args.quick)]),
                ("training", lambda: [_train_lab(p, args.quick) for p in POLICIES]),
                ("finetune", lambda: [_finetune_step(p, args.quick) for p in POLICIES])]
    if backend == "tensorflow":
        sections.append(("app_path", lambda: _app_path(args.quick)))
    result_file = Path(args.out, f"gpu_check_{args.child}.json")
    for key, fn in sections:
        try:
            result[key] = fn()
        except Exception as exc:  # report what broke and go on with the next part
            import traceback

            result[key] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2500:]}
            _log(f"  {key} failed: {type(exc).__name__}: {exc}")
        finally:
            keras.mixed_precision.set_global_policy("float32")
            result_file.write_text(json.dumps(result, indent=2, default=str))  # what is done survives a timeout
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check_out")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--first-only", action="store_true", help="stop after the first backend that ran")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for all backends together")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: MobileNetV3Small only, fewer repetitions, one epoch")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
