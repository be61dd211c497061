"""Inference: device choice, one compiled function per model, honest timing.

The public entry point for scripts and notebooks is::

    from cnnviz.infer import load_predictor
    predictor = load_predictor("resnet50")            # weights="imagenet" through the cache
    result = predictor.predict(pil_image)             # or runs=N for a steadier median
    result.top5          # [(label, probability, class index), ...]
    result.inference_ms  # median of ``runs`` timed calls after warm-up

How a prediction is made (the page shows this policy to the user):

1. **Resize + crop** (:func:`cnnviz.images.fit_and_crop`): the image is scaled so that it *covers* the
   model's input (for a square input: the shorter side becomes the input size), with
   Pillow's antialiased bilinear filter, then center-cropped to exactly H×W. Nothing is
   stretched; the borders of the longer side are cut off.
2. **Preprocessing**: the model family's own ``preprocess_input``
   (:func:`cnnviz.zoo.preprocess_input`, identical to Keras').
3. **Inference**: ONE ``tf.function`` per model with a fixed input signature
   (1×H×W×3 float32), traced and compiled once when the predictor is built (the
   "first call" time is reported separately), then called N times; the reported
   inference time is the median of those N calls, including the copy of the result
   back to NumPy.

Thread safety: Streamlit shares a predictor between sessions; each predictor serialises
its calls with a lock. A caller that cannot get the lock within ``busy_timeout`` seconds
gets :class:`BusyError` instead of waiting forever.

Device: :func:`cnnviz.device.select_device` (also importable from here as
``cnnviz.infer.select_device``, and its type as ``cnnviz.infer.Device``): the first GPU
TensorFlow sees, unless ``CNNVIZ_FORCE_CPU=1`` or ``force_cpu=True``. Under mixed precision
(GPUs with tensor cores) the outputs are cast back to float32. If the GPU path fails, or
TensorFlow silently places the computation on the CPU, the predictor falls back to the CPU
and says why.

TensorFlow is imported when a predictor is built, not when this module is imported.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
from PIL import Image

from cnnviz import zoo
from cnnviz.zoo import pretrained
from cnnviz.device import Device, cpu_fallback, select_device
from cnnviz.errors import UserFacingError
from cnnviz.i18n import translate
from cnnviz.images import fit_and_crop

#: Timed runs per prediction when the caller does not say.
DEFAULT_RUNS = 5
#: The most timed runs one prediction may ask for (a typo like 5000 must not hang a page).
MAX_RUNS = 100
#: Seconds a caller waits for a busy predictor before :class:`BusyError`.
DEFAULT_BUSY_TIMEOUT = 5.0
#: Top-k shown everywhere.
TOP_K = 5
#: How far the output of a softmax may be from summing to 1 (float32 rounding over
#: 1000 classes stays far below this; float16 outputs under mixed precision need more).
PROB_SUM_TOLERANCE = {"float32": 1e-3, "float16": 1e-2}

# --------------------------------------------------------------------------- errors

class InferenceError(UserFacingError):
    """Base class of the errors :mod:`cnnviz.infer` raises."""


class BusyError(InferenceError):
    """The model is serving another request and did not become free in time."""

    def __init__(self, model: str, seconds: float) -> None:
        super().__init__("infer.error.busy", model=model, seconds=f"{seconds:g}")


class InvalidRunsError(InferenceError, ValueError):
    """A number of timed runs outside 1..MAX_RUNS."""

    def __init__(self, runs: object) -> None:
        super().__init__("infer.error.runs", runs=repr(runs), max=MAX_RUNS)


class NotAnImageError(InferenceError, TypeError):
    """``predict`` got something that is not a PIL image."""

    def __init__(self, got: object) -> None:
        super().__init__("infer.error.not_image", got=type(got).__name__)


class NotAClassifierError(InferenceError, ValueError):
    """The model's output is not one probability vector per image."""

    def __init__(self, model: str, shape: object) -> None:
        super().__init__("infer.error.not_classifier", model=model, shape=shape)


