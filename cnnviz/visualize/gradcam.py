"""Grad-CAM and plain gradient saliency: where in the image the model looked.

Grad-CAM (Selvaraju et al., ICCV 2017): take the feature maps A (h×w×K) of a late
convolutional layer and the gradient of the class score y_c with respect to them;
weight each map by its average gradient and keep the positive part,
``ReLU(Σ_k mean(∂y_c/∂A_k) · A_k)``. The score is the class *logit* (before softmax),
as in the paper: a softmax probability near 1 has a vanishing gradient.

One gradient model ``input → (A, logits input)`` is built per (model, target layer) and
wrapped in one ``tf.function`` whose class index is a tensor argument, so changing class
never retraces. The input is watched explicitly: the gradient still flows when the model
was frozen for transfer learning (``trainable=False`` variables are not watched).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from cnnviz import zoo
from cnnviz.visualize._base import (BadClassError, ModelCache, NotSpatialError, VisualizeError, as_batch, graph,
                                    head_input, resolve)

_explainers = ModelCache(max_per_model=8)


def _is_softmax(fn) -> bool:
    return getattr(fn, "__name__", "") == "softmax"


def _logit_head(model):
    """(tensor to fetch, fn tensor → logits, ends_in_softmax) for the model's class scores.

    Models end in ``Dense(activation="softmax")`` (ResNet, EfficientNet, ConvNeXt) or in a
    separate ``Activation("softmax")`` (MobileNetV3): in both cases the logits are
    recomputed from the last layer's input with the layer's own, live variables, so the
    shared cached model is never modified.
    """
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    out = model.outputs[0]
    if not _is_softmax(activation):
        return out, (lambda t: t), False
    cls = type(last).__name__
    if cls == "Activation":
        return last.input, (lambda t: t), True
    if cls == "Dense":
        from keras import ops  # heavy: TF

        def dense_logits(t):
            y = ops.matmul(t, last.kernel)
            return y + last.bias if last.bias is not None else y

        return last.input, dense_logits, True
    # Any other layer with a built-in softmax (rare): a linear twin holding a copy of its weights.
    config = last.get_config()
    config["activation"] = "linear"
    config["name"] = f"{last.name}_linear_twin"
    twin = type(last).from_config(config)
    twin.build(tuple(last.input.shape))
    twin.set_weights(last.get_weights())
    return last.input, twin, True


@dataclass(frozen=True)
class GradCAMResult:
    heatmap: np.ndarray        # H×W in [0, 1] (input resolution unless upsample=False)
    class_index: int
    score: float               # the class logit
    probability: float | None  # softmax probability when the model ends in softmax
    layer: str
    coarse: np.ndarray         # h×w at the target layer's resolution, in [0, 1]


def _normalize(cam: np.ndarray) -> np.ndarray:
    cam = np.nan_to_num(np.asarray(cam, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    cam = np.maximum(cam, 0.0)
    peak = float(cam.max()) if cam.size else 0.0
    if peak <= 1e-12:  # no positive evidence (or all-zero gradients): an honest all-zero map
        return np.zeros_like(cam)
    return np.clip(cam / peak, 0.0, 1.0)


class GradCAM:
    """Grad-CAM for one model at one target layer.

    Args:
        model: a built ``keras.Model`` whose output is class scores (N×classes).
        layer_name: target layer (or op alias); default :func:`default_target_layer`.
    """

    def __init__(self, model, layer_name: str | None = None):
        import keras  # heavy: TF
        import tensorflow as tf  # heavy: TF

        if layer_name is None:
            layer_name = default_target_layer(model)
        node, target = resolve(model, layer_name)
        if not node.spatial:
            raise NotSpatialError(layer_name, node.shape)
        head_tensor, to_logits, self.softmax = _logit_head(model)
        self.model, self.layer = model, layer_name
        self.classes = int(model.outputs[0].shape[-1])
        grad_model = keras.Model(model.inputs, [target, head_tensor], name=f"{model.name}_gradcam")
        self._grad_model = grad_model

        def explain(batch, class_index):
            with tf.GradientTape() as tape:
                tape.watch(batch)
                maps, head = grad_model(batch, training=False)
                tape.watch(maps)
                logits = tf.reshape(to_logits(head), (1, -1))
                top = tf.argmax(logits[0], output_type=tf.int32)
                c = tf.where(class_index < 0, top, class_index)
                score = logits[0, c]
            grads = tape.gradient(score, maps)
            grads = tf.where(tf.math.is_finite(grads), grads, tf.zeros_like(grads))
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)   # α_k: 1×1×1×K
            cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))[0]    # h×w
            return cam, c, score, tf.nn.softmax(logits[0])[c]

        self._fn = tf.function(explain, reduce_retracing=True)

    def __call__(self, x, class_index: int | None = None, *, upsample: bool = True) -> GradCAMResult:
        import tensorflow as tf  # heavy: TF

        batch = as_batch(self.model, x)
        if class_index is None:
            idx = -1
        elif isinstance(class_index, (int, np.integer)) and not isinstance(class_index, bool) \
                and 0 <= int(class_index) < self.classes:
            idx = int(class_index)
        else:
            raise BadClassError(class_index, self.classes)
        cam, c, score, prob = self._fn(tf.constant(batch), tf.constant(idx, tf.int32))
        coarse = _normalize(cam.numpy())
        heat = coarse
        if upsample and coarse.shape != batch.shape[1:3]:
            heat = resize(coarse, batch.shape[1:3])
        return GradCAMResult(heat, int(c), float(score), float(prob) if self.softmax else None,
                             self.layer, coarse)


def resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a [0, 1] map to ``size`` (H, W), values kept in [0, 1]."""
    img = Image.fromarray(np.asarray(a, dtype=np.float32), mode="F")
    out = np.asarray(img.resize((int(size[1]), int(size[0])), Image.BILINEAR), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def default_target_layer(model) -> str:
    """The last spatial tensor before the classifier head (the classic Grad-CAM choice).

    For ConvNeXt this is the residual sum of the last block (alias
    ``…_stage_3_block_2_out``), not the block's branch, so the skip path is included.
    """
    node = head_input(model)
    if node is None:
        raise VisualizeError("visualize.error.no_spatial_layer", model=model.name)
    return node.name


def explainer_built(model, layer_name: str) -> bool:
    """Whether :func:`explainer` already holds the (traced, compiled) :class:`GradCAM` for (model, layer)."""
    return _explainers.peek(model, ("gradcam", layer_name)) is not None


def explainer(model, layer_name: str | None = None) -> GradCAM:
    """The cached :class:`GradCAM` for (model, layer)."""
    name = layer_name or default_target_layer(model)
    return _explainers.get(model, ("gradcam", name), lambda: GradCAM(model, name))


def grad_cam(model, x, class_index: int | None = None, layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM heatmap for one preprocessed input.

    Args:
        model: a built ``keras.Model`` ending in class scores.
        x: one input preprocessed for the model, H×W×C float (no batch dimension).
        class_index: the class to explain; default the model's top-1.
        layer_name: target layer; default the last spatial tensor before the head.

    Returns:
        H×W float32 array in [0, 1] at the input's resolution; all zeros (never NaN) when
        nothing speaks for the class.
    """
    return explainer(model, layer_name)(x, class_index).heatmap


def grad_cam_result(model, x, class_index: int | None = None, layer_name: str | None = None) -> GradCAMResult:
    """Like :func:`grad_cam`, with the class explained, its score and probability."""
    return explainer(model, layer_name)(x, class_index)


# --------------------------------------------------------------------------- saliency

class Saliency:
    """Vanilla gradient saliency (Simonyan et al., 2014): |∂y_c/∂x|, max over channels."""

    def __init__(self, model):
        import tensorflow as tf  # heavy: TF

        import keras  # heavy: TF

        head_tensor, to_logits, _ = _logit_head(model)
        score_model = keras.Model(model.inputs, head_tensor, name=f"{model.name}_saliency")
        self.model = model
        self.classes = int(model.outputs[0].shape[-1])

        def explain(batch, class_index):
            with tf.GradientTape() as tape:
                tape.watch(batch)
                logits = tf.reshape(to_logits(score_model(batch, training=False)), (1, -1))
                top = tf.argmax(logits[0], output_type=tf.int32)
                c = tf.where(class_index < 0, top, class_index)
                score = logits[0, c]
            grads = tape.gradient(score, batch)
            grads = tf.where(tf.math.is_finite(grads), grads, tf.zeros_like(grads))
            return tf.reduce_max(tf.abs(grads), axis=-1)[0], c

        self._fn = tf.function(explain, reduce_retracing=True)

    def __call__(self, x, class_index: int | None = None) -> tuple[np.ndarray, int]:
        import tensorflow as tf  # heavy: TF

        batch = as_batch(self.model, x)
        if class_index is not None and not (isinstance(class_index, (int, np.integer))
                                            and 0 <= int(class_index) < self.classes):
            raise BadClassError(class_index, self.classes)
        sal, c = self._fn(tf.constant(batch), tf.constant(-1 if class_index is None else int(class_index), tf.int32))
        return _normalize(sal.numpy()), int(c)


def saliency(model, x, class_index: int | None = None) -> np.ndarray:
    """Gradient saliency map, H×W in [0, 1], for one preprocessed input."""
    return _explainers.get(model, ("saliency",), lambda: Saliency(model))(x, class_index)[0]


def zoo_target_layer(model, name: str) -> str:
    """The Grad-CAM target the zoo names for registry model ``name``, as a node name here.

    :func:`cnnviz.zoo.gradcam_layer_output` returns a tensor (for ConvNeXt and MobileNetV3
    the input of the pooling head, which has no stable layer name); this maps it back to
    the layer name or op alias :func:`grad_cam` takes. Falls back to
    :func:`default_target_layer` when the zoo has no target for this model.
    """
    tensor = zoo.gradcam_layer_output(model, name)
    node = graph(model).node_of_tensor(tensor) if tensor is not None else None
    return node.name if node is not None else default_target_layer(model)
