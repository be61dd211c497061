"""The few custom Keras layers the from-code classics need.

Imported only by builders (it imports Keras). Every layer here is registered as
serializable (package ``cnnviz``) with a complete ``get_config``, so models save
to ``.keras`` (for Netron) and load back.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

# LeCun et al. 1998, Appendix A: f(a) = A·tanh(S·a) with A = 1.7159 and S = 2/3.
LECUN_A = 1.7159
LECUN_S = 2.0 / 3.0


@keras.saving.register_keras_serializable(package="cnnviz", name="lecun_tanh")
def lecun_tanh(x):
    """LeNet-5's squashing function 1.7159·tanh(2x/3) (LeCun et al. 1998, Appendix A)."""
    return LECUN_A * ops.tanh(LECUN_S * x)


@keras.saving.register_keras_serializable(package="cnnviz")
class ChannelSubset(keras.layers.Layer):
    """Keep only some channels (for LeNet-5's C3 connection table).

    Args:
        channels: indices of the input channels to keep, in order.
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = [int(c) for c in channels]

    def call(self, inputs):
        return ops.take(inputs, self.channels, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.channels))

    def get_config(self):
        return {**super().get_config(), "channels": list(self.channels)}


@keras.saving.register_keras_serializable(package="cnnviz")
class EuclideanRBF(keras.layers.Layer):
    """LeNet-5's output layer: one Euclidean radial basis function unit per class.

    The paper's unit computes the penalty y_i = Σ_j (x_j − w_ij)² with *fixed*
    (non-trainable) ±1 parameter vectors; this layer returns −y_i so that a softmax
    on top gives the paper's a-posteriori class probabilities (the loss of eq. 9
    is the negative log of exactly that). The paper drew each class's ±1 vector
    from a 7×12 bitmap of the character; without those bitmaps we draw a fixed
    ±1 code per class from a seeded generator (deterministic across builds).

    Args:
        units: number of classes.
        seed: seed of the ±1 codes.
    """

    def __init__(self, units: int, seed: int = 1998, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.seed = int(seed)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        codes = np.random.default_rng(self.seed).choice([-1.0, 1.0], size=(dim, self.units)).astype("float32")
        self.centers = self.add_weight(name="centers", shape=(dim, self.units),
                                       initializer=keras.initializers.Zeros(), trainable=False)
        self.centers.assign(codes)

    def call(self, inputs):
        # ||x − w||² = ||x||² − 2 x·w + ||w||², computed without materialising x − w.
        x2 = ops.sum(ops.square(inputs), axis=-1, keepdims=True)
        w2 = ops.sum(ops.square(self.centers), axis=0, keepdims=True)
        return -(x2 - 2.0 * ops.matmul(inputs, self.centers) + w2)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "seed": self.seed}


@keras.saving.register_keras_serializable(package="cnnviz")
class ZeroPadShortcut(keras.layers.Layer):
    """ResNet's parameter-free "option A" shortcut (He et al. 2016, §3.3 and §4.2).

    Subsamples the identity by ``strides`` and pads the new channels with zeros, so
    a residual network has exactly the parameters of its plain twin.

    Args:
        out_channels: channels of the residual branch's output.
        strides: spatial subsampling of the branch.
    """

    def __init__(self, out_channels: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = int(out_channels)
        self.strides = int(strides)

    def call(self, inputs):
        x = inputs[:, :: self.strides, :: self.strides, :] if self.strides > 1 else inputs
        extra = self.out_channels - x.shape[-1]
        if extra > 0:
            # Pad the same number of zero channels on both sides, as in the CIFAR ResNets.
            before = extra // 2
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, extra - before]])
        return x

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.strides
        h = None if h is None else -(-h // s)
        w = None if w is None else -(-w // s)
        return (n, h, w, self.out_channels)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels, "strides": self.strides}
