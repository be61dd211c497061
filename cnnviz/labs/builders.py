"""Graph code for the labs' own model pairs (no drawing here; the zoo builds the rest).

- the seed's pooling network and its strided-convolution twin (CNNs II, seed 002);
- the same small network with ``Conv2D`` or ``SeparableConv2D`` (class 130, exercise 4);
- the Squeeze-and-Excitation block exactly as exercise 5 writes it, and a small network
  with and without it.

Layer names are deterministic (``se1_excite``...) so the lab can read the excitation
vector and tests can find the layers.
"""

from __future__ import annotations

import keras
from keras import layers


def pooling_net(input_shape=(32, 32, 3), classes: int = 10, *, name: str = "pooling") -> keras.Model:
    """The seed's pooling network: conv 5×5 → max-pool 2×2, three times, then Dense 120 → 84.

    The seed pads 28×28×1 digits to 32×32 (``ZeroPadding2D(2)``); the lab's data already
    come at 32×32×3. Its ``data_aug`` block is left out so only the downsampling differs.
    """
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(16, 5, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(2, name="pool3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation="relu", name="fc1")(x)
    x = layers.Dense(84, activation="relu", name="fc2")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def strided_net(input_shape=(32, 32, 3), classes: int = 10, *, name: str = "strided") -> keras.Model:
    """:func:`pooling_net` with every max-pool replaced by a stride of 2 in the convolution before it."""
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(16, 5, strides=2, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(32, 5, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = layers.Conv2D(64, 5, strides=2, padding="same", activation="relu", name="conv3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation="relu", name="fc1")(x)
    x = layers.Dense(84, activation="relu", name="fc2")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


SEP_BLOCKS = ((64, 1), (64, 2), (128, 1), (128, 2))


def conv_net(kind: str = "standard", input_shape=(32, 32, 3), classes: int = 10, *, name: str | None = None
             ) -> keras.Model:
    """Exercise 4's "same model": a 3×3/32 stride-2 stem (a standard conv in both, as in
    Xception and MobileNet), four 3×3 blocks (64, 64/2, 128, 128/2) with BatchNorm + ReLU,
    global average pooling and a softmax. ``kind="separable"`` swaps the blocks'
    ``Conv2D`` for ``SeparableConv2D``; nothing else changes.
    """
    if kind not in ("standard", "separable"):
        raise ValueError(f"kind must be 'standard' or 'separable'. Received: kind={kind!r}")
    conv = layers.SeparableConv2D if kind == "separable" else layers.Conv2D
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, (filters, strides) in enumerate(SEP_BLOCKS, start=1):
        x = conv(filters, 3, strides=strides, padding="same", use_bias=False, name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.ReLU(name=f"block{i}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name or kind)


def se_block(x, ratio: int = 8, *, name: str = "se", activation: str | None = None):
    """Exercise 5 as the seed writes it::

        s = GlobalAvgPool(x); s = Dense(C//r)(s); s = Dense(C, sigmoid)(s)
        return x * Reshape((1, 1, C))(s)

    The seed's first Dense has no activation; Hu et al. (2018) put a ReLU there
    (``activation="relu"``).
    """
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(name=f"{name}_squeeze")(x)
    s = layers.Dense(max(1, channels // ratio), activation=activation, name=f"{name}_reduce")(s)
    s = layers.Dense(channels, activation="sigmoid", name=f"{name}_excite")(s)
    s = layers.Reshape((1, 1, channels), name=f"{name}_reshape")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


SE_STAGES = ((32, 1), (64, 2), (64, 2))


def se_net(with_se: bool = True, input_shape=(32, 32, 3), classes: int = 10, *, ratio: int = 8,
           activation: str | None = None, name: str | None = None) -> keras.Model:
    """Three 3×3 conv + ReLU stages (32, 64/2, 64/2), each followed by an SE block when
    ``with_se``; global average pooling and a softmax. The twin without SE is identical otherwise.
    """
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for i, (filters, strides) in enumerate(SE_STAGES, start=1):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", activation="relu", name=f"conv{i}")(x)
        if with_se:
            x = se_block(x, ratio, name=f"se{i}", activation=activation)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name or ("se" if with_se else "plain"))


BUILDERS = {
    "pooling": lambda shape, classes, **o: pooling_net(shape, classes, **o),
    "strided": lambda shape, classes, **o: strided_net(shape, classes, **o),
    "standard": lambda shape, classes, **o: conv_net("standard", shape, classes, **o),
    "separable": lambda shape, classes, **o: conv_net("separable", shape, classes, **o),
    "with_se": lambda shape, classes, **o: se_net(True, shape, classes, **o),
    "without_se": lambda shape, classes, **o: se_net(False, shape, classes, **o),
}
