"""Input preprocessing per model, in NumPy (no TensorFlow needed).

Each mode reproduces ``keras.applications.<family>.preprocess_input`` operation by
operation in float32, so the result is bit-identical to Keras' own function
(``tests/test_zoo.py`` compares them):

- ``caffe`` (ResNet, VGG): RGB → BGR, then subtract the ImageNet channel means
  (no scaling) — the convention of the original Caffe models.
- ``tf`` (Inception v3, Xception, Inception-ResNet v2, MobileNetV2, ResNet v2): scale to [-1, 1].
- ``torch`` (DenseNet): scale to [0, 1], then normalize with the ImageNet mean and std.
- ``none`` (EfficientNet, EfficientNetV2, ConvNeXt, MobileNetV3): the model rescales
  inside itself, so it takes raw 0..255 pixels.
- ``lite`` (EfficientNet-Lite): ``(x - 127) / 128``, the mean and std of TensorFlow's
  EfficientNet-Lite release (``MEAN_RGB = [127.0] * 3``, ``STDDEV_RGB = [128.0] * 3``).
- ``scale01`` (the from-code models): scale to [0, 1], as the course notebooks do
  (``x / 255``); LeNet-5 also converts to grayscale.
"""

from __future__ import annotations

import numpy as np

from cnnviz.zoo.registry import InvalidModelOptions, get_spec

# keras/src/applications/imagenet_utils.py, _preprocess_numpy_input
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
# efficientnet/lite/efficientnet_lite_builder.py
LITE_MEAN = 127.0
LITE_STD = 128.0
# ITU-R BT.601 luma, the weights Pillow's convert("L") uses.
LUMA = (0.299, 0.587, 0.114)


def preprocess_batch(mode: str, batch: np.ndarray) -> np.ndarray:
    """Apply preprocessing ``mode`` to RGB pixels in 0..255 (any leading shape, channels last)."""
    x = np.array(batch, dtype=np.float32, copy=True)
    if mode == "caffe":
        x = x[..., ::-1].copy()
        for c in range(3):
            x[..., c] -= CAFFE_MEAN_BGR[c]
        return x
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        for c in range(3):
            x[..., c] -= TORCH_MEAN[c]
        for c in range(3):
            x[..., c] /= TORCH_STD[c]
        return x
    if mode == "none":
        return x
    if mode == "lite":
        x -= LITE_MEAN
        x /= LITE_STD
        return x
    if mode == "scale01":
        x /= 255.0
        return x
    raise ValueError(f"unknown preprocessing mode {mode!r}")


def to_grayscale(batch: np.ndarray) -> np.ndarray:
    """N×H×W×3 RGB → N×H×W×1 luma (float32)."""
    x = np.asarray(batch, dtype=np.float32)
    gray = x[..., 0] * LUMA[0] + x[..., 1] * LUMA[1] + x[..., 2] * LUMA[2]
    return gray[..., None]


def preprocess_input(name: str, batch: np.ndarray) -> np.ndarray:
    """Turn RGB pixels in 0..255 into what model ``name`` expects.

    Args:
        name: registry name (``"resnet50"``).
        batch: float array N×H×W×3 (or one H×W×3 image) with values in 0..255, already
            resized to the model's input size. Single-channel models (LeNet-5) also take
            N×H×W×1.

    Returns:
        A new float32 array; ``batch`` is not modified.

    Raises:
        UnknownModelError: unknown ``name``.
        InvalidModelOptions: ``batch`` is not an image batch.
    """
    spec = get_spec(name)
    x = np.asarray(batch)
    if x.ndim not in (3, 4) or x.shape[-1] not in (1, 3):
        raise InvalidModelOptions("zoo.error.bad_batch", model=spec.display_name, shape=tuple(x.shape))
    if not np.issubdtype(x.dtype, np.number):
        raise InvalidModelOptions("zoo.error.bad_batch", model=spec.display_name, shape=tuple(x.shape))
    if spec.channels == 1:
        if x.shape[-1] == 3:
            x = to_grayscale(x)
        return preprocess_batch(spec.preprocessing, x)
    if x.shape[-1] == 1:
        # A grayscale photo: repeat the channel so a colour model can take it.
        x = np.repeat(x, 3, axis=-1)
    return preprocess_batch(spec.preprocessing, x)
