"""What every visualization method shares: errors, input checks, graph lookups and caches.

Keras 3 models are graphs of *operations*. Most are layers, reachable by
``model.get_layer(name)``, but some tensors a student wants to see are produced by
plain ops that are not layers: ConvNeXt's residual sums (``x + branch``) are
``Add`` operations with session-dependent auto names (``add_17``). To keep layer
pickers, Grad-CAM targets and tests stable, such ops get a deterministic alias
built from the layer that feeds them (``convnext_tiny_stage_3_block_2_out``, like
ResNet's ``conv5_block3_out``); :func:`resolve` accepts both kinds of name.

This module imports Keras lazily (inside functions) so :mod:`cnnviz.visualize.render`
and the error classes stay importable without TensorFlow.
"""

from __future__ import annotations

import difflib
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from cnnviz.errors import UserFacingError
from cnnviz.graph import format_shape, walk


# --------------------------------------------------------------------------- errors

class VisualizeError(UserFacingError, ValueError):
    """A visualization request that cannot be served as asked (bad layer, bad input...)."""


class UnknownLayerError(VisualizeError, KeyError):
    """The model has no layer (or aliased tensor) of that name."""

    def __init__(self, name: str, model_name: str, close: list[str]):
        super().__init__("visualize.error.unknown_layer", name=name, model=model_name,
                         close=", ".join(close) if close else "—")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message("en")


class NotSpatialError(VisualizeError):
    """The layer's output has no height × width (Dense, global pooling): no maps to show."""

    def __init__(self, name: str, shape: tuple):
        super().__init__("visualize.error.not_spatial", name=name, shape=format_shape(shape))


class BadInputError(VisualizeError):
    """``x`` is not one preprocessed H×W×C image the model accepts."""


class NoKernelError(VisualizeError):
    """The layer has no convolution kernel to draw."""

    def __init__(self, name: str, kind: str):
        super().__init__("visualize.error.no_kernel", name=name, kind=kind)


class BadChannelError(VisualizeError):
    def __init__(self, channel: object, name: str, channels: int):
        super().__init__("visualize.error.bad_channel", channel=channel, name=name, last=channels - 1)


class BadClassError(VisualizeError):
    def __init__(self, class_index: object, classes: int):
        super().__init__("visualize.error.bad_class", class_index=class_index, last=classes - 1)


# --------------------------------------------------------------------------- input

def as_batch(model, x: Any) -> np.ndarray:
    """One preprocessed image ``x`` (H×W×C, or 1×H×W×C) as a float32 batch of one.

    Raises:
        BadInputError: wrong rank, batch > 1, size or channels the model cannot take,
            or NaN/inf values. The message echoes what was received.
    """
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise BadInputError("visualize.error.input_type", received=type(x).__name__) from None
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise BadInputError("visualize.error.input_rank", shape=tuple(arr.shape))
    expected = tuple(model.inputs[0].shape[1:])
    if len(expected) == 3:
        for got, want in zip(arr.shape, expected):
            if want is not None and got != want:
                raise BadInputError("visualize.error.input_shape", shape=tuple(arr.shape),
                                    expected=format_shape((None, *expected)))
    if not np.isfinite(arr).all():
        raise BadInputError("visualize.error.input_nan")
    return arr[None]


# --------------------------------------------------------------------------- graph

@dataclass(frozen=True)
class Node:
    """A named tensor of the model graph: a layer output or an aliased plain op."""

    name: str
    type: str            # layer class name ("Conv2D") or op class name ("Add")
    shape: tuple         # output shape, batch first (None, H, W, C)
    layer_name: str      # the layer it belongs to (itself, or the layer feeding an aliased op)
    is_layer: bool
    op_name: str = ""    # Keras' own name of the operation (differs from ``name`` for aliased ops)

    @property
    def spatial(self) -> bool:
        """True for H×W×C outputs with more than one position (something to draw)."""
        s = self.shape
        return len(s) == 4 and not (s[1] == 1 and s[2] == 1)

    @property
    def channels(self) -> int | None:
        return self.shape[-1] if self.shape else None


# Layers whose output is only a copy of (or padding around) their input at inference time.
_PASS_THROUGH = {"InputLayer", "ZeroPadding2D", "Dropout", "SpatialDropout2D", "GaussianNoise",
                 "GaussianDropout", "StochasticDepth"}
# Preprocessing that lives inside the model (EfficientNet, MobileNetV3, ConvNeXt).
_PREPROCESSING = {"Rescaling", "Normalization"}


def _op_alias(op, producers: list[str]) -> str:
    """A deterministic name for a non-layer op from the layer that feeds it."""
    if not producers:
        return op.name
    base = producers[-1]
    for suffix in ("_identity", "_layer_scale", "_drop_path"):
        if base.endswith(suffix):
            return base[: -len(suffix)] + "_out"
    return f"{base}_{type(op).__name__.lower()}"


