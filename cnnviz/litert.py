"""LiteRT (the former TensorFlow Lite) on XNNPACK: converted copies of zoo models for fast CPU inference.

The Classify models answer through LiteRT on a CPU when the converted model gives the same
answers as TensorFlow (:mod:`cnnviz.infer` decides; this module converts, caches and runs).

Pieces:

* :func:`runtime` — the interpreter class: ``ai_edge_litert`` (the maintained runtime), or
  TensorFlow's own deprecated ``tf.lite.Interpreter`` only when that package is not installed.
* :class:`LiteRTModel` — one interpreter per model, XNNPACK on (the default), ``num_threads``
  always given (the package's default is 1 thread), the whole set → invoke → get sequence under
  a lock (the interpreter shares its tensors between callers).
* :func:`ensure` — the conversion cache under ``cache.derived_dir("litert")``: one ``.tflite``
  per (model, weights digest, TensorFlow version, LiteRT version) plus a ``.json`` sidecar (size,
  how it was checked against TensorFlow, LiteRT's own answer on the check input). Files are written
  atomically; a file whose size, header or recorded answer is wrong is deleted and rebuilt;
  concurrent first loads (threads or processes) convert once (a file lock).
* :func:`convert_in_subprocess` — the conversion itself runs in a fresh Python
  (``python -m cnnviz.litert convert ...``), never in a fork of a process that has TensorFlow
  threads, and reports its stages for a progress bar.
* :func:`agree` — the engine check: finite, same top-5 order, probabilities within tolerance.
* Quantized conversions (:data:`QUANTS`): ``"int8"`` full-integer (weights and activations int8,
  calibrated on a representative set the parent passes as a ``.npy`` file; float32 input and
  output, quantize/dequantize at the ends) and ``"dynamic"`` (dynamic-range: int8 weights, float
  activations quantized on the fly). They are cached beside the fp32 ones with their own stem.

Nothing here imports TensorFlow at import time; only the child process and the
``tf.lite`` fallback do.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from cnnviz import cache, fileio, settings

KIND = "litert"
"""Derived-files kind: conversions live in ``cache.derived_dir(KIND)``."""
ENV_THREADS = "CNNVIZ_LITERT_THREADS"
#: The engine check holds LiteRT to TensorFlow's own float32 accuracy on the same input, measured
#: against an exact (float64) run of the same model (see :func:`tolerance`). The error is measured
#: where rounding happens, in the logits: as the log-probability gaps to the top class
#: (:func:`gap_error`), over every class that matters — hundreds of samples, so its maximum is a
#: stable figure. (The maximum of |Δp| is not: one or two large probabilities decide it, and one
#: engine's could be 9x the other's on the same photo — issue 18.) Two float32 engines that sum in
#: different orders have rounding errors of the same scale (Higham & Mary, "A new approach to
#: probabilistic rounding error analysis", SIAM J. Sci. Comput. 2019); LiteRT's gap error may be
#: up to this many times TensorFlow's. Measured on an AVX-512 (VNNI) machine over the four homework
#: models x four sample photos x four random initialisations (issue 18 note): the ratio was 0.2-2.5
#: where many classes count and at most 5.5 where two do; the resulting |Δp| stayed below 4 % of
#: the tolerance on every photo of a well-conditioned model.
ERROR_RATIO = 8.0
#: Classes whose exact probability is below this are left out of the gap error: even a gap error
#: of 0.1 moves them by less than :data:`ULP_FLOOR` (and their float32 logarithms are noise).
RELEVANT_P = 1e-6
#: Plus a few float32 ulps of a probability (the softmax itself rounds), for answers TensorFlow
#: happens to get exactly right.
ULP_FLOOR = 8.0 * float(np.finfo(np.float32).eps)
#: The loosest tolerance the check accepts: a real fault (a wrong preprocessing, missing weights)
#: moves probabilities by 1e-2 to 1, so a derived tolerance above this would prove nothing.
#: Where TensorFlow's own float32 error reaches it, the model is too ill-conditioned for a float32
#: check (one random EfficientNetB0 in four: logits so large that TensorFlow itself is 2e-2 off the
#: exact probabilities); otherwise the derived tolerances measured 1e-6 to 5e-3.
MAX_ATOL = 1e-2
#: A recorded LiteRT answer re-checked at load must match this closely (same file, same runtime).
SELF_ATOL = 1e-5
#: Outputs whose max − min probability is below this are "flat" (fresh random weights:
#: MobileNetV3Small answers exactly 1/1000 for every class): any top-5 order then nearly ties, so
#: agreeing on them proves little, and the check records it.
FLAT_SPREAD = 1e-4
#: Conversion kinds: fp32 (the default), full-integer int8, dynamic-range int8 weights.
QUANTS = ("fp32", "int8", "dynamic")
PROGRESS_PREFIX = "CNNVIZ-PROGRESS "
REPORT_PREFIX = "CNNVIZ-REPORT "
#: Stages the conversion reports, in order, with the fraction of the work done when each starts.
STAGES = {"start": 0.0, "import": 0.05, "build": 0.3, "convert": 0.5, "write": 0.95, "done": 1.0}

Progress = Callable[[str, float], None]
"""``progress(stage, fraction)``: a conversion's stage (a key of :data:`STAGES`) and its share done."""


