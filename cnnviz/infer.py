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
3. **Inference**, by one of two engines (:class:`Engine`, named beside every latency):
   LiteRT (XNNPACK, CPU; the model converted once and cached, :mod:`cnnviz.litert`) where
   its answers agree with TensorFlow's, otherwise ONE ``tf.function`` per model with a fixed
   input signature (1×H×W×3 float32), traced and compiled once when the predictor is built
   (the "first call" time is reported separately). Either is then called N times; the
   reported inference time is the median of those N calls, including the copy of the
   result back to NumPy. ``engine="auto"|"tf"|"litert"`` (see :class:`Predictor`).

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
import tempfile
import threading
import time
import weakref
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
from PIL import Image

from cnnviz import litert, zoo
from cnnviz.zoo import pretrained
from cnnviz.device import CPU, Device, cpu_fallback, probe, select_device
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


class InvalidEngineError(InferenceError, ValueError):
    """An ``engine`` value other than "auto", "tf" or "litert"."""

    def __init__(self, engine: object) -> None:
        super().__init__("infer.error.engine_value", engine=repr(engine))


class EngineUnavailableError(InferenceError):
    """LiteRT was asked for explicitly (``engine="litert"``) and cannot run this model here."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__("infer.error.engine_unavailable", model=model, reason=reason)


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

#: Resized views kept for reuse: (id of the photo, size) → (weak reference to the photo, view).
_VIEWS: dict[tuple[int, tuple[int, int]], tuple[weakref.ref, Image.Image]] = {}
_VIEWS_LOCK = threading.Lock()
_VIEWS_MAX = 32


def model_view(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """:func:`cnnviz.images.fit_and_crop` of ``image`` to ``size``, done once per photo and size.

    The four homework models all take 224×224: resizing a 12 MP photo once instead of four
    times matters when a model answers in 2 ms. The view is remembered while the photo object
    lives (a weak reference: a new upload is a new object, never a stale hit).
    """
    size = (int(size[0]), int(size[1]))
    key = (id(image), size)
    with _VIEWS_LOCK:
        hit = _VIEWS.get(key)
        if hit is not None and hit[0]() is image:
            return hit[1]
    view = fit_and_crop(image, size)
    try:
        ref = weakref.ref(image)
    except TypeError:  # not weak-referenceable: do not cache
        return view
    with _VIEWS_LOCK:
        for k in [k for k, (r, _) in _VIEWS.items() if r() is None]:
            del _VIEWS[k]
        while len(_VIEWS) >= _VIEWS_MAX:
            del _VIEWS[next(iter(_VIEWS))]
        _VIEWS[key] = (ref, view)
    return view


def prepare_image(name: str, image: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, np.ndarray]:
    """(the image as model ``name`` sees it, the 1×H×W×3 float32 batch it takes).

    :func:`model_view` (fit and crop to ``size`` (H, W), shared by the models of that size),
    then the family's ``preprocess_input`` (:func:`cnnviz.zoo.preprocess_input`).
    """
    view = model_view(image, size)
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


# --------------------------------------------------------------------------- engines

#: ``engine`` values: "auto" picks per model (see :class:`Predictor`), the others force one.
ENGINES = ("auto", "tf", "litert")


@dataclass(frozen=True)
class Engine:
    """The runtime that answers for a predictor, and why it was chosen.

    Attributes:
        id: "litert" or "tf" (stable, for scripts and JSON).
        device_kind: "CPU" or "GPU" (LiteRT always runs on the CPU here).
        runtime: "ai-edge-litert", "tf.lite" (TensorFlow's fallback interpreter) or "tensorflow".
        requested: the ``engine`` asked for ("auto", "tf", "litert").
        why_key: i18n key saying why TensorFlow answers under "auto" (or a forced LiteRT's
            caveat); None when the choice needs no explanation.
        why_params: its placeholders (technical details stay in English).
        check: the engine check (LiteRT vs TensorFlow on the check image): ``agree``,
            ``reason``, ``max_diff``, ``atol`` (derived from ``tf_error``: TensorFlow's own float32
            error on the check input against a float64 run, ``error_basis`` "float64", or its
            batch-shape spread ``tf_spread`` when the model cannot run in float64, "batch"),
            ``flat``; None if never run.
        threads: LiteRT's thread count.
        converted_s: seconds the conversion took when this load converted; None on a cache hit.
    """

    id: str
    device_kind: str
    runtime: str
    requested: str = "auto"
    why_key: str | None = None
    why_params: dict = field(default_factory=dict)
    check: dict | None = None
    threads: int | None = None
    converted_s: float | None = None

    @property
    def is_litert(self) -> bool:
        return self.id == "litert"

    def label(self, lang: str = "en") -> str:
        """"LiteRT · XNNPACK · CPU", "TensorFlow · GPU" (in ``lang``)."""
        where = translate("infer.engine.gpu" if self.device_kind == "GPU" else "infer.engine.cpu", lang)
        return translate("infer.engine.litert" if self.is_litert else "infer.engine.tf", lang, device=where)

    def reason(self, lang: str = "en") -> str | None:
        """Why this engine answers (a fallback's reason), or None."""
        return translate(self.why_key, lang, **self.why_params) if self.why_key else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label("en"), "device_kind": self.device_kind, "runtime": self.runtime,
                "requested": self.requested, "reason": self.reason("en"), "check": self.check,
                "threads": self.threads, "converted_s": self.converted_s}


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
        engine: the engine that answered: "litert" or "tf" (see :class:`Engine`).
        engine_label: its name for people, English ("LiteRT · XNNPACK · CPU", "TensorFlow · GPU").
        engine_note: why that engine answers (a fallback's reason, English), or None.
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
    engine: str = "tf"
    engine_label: str = "TensorFlow · CPU"
    engine_note: str | None = None

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
            "engine": self.engine,
            "engine_label": self.engine_label,
            "engine_note": self.engine_note,
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

ENGINE_ENV = "CNNVIZ_ENGINE"
SERVER_ENGINES = ("auto", "tf", "litert")


def server_engine() -> str:
    """What ``engine="auto"`` leans to on this server: ``CNNVIZ_ENGINE`` = auto (default) | tf | litert.

    ``tf``: TensorFlow answers everywhere (LiteRT only where a page forces it, e.g. the
    compare-engines view). ``litert``: LiteRT answers for random weights too (it is already
    the choice for ImageNet weights on a CPU). An unknown value counts as ``auto``.
    """
    value = os.environ.get(ENGINE_ENV, "auto").strip().lower()
    return value if value in SERVER_ENGINES else "auto"


class Predictor:
    """One model ready to classify images: built, converted or compiled, and warmed up once.

    Engines (``engine``):

    * ``"tf"``: ONE ``tf.function`` with a fixed input signature on the selected device
      (mixed precision on GPUs with tensor cores).
    * ``"litert"``: the model converted to LiteRT (:mod:`cnnviz.litert`) and run by XNNPACK on the
      CPU, with as many threads as this process may use. Raises :class:`EngineUnavailableError`
      when that cannot work here.
    * ``"auto"`` (default): LiteRT on a CPU when it is available and its answers agree with
      TensorFlow's; TensorFlow on a GPU, for random weights (a conversion of weights made for
      this load would be used once: it costs more than it saves), and wherever LiteRT is
      unavailable, its conversion failed, or its answers disagree. The reason is kept in
      :attr:`engine` (``engine.reason(lang)``) and shown by the pages. The server setting
      ``CNNVIZ_ENGINE`` (:func:`server_engine`) moves "auto": ``tf`` keeps TensorFlow
      everywhere; ``litert`` converts random weights too (an offline classroom then gets
      LiteRT's speed: the conversion is cached by the weights' digest for this process).

    The engine check runs when a model is converted (once: the verdict is kept beside the
    converted file): both engines classify :func:`cnnviz.litert.check_image`; they must give the
    same top-5 order and probabilities within 1e-4, or within twice TensorFlow's own spread
    between batch sizes if that is larger (EfficientNetB0's extreme logits differ by ~1e-3
    in TensorFlow itself). A flat output (fresh random weights) agrees trivially: the check
    records ``flat=True`` so nobody mistakes it for evidence. A later load from the cache runs
    LiteRT alone on the check image and compares with LiteRT's recorded answer: a damaged file
    is rebuilt, and TensorFlow is not even imported.

    Args:
        name: registry name (``"resnet50"``).
        weights: "imagenet" (through the weights cache) or None (random weights).
        model: a prebuilt ``keras.Model`` to use instead of building one (shared with
            other pages or tests). It must be the ``include_top=True`` classifier. With LiteRT,
            this very model (its weights) is converted.
        runs: default number of timed runs per :meth:`predict`.
        device: where TensorFlow runs; default :func:`select_device`.
        busy_timeout: seconds to wait for the lock before :class:`BusyError`.
        engine: "auto", "tf" or "litert".
        progress: ``progress(stage, fraction)`` while a model is converted (see :data:`cnnviz.litert.STAGES`).

    Raises:
        cnnviz.zoo.UnknownModelError: unknown name.
        cnnviz.cache.CacheError: pretrained weights requested but not obtainable.
        NotAClassifierError: the model does not output one vector per image.
        EngineUnavailableError: ``engine="litert"`` and LiteRT cannot run the model.
    """

    def __init__(self, name: str, weights: str | None = "imagenet", *, model=None, runs: int = DEFAULT_RUNS,
                 device: Device | None = None, busy_timeout: float | None = None, engine: str = "auto",
                 progress: litert.Progress | None = None) -> None:
        self.spec = zoo.get_spec(name)
        self.name = self.spec.name
        self.display_name = self.spec.display_name
        if weights not in (None, "imagenet"):
            raise InvalidWeightsError(self.display_name, weights)
        if engine not in ENGINES:
            raise InvalidEngineError(engine)
        self.weights = weights
        self.runs = _check_runs(runs)
        if busy_timeout is None:
            busy_timeout = float(os.environ.get("CNNVIZ_BUSY_TIMEOUT", DEFAULT_BUSY_TIMEOUT))
        self.busy_timeout = float(busy_timeout)
        self._lock = threading.Lock()
        self.applied_softmax = False
        self._model = model
        self._fn = None
        self._litert: litert.LiteRTModel | None = None
        self._params: int | None = None

        requested = device or select_device()
        t0 = time.perf_counter()
        why: tuple[str, dict] | None = None
        if engine != "tf":
            why = self._try_litert(engine, requested, progress)
        if self._litert is None:
            self._build_tf(requested)
            check = getattr(self, "_check", None)
            key, params = why or (None, {})
            self.engine = Engine("tf", self.device.kind, "tensorflow", engine, key, params, check)
        self.load_ms = (time.perf_counter() - t0) * 1000.0

    # ----------------------------------------------------------------- TensorFlow

    def _build_tf(self, requested: Device) -> None:
        if self._fn is not None and self.device.kind == requested.kind:
            return  # built already (for the engine check)
        given = self._model  # None: build one (a failed GPU build's model must not be reused)
        try:
            self._build(requested, given)
        except UserFacingError:  # bad request or weights: the CPU would not fix it
            raise
        except Exception as exc:
            if not requested.is_gpu:
                raise
            # The GPU path failed (driver, out of memory...): the CPU always works.
            fallback = cpu_fallback(f"GPU failed: {type(exc).__name__}: {exc}")
            self._build(fallback, given)

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
            self._model = model
            shape = tuple(model.input_shape)
            if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] != 3:
                raise NotAClassifierError(self.display_name, shape)
            self.input_size = (int(shape[1]), int(shape[2]))
            out_shape = tuple(model.output_shape)
            if len(out_shape) != 2:
                raise NotAClassifierError(self.display_name, out_shape)
            self.classes = int(out_shape[1])
            self.applied_softmax = False
            self._fn = self._compile(model, softmax=False)
            first_call_ms, probe_out = self._warm_up()
            if not self._is_distribution(probe_out):
                # Logits (e.g. classifier_activation=None): add the softmax once and recompile.
                self.applied_softmax = True
                self._fn = self._compile(model, softmax=True)
                first_call_ms, probe_out = self._warm_up()
        if device.is_gpu and "GPU" not in probe_out.device.upper():
            # Soft device placement ran everything on the CPU: say so instead of claiming a GPU.
            raise RuntimeError(f"TensorFlow placed the model on {probe_out.device}")
        self.device = device
        self.first_call_ms = first_call_ms
        self.output_dtype = "float16" if mixed else "float32"

    # ----------------------------------------------------------------- LiteRT

    def _try_litert(self, engine: str, requested: Device, progress) -> tuple[str, dict] | None:
        """Set up LiteRT if it should answer; otherwise return (i18n key, params) of why not."""
        forced = engine == "litert"
        setting = server_engine()
        if not forced and setting == "tf":
            return "infer.engine.why.setting", {}
        if not forced and requested.is_gpu:
            return "infer.engine.why.gpu", {}
        if not forced and self.weights is None and setting != "litert":
            return "infer.engine.why.random", {}
        try:
            litert.runtime()
        except litert.LiteRTUnavailable as exc:
            return self._litert_failed(forced, "infer.engine.why.unavailable", str(exc))
        cpu = requested if not requested.is_gpu else CPU
        try:
            digest, source_fn, label = self._conversion_source()
            with litert.lock(self.name, digest):
                return self._load_litert(forced, cpu, digest, source_fn, label, progress)
        except UserFacingError:
            raise
        except Exception as exc:  # conversion or interpreter failure: TensorFlow still works
            return self._litert_failed(forced, "infer.engine.why.failed", f"{type(exc).__name__}: {exc}")

    def _litert_failed(self, forced: bool, key: str, detail: str) -> tuple[str, dict]:
        if forced:
            raise EngineUnavailableError(self.display_name, detail)
        return key, {"detail": detail}

    def _conversion_source(self) -> tuple[str, Callable[[], litert.Source], str]:
        """(digest of the weights, a function giving what the child converts, "imagenet"/"random"/"given")."""
        if self._model is None and self.weights == "imagenet":
            path = pretrained.fetch_weights(self.name)
            digest = litert.file_digest(pretrained.weights_file(self.name), path)
            # The child loads the cached file itself: it needs neither the network nor the cache's settings.
            return digest, (lambda: litert.Source(self.name, str(path))), "imagenet"
        if self._model is None:
            self._model = zoo.create_model(self.name, weights=None)
        model = self._model
        label = "random" if self.weights is None else "given"

        def source() -> litert.Source:
            # The child rebuilds the architecture and loads these very weights.
            folder = Path(tempfile.mkdtemp(prefix="cnnviz-litert-"))
            self._tmp_weights = folder
            path = folder / f"{self.name}.weights.h5"
            model.save_weights(str(path))
            return litert.Source(self.name, str(path))

        return litert.weights_digest(model), source, label

    def _load_litert(self, forced: bool, cpu: Device, digest: str, source_fn, label: str,
                     progress) -> tuple[str, dict] | None:
        for attempt in range(2):
            try:
                conversion, report = litert.ensure(self.name, digest, source_fn, weights_label=label,
                                                   progress=progress)
            finally:
                self._drop_tmp_weights()
            try:
                lite = litert.LiteRTModel(conversion.path)
                x = self._check_input(lite.input_shape[1:3])
                t0 = time.perf_counter()
                raw = lite(x)
                first_ms = (time.perf_counter() - t0) * 1000.0
            except Exception:
                if report is not None or attempt:
                    raise
                litert.remove(conversion.path)  # a damaged file the header check missed: rebuild it
                continue
            check = conversion.meta.get("check")
            softmax = bool(conversion.meta.get("applied_softmax", False))
            if report is None and check is not None:
                p_lite = _softmax(raw) if softmax else raw
                recorded = np.asarray(conversion.meta.get("litert_probs", []), np.float32)
                ok, _, _ = litert.agree(recorded[None], p_lite, atol=litert.SELF_ATOL) if recorded.size else (
                    False, "", 0.0)
                if not ok and attempt == 0:
                    litert.remove(conversion.path)  # the file no longer gives its recorded answer
                    continue
            else:
                check, softmax, p_lite = self._engine_check(lite, raw, x)
                conversion.meta.update(check=check, applied_softmax=softmax, params=self.params,
                                       litert_probs=[float(v) for v in p_lite.reshape(-1)])
                litert.write_meta(conversion)
            self._check = check
            if not check["agree"] and not forced:
                return "infer.engine.why.disagree", {"detail": check["reason"]}
            self._litert = lite
            self.applied_softmax = softmax
            self.input_size = tuple(lite.input_shape[1:3])
            self.classes = int(lite.output_shape[-1])
            self._params = conversion.meta.get("params")
            self.device = cpu
            self.first_call_ms = first_ms
            self.output_dtype = "float32"
            key, params = (None, {})
            if forced and not check["agree"]:
                key, params = "infer.engine.why.forced_disagree", {"detail": check["reason"]}
            self.engine = Engine("litert", "CPU", lite.runtime, "litert" if forced else "auto", key, params, check,
                                 lite.num_threads, report.get("wall_s") if report else None)
            return None
        raise RuntimeError("the converted model stayed unusable after a rebuild")

    def _check_input(self, size) -> np.ndarray:
        image = Image.fromarray(litert.check_image(size))
        return preprocess_image(self.name, image, tuple(size))

    def _engine_check(self, lite: litert.LiteRTModel, raw: np.ndarray, x: np.ndarray) -> tuple[dict, bool, np.ndarray]:
        """LiteRT vs TensorFlow on the check input (builds the TensorFlow side on the CPU)."""
        self._build_tf(CPU)
        tf = _tf()
        with tf.device(self.device.tf_name):
            p_tf = self._fn(x).numpy()
            # TensorFlow against itself: the same image in a batch of two takes other kernels.
            pair = np.concatenate([x, x[:, :, ::-1]], axis=0)
            y2 = self._model(pair, training=False)
            y2 = tf.cast(y2, tf.float32)
            p_pair = (tf.nn.softmax(y2, axis=-1) if self.applied_softmax else y2).numpy()[:1]
        spread = float(np.max(np.abs(p_tf.astype(np.float64) - p_pair)))
        softmax = self.applied_softmax
        p_lite = _softmax(raw) if softmax else raw
        # TensorFlow's own float32 error on the check input, against the exact (float64) answer.
        exact = litert.exact_output(self._model, x)
        if exact is not None:
            if softmax:
                e = np.exp(exact - exact.max(axis=-1, keepdims=True))
                exact = e / e.sum(axis=-1, keepdims=True)
            tf_error, basis = litert.max_error(p_tf, exact), "float64"
        else:
            tf_error, basis = spread, "batch"
        atol = litert.tolerance(tf_error)
        ok, reason, diff = litert.agree(p_tf, p_lite, atol=atol)
        check = {"agree": ok, "reason": reason, "max_diff": diff if np.isfinite(diff) else None, "atol": atol,
                 "tf_error": tf_error, "error_basis": basis, "tf_spread": spread, "flat": litert.is_flat(p_tf)}
        return check, softmax, np.asarray(p_lite, np.float32)

    def _drop_tmp_weights(self) -> None:
        folder = getattr(self, "_tmp_weights", None)
        if folder is not None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            self._tmp_weights = None

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
    def model(self):
        """The Keras model (built on first use when LiteRT answers from a cached conversion)."""
        if self._model is None:
            self._model = zoo.create_model(self.name, weights=self.weights)
        return self._model

    @property
    def engine_id(self) -> str:
        """"litert" or "tf": the engine that answers."""
        return self.engine.id

    @property
    def params(self) -> int:
        """Parameters as Keras counts them (``count_params()``)."""
        if self._model is None and self._params is not None:
            return int(self._params)
        return int(self.model.count_params())

    @property
    def size_mb(self) -> float:
        """Weights in memory as float32, in MB (2^20 bytes: the unit of the Keras table)."""
        return self.params * 4 / 2**20

    def model_view(self, image):
        """The image exactly as this model sees it (after resize and center crop)."""
        return model_view(image, self.input_size)

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

    def predict_batch(self, images, runs: int = 1) -> list[Prediction]:
        """Classify several images; the same result per image as :meth:`predict`.

        The lock is taken once for the whole list. Each image is one engine call of batch 1:
        the compiled TensorFlow function has a fixed batch-1 signature (no retracing), and
        LiteRT on a 2-core CPU gained nothing from batching (measured at batch 2–8) while every
        change of batch size re-plans its memory.

        Raises:
            NotAnImageError: an element is not a PIL image.
            BusyError: the model stayed busy for ``busy_timeout`` seconds.
        """
        images = list(images)
        for image in images:
            if not isinstance(image, Image.Image):
                raise NotAnImageError(image)
        runs = _check_runs(runs)
        prepared = []
        for image in images:
            t0 = time.perf_counter()
            prepared.append((self.preprocess(image), (time.perf_counter() - t0) * 1000.0))
        if not prepared:
            return []
        if not self._lock.acquire(timeout=self.busy_timeout):
            raise BusyError(self.display_name, self.busy_timeout)
        try:
            outputs = [self._call(x, runs) for x, _ in prepared]
        finally:
            self._lock.release()
        return [self._result(probs, times, pre) for (probs, times), (_, pre) in zip(outputs, prepared)]

    def run_compiled(self, x: np.ndarray, runs: int = 1) -> tuple[np.ndarray, list[float]]:
        """Call the engine ``runs`` times on a preprocessed batch (the bench uses it).

        Returns:
            (probability vector, milliseconds of each call).
        """
        return self._run(x, _check_runs(runs))

    def _run(self, x: np.ndarray, runs: int) -> tuple[np.ndarray, list[float]]:
        if not self._lock.acquire(timeout=self.busy_timeout):
            raise BusyError(self.display_name, self.busy_timeout)
        try:
            return self._call(x, runs)
        finally:
            self._lock.release()

    def _call(self, x: np.ndarray, runs: int) -> tuple[np.ndarray, list[float]]:
        """``runs`` timed engine calls on one preprocessed batch (the caller holds the lock)."""
        times = []
        probs = None
        if self._litert is not None:
            for _ in range(runs):
                t0 = time.perf_counter()
                out = self._litert(x)
                times.append((time.perf_counter() - t0) * 1000.0)
                if probs is None:
                    probs = _softmax(out)[0] if self.applied_softmax else out[0]
            return probs, times
        tf = _tf()
        with tf.device(self.device.tf_name):
            xt = tf.constant(x)
            for _ in range(runs):
                t0 = time.perf_counter()
                out = self._fn(xt).numpy()  # .numpy() waits for the result: honest timing
                times.append((time.perf_counter() - t0) * 1000.0)
                if probs is None:
                    probs = out[0]
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
            engine=self.engine.id,
            engine_label=self.engine.label("en"),
            engine_note=self.engine.reason("en"),
        )

    def __repr__(self) -> str:
        return (f"Predictor({self.name!r}, weights={self.weights!r}, engine={self.engine.label()!r}, "
                f"input={self.input_size[0]}×{self.input_size[1]})")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def conversion_needed(name: str, weights: str | None = "imagenet", *, engine: str = "auto", model=None,
                      device: Device | None = None) -> bool:
    """Whether :func:`load_predictor` with these arguments would first convert the model to LiteRT.

    Pages use it to show a conversion's progress outside of a cached loader. Cheap: no
    TensorFlow, no model build (hashing a given model's weights at most).
    """
    if engine == "tf":
        return False
    forced = engine == "litert"
    device = device or probe()
    if not forced and (device.is_gpu or weights is None):
        return False
    try:
        litert.runtime()
    except litert.LiteRTUnavailable:
        return False
    name = zoo.get_spec(name).name
    if model is not None:
        digest = litert.weights_digest(model)
    elif weights == "imagenet":
        states = pretrained.status([name])
        if not states or states[0].state != "cached":
            return False  # the download comes first (and may fail); the load will say
        digest = litert.file_digest(pretrained.weights_file(name), states[0].path)
    else:
        return True  # random weights built for this load: always a new conversion
    return litert.lookup(name, digest) is None


