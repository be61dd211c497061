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

The package, by job: :mod:`~cnnviz.infer.plan` (the one decision of how a model loads:
:func:`plan_load`), :mod:`~cnnviz.infer.predictor` (:class:`Predictor`, :func:`load_predictor`),
:mod:`~cnnviz.infer.tf_engine` and :mod:`~cnnviz.infer.litert_engine` (one engine per runtime, each
giving one immutable :class:`LoadedModel`), :mod:`~cnnviz.infer.prepare` (image → input, class
names), :mod:`~cnnviz.infer.result` (:class:`Engine`, :class:`LoadedModel`, :class:`Prediction`),
:mod:`~cnnviz.infer.errors`.
"""

from __future__ import annotations

from cnnviz.device import Device, select_device
from cnnviz.infer.errors import (MAX_RUNS, BadProbabilitiesError, BusyError, EngineUnavailableError, InferenceError,
                                 InvalidEngineError, InvalidRunsError, InvalidWeightsError, NotAClassifierError,
                                 NotAnImageError, check_runs)
from cnnviz.infer.litert_engine import convert as convert_to_litert
from cnnviz.infer.plan import ENGINE_ENV, ENGINES, LITERT_ENGINES, LoadPlan, conversion_needed, plan_load, server_engine
from cnnviz.infer.predictor import (DEFAULT_BUSY_TIMEOUT, DEFAULT_RUNS, PROB_SUM_TOLERANCE, Predictor,
                                    load_predictor)
from cnnviz.infer.prepare import (TOP_K, class_labels, label_for, model_view, prepare_image, preprocess_image,
                                  resize_policy, top_k)
from cnnviz.infer.result import Engine, LoadedModel, Prediction, engine_label
from cnnviz.infer.tf_engine import dtype_policy

__all__ = [
    "BadProbabilitiesError", "BusyError", "DEFAULT_BUSY_TIMEOUT", "DEFAULT_RUNS", "Device", "ENGINES", "ENGINE_ENV", "LITERT_ENGINES",
    "Engine", "EngineUnavailableError", "InferenceError", "InvalidEngineError", "InvalidRunsError",
    "InvalidWeightsError", "LoadPlan", "LoadedModel", "MAX_RUNS", "NotAClassifierError", "NotAnImageError",
    "PROB_SUM_TOLERANCE", "Prediction", "Predictor", "TOP_K", "check_runs", "class_labels", "conversion_needed",
    "convert_to_litert", "dtype_policy", "engine_label", "label_for", "load_predictor", "model_view", "plan_load", "prepare_image",
    "preprocess_image", "resize_policy", "select_device", "server_engine", "top_k",
]
