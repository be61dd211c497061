"""The predictor: preprocessing, one engine per model, timing, the busy lock.

:class:`Predictor` asks :func:`cnnviz.infer.plan_load` how to load (device, engine, reason), loads
the engine (:mod:`cnnviz.infer.litert_engine` or :mod:`cnnviz.infer.tf_engine`), and answers
:meth:`Predictor.predict` with a :class:`~cnnviz.infer.result.Prediction`: the median of N timed
engine calls, the preprocessing timed apart. Each predictor serialises its calls with a lock; a
caller that cannot get it within ``busy_timeout`` seconds gets :class:`BusyError`.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import replace

import numpy as np
from PIL import Image

from cnnviz import litert, settings, zoo
from cnnviz.device import CPU, Device
from cnnviz.infer import litert_engine
from cnnviz.infer.errors import (BadProbabilitiesError, BusyError, EngineUnavailableError, NotAnImageError,
                                 check_runs)
from cnnviz.infer.litert_engine import LiteRTEngine
from cnnviz.infer.plan import plan_load
from cnnviz.infer.prepare import class_labels, model_view, preprocess_image, top_k
from cnnviz.infer.result import Engine, LoadedModel, Prediction
from cnnviz.infer.tf_engine import TFEngine

#: Timed runs per prediction when the caller does not say.
DEFAULT_RUNS = 5
#: Seconds a caller waits for a busy predictor before :class:`BusyError`: the server's one
#: class-sized limit (``CNNVIZ_BUSY_WAIT``, :func:`cnnviz.settings.busy_wait_s`) unless
#: ``CNNVIZ_BUSY_TIMEOUT`` sets the lock's own.
DEFAULT_BUSY_TIMEOUT = settings.BUSY_WAIT_S
#: How far the output of a softmax may be from summing to 1 (float32 rounding over
#: 1000 classes stays far below this; float16 outputs under mixed precision need more).
PROB_SUM_TOLERANCE = {"float32": 1e-3, "float16": 1e-2}


class Predictor:
    """One model ready to classify images: built, converted or compiled, and warmed up once.

    Engines (``engine``):

    * ``"tf"``: ONE ``tf.function`` with a fixed input signature on the selected device
      (mixed precision on GPUs with tensor cores).
    * ``"litert"``: the model converted to LiteRT (:mod:`cnnviz.litert`) and run by XNNPACK on the
      CPU, with as many threads as this process may use. Raises :class:`EngineUnavailableError`
      when that cannot work here.
    * ``"litert-int8"`` / ``"litert-dynamic"``: the same, converted full-integer int8 (weights and
      activations, calibrated on photos: :mod:`cnnviz.infer.quantized`) or dynamic-range (int8
      weights). Their check measures agreement with TensorFlow instead of holding them to fp32's
      tolerance (``engine.check["agreement"]``).
    * ``"auto"`` (default): LiteRT on a CPU when it is available and its answers agree with
      TensorFlow's; TensorFlow on a GPU, for random weights (a conversion of weights made for
      this load would be used once: it costs more than it saves), and wherever LiteRT is
      unavailable, its conversion failed, or its answers disagree. The reason is kept in
      :attr:`engine` (``engine.reason(lang)``) and shown by the pages. The server setting
      ``CNNVIZ_ENGINE`` (:func:`server_engine`) moves "auto": ``tf`` keeps TensorFlow
      everywhere; ``litert`` converts random weights too (an offline classroom then gets
      LiteRT's speed: the conversion is cached by the weights' digest for this process).

    How it loads is decided by :func:`cnnviz.infer.plan_load` (device, engine, reason); the engine
    check of a conversion is :mod:`cnnviz.infer.litert_engine`'s. What the load produced is
    :attr:`loaded` (one immutable :class:`~cnnviz.infer.result.LoadedModel`).

    Args:
        name: registry name (``"resnet50"``).
        weights: "imagenet" (through the weights cache) or None (random weights).
        model: a prebuilt ``keras.Model`` to use instead of building one (shared with
            other pages or tests). It must be the ``include_top=True`` classifier. With LiteRT,
            this very model (its weights) is converted.
        runs: default number of timed runs per :meth:`predict`.
        device: where TensorFlow runs; default :func:`cnnviz.infer.plan_load`'s choice.
        busy_timeout: seconds to wait for the lock before :class:`BusyError`.
        engine: "auto", "tf", "litert", "litert-int8" (full-integer) or "litert-dynamic" (int8 weights).
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
        plan = plan_load(name, weights, engine=engine, device=device)
        self.plan = plan
        self.spec = zoo.get_spec(plan.name)
        self.name = plan.name
        self.display_name = plan.display_name
        self.weights = weights
        self.runs = check_runs(runs)
        if busy_timeout is None:
            busy_timeout = settings.env_float("CNNVIZ_BUSY_TIMEOUT", settings.busy_wait_s(), low=0.0)
        self.busy_timeout = float(busy_timeout)
        self._lock = threading.Lock()
        self._params: int | None = None
        self._model = model
        self._tf: TFEngine | None = None

        t0 = time.perf_counter()
        why, check, runner = (plan.why_key, plan.why_params), None, None
        if plan.engine == "litert":
            outcome = litert_engine.load(plan, model, progress=progress, tf_on_cpu=self._tf_on_cpu)
            self._model = outcome.model if outcome.model is not None else self._model
            runner, why, check = outcome.engine, (outcome.why_key, outcome.why_params), outcome.check
        elif plan.forced:  # LiteRT asked for and not installed
            raise EngineUnavailableError(self.display_name, plan.why_params.get("detail", ""))
        if runner is None:
            runner = self._tf_engine(plan.device)
            key, params = why
            self.loaded = _with_engine(runner.record, Engine("tf", runner.device.kind, "tensorflow", engine, key,
                                                             params, check))
        else:
            self.loaded = runner.record
        self._runner = runner
        self.load_ms = (time.perf_counter() - t0) * 1000.0

    def _tf_engine(self, device: Device) -> TFEngine:
        """The TensorFlow engine on ``device`` (the one built for the engine check when it is there)."""
        if self._tf is None or self._tf.device.kind != device.kind:
            self._tf = TFEngine(self.name, self.display_name, self.weights, self._model, device)
            self._model = self._tf.model
        return self._tf

    def _tf_on_cpu(self, model) -> TFEngine:
        if model is not None:
            self._model = model
        return self._tf_engine(CPU)

    # ----------------------------------------------------------------- public

    @property
    def model(self):
        """The Keras model (built on first use when LiteRT answers from a cached conversion)."""
        if self._model is None:
            self._model = zoo.create_model(self.name, weights=self.weights)
        return self._model

    @property
    def built_model(self):
        """The Keras model if one was built or given, else None (LiteRT from a cached conversion)."""
        return self._model

    @property
    def tf_engine(self) -> TFEngine | None:
        """The TensorFlow engine, if one was built (for answers or for the engine check), else None."""
        return self._tf

    @property
    def runner(self) -> TFEngine | LiteRTEngine:
        """The engine object that answers (``runner(x, runs)`` → probabilities, milliseconds)."""
        return self._runner

    @property
    def model_bytes(self) -> int | None:
        """Size on disk of the converted model LiteRT runs (fp32 or int8); None for TensorFlow."""
        return self._runner.interpreter.bytes if isinstance(self._runner, LiteRTEngine) else None

    @property
    def engine(self) -> Engine:
        """The engine that answers, and why (:class:`~cnnviz.infer.result.Engine`)."""
        return self.loaded.engine

    @property
    def input_size(self) -> tuple[int, int]:
        return self.loaded.input_size

    @property
    def classes(self) -> int:
        return self.loaded.classes

    @property
    def device(self) -> Device:
        return self.loaded.device

    @property
    def first_call_ms(self) -> float:
        return self.loaded.first_call_ms

    @property
    def output_dtype(self) -> str:
        return self.loaded.output_dtype

    @property
    def applied_softmax(self) -> bool:
        return self.loaded.applied_softmax

    @property
    def engine_id(self) -> str:
        """"litert" or "tf": the engine that answers."""
        return self.engine.id

    @property
    def params(self) -> int:
        """Parameters as Keras counts them (``count_params()``); counted once (a page asks on every
        rerun, and walking a model's weights showed in the server's profile under load)."""
        if self._params is None:
            params = getattr(self._runner, "params", None)
            self._params = int(params) if self._model is None and params is not None else int(self.model.count_params())
        return self._params

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
        runs = self.runs if runs is None else check_runs(runs)
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
        runs = check_runs(runs)
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
        return self._run(x, check_runs(runs))

    def _run(self, x: np.ndarray, runs: int) -> tuple[np.ndarray, list[float]]:
        if not self._lock.acquire(timeout=self.busy_timeout):
            raise BusyError(self.display_name, self.busy_timeout)
        try:
            return self._call(x, runs)
        finally:
            self._lock.release()

    def _call(self, x: np.ndarray, runs: int) -> tuple[np.ndarray, list[float]]:
        """``runs`` timed engine calls on one preprocessed batch (the caller holds the lock)."""
        return self._runner(x, runs)

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