class BadProbabilitiesError(InferenceError):
    """The softmax output does not sum to 1 (a broken model or numeric overflow)."""

    def __init__(self, model: str, total: float) -> None:
        super().__init__("infer.error.prob_sum", model=model, total=f"{total:.6f}")


class InvalidWeightsError(InferenceError, ValueError):
    """A ``weights`` value other than "imagenet" or None."""

    def __init__(self, model: str, weights: object) -> None:
        super().__init__("infer.error.weights", model=model, weights=repr(weights))


def _check_runs(runs: object) -> int:
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or not 1 <= int(runs) <= MAX_RUNS:
        raise InvalidRunsError(runs)
    return int(runs)


# --------------------------------------------------------------------------- TensorFlow

def _tf():
    import tensorflow as tf  # heavy: TF, only once a predictor is built

    return tf


@contextlib.contextmanager
def _dtype_policy(policy: str | None):
    """Build models under a Keras dtype policy, restoring the previous one afterwards.

    Keras 3 keeps its global state per thread (``keras.src.backend.common.global_state``),
    so this affects only the building thread; restoring it keeps that thread's later
    builds (e.g. the Filters page in the same Streamlit session) in float32.
    """
    if policy is None:
        yield
        return
    import keras  # heavy: TF

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


# --------------------------------------------------------------------------- image → input

def prepare_image(name: str, image: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, np.ndarray]:
    """(the image as model ``name`` sees it, the 1×H×W×3 float32 batch it takes).

    :func:`cnnviz.images.fit_and_crop` to ``size`` (H, W), then the family's
    ``preprocess_input`` (:func:`cnnviz.zoo.preprocess_input`).
    """
    view = fit_and_crop(image, size)
    batch = zoo.preprocess_input(name, np.asarray(view, dtype=np.float32)[None])
    return view, np.ascontiguousarray(batch, dtype=np.float32)