def load_predictor(name: str, weights: str | None = "imagenet", *, engine: str = "auto", runs: int = DEFAULT_RUNS,
                   model=None, device: Device | None = None, force_cpu: bool | None = None,
                   busy_timeout: float | None = None, progress: litert.Progress | None = None) -> Predictor:
    """Build a :class:`Predictor` for zoo model ``name`` (stable public API).

    Args:
        name: registry name, e.g. ``"resnet50"``.
        weights: "imagenet" (pretrained, from the weights cache: downloaded once unless
            offline) or None (random weights: the pipeline runs, the classes mean nothing).
        engine: "auto" (LiteRT on a CPU where it agrees with TensorFlow, else TensorFlow),
            "tf" or "litert" (see :class:`Predictor`).
        runs: default timed runs per prediction (the median is reported).
        model: optional prebuilt ``include_top=True`` model to reuse (with LiteRT: the one converted).
        device: explicit :class:`Device`; default :func:`select_device` (honouring
            ``force_cpu`` / ``CNNVIZ_FORCE_CPU``).
        busy_timeout: seconds to wait for a busy predictor (default 5, or ``CNNVIZ_BUSY_TIMEOUT``).
        progress: ``progress(stage, fraction)`` while a model is converted to LiteRT (first load only).
    """
    if device is None:
        if engine != "tf" and not force_cpu:
            # Without importing TensorFlow: a CPU-only machine answering from cached LiteRT
            # conversions never needs it.
            seen = probe()
            device = select_device(force_cpu) if seen.is_gpu else (CPU if not force_cpu else select_device(True))
        else:
            device = select_device(force_cpu)
    return Predictor(name, weights, model=model, runs=runs, device=device, busy_timeout=busy_timeout,
                     engine=engine, progress=progress)


__all__ = [
    "BadProbabilitiesError", "BusyError", "DEFAULT_RUNS", "ENGINES", "Device", "conversion_needed", "Engine", "EngineUnavailableError",
    "InferenceError", "InvalidEngineError", "model_view",
    "InvalidRunsError", "InvalidWeightsError", "MAX_RUNS", "NotAClassifierError", "NotAnImageError", "Prediction",
    "Predictor", "class_labels", "label_for", "load_predictor", "prepare_image", "preprocess_image",
    "resize_policy", "select_device", "top_k",
]