class LiteRTUnavailable(RuntimeError):
    """No LiteRT runtime can be imported here; the message says why (in English, for the log)."""


class ConversionError(RuntimeError):
    """The conversion failed; the message is the reason (the tail of the child's error)."""


# --------------------------------------------------------------------------- runtime

def _import_litert():
    from ai_edge_litert.interpreter import Interpreter  # the maintained runtime (light: no TensorFlow)

    return Interpreter


def runtime() -> tuple[type, str]:
    """(Interpreter class, runtime name): ``ai-edge-litert``, else TensorFlow's ``tf.lite``.

    Raises:
        LiteRTUnavailable: neither can be imported.
    """
    try:
        return _import_litert(), "ai-edge-litert"
    except ImportError as exc:
        first = f"{type(exc).__name__}: {exc}"
    try:
        import tensorflow as tf  # heavy: TF, only on platforms without ai-edge-litert

        return tf.lite.Interpreter, "tf.lite"
    except (ImportError, AttributeError) as exc:
        raise LiteRTUnavailable(f"ai-edge-litert: {first}; tf.lite: {type(exc).__name__}: {exc}") from None


def versions() -> dict[str, str]:
    """TensorFlow's and LiteRT's versions, read from package metadata (no import)."""
    out = {}
    for key, dist in (("tf", "tensorflow"), ("litert", "ai-edge-litert")):
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = "none"
    return out