class _Graph:
    """Name → node index of one model (built once per model, see :func:`graph`).

    The operations come from :func:`cnnviz.graph.walk`; an operation whose output is not one
    tensor (a layer shared by several calls, several outputs) names no node.
    """

    def __init__(self, model):
        layers = {id(layer) for layer in model.layers}
        self.model_name = model.name
        self.nodes: list[Node] = []
        self.tensors: dict[str, Any] = {}
        producer_of: dict[int, str] = {}  # id(KerasTensor) -> node name
        ops = walk(model)
        node_name: dict[int, str] = {}  # op index -> node name
        for index, o in enumerate(ops):
            op = o.op
            try:
                out = op.output
            except (AttributeError, ValueError):  # shared layers have no single output
                continue
            if isinstance(out, (list, tuple)):
                continue
            is_layer = id(op) in layers
            if is_layer:
                name, owner = op.name, op.name
            else:
                producers = [node_name[p] for p in o.preds if p in node_name]
                name = _op_alias(op, producers)
                owner = producers[-1] if producers else name
                while name in self.tensors:  # never shadow a real layer
                    name += "_"
            shape = tuple(out.shape)
            self.nodes.append(Node(name, type(op).__name__, shape, owner, is_layer, op.name))
            self.tensors[name] = out
            producer_of[id(out)] = name
            node_name[index] = name
        self.by_name = {n.name: n for n in self.nodes}
        self._producer_of = producer_of

    def node_of_tensor(self, tensor) -> Node | None:
        name = self._producer_of.get(id(tensor))
        return self.by_name.get(name) if name else None


_graphs: "weakref.WeakKeyDictionary[Any, _Graph]" = weakref.WeakKeyDictionary()
_lock = threading.RLock()


def graph(model) -> _Graph:
    with _lock:
        g = _graphs.get(model)
        if g is None:
            g = _graphs[model] = _Graph(model)
        return g


def resolve(model, name: str) -> tuple[Node, Any]:
    """The node and symbolic tensor called ``name`` (layer name or op alias).

    Raises:
        UnknownLayerError: listing close names, so a typo or a model switch is easy to fix.
    """
    g = graph(model)
    if not isinstance(name, str) or name not in g.tensors:
        close = difflib.get_close_matches(str(name), list(g.tensors), n=3, cutoff=0.6)
        raise UnknownLayerError(str(name), model.name, close)
    return g.by_name[name], g.tensors[name]


def nodes(model, *, spatial_only: bool = False, include_pass_through: bool = False,
          include_preprocessing: bool = False) -> list[Node]:
    """The model's nodes in graph order.

    Args:
        spatial_only: only H×W×C outputs (the ones feature maps can be drawn for).
        include_pass_through: keep inputs, padding and dropout (copies of their input).
        include_preprocessing: keep Rescaling/Normalization layers (preprocessing inside the
            model: their "maps" are the input image itself).
    """
    out = []
    for n in graph(model).nodes:
        if not include_pass_through and n.type in _PASS_THROUGH:
            continue
        if not include_preprocessing and n.type in _PREPROCESSING:
            continue
        if spatial_only and not n.spatial:
            continue
        out.append(n)
    return out


def head_input(model) -> Node | None:
    """The last spatial tensor before the classifier head: the classic Grad-CAM target.

    Found as the input of the last global pooling / flatten layer; failing that, the last
    spatial node of the graph.
    """
    g = graph(model)
    for layer in reversed(model.layers):
        if type(layer).__name__ in {"GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten",
                                    "GlobalAveragePooling1D"}:
            try:
                node = g.node_of_tensor(layer.input)
            except (AttributeError, ValueError):
                continue
            if node is not None and node.spatial:
                return node
    spatial = [n for n in g.nodes if n.spatial]
    return spatial[-1] if spatial else None


# --------------------------------------------------------------------------- caches

class ModelCache:
    """Per-model memo (weak on the model: a dropped model frees what was built for it).

    ``get(model, key, build)`` builds once per (model, key), thread-safely: Streamlit serves
    sessions from several threads sharing the same cached model.
    """

    def __init__(self, max_per_model: int = 32):
        self._data: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()
        self.max_per_model = max_per_model

    def get(self, model, key, build: Callable[[], Any]):
        with self._lock:
            per = self._data.setdefault(model, {})
            if key in per:
                value = per.pop(key)
                per[key] = value  # most recently used last
                return value
            value = build()
            per[key] = value
            while len(per) > self.max_per_model:
                per.pop(next(iter(per)))
            return value

    def peek(self, model, key):
        with self._lock:
            return self._data.get(model, {}).get(key)

    def put(self, model, key, value) -> None:
        with self._lock:
            per = self._data.setdefault(model, {})
            per[key] = value
            while len(per) > self.max_per_model:
                per.pop(next(iter(per)))

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
