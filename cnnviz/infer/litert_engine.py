"""The LiteRT engine: a model converted once (:mod:`cnnviz.litert`, cached by its weights' digest) and
run by XNNPACK on the CPU, kept only where its answers agree with TensorFlow's.

The engine check runs when a model is converted (once: the verdict is kept beside the converted
file): both engines classify :func:`cnnviz.litert.check_image`; they must give the same top-5 order
and probabilities within :func:`cnnviz.litert.tolerance` of each other — a bound derived from
TensorFlow's own float32 error on that input, measured against a float64 run of the same model. A flat output (fresh random weights) agrees trivially: the check records ``flat=True`` so
nobody mistakes it for evidence. A later load from the cache runs LiteRT alone on the check image
and compares with LiteRT's recorded answer: a damaged file is rebuilt, and TensorFlow is not even
imported.

A quantized conversion (``plan.quant`` "int8" or "dynamic", engines ``litert-int8`` /
``litert-dynamic``) cannot meet fp32's tolerance, by design: its check is *measured, not refused*
(:func:`cnnviz.infer.quantized.agreement` against TensorFlow on the evaluation photos: top-1
equal, int8's top-1 in fp32's top-3, top-5 overlap); it fails only on a non-finite output.

:func:`load` is what :class:`cnnviz.infer.Predictor` calls when :func:`cnnviz.infer.plan_load`
chose LiteRT; :func:`convert` runs only the conversion and its check (a page that shows the
conversion's progress outside a cached loader).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from cnnviz import litert, zoo
from cnnviz.device import CPU, Device
from cnnviz.errors import UserFacingError
from cnnviz.infer.errors import EngineUnavailableError
from cnnviz.infer.plan import LoadPlan
from cnnviz.infer import quantized
from cnnviz.infer.prepare import preprocess_image
from cnnviz.infer.result import Engine, LoadedModel
from cnnviz.infer.tf_engine import TFEngine
from cnnviz.zoo import pretrained


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64, returned as float32."""
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


class LiteRTEngine:
    """A loaded, checked LiteRT interpreter.

    Attributes:
        interpreter: the :class:`cnnviz.litert.LiteRTModel`.
        record: the :class:`~cnnviz.infer.result.LoadedModel` of this load.
        params: the Keras parameter count recorded at conversion (None in older files).
    """

    def __init__(self, interpreter: litert.LiteRTModel, record: LoadedModel, params: int | None) -> None:
        self.interpreter = interpreter
        self.record = record
        self.params = params

    @property
    def device(self) -> Device:
        return self.record.device

    def __call__(self, x: np.ndarray, runs: int) -> tuple[np.ndarray, list[float]]:
        """``runs`` timed calls on one preprocessed batch: (probabilities of the first, ms of each)."""
        times = []
        probs = None
        for _ in range(runs):
            t0 = time.perf_counter()
            out = self.interpreter(x)
            times.append((time.perf_counter() - t0) * 1000.0)
            if probs is None:
                probs = softmax(out)[0] if self.record.applied_softmax else out[0]
        return probs, times


@dataclass
class Outcome:
    """What :func:`load` found: the engine (None when TensorFlow must answer) and why not."""

    engine: LiteRTEngine | None
    why_key: str | None = None
    why_params: dict = field(default_factory=dict)
    check: dict | None = None
    model: Any = None  # the Keras model built for the conversion (random weights), for TensorFlow to reuse


def load(plan: LoadPlan, model, *, progress: litert.Progress | None,
         tf_on_cpu: Callable[[Any], TFEngine]) -> Outcome:
    """Convert (first time) or find the conversion of ``plan``'s model, check it, and load it.

    Args:
        plan: a plan whose ``engine`` is "litert".
        model: the Keras model whose weights are converted; None converts the cached ImageNet file
            (``plan.weights="imagenet"``) or builds random weights (``None``).
        progress: ``progress(stage, fraction)`` while converting.
        tf_on_cpu: ``tf_on_cpu(model)`` → a :class:`TFEngine` on the CPU for the engine check.

    Raises:
        EngineUnavailableError: LiteRT was forced (``plan.forced``) and cannot run the model.
    """
    state = _Load(plan, model, progress, tf_on_cpu)
    try:
        digest, source_fn, label = state.source()
        with litert.lock(plan.name, digest, plan.quant):
            return state.run(digest, source_fn, label)
    except UserFacingError:
        raise
    except Exception as exc:  # conversion or interpreter failure: TensorFlow still works
        return failed(plan, "infer.engine.why.failed", f"{type(exc).__name__}: {exc}", model=state.model)