def preprocess_image(name: str, image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """PIL image → the 1×H×W×3 float32 batch model ``name`` takes (see :func:`prepare_image`)."""
    return prepare_image(name, image, size)[1]


def resize_policy(size: tuple[int, int], lang: str = "en") -> str:
    """The resize/crop policy as one sentence for the user."""
    h, w = size
    if h == w:
        return translate("infer.policy.square", lang, size=h)
    return translate("infer.policy.rect", lang, h=h, w=w)


# --------------------------------------------------------------------------- results

@dataclass
class Prediction:
    """One model's answer for one image, with its timings.

    Attributes:
        model: registry name.
        display_name: name for people.
        weights: "imagenet" or None (random weights: the classes are meaningless).
        top5: ``[(label, probability, class index)]``, most probable first.
        probs: the full probability vector (float32, sums to 1).
        preprocess_ms: resize + crop + preprocess_input, in milliseconds.
        inference_ms: median of the ``runs`` timed calls of the compiled function.
        times_ms: every timed call, in order.
        runs: number of timed calls.
        first_call_ms: the first call when the predictor was built (tracing + compile).
        device: device label ("CPU", "GPU NVIDIA ... (16 GB)"), English.
        device_kind: "CPU" or "GPU".
        input_size: (H, W) the model saw.
        labels_available: whether the ImageNet class names were in the cache (otherwise
            labels read "class N").
        prob_sum: the sum of ``probs`` before any rounding, as a check.
    """

    model: str
    display_name: str
    weights: str | None
    top5: list[tuple[str, float, int]]
    probs: np.ndarray
    preprocess_ms: float
    inference_ms: float
    times_ms: list[float]
    runs: int
    first_call_ms: float
    device: str
    device_kind: str
    input_size: tuple[int, int]
    labels_available: bool
    prob_sum: float

    @property
    def top1(self) -> tuple[str, float, int]:
        return self.top5[0]

    @property
    def random_weights(self) -> bool:
        return self.weights is None

    def to_dict(self, *, include_probs: bool = False) -> dict[str, Any]:
        """JSON-ready dict (the full probability vector only when asked)."""
        out = {
            "model": self.model,
            "display_name": self.display_name,
            "weights": self.weights or "random",
            "top5": [{"label": lbl, "prob": round(float(p), 6), "index": int(i)} for lbl, p, i in self.top5],
            "preprocess_ms": round(self.preprocess_ms, 3),
            "inference_ms": round(self.inference_ms, 3),
            "times_ms": [round(v, 3) for v in self.times_ms],
            "runs": self.runs,
            "first_call_ms": round(self.first_call_ms, 3),
            "device": self.device,
            "device_kind": self.device_kind,
            "input_size": list(self.input_size),
            "labels_available": self.labels_available,
            "prob_sum": round(self.prob_sum, 6),
        }
        if include_probs:
            out["probs"] = [float(v) for v in self.probs]
        return out


def label_for(index: int, labels: list[str] | None) -> str:
    """A class name for people ("tabby", "Egyptian cat"), or "class N" without labels."""
    if labels is not None and 0 <= index < len(labels):
        return str(labels[index]).replace("_", " ")
    return f"class {index}"


def class_labels(classes: int = 1000) -> list[str] | None:
    """ImageNet class names from the cache, if present and matching a ``classes``-way classifier."""
    if classes != 1000:
        return None
    try:
        labels = pretrained.load_labels()
    except Exception:  # a corrupt index means "no labels", never a failed prediction
        return None
    if not labels or len(labels) != classes:
        return None
    return list(labels)


def top_k(probs: np.ndarray, labels: list[str] | None, k: int = TOP_K) -> list[tuple[str, float, int]]:
    """The ``k`` most probable classes, most probable first (ties: lower index first)."""
    k = min(k, probs.shape[0])
    order = np.argsort(-probs, kind="stable")[:k]
    return [(label_for(int(i), labels), float(probs[i]), int(i)) for i in order]


# --------------------------------------------------------------------------- predictor

class Predictor:
    """One model ready to classify images: built, compiled and warmed up once.

    Args:
        name: registry name (``"resnet50"``).
        weights: "imagenet" (through the weights cache) or None (random weights).
        model: a prebuilt ``keras.Model`` to use instead of building one (shared with
            other pages or tests). It must be the ``include_top=True`` classifier.
        runs: default number of timed runs per :meth:`predict`.
        device: where to run; default :func:`select_device`.
        busy_timeout: seconds to wait for the lock before :class:`BusyError`.

    Raises:
        cnnviz.zoo.UnknownModelError: unknown name.
        cnnviz.cache.CacheError: pretrained weights requested but not obtainable.
        NotAClassifierError: the model does not output one vector per image.
    """

    def __init__(self, name: str, weights: str | None = "imagenet", *, model=None, runs: int = DEFAULT_RUNS,
                 device: Device | None = None, busy_timeout: float | None = None) -> None:
        self.spec = zoo.get_spec(name)
        self.name = self.spec.name
        self.display_name = self.spec.display_name
        if weights not in (None, "imagenet"):
            raise InvalidWeightsError(self.display_name, weights)
        self.weights = weights
        self.runs = _check_runs(runs)
        if busy_timeout is None:
            busy_timeout = float(os.environ.get("CNNVIZ_BUSY_TIMEOUT", DEFAULT_BUSY_TIMEOUT))
        self.busy_timeout = float(busy_timeout)
        self._lock = threading.Lock()
        self.applied_softmax = False

        requested = device or select_device()
        t0 = time.perf_counter()
        try:
            self._build(requested, model)
        except UserFacingError:  # bad request or weights: the CPU would not fix it
            raise
        except Exception as exc:
            if not requested.is_gpu:
                raise
            # The GPU path failed (driver, out of memory...): the CPU always works.
            fallback = cpu_fallback(f"GPU failed: {type(exc).__name__}: {exc}")
            self._build(fallback, model)
        self.load_ms = (time.perf_counter() - t0) * 1000.0

    # ----------------------------------------------------------------- building

    def _build(self, device: Device, model) -> None:
        tf = _tf()
        mixed = device.mixed_precision and model is None
        if device.mixed_precision and not mixed:
            # A prebuilt model keeps its own dtypes.
            device = replace(device, mixed_precision=False)
        with tf.device(device.tf_name):
            if model is None:
                with _dtype_policy("mixed_float16" if mixed else None):
                    model = zoo.create_model(self.name, weights=self.weights)
            self.model = model
            shape = tuple(model.input_shape)
            if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] != 3:
                raise NotAClassifierError(self.display_name, shape)
            self.input_size = (int(shape[1]), int(shape[2]))
            out_shape = tuple(model.output_shape)
            if len(out_shape) != 2:
                raise NotAClassifierError(self.display_name, out_shape)
            self.classes = int(out_shape[1])
            self._fn = self._compile(model, softmax=False)
            first_call_ms, probe = self._warm_up()
            if not self._is_distribution(probe):
                # Logits (e.g. classifier_activation=None): add the softmax once and recompile.
                self.applied_softmax = True
                self._fn = self._compile(model, softmax=True)
                first_call_ms, probe = self._warm_up()
        if device.is_gpu and "GPU" not in probe.device.upper():
            # Soft device placement ran everything on the CPU: say so instead of claiming a GPU.
            raise RuntimeError(f"TensorFlow placed the model on {probe.device}")
        self.device = device
        self.first_call_ms = first_call_ms
        self.output_dtype = "float16" if mixed else "float32"

    def _compile(self, model, *, softmax: bool) -> Callable:
        tf = _tf()
        h, w = self.input_size

        # One signature, one trace: a new image never retraces, so memory stays flat.
        @tf.function(input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32, name="image")])
        def serve(x):
            y = model(x, training=False)
            y = tf.cast(y, tf.float32)  # mixed precision computes in float16; people read float32
            return tf.nn.softmax(y, axis=-1) if softmax else y

        return serve

    def _warm_up(self):
        """First call: traces and compiles the function. Returns (ms, output tensor)."""
        h, w = self.input_size
        x = np.zeros((1, h, w, 3), np.float32)
        t0 = time.perf_counter()
        y = self._fn(x)
        y.numpy()
        return (time.perf_counter() - t0) * 1000.0, y

    def _is_distribution(self, y) -> bool:
        p = np.asarray(y.numpy(), dtype=np.float64)
        return bool(p.min() >= 0 and abs(p.sum() - 1.0) <= 1e-2)

    # ----------------------------------------------------------------- public

    @property
    def params(self) -> int:
        """Parameters as Keras counts them (``count_params()``)."""
        return int(self.model.count_params())

    @property
    def size_mb(self) -> float:
        """Weights in memory as float32, in MB (2^20 bytes: the unit of the Keras table)."""
        return self.params * 4 / 2**20

    def model_view(self, image):
        """The image exactly as this model sees it (after resize and center crop)."""
        return fit_and_crop(image, self.input_size)

    def preprocess(self, image) -> np.ndarray:
        """PIL image → the 1×H×W×3 float32 batch the compiled function takes."""
        return preprocess_image(self.name, image, self.input_size)

    def predict(self, image, runs: int | None = None) -> Prediction:
        """Classify one image.

        Args:
            image: an RGB ``PIL.Image`` (from :func:`cnnviz.images.load_image`).
            runs: timed calls whose median is reported; default the predictor's ``runs``.

        Raises:
            NotAnImageError: ``image`` is not a PIL image.
            InvalidRunsError: ``runs`` outside 1..MAX_RUNS.
            BusyError: the model stayed busy for ``busy_timeout`` seconds.
        """
        if not isinstance(image, Image.Image):
            raise NotAnImageError(image)
        runs = self.runs if runs is None else _check_runs(runs)
        t0 = time.perf_counter()
        x = self.preprocess(image)
        preprocess_ms = (time.perf_counter() - t0) * 1000.0
        probs, times = self._run(x, runs)
        return self._result(probs, times, preprocess_ms)

    def run_compiled(self, x: np.ndarray, runs: int = 1) -> tuple[np.ndarray, list[float]]:
        """Call the compiled function ``runs`` times on a preprocessed batch (the bench uses it).

        Returns:
            (probability vector, milliseconds of each call).
        """
        return self._run(x, _check_runs(runs))

    def _run(self, x: np.ndarray, runs: int) -> tuple[np.ndarray, list[float]]:
        tf = _tf()
        if not self._lock.acquire(timeout=self.busy_timeout):
            raise BusyError(self.display_name, self.busy_timeout)
        try:
            with tf.device(self.device.tf_name):
                xt = tf.constant(x)
                times = []
                probs = None
                for _ in range(runs):
                    t0 = time.perf_counter()
                    out = self._fn(xt).numpy()  # .numpy() waits for the result: honest timing
                    times.append((time.perf_counter() - t0) * 1000.0)
                    if probs is None:
                        probs = out[0]
        finally:
            self._lock.release()
        return probs, times

    def _result(self, probs: np.ndarray, times: list[float], preprocess_ms: float) -> Prediction:
        probs = np.asarray(probs, dtype=np.float32)
        total = float(np.sum(probs, dtype=np.float64))
        if not np.isfinite(total) or abs(total - 1.0) > PROB_SUM_TOLERANCE[self.output_dtype] or probs.min() < 0:
            raise BadProbabilitiesError(self.display_name, total)
        labels = class_labels(self.classes)
        return Prediction(
            model=self.name,
            display_name=self.display_name,
            weights=self.weights,
            top5=top_k(probs, labels),
            probs=probs,
            preprocess_ms=preprocess_ms,
            inference_ms=float(statistics.median(times)),
            times_ms=[float(v) for v in times],
            runs=len(times),
            first_call_ms=self.first_call_ms,
            device=self.device.label("en"),
            device_kind=self.device.kind,
            input_size=self.input_size,
            labels_available=labels is not None,
            prob_sum=total,
        )

    def __repr__(self) -> str:
        return (f"Predictor({self.name!r}, weights={self.weights!r}, device={self.device.label()!r}, "
                f"input={self.input_size[0]}×{self.input_size[1]})")