def default_threads() -> int:
    """Threads for XNNPACK: ``CNNVIZ_LITERT_THREADS``, else the CPUs this process may use."""
    env = settings.env_int(ENV_THREADS, 0, low=0)
    if env > 0:
        return env
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LiteRTModel:
    """One LiteRT interpreter for one ``.tflite`` model, safe to share between threads.

    ``invoke`` releases the GIL (other Streamlit sessions keep running), but the interpreter
    keeps one set of tensors: callers are serialised by a lock around set → invoke → get.
    The batch size is changed (``resize_tensor_input`` + ``allocate_tensors``) only when it
    differs from the previous call's.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None) -> None:
        interpreter, self.runtime = runtime()
        self.path = Path(path)
        self.num_threads = int(num_threads or default_threads())
        self._it = interpreter(model_path=str(path), num_threads=self.num_threads)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]
        self._out = self._it.get_output_details()[0]
        self._batch = int(self._in["shape"][0])
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int | None:
        """Size of the ``.tflite`` file on disk (None once it is gone)."""
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self._in["shape"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self._out["shape"])

    def _ensure_batch(self, n: int) -> None:
        if n != self._batch:
            shape = list(self._in["shape"])
            shape[0] = n
            self._it.resize_tensor_input(self._in["index"], shape, strict=False)
            self._it.allocate_tensors()
            self._batch = n

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Outputs for a float32 batch N×H×W×3 (a copy: safe after the lock is released)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        with self._lock:
            self._ensure_batch(int(x.shape[0]))
            self._it.set_tensor(self._in["index"], x)
            self._it.invoke()
            return self._it.get_tensor(self._out["index"])


# --------------------------------------------------------------------------- the engine check

def exact_output(model, x: np.ndarray) -> np.ndarray | None:
    """``model``'s output for ``x`` computed in float64: the exact answer float32 engines approximate.

    A clone of the model with every layer in float64 and the same weights. None when the model
    cannot be cloned (a layer without a config); the caller then has no exact reference.
    """
    import keras  # heavy: TF

    def in_float64(layer):
        config = layer.get_config()
        if "dtype" in config and isinstance(layer, keras.layers.Layer):
            config["dtype"] = "float64"
        return layer.__class__.from_config(config)

    try:
        clone = keras.models.clone_model(model, clone_function=in_float64)
        clone.set_weights([np.asarray(w, np.float64) for w in model.get_weights()])
        y = clone(np.asarray(x, np.float64), training=False)
    except Exception:  # noqa: BLE001 — any failure only means "no exact reference"
        return None
    return np.asarray(y, np.float64)


def gap_error(p: np.ndarray, p_ref: np.ndarray) -> float:
    """How far ``p``'s log-probability gaps to the top class are from ``p_ref``'s (float64).

    ``max_i |(log p_i − log p_top) − (log p_ref_i − log p_ref_top)|`` over the classes with
    ``p_ref_i ≥ RELEVANT_P``, ``top`` being ``p_ref``'s; the largest over the rows of a batch.
    Logit shifts cancel, so this is the rounding error of the logit differences. Shapes (C,),
    (1, C) or (N, C) alike; a class ``p`` rounds to 0 counts as an infinite error.
    """
    p_ref = np.asarray(p_ref, np.float64)
    p_ref = p_ref.reshape(-1, p_ref.shape[-1])
    p = np.asarray(p, np.float64).reshape(p_ref.shape)
    worst = 0.0
    for row, ref in zip(p, p_ref):
        top = int(np.argmax(ref))
        keep = ref >= RELEVANT_P
        with np.errstate(divide="ignore", invalid="ignore"):
            gaps = np.log(row[keep]) - np.log(row[top])
        d = np.abs(gaps - (np.log(ref[keep]) - np.log(ref[top])))
        worst = max(worst, float(np.max(d)) if np.all(np.isfinite(d)) else float("inf"))
    return worst


def tolerance(tf_error: float, p_max: float) -> float:
    """How far LiteRT's probabilities may be from TensorFlow's on one input, given TensorFlow's own error there.

    ``tf_error`` is TensorFlow's float32 error on this very input in log-probability gaps,
    :func:`gap_error` of its output against :func:`exact_output` (or, for a model that cannot be
    cloned, against its own output in another batch shape: a lower estimate of the same thing);
    ``p_max`` its top probability. LiteRT's gap error may be up to :data:`ERROR_RATIO` times
    larger, so the two engines' gaps differ by at most ``δ = (ERROR_RATIO + 1)·tf_error``; a
    softmax whose gaps all move by ≤ δ changes each ``p_i`` by at most ``p_i·(e^{2δ} − 1)``,
    hence ``p_max·(e^{2δ} − 1)`` plus :data:`ULP_FLOOR`, and never more than :data:`MAX_ATOL`.
    The figure follows the model, its weights, the input and the CPU's kernels (AVX2 or AVX-512
    change both engines' rounding): no constant that one machine meets.
    """
    delta = (ERROR_RATIO + 1.0) * float(tf_error)
    bound = float(p_max) * float(np.expm1(2.0 * delta)) if np.isfinite(delta) else float("inf")
    return min(bound + ULP_FLOOR, MAX_ATOL)


def agree(p_ref: np.ndarray, p_test: np.ndarray, *, k: int = 5, atol: float) -> tuple[bool, str, float]:
    """(agree, reason in English, max |Δp|): finite, same top-``k`` order, max |Δp| ≤ ``atol``.

    Two classes may swap places only where the reference itself ties them within ``atol``.
    """
    p_ref = np.asarray(p_ref, np.float64).reshape(-1, np.shape(p_ref)[-1])
    p_test = np.asarray(p_test, np.float64).reshape(-1, np.shape(p_test)[-1])
    if p_ref.shape != p_test.shape:
        return False, f"output shapes differ: {p_ref.shape} vs {p_test.shape}", float("inf")
    if not np.all(np.isfinite(p_test)):
        return False, "non-finite output (a conversion without its weights gives NaN)", float("inf")
    d = float(np.max(np.abs(p_ref - p_test)))
    if d > atol:
        return False, f"max |Δp| = {d:.2e} > {atol:.1e}", d
    for r, t in zip(p_ref, p_test):
        a, b = np.argsort(-r, kind="stable")[:k], np.argsort(-t, kind="stable")[:k]
        if not np.array_equal(a, b) and np.max(np.abs(r[a] - r[b])) > atol:
            return False, f"top-{k} differs: {a.tolist()} vs {b.tolist()}", d
    return True, f"same top-{k}, max |Δp| = {d:.2e} ≤ {atol:.1e}", d


def is_flat(probs: np.ndarray) -> bool:
    """True for a near-uniform output (fresh random weights): agreeing on it proves little."""
    p = np.asarray(probs, np.float64)
    return bool(p.max() - p.min() < FLAT_SPREAD)


def check_image(size: tuple[int, int]) -> np.ndarray:
    """The fixed H×W×3 uint8 picture both engines classify at load (textured, deterministic)."""
    h, w = int(size[0]), int(size[1])
    rng = np.random.default_rng(12)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, 127 + 100 * np.sin((xx + 2 * yy) / 9.0)], axis=-1)
    return np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- cache of conversions

def weights_digest(model) -> str:
    """Digest of a Keras model's weights (shapes, dtypes and values), the key of its conversion."""
    h = hashlib.blake2b(digest_size=16)
    for w in model.get_weights():
        a = np.ascontiguousarray(w)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return "w" + h.hexdigest()