def convert(plan: LoadPlan, model=None, progress: litert.Progress | None = None) -> None:
    """Run only the conversion and its engine check (kept on disk), so the next load is a cache hit."""
    load(plan, model, progress=progress, tf_on_cpu=lambda m: TFEngine(plan.name, plan.display_name, plan.weights,
                                                                       m, CPU))


def failed(plan: LoadPlan, key: str, detail: str, *, model=None) -> Outcome:
    """TensorFlow answers, because of ``key`` (or :class:`EngineUnavailableError` when LiteRT was forced)."""
    if plan.forced:
        raise EngineUnavailableError(plan.display_name, detail)
    return Outcome(None, key, {"detail": detail}, model=model)


class _Load:
    def __init__(self, plan: LoadPlan, model, progress, tf_on_cpu) -> None:
        self.plan = plan
        self.model = model
        self.progress = progress
        self.tf_on_cpu = tf_on_cpu
        self.tmp_weights: Path | None = None

    def source(self) -> tuple[str, Callable[[], litert.Source], str]:
        """(digest of the weights, a function giving what the child converts, "imagenet"/"random"/"given")."""
        name = self.plan.name
        if self.model is None and self.plan.weights == "imagenet":
            path = pretrained.fetch_weights(name)
            digest = litert.file_digest(pretrained.weights_file(name), path)
            # The child loads the cached file itself: it needs neither the network nor the cache's settings.
            return digest, (lambda: litert.Source(name, str(path))), "imagenet"
        if self.model is None:
            self.model = zoo.create_model(name, weights=None)
        model = self.model
        label = "random" if self.plan.weights is None else "given"

        def source() -> litert.Source:
            # The child rebuilds the architecture and loads these very weights.
            folder = Path(tempfile.mkdtemp(prefix="cnnviz-litert-"))
            self.tmp_weights = folder
            path = folder / f"{name}.weights.h5"
            model.save_weights(str(path))
            return litert.Source(name, str(path))

        return litert.weights_digest(model), source, label

    def _calibration(self) -> tuple[str, dict]:
        """The representative set of a full-integer conversion, as a temporary ``.npy`` file."""
        shape = zoo.get_spec(self.plan.name).input_shape
        return quantized.calibration_file(self.plan.name, (int(shape[0]), int(shape[1])))

    def _drop_tmp_weights(self) -> None:
        if self.tmp_weights is not None:
            shutil.rmtree(self.tmp_weights, ignore_errors=True)
            self.tmp_weights = None

    def run(self, digest: str, source_fn, label: str) -> Outcome:
        plan, forced = self.plan, self.plan.forced
        for attempt in range(2):
            try:
                conversion, report = litert.ensure(plan.name, digest, source_fn, weights_label=label,
                                                   progress=self.progress, quant=plan.quant,
                                                   calibration_fn=self._calibration)
            finally:
                self._drop_tmp_weights()
            try:
                lite = litert.LiteRTModel(conversion.path)
                x = _check_input(plan.name, lite.input_shape[1:3])
                t0 = time.perf_counter()
                raw = lite(x)
                first_ms = (time.perf_counter() - t0) * 1000.0
            except Exception:
                if report is not None or attempt:
                    raise
                litert.remove(conversion.path)  # a damaged file the header check missed: rebuild it
                continue
            check = conversion.meta.get("check")
            applied_softmax = bool(conversion.meta.get("applied_softmax", False))
            if report is None and check is not None:
                p_lite = softmax(raw) if applied_softmax else raw
                recorded = np.asarray(conversion.meta.get("litert_probs", []), np.float32)
                ok, _, _ = litert.agree(recorded[None], p_lite, atol=litert.SELF_ATOL) if recorded.size else (
                    False, "", 0.0)
                if not ok and attempt == 0:
                    litert.remove(conversion.path)  # the file no longer gives its recorded answer
                    continue
            else:
                tf_engine = self.tf_on_cpu(self.model)
                logits = bool(conversion.meta.get("logits_output"))  # int8: its softmax runs here, in float
                check, applied_softmax, p_lite = _engine_check(tf_engine, raw, x, logits)
                if plan.quant != "fp32":
                    check = _quantized_check(tf_engine, lite, applied_softmax, check)
                conversion.meta.update(check=check, applied_softmax=applied_softmax,
                                       params=int(tf_engine.model.count_params()),
                                       litert_probs=[float(v) for v in p_lite.reshape(-1)])
                litert.write_meta(conversion)
            if not check["agree"] and not forced:
                return Outcome(None, "infer.engine.why.disagree", {"detail": check["reason"]}, check, self.model)
            key, params = (None, {})
            if forced and not check["agree"]:
                key, params = "infer.engine.why.forced_disagree", {"detail": check["reason"]}
            engine = Engine(plan.engine_id, "CPU", lite.runtime, plan.requested if forced else "auto", key, params,
                            check,
                            lite.num_threads, report.get("wall_s") if report else None)
            record = LoadedModel(engine=engine, input_size=tuple(lite.input_shape[1:3]),
                                 classes=int(lite.output_shape[-1]), device=plan.litert_device,
                                 first_call_ms=first_ms, output_dtype="float32", applied_softmax=applied_softmax)
            return Outcome(LiteRTEngine(lite, record, conversion.meta.get("params")), check=check, model=self.model)
        raise RuntimeError("the converted model stayed unusable after a rebuild")


