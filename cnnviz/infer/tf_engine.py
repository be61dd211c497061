"""The TensorFlow engine: ONE ``tf.function`` per model with a fixed input signature.

:class:`TFEngine` builds (or takes) the Keras classifier on a device, compiles one function of a
1×H×W×3 float32 batch (adding a softmax to a logits model), calls it once to trace and compile
(the "first call"), and then answers timed calls. Under mixed precision (GPUs with tensor cores)
the outputs are cast back to float32. If the GPU path fails, or TensorFlow silently places the
computation on the CPU, it is built on the CPU instead and the device says why.

TensorFlow is imported when an engine is built, not when this module is imported.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from typing import Callable

import numpy as np

from cnnviz import zoo
from cnnviz.device import Device, cpu_fallback
from cnnviz.errors import UserFacingError
from cnnviz.infer.errors import NotAClassifierError
from cnnviz.infer.result import Engine, LoadedModel


def _tf():
    import tensorflow as tf  # heavy: TF, only once an engine is built

    return tf


@contextlib.contextmanager
def dtype_policy(policy: str | None):
    """Build models under a Keras dtype policy (e.g. ``"mixed_float16"``), restoring the previous one
    afterwards; None changes nothing.

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


class TFEngine:
    """One compiled Keras classifier on one device.

    Args:
        name, display_name: the zoo model (``display_name`` for errors).
        weights: "imagenet" or None, when ``model`` is None and the engine builds it.
        model: a prebuilt ``include_top=True`` classifier to compile instead (keeps its own dtypes).
        device: where to run; a GPU that fails falls back to the CPU.

    Attributes:
        model: the Keras model.
        fn: the compiled function (batch → probabilities, float32).
        record: the :class:`~cnnviz.infer.result.LoadedModel` of this load.

    Raises:
        NotAClassifierError: the model does not output one vector per image.
    """

    def __init__(self, name: str, display_name: str, weights: str | None, model, device: Device) -> None:
        self.name = name
        self.display_name = display_name
        self.weights = weights
        try:
            self._build(device, model)
        except UserFacingError:  # bad request or weights: the CPU would not fix it
            raise
        except Exception as exc:
            if not device.is_gpu:
                raise
            # The GPU path failed (driver, out of memory...): the CPU always works.
            # A failed GPU build's model must not be reused: build again unless one was given.
            self._build(cpu_fallback(f"GPU failed: {type(exc).__name__}: {exc}"), model)

    def _build(self, device: Device, model) -> None:
        tf = _tf()
        mixed = device.mixed_precision and model is None
        if device.mixed_precision and not mixed:
            # A prebuilt model keeps its own dtypes.
            device = replace(device, mixed_precision=False)
        with tf.device(device.tf_name):
            if model is None:
                with dtype_policy("mixed_float16" if mixed else None):
                    model = zoo.create_model(self.name, weights=self.weights)
            self.model = model
            shape = tuple(model.input_shape)
            if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] != 3:
                raise NotAClassifierError(self.display_name, shape)
            input_size = (int(shape[1]), int(shape[2]))
            out_shape = tuple(model.output_shape)
            if len(out_shape) != 2:
                raise NotAClassifierError(self.display_name, out_shape)
            softmax = False
            self.fn = _compile(model, input_size, softmax=False)
            first_call_ms, probe_out = _warm_up(self.fn, input_size)
            if not _is_distribution(probe_out):
                # Logits (e.g. classifier_activation=None): add the softmax once and recompile.
                softmax = True
                self.fn = _compile(model, input_size, softmax=True)
                first_call_ms, probe_out = _warm_up(self.fn, input_size)
        if device.is_gpu and "GPU" not in probe_out.device.upper():
            # Soft device placement ran everything on the CPU: say so instead of claiming a GPU.
            raise RuntimeError(f"TensorFlow placed the model on {probe_out.device}")
        self.record = LoadedModel(
            engine=Engine("tf", device.kind, "tensorflow"), input_size=input_size, classes=int(out_shape[1]),
            device=device, first_call_ms=first_call_ms, output_dtype="float16" if mixed else "float32",
            applied_softmax=softmax)

    @property
    def device(self) -> Device:
        return self.record.device

    def __call__(self, x: np.ndarray, runs: int) -> tuple[np.ndarray, list[float]]:
        """``runs`` timed calls on one preprocessed batch: (probabilities of the first, ms of each)."""
        tf = _tf()
        times = []
        probs = None
        with tf.device(self.device.tf_name):
            xt = tf.constant(x)
            for _ in range(runs):
                t0 = time.perf_counter()
                out = self.fn(xt).numpy()  # .numpy() waits for the result: honest timing
                times.append((time.perf_counter() - t0) * 1000.0)
                if probs is None:
                    probs = out[0]
        return probs, times

    def probs_and_pair(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities for ``x``, the same image's in a batch of two): the second batch shape takes
        other kernels, so the two differ by TensorFlow's own rounding. The LiteRT engine check
        measures against both."""
        tf = _tf()
        with tf.device(self.device.tf_name):
            p_tf = self.fn(x).numpy()
            pair = np.concatenate([x, x[:, :, ::-1]], axis=0)
            y2 = self.model(pair, training=False)
            y2 = tf.cast(y2, tf.float32)
            p_pair = (tf.nn.softmax(y2, axis=-1) if self.record.applied_softmax else y2).numpy()[:1]
        return p_tf, p_pair


def _compile(model, input_size: tuple[int, int], *, softmax: bool) -> Callable:
    tf = _tf()
    h, w = input_size

    # One signature, one trace: a new image never retraces, so memory stays flat.
    @tf.function(input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32, name="image")])
    def serve(x):
        y = model(x, training=False)
        y = tf.cast(y, tf.float32)  # mixed precision computes in float16; people read float32
        return tf.nn.softmax(y, axis=-1) if softmax else y

    return serve


def _warm_up(fn, input_size: tuple[int, int]):
    """First call: traces and compiles the function. Returns (ms, output tensor)."""
    h, w = input_size
    x = np.zeros((1, h, w, 3), np.float32)
    t0 = time.perf_counter()
    y = fn(x)
    y.numpy()
    return (time.perf_counter() - t0) * 1000.0, y


def _is_distribution(y) -> bool:
    p = np.asarray(y.numpy(), dtype=np.float64)
    return bool(p.min() >= 0 and abs(p.sum() - 1.0) <= 1e-2)


__all__ = ["TFEngine", "dtype_policy"]