def file_digest(record, path: Path) -> str:
    """Digest of a cached weights file: its pinned hash, else its SHA-256."""
    if getattr(record, "file_hash", None):
        return "f" + str(record.file_hash)[:32]
    return "f" + fileio.hash_file(path)[:32]


@dataclass
class Conversion:
    """A converted model on disk: its ``.tflite`` path and its sidecar's content."""

    path: Path
    meta: dict

    @property
    def sidecar(self) -> Path:
        return self.path.with_suffix(".json")


def stem(name: str, digest: str, quant: str = "fp32") -> str:
    """File stem of a conversion; the quantized kinds carry their kind (``-int8``, ``-dynamic``)."""
    if quant not in QUANTS:
        raise ValueError(f"unknown conversion kind {quant!r}; known: {', '.join(QUANTS)}")
    v = versions()
    kind = "" if quant == "fp32" else f"-{quant}"
    return f"{name}-{digest[:17]}{kind}-tf{v['tf']}-litert{v['litert']}"


def folder() -> Path:
    return cache.derived_dir(KIND)


def _valid(path: Path, meta: dict | None) -> str | None:
    """Why the conversion at ``path`` is unusable, or None."""
    if meta is None:
        return "no sidecar"
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        return f"unreadable: {exc}"
    if size != meta.get("bytes"):
        return f"size {size} instead of {meta.get('bytes')}"
    if head[4:8] != b"TFL3":
        return "not a TFLite flatbuffer"
    return None


def _read_meta(path: Path) -> dict | None:
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        return meta if isinstance(meta, dict) else None
    except (OSError, ValueError):
        return None