def _quantized_check(tf_engine: TFEngine, lite: litert.LiteRTModel, applied_softmax: bool, fp32_check: dict) -> dict:
    """The check of a quantized conversion: its agreement with TensorFlow on the evaluation photos."""
    xs, tags = quantized.evaluation_inputs(tf_engine.name, lite.input_shape[1:3])
    p_ref = np.stack([tf_engine(xs[i:i + 1], 1)[0] for i in range(len(xs))])
    raws = np.concatenate([lite(xs[i:i + 1]) for i in range(len(xs))])
    p_q = softmax(raws) if applied_softmax else raws
    report = quantized.agreement(p_ref, p_q, tags)
    return {"agree": report["finite"], "quantized": True, "reason": quantized.summary(report),
            "agreement": report, "max_diff": report["max_abs_diff"], "atol": None,
            "flat": fp32_check.get("flat"), "check_image_max_diff": fp32_check.get("max_diff")}


def _check_input(name: str, size) -> np.ndarray:
    image = Image.fromarray(litert.check_image(size))
    return preprocess_image(name, image, tuple(size))


def _engine_check(tf_engine: TFEngine, raw: np.ndarray, x: np.ndarray,
                  logits: bool = False) -> tuple[dict, bool, np.ndarray]:
    """LiteRT vs TensorFlow (on the CPU) on the check input: (check, softmax applied, LiteRT's probabilities).

    ``logits``: the conversion outputs logits (its softmax stripped): the softmax is applied here.
    """
    p_tf, p_pair = tf_engine.probs_and_pair(x)
    applied_softmax = tf_engine.record.applied_softmax or logits
    p_lite = softmax(raw) if applied_softmax else raw
    # TensorFlow's own float32 error on the check input, against the exact (float64) answer.
    spread = litert.gap_error(p_pair, p_tf)
    exact = litert.exact_output(tf_engine.model, x)
    if exact is not None:
        if tf_engine.record.applied_softmax:  # the Keras model's own output is logits
            e = np.exp(exact - exact.max(axis=-1, keepdims=True))
            exact = e / e.sum(axis=-1, keepdims=True)  # float64: the reference stays exact
        tf_error, basis = litert.gap_error(p_tf, exact), "float64"
    else:
        tf_error, basis = spread, "batch"
    p_max = float(np.max(p_tf))
    atol = litert.tolerance(tf_error, p_max)
    ok, reason, diff = litert.agree(p_tf, p_lite, atol=atol)
    if atol >= litert.MAX_ATOL:
        reason += (f" (TensorFlow's own float32 error here, {tf_error:.1e} in log-probability gaps, is too large "
                   "for a check that proves anything: an ill-conditioned model, e.g. extreme random logits)")
    check = {"agree": ok, "reason": reason, "max_diff": diff if np.isfinite(diff) else None, "atol": atol,
             "tf_error": tf_error, "error_basis": basis, "tf_spread": spread, "p_max": p_max,
             "flat": litert.is_flat(p_tf)}
    return check, applied_softmax, np.asarray(p_lite, np.float32)


__all__ = ["LiteRTEngine", "Outcome", "convert", "failed", "load", "softmax"]