def load_predictor(name: str, weights: str | None = "imagenet", *, runs: int = DEFAULT_RUNS, model=None,
                   device: Device | None = None, force_cpu: bool | None = None,
                   busy_timeout: float | None = None) -> Predictor:
    """Build a :class:`Predictor` for zoo model ``name`` (stable public API).

    Args:
        name: registry name, e.g. ``"resnet50"``.
        weights: "imagenet" (pretrained, from the weights cache: downloaded once unless
            offline) or None (random weights: the pipeline runs, the classes mean nothing).
        runs: default timed runs per prediction (the median is reported).
        model: optional prebuilt ``include_top=True`` model to reuse.
        device: explicit :class:`Device`; default :func:`select_device` (honouring
            ``force_cpu`` / ``CNNVIZ_FORCE_CPU``).
        busy_timeout: seconds to wait for a busy predictor (default 5, or ``CNNVIZ_BUSY_TIMEOUT``).
    """
    if device is None:
        device = select_device(force_cpu)
    return Predictor(name, weights, model=model, runs=runs, device=device, busy_timeout=busy_timeout)


__all__ = [
    "BadProbabilitiesError", "BusyError", "DEFAULT_RUNS", "Device", "InferenceError",
    "InvalidRunsError", "InvalidWeightsError", "MAX_RUNS", "NotAClassifierError", "NotAnImageError", "Prediction",
    "Predictor", "class_labels", "label_for", "load_predictor", "prepare_image", "preprocess_image",
    "resize_policy", "select_device", "top_k",
]
