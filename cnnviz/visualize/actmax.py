"""Activation maximization: the image a channel "wants to see".

Gradient ascent on the *pixels* (RGB, 0..255) of an image, starting from grey with a
little noise, to maximize the mean activation of one channel of one layer. Without
regularization the result is high-frequency noise that fools the network; the usual
remedies (Olah, Mordvintsev & Schubert, "Feature Visualization", Distill 2017) are
used so it becomes a picture:

- **jitter**: the image is shifted by a few random pixels before every step, so the
  pattern must work at every position instead of exploiting one pixel grid;
- **blur**: a small Gaussian blur every few steps suppresses high frequencies;
- **decay**: the image is pulled a little toward grey every step (an L2 penalty).

Optimizing pixels rather than the preprocessed input means the result can be shown as
it is, for every preprocessing convention: the model's own preprocessing ("caffe" BGR
mean subtraction, "tf" [-1, 1], ...) is applied inside the differentiable step, with the
same constants as :mod:`cnnviz.zoo.preprocessing`.

The ascent climbs the channel's *pre-activation* when the layer ends in a rectifier
(a ReLU layer, or a convolution with a fused ReLU), as Lucid does with its ``*_pre_relu``
tensors: a channel that is zero everywhere on the grey start image has a zero gradient
through the ReLU and would never move. ``initial_value``/``final_value`` still report
the chosen layer's own (post-activation) mean.

The step function is one ``tf.function`` per (model, layer, image size) whose channel,
shifts and blur switch are tensor arguments: changing channel never retraces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from cnnviz.visualize._base import BadChannelError, ModelCache, NotSpatialError, VisualizeError, resolve

_steppers = ModelCache(max_per_model=8)
_results = ModelCache(max_per_model=64)

#: Defaults chosen so 64 steps give a readable pattern for ImageNet models at 224 px.
DEFAULT_STEPS = 64
MAX_STEPS = 1000

PREPROCESSING = ("none", "caffe", "tf", "torch", "scale01")

# keras/src/applications/imagenet_utils.py (also cnnviz.zoo.preprocessing)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


def preprocess_tensor(mode: str, x):
    """Differentiable twin of :func:`cnnviz.zoo.preprocessing.preprocess_batch` (0..255 RGB in)."""
    import tensorflow as tf  # heavy: TF

    if mode == "none":
        return x
    if mode == "caffe":
        return x[..., ::-1] - tf.constant(_CAFFE_MEAN_BGR, x.dtype)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        return (x / 255.0 - tf.constant(_TORCH_MEAN, x.dtype)) / tf.constant(_TORCH_STD, x.dtype)
    if mode == "scale01":
        return x / 255.0
    raise ValueError(f"preprocessing must be one of {PREPROCESSING}. Received: preprocessing={mode!r}")


@dataclass
class ActMaxResult:
    """What :func:`activation_maximization` returns."""

    image: np.ndarray                     # H×W×3 uint8 (grayscale models: the channel repeated)
    layer: str
    channel: int
    steps_done: int
    steps: int
    initial_value: float                  # mean activation of the channel on the start image
    final_value: float                    # … on the result (no jitter)
    values: list[float] = field(default_factory=list)  # objective at every step (jittered; pre-activation
                                                       # for rectified layers, see the module doc)
    stopped: bool = False                 # the callback asked to stop early
    seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        return self.steps_done / self.seconds if self.seconds > 0 else 0.0


def _gaussian_kernel(sigma: float, channels: int) -> np.ndarray:
    radius = max(1, int(round(2 * sigma)))
    xs = np.arange(-radius, radius + 1, dtype=np.float32)
    g = np.exp(-(xs ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    k2 = np.outer(g, g)
    return np.repeat(k2[:, :, None, None], channels, axis=2).astype(np.float32)  # kh×kw×C×1


class _Stepper:
    """The compiled ascent step for one (model, layer, size, preprocessing)."""

    def __init__(self, model, layer_name: str, size: tuple[int, int], channels: int, preprocessing: str,
                 blur_sigma: float):
        import keras  # heavy: TF
        import tensorflow as tf  # heavy: TF

        node, tensor = resolve(model, layer_name)
        if not node.spatial:
            raise NotSpatialError(layer_name, node.shape)
        self.channels_out = int(node.shape[-1])
        source, to_pre = _pre_activation(model, node, tensor)
        sub = keras.Model(model.inputs, [source, tensor], name=f"{model.name}_actmax")
        blur = tf.constant(_gaussian_kernel(blur_sigma, channels))
        mode = preprocessing

        def both(img, channel):
            src, act = sub(preprocess_tensor(mode, img), training=False)
            return tf.reduce_mean(to_pre(src)[..., channel]), tf.reduce_mean(act[..., channel])

        def objective(img, channel):
            return both(img, channel)[0]

        def layer_value(img, channel):
            return both(img, channel)[1]

        def step(img, channel, dy, dx, lr, decay, do_blur):
            shifted = tf.roll(img, shift=[dy, dx], axis=[1, 2])
            with tf.GradientTape() as tape:
                tape.watch(shifted)
                value = objective(shifted, channel)
            grad = tape.gradient(value, shifted)
            grad = tf.where(tf.math.is_finite(grad), grad, tf.zeros_like(grad))
            # Normalized step: the same pixel budget per step whatever the layer's scale.
            grad = grad / (tf.math.reduce_std(grad) + 1e-8)
            out = tf.roll(shifted + lr * grad, shift=[-dy, -dx], axis=[1, 2])
            out = 128.0 + (out - 128.0) * (1.0 - decay)
            out = tf.cond(do_blur,
                          lambda: tf.nn.depthwise_conv2d(out, blur, [1, 1, 1, 1], "SAME"),
                          lambda: out)
            return tf.clip_by_value(out, 0.0, 255.0), value

        self.step = tf.function(step, reduce_retracing=True)
        self.value = tf.function(layer_value, reduce_retracing=True)
        self.size, self.channels = size, channels


_RECTIFIERS = {"relu", "relu6", "leaky_relu", "elu", "selu", "hard_swish", "hard_silu", "swish", "silu", "gelu",
               "hard_sigmoid", "sigmoid", "softplus"}
_ELEMENTWISE_LAYERS = {"Activation", "ReLU", "LeakyReLU", "ELU", "PReLU"}


def _activation_name(layer) -> str:
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", "") if fn is not None else ""


def _pre_activation(model, node, tensor):
    """(source tensor, fn source → pre-activation) for the ascent objective; see module doc."""
    if not node.is_layer:
        return tensor, (lambda t: t)
    layer = model.get_layer(node.name)
    cls = type(layer).__name__
    try:
        source = layer.input
    except (AttributeError, ValueError):
        return tensor, (lambda t: t)
    if isinstance(source, (list, tuple)):
        return tensor, (lambda t: t)
    if cls in _ELEMENTWISE_LAYERS and (cls != "Activation" or _activation_name(layer) in _RECTIFIERS):
        return source, (lambda t: t)
    if _activation_name(layer) in _RECTIFIERS and hasattr(layer, "convolution_op") and cls == "Conv2D":
        def conv_pre(t):
            y = layer.convolution_op(t, layer.kernel)
            return y + layer.bias if layer.use_bias else y

        return source, conv_pre
    if _activation_name(layer) in _RECTIFIERS and cls == "Dense":
        from keras import ops  # heavy: TF

        def dense_pre(t):
            y = ops.matmul(t, layer.kernel)
            return y + layer.bias if layer.use_bias else y

        return source, dense_pre
    return tensor, (lambda t: t)


def _input_geometry(model, size: int | tuple[int, int] | None) -> tuple[tuple[int, int], int]:
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4:
        raise VisualizeError("visualize.error.not_image_model", model=model.name)
    h, w, c = shape[1], shape[2], shape[3]
    if h is None or w is None:
        if size is None:
            size = 224
        h, w = (size, size) if isinstance(size, int) else size
    if c not in (1, 3):
        raise VisualizeError("visualize.error.not_image_model", model=model.name)
    return (int(h), int(w)), int(c)


def activation_maximization(model, layer_name: str, channel: int, *, steps: int = DEFAULT_STEPS,
                            preprocessing: str = "none", lr: float = 6.0, jitter: int = 8,
                            blur_every: int = 4, blur_sigma: float = 1.0, decay: float = 0.002,
                            seed: int = 0, size: int | tuple[int, int] | None = None,
                            callback: Callable[[int, int, float, np.ndarray | None], bool | None] | None = None,
                            preview_every: int = 8, cache_key: object = None) -> ActMaxResult:
    """Gradient ascent on an image to maximize ``channel`` of ``layer_name``.

    Args:
        model: a built ``keras.Model`` taking images.
        layer_name: the layer (or op alias) whose channel is maximized; spatial output.
        channel: channel index in that layer's output.
        steps: ascent steps (1..1000).
        preprocessing: the model's input convention (``cnnviz.zoo`` spec ``preprocessing``):
            the optimized pixels are 0..255 RGB and this is applied inside the step.
        lr: pixels moved per step along the normalized gradient.
        jitter: largest random shift, in pixels, before each step.
        blur_every: blur the image every this many steps (0: never).
        decay: fraction of the distance to grey removed every step.
        seed: start noise and jitter (same seed, same picture).
        size: input size for models whose input size is not fixed.
        callback: ``callback(step, steps, value, preview)`` after each step; ``preview`` is
            the current uint8 image every ``preview_every`` steps (else None). Returning
            ``False`` stops the ascent (the partial result is returned, ``stopped=True``).
        cache_key: extra key (e.g. the weights mode) for the result cache; completed runs
            are cached by (model, cache_key, layer, channel, steps, settings).

    Raises:
        UnknownLayerError, NotSpatialError, BadChannelError, VisualizeError.
    """
    import tensorflow as tf  # heavy: TF

    if preprocessing not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {PREPROCESSING}. Received: preprocessing={preprocessing!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        raise VisualizeError("visualize.error.bad_steps", steps=steps, max=MAX_STEPS)
    (h, w), c = _input_geometry(model, size)
    node, _ = resolve(model, layer_name)
    if not node.spatial:
        raise NotSpatialError(layer_name, node.shape)
    n_out = int(node.shape[-1])
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= int(channel) < n_out:
        raise BadChannelError(channel, layer_name, n_out)
    channel = int(channel)
    settings = (preprocessing, float(lr), int(jitter), int(blur_every), float(blur_sigma), float(decay),
                int(seed), (h, w))
    key = (cache_key, layer_name, channel, int(steps), settings)
    cached = _results.peek(model, key)
    if cached is not None:
        if callback is not None:
            callback(cached.steps_done, cached.steps, cached.final_value, cached.image)
        return cached

    stepper = _steppers.get(model, (layer_name, (h, w), c, preprocessing, float(blur_sigma)),
                            lambda: _Stepper(model, layer_name, (h, w), c, preprocessing, blur_sigma))
    rng = np.random.default_rng(seed)
    img = tf.constant((128.0 + rng.uniform(-20, 20, size=(1, h, w, c))).astype(np.float32))
    ch = tf.constant(channel, tf.int32)
    initial = float(stepper.value(img, ch))
    lr_t, decay_t = tf.constant(float(lr), tf.float32), tf.constant(float(decay), tf.float32)
    values: list[float] = []
    stopped = False
    t0 = time.perf_counter()
    for i in range(int(steps)):
        dy, dx = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2)) if jitter > 0 else (0, 0)
        do_blur = blur_every > 0 and (i + 1) % blur_every == 0
        img, value = stepper.step(img, ch, tf.constant(dy, tf.int32), tf.constant(dx, tf.int32), lr_t, decay_t,
                                  tf.constant(do_blur))
        values.append(float(value))
        if callback is not None:
            preview = _to_uint8(img) if preview_every and ((i + 1) % preview_every == 0 or i + 1 == steps) else None
            if callback(i + 1, int(steps), values[-1], preview) is False:
                stopped = True
                break
    seconds = time.perf_counter() - t0
    result = ActMaxResult(_to_uint8(img), layer_name, channel, len(values), int(steps), initial,
                          float(stepper.value(img, ch)), values, stopped, seconds)
    if not stopped:
        _results.put(model, key, result)
    return result


def _to_uint8(img) -> np.ndarray:
    a = np.clip(np.asarray(img)[0], 0, 255).astype(np.uint8)
    return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a