def _with_engine(record: LoadedModel, engine: Engine) -> LoadedModel:
    return replace(record, engine=engine)


def load_predictor(name: str, weights: str | None = "imagenet", *, engine: str = "auto", runs: int = DEFAULT_RUNS,
                   model=None, device: Device | None = None, force_cpu: bool | None = None,
                   busy_timeout: float | None = None, progress: litert.Progress | None = None) -> Predictor:
    """Build a :class:`Predictor` for zoo model ``name`` (stable public API).

    Args:
        name: registry name, e.g. ``"resnet50"``.
        weights: "imagenet" (pretrained, from the weights cache: downloaded once unless
            offline) or None (random weights: the pipeline runs, the classes mean nothing).
        engine: "auto" (LiteRT on a CPU where it agrees with TensorFlow, else TensorFlow),
            "tf", "litert" (fp32), "litert-int8" (full-integer int8, calibrated on photos: its
            ``Prediction.engine`` is "litert-int8") or "litert-dynamic" (int8 weights, float
            activations) (see :class:`Predictor`).
        runs: default timed runs per prediction (the median is reported).
        model: optional prebuilt ``include_top=True`` model to reuse (with LiteRT: the one converted).
        device: explicit :class:`Device`; default :func:`cnnviz.infer.plan_load`'s choice (honouring
            ``force_cpu`` / ``CNNVIZ_FORCE_CPU``).
        busy_timeout: seconds to wait for a busy predictor (default 5, or ``CNNVIZ_BUSY_TIMEOUT``).
        progress: ``progress(stage, fraction)`` while a model is converted to LiteRT (first load only).
    """
    device = device or plan_load(name, weights, engine=engine, force_cpu=force_cpu).device
    return Predictor(name, weights, model=model, runs=runs, device=device, busy_timeout=busy_timeout,
                     engine=engine, progress=progress)