def remove(path: Path) -> None:
    for p in (path, path.with_suffix(".json")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def lookup(name: str, digest: str, quant: str = "fp32") -> Conversion | None:
    """The usable cached conversion of (``name``, ``digest``, ``quant``), or None (a broken one is deleted)."""
    path = folder() / (stem(name, digest, quant) + ".tflite")
    if not path.exists():
        return None
    meta = _read_meta(path)
    if _valid(path, meta) is not None:
        remove(path)
        return None
    return Conversion(path, meta)


def write_meta(conversion: Conversion) -> None:
    """Write the sidecar atomically (a reader sees the old or the new one, never half)."""
    fileio.write_json(conversion.sidecar, conversion.meta, indent=1, sort_keys=True)


def prune_random(name: str, keep: Path, quant: str = "fp32") -> list[Path]:
    """Delete other ``quant`` conversions of ``name``'s random weights (they will never be asked for again)."""
    removed = []
    for p in folder().glob(f"{name}-w*.tflite"):
        meta = _read_meta(p) or {}
        if p != keep and meta.get("weights") == "random" and meta.get("quant", "fp32") == quant:
            remove(p)
            removed.append(p)
    return removed


@contextlib.contextmanager
def lock(name: str, digest: str, quant: str = "fp32"):
    """Exclusive across threads and processes: the first load converts, the others wait and reuse."""
    with cache.file_lock(f"{KIND}-{stem(name, digest, quant)}"):
        yield


@dataclass(frozen=True)
class Source:
    """What the conversion child builds: zoo ``name`` with ``weights`` ("imagenet", or a ``.weights.h5`` path)."""

    name: str
    weights: str


def convert_in_subprocess(source: Source, out: Path, progress: Progress | None = None, *,
                          timeout: float = 1800.0, quant: str = "fp32", calibration: str | None = None) -> dict:
    """Run ``python -m cnnviz.litert convert`` and return its report (``seconds``, ``bytes``...).

    The child writes ``out`` atomically; its stage lines drive ``progress``. ``quant`` is a kind of
    :data:`QUANTS`; ``"int8"`` needs ``calibration``, a ``.npy`` file of preprocessed N×H×W×3
    float32 inputs (the representative set).

    Raises:
        ConversionError: the child failed or timed out (the message is the tail of its log).
    """
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-m", "cnnviz.litert", "convert", source.name, str(out), "--weights", source.weights,
           "--quant", quant]
    if calibration is not None:
        cmd += ["--calibration", str(calibration)]
    t0 = time.perf_counter()
    report: dict | None = None
    tail: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=root)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            for line in proc.stdout:
                if line.startswith(PROGRESS_PREFIX):
                    stage = line[len(PROGRESS_PREFIX):].strip()
                    if progress is not None:
                        progress(stage, STAGES.get(stage, 0.0))
                elif line.startswith(REPORT_PREFIX):
                    report = json.loads(line[len(REPORT_PREFIX):])
            rc = proc.wait()
        finally:
            killer.cancel()
        err.seek(0)
        tail = [l for l in err.read().strip().splitlines() if l.strip()][-3:]
    if rc != 0 or report is None:
        why = "timed out" if rc in (-9, 137) else f"exit code {rc}"
        raise ConversionError(f"conversion of {source.name} failed ({why}): " + " | ".join(tail))
    report["wall_s"] = round(time.perf_counter() - t0, 2)
    return report


