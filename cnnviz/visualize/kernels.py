"""Learned filters: the convolution kernels themselves, drawn as small images.

Four kinds, because kernels differ in what one can honestly draw:

- ``rgb``: a first-layer kernel sees the three colour channels of the image, so each
  filter is a small colour picture (kh×kw×3), normalized per filter (min → 0, max → 1).
  Models fed BGR (caffe preprocessing: ResNet50, VGG) have their channels flipped back.
- ``slices``: a deeper kernel sees C_in feature maps, not colours: each filter is C_in
  grayscale kh×kw slices, zero drawn mid-grey (symmetric per filter, so signs read right).
- ``depthwise``: depthwise convolutions (MobileNet, EfficientNet, ConvNeXt's 7×7
  grouped conv) filter each channel on its own: one grayscale kh×kw tile per channel.
- ``pointwise``: 1×1 convolutions and ConvNeXt's Dense-on-maps layers only mix channels;
  there is no spatial pattern to draw, so the C_out×C_in weight matrix is shown instead.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from cnnviz.visualize._base import NoKernelError, UnknownLayerError, graph

KINDS = ("rgb", "slices", "depthwise", "pointwise")


@dataclass(frozen=True)
class KernelLayer:
    name: str
    type: str
    kind: str                 # one of KINDS
    kernel_shape: tuple       # as stored by Keras
    filters: int              # output channels (or channels × multiplier for depthwise)


@dataclass(frozen=True)
class FilterView:
    """What :func:`filters` returns: tiles ready to be drawn (values in [0, 1]).

    ``tiles`` shapes: rgb (n, kh, kw, 3); slices (n, m, kh, kw) for n filters × m input
    channels; depthwise (n, kh, kw); pointwise (n, m) matrix of n outputs × m inputs.
    """

    layer: str
    kind: str
    kernel_shape: tuple
    tiles: np.ndarray
    total_filters: int
    total_inputs: int
    start: int = 0            # index of the first filter shown

    @property
    def shown(self) -> int:
        return int(self.tiles.shape[0])


def _walk(layers):
    """Layers in order, descending into nested models (ConvNeXt's stem is a Sequential)."""
    for layer in layers:
        inner = getattr(layer, "layers", None)
        if inner is not None and type(layer).__name__ in {"Sequential", "Functional", "Model"}:
            yield from _walk(inner)
        else:
            yield layer


def _classify(layer) -> KernelLayer | None:
    cls = type(layer).__name__
    # Keras 3 keeps DepthwiseConv2D's weights in ``kernel`` (kh×kw×C×multiplier) and
    # SeparableConv2D's spatial part in ``depthwise_kernel``.
    kernel = getattr(layer, "depthwise_kernel", None) if cls == "SeparableConv2D" else getattr(layer, "kernel", None)
    if kernel is None:
        return None
    shape = tuple(int(d) for d in kernel.shape)
    if cls in {"DepthwiseConv2D", "SeparableConv2D"}:
        return KernelLayer(layer.name, cls, "depthwise", shape, shape[2] * shape[3])
    if cls == "Conv2D" and len(shape) == 4:
        kh, kw, cin, cout = shape
        groups = int(getattr(layer, "groups", 1) or 1)
        if groups > 1 and cin == 1:
            return KernelLayer(layer.name, cls, "depthwise", shape, cout)
        if kh == 1 and kw == 1:
            return KernelLayer(layer.name, cls, "pointwise", shape, cout)
        return KernelLayer(layer.name, cls, "rgb" if cin == 3 else "slices", shape, cout)
    if cls == "Dense" and len(shape) == 2:
        try:
            rank = len(layer.input.shape)
        except (AttributeError, ValueError):
            rank = 2
        if rank == 4:  # ConvNeXt's pointwise "convolutions" are Dense layers applied per position
            return KernelLayer(layer.name, cls, "pointwise", shape, shape[1])
    return None


def kernel_layers(model) -> list[KernelLayer]:
    """Every layer with a drawable convolution kernel, nested models included, in order.

    Only the first convolution sees the image's colours: a deeper one that happens to
    have 3 input channels (LeNet-5's partially connected C3) gets grayscale slices.
    """
    out = []
    for layer in _walk(model.layers):
        info = _classify(layer)
        if info is None:
            continue
        if info.kind == "rgb" and out:
            info = KernelLayer(info.name, info.type, "slices", info.kernel_shape, info.filters)
        out.append(info)
    return out


def first_conv_layer(model) -> KernelLayer | None:
    """The first layer with a kernel: the one that looks at the image itself."""
    layers = kernel_layers(model)
    return layers[0] if layers else None


def _find_layer(model, name: str):
    for layer in _walk(model.layers):
        if layer.name == name:
            return layer
    names = [layer.name for layer in _walk(model.layers)]
    raise UnknownLayerError(name, model.name, difflib.get_close_matches(name, names, n=3, cutoff=0.6))


def _minmax(a: np.ndarray, axes: tuple) -> np.ndarray:
    lo = a.min(axis=axes, keepdims=True)
    hi = a.max(axis=axes, keepdims=True)
    span = hi - lo
    return np.where(span > 0, (a - lo) / np.where(span > 0, span, 1), 0.5)


def _symmetric(a: np.ndarray, axes: tuple) -> np.ndarray:
    m = np.abs(a).max(axis=axes, keepdims=True)
    return np.where(m > 0, 0.5 + 0.5 * a / np.where(m > 0, m, 1), 0.5)


def filters(model, layer_name: str | None = None, *, start: int = 0, max_filters: int = 64,
            max_inputs: int = 16, bgr: bool = False) -> FilterView:
    """The kernels of ``layer_name`` (default: the first convolution) ready to draw.

    Args:
        start, max_filters: which filters to return (paging through wide layers).
        max_inputs: input channels shown per filter for ``slices`` / ``pointwise``.
        bgr: the model's input is BGR (caffe preprocessing): flip RGB tiles to RGB.

    Raises:
        UnknownLayerError: no such layer. NoKernelError: the layer has no kernel to draw.
    """
    if layer_name is None:
        info = first_conv_layer(model)
        if info is None:
            raise NoKernelError(model.name, "model")
        layer_name = info.name
    layer = _find_layer(model, layer_name)
    info = next((k for k in kernel_layers(model) if k.name == layer_name), None)
    if info is None:
        raise NoKernelError(layer_name, type(layer).__name__)
    if not isinstance(start, (int, np.integer)) or start < 0 or (info.filters and start >= info.filters):
        raise ValueError(f"start must be in [0, {info.filters - 1}]. Received: start={start!r}")
    stop = start + max(1, int(max_filters))
    if info.kind == "depthwise":
        k = np.asarray(layer.depthwise_kernel if info.type == "SeparableConv2D" else layer.kernel, dtype=np.float32)
        kh, kw = k.shape[:2]
        flat = k.reshape(kh, kw, -1)                      # (kh, kw, C*mult)
        tiles = np.moveaxis(flat, -1, 0)[start:stop]      # (n, kh, kw)
        tiles = _symmetric(tiles, (1, 2))
        return FilterView(layer_name, "depthwise", info.kernel_shape, tiles.astype(np.float32),
                          flat.shape[-1], 1, start)
    k = np.asarray(layer.kernel, dtype=np.float32)
    if info.kind == "pointwise":
        mat = k.reshape(-1, k.shape[-1]).T                # (C_out, C_in)
        tiles = _symmetric(mat[start:stop, :max_inputs], (1,))
        return FilterView(layer_name, "pointwise", info.kernel_shape, tiles.astype(np.float32),
                          mat.shape[0], mat.shape[1], start)
    kh, kw, cin, cout = k.shape
    per_filter = np.moveaxis(k, -1, 0)[start:stop]        # (n, kh, kw, cin)
    if info.kind == "rgb":
        if bgr:
            per_filter = per_filter[..., ::-1]
        tiles = _minmax(per_filter, (1, 2, 3))
        return FilterView(layer_name, "rgb", info.kernel_shape, tiles.astype(np.float32), cout, cin, start)
    slices = np.moveaxis(per_filter, -1, 1)               # (n, cin, kh, kw)
    tiles = _symmetric(slices, (1, 2, 3))[:, :max_inputs]  # normalized over the whole filter
    return FilterView(layer_name, "slices", info.kernel_shape, tiles.astype(np.float32), cout, cin, start)