def ensure(name: str, digest: str, source_fn: Callable[[], Source], *, weights_label: str,
           progress: Progress | None = None, quant: str = "fp32",
           calibration_fn: Callable[[], tuple[str, dict]] | None = None) -> tuple[Conversion, dict | None]:
    """The conversion of (``name``, ``digest``, ``quant``): from the cache, or converted now (once, locked).

    Call under :func:`lock`. ``source_fn`` is called only when a conversion is needed (it may
    write a temporary weights file); so is ``calibration_fn`` (int8 only): it returns the path of
    the representative set (``.npy``) and a description of it kept in the sidecar. Returns
    (conversion, the child's report or None on a hit).
    """
    hit = lookup(name, digest, quant)
    if hit is not None:
        return hit, None
    path = folder() / (stem(name, digest, quant) + ".tflite")
    path.parent.mkdir(parents=True, exist_ok=True)
    calibration, calibration_info = (None, None)
    if quant == "int8":
        if calibration_fn is None:
            raise ValueError("a full-integer conversion needs a representative set (calibration_fn)")
        calibration, calibration_info = calibration_fn()
    try:
        report = convert_in_subprocess(source_fn(), path, progress, quant=quant, calibration=calibration)
    finally:
        if calibration is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(calibration)
    meta = {"model": name, "digest": digest, "weights": weights_label, "bytes": path.stat().st_size,
            "quant": quant, "calibration": calibration_info, "float_fallback": report.get("float_fallback"),
            "logits_output": bool(report.get("logits_output")),
            "versions": versions(), "convert_s": report.get("seconds"), "wall_s": report.get("wall_s"),
            "child_peak_rss_mb": report.get("peak_rss_mb"), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    conversion = Conversion(path, meta)
    write_meta(conversion)
    if weights_label == "random":
        prune_random(name, path, quant)
    return conversion, report


def status() -> list[dict]:
    """Every cached conversion (sidecar data plus path), for ``cache status``-like listings."""
    out = []
    if not folder().is_dir():
        return out
    for p in sorted(folder().glob("*.tflite")):
        meta = _read_meta(p) or {}
        out.append({"path": str(p), "bytes": p.stat().st_size, "problem": _valid(p, meta or None), **meta})
    return out


# --------------------------------------------------------------------------- the child process

def _peak_rss_mb() -> float | None:
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    except ImportError:  # Windows
        return None


def _child_convert(name: str, out: str, weights: str, quant: str = "fp32", calibration: str | None = None) -> int:
    def stage(s: str) -> None:
        print(PROGRESS_PREFIX + s, flush=True)

    stage("start")
    t0 = time.perf_counter()
    stage("import")
    import tensorflow as tf  # heavy: TF (this is the conversion child)

    from cnnviz import zoo

    stage("build")
    if weights == "imagenet":
        model = zoo.create_model(name, weights="imagenet")
    else:  # a .weights.h5 of a given model, or the cached Keras .h5 file (the layout Keras loads)
        model = zoo.create_model(name, weights=None)
        model.load_weights(weights)
    stage("convert")
    # from_keras_model captures the variables. A conversion from a bare concrete function
    # (from_concrete_functions) came out as a 171 KB file without weights answering NaN on
    # TensorFlow 2.21, even with the model as its trackable object: the engine check would
    # catch such a file, but there is no reason to make it.
    float_fallback, logits_output = None, False
    if quant == "int8":
        logits_output = strip_softmax(model)
    if quant == "fp32":
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # a Flex op fails here, not at load
        flat = converter.convert()
    else:
        flat, float_fallback = _quantized(tf, model, quant, calibration)
    stage("write")
    fileio.write_bytes(Path(out), flat)
    stage("done")
    report = {"model": name, "seconds": round(time.perf_counter() - t0, 2), "bytes": len(flat),
              "peak_rss_mb": _peak_rss_mb(), "quant": quant, "float_fallback": float_fallback,
              "logits_output": logits_output}
    print(REPORT_PREFIX + json.dumps(report), flush=True)
    return 0


def strip_softmax(model) -> bool:
    """Make ``model``'s last layer output logits (its softmax removed); True when it had one.

    A full-integer softmax answers in steps of 1/256 and rounds every probability below 1/512 to 0:
    over 1,000 classes its outputs summed to 0.56–0.98 on the photos. Quantized logits followed by a
    float softmax on the host keep int8 inside and give probabilities that sum to 1.
    """
    import keras  # heavy: TF (the conversion child)

    last = model.layers[-1]
    if getattr(last, "activation", None) is keras.activations.softmax:
        last.activation = keras.activations.linear
        return True
    return False


def _quantized(tf, model, quant: str, calibration: str | None) -> tuple[bytes, bool | None]:
    """(flatbuffer, whether float kernels had to stay) of a dynamic-range or full-integer conversion.

    Full-integer first asks for int8 kernels only (``TFLITE_BUILTINS_INT8``); a model with an op
    that has no int8 kernel then fails, and is converted again with float kernels allowed for those
    ops (``float_fallback=True``, recorded: part of the model stays float).
    """
    def converter():
        c = tf.lite.TFLiteConverter.from_keras_model(model)
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        return c

    if quant == "dynamic":
        c = converter()
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return c.convert(), None
    data = np.load(calibration)

    def representative():
        for i in range(data.shape[0]):
            yield [data[i:i + 1].astype(np.float32)]

    c = converter()
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        return c.convert(), False
    except Exception:  # noqa: BLE001 — an op without an int8 kernel: allow float kernels for it
        c = converter()
        c.representative_dataset = representative
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        return c.convert(), True


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m cnnviz.litert",
                                 description="Convert a zoo model to LiteRT (used by cnnviz.infer).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert")
    c.add_argument("name")
    c.add_argument("out")
    c.add_argument("--weights", default="imagenet", help='"imagenet" or a .weights.h5 file')
    c.add_argument("--quant", default="fp32", choices=QUANTS, help="fp32, int8 (full-integer) or dynamic (range)")
    c.add_argument("--calibration", default=None, help="int8: .npy of preprocessed representative inputs")
    a = ap.parse_args(argv)
    return _child_convert(a.name, a.out, a.weights, a.quant, a.calibration)


if __name__ == "__main__":
    sys.exit(main())
