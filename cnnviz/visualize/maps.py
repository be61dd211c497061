"""Feature maps: what each layer computes for one image.

One multi-output sub-model per (model, layer set), built once and wrapped in one
``tf.function``: asking for every spatial layer of ResNet50 costs one forward pass,
and switching between layers afterwards costs nothing (the caller keeps the dict).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from cnnviz.visualize._base import ModelCache, Node, NotSpatialError, as_batch, nodes, resolve

_extractors = ModelCache(max_per_model=8)


class FeatureMapExtractor:
    """Activations of a fixed set of layers, from one compiled forward pass.

    Args:
        model: a built ``keras.Model``.
        layer_names: layer names (or op aliases, see :func:`cnnviz.visualize.layers`);
            each must have an H×W×C output.
    """

    def __init__(self, model, layer_names: Sequence[str]):
        import keras  # heavy: TF
        import tensorflow as tf  # heavy: TF

        names = list(dict.fromkeys(layer_names))  # unique, order kept
        tensors = []
        for name in names:
            node, tensor = resolve(model, name)
            if len(node.shape) != 4:
                raise NotSpatialError(name, node.shape)
            tensors.append(tensor)
        self.layer_names = names
        self._sub = keras.Model(model.inputs, tensors, name=f"{model.name}_feature_maps")
        sub = self._sub
        self._fn = tf.function(lambda batch: sub(batch, training=False), reduce_retracing=True)
        self._model = model

    def __call__(self, x) -> dict[str, np.ndarray]:
        batch = as_batch(self._model, x)
        outs = self._fn(batch)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        return {name: np.asarray(out[0]) for name, out in zip(self.layer_names, outs)}


def extractor(model, layer_names: Iterable[str]) -> FeatureMapExtractor:
    """The cached extractor for this (model, layer set)."""
    names = tuple(dict.fromkeys(layer_names))
    return _extractors.get(model, names, lambda: FeatureMapExtractor(model, names))


def feature_maps(model, x, layer_names: Sequence[str] | str) -> dict[str, np.ndarray]:
    """Activations of ``layer_names`` for one preprocessed input ``x``.

    Args:
        model: a built ``keras.Model``.
        x: one input already preprocessed for the model, H×W×C float (no batch dimension).
        layer_names: a layer name or a list of them.

    Returns:
        ``{layer name: H×W×C float32 array}``, in the order asked.

    Raises:
        UnknownLayerError, NotSpatialError, BadInputError (all :class:`UserFacingError`).
    """
    if isinstance(layer_names, str):
        layer_names = [layer_names]
    return extractor(model, layer_names)(x)


def map_layers(model) -> list[Node]:
    """Layers worth drawing as maps: spatial outputs, minus inputs, padding and dropout."""
    return nodes(model, spatial_only=True)


def all_feature_maps(model, x) -> dict[str, np.ndarray]:
    """Every drawable layer's maps from a single forward pass (see :func:`map_layers`)."""
    return feature_maps(model, x, [n.name for n in map_layers(model)])


# --------------------------------------------------------------------------- channel statistics

@dataclass(frozen=True)
class ChannelStats:
    """Per-channel statistics of one H×W×C map (arrays of length C)."""

    mean: np.ndarray
    max: np.ndarray
    min: np.ndarray
    std: np.ndarray
    active: np.ndarray   # fraction of positions > 0 (how much of the image the channel fires on)

    def row(self, channel: int) -> dict[str, float]:
        return {k: float(getattr(self, k)[channel]) for k in ("mean", "max", "min", "std", "active")}


def channel_stats(fmap: np.ndarray) -> ChannelStats:
    """Statistics of each channel of an H×W×C map."""
    f = np.asarray(fmap, dtype=np.float32)
    if f.ndim != 3:
        raise ValueError(f"expected an H×W×C map. Received: shape={f.shape}")
    flat = f.reshape(-1, f.shape[-1])
    return ChannelStats(flat.mean(0), flat.max(0), flat.min(0), flat.std(0), (flat > 0).mean(0))


RANKINGS = ("mean", "max")


def rank_channels(fmap: np.ndarray, by: str = "mean", top: int | None = None) -> np.ndarray:
    """Channel indices, most active first.

    Args:
        by: "mean" (average activation over the image) or "max" (strongest single response).
        top: keep only the first ``top``.
    """
    if by not in RANKINGS:
        raise ValueError(f"by must be one of {RANKINGS}. Received: by={by!r}")
    stats = channel_stats(fmap)
    score = stats.mean if by == "mean" else stats.max
    order = np.argsort(-score, kind="stable")
    return order[:top] if top is not None else order


# --------------------------------------------------------------------------- through the depth

@dataclass(frozen=True)
class DepthStep:
    """One stage's representative map."""

    stage: str
    layer: str
    shape: tuple          # H, W, C
    channel: int          # the stage's most active channel (by mean)
    fmap: np.ndarray      # H×W map of that channel


def _by_resolution(node: Node) -> str:
    return f"{node.shape[1]}×{node.shape[2]}"


def depth_walk(model, maps: dict[str, np.ndarray],
               stage_of: Callable[[Node], str | None] | None = None) -> list[DepthStep]:
    """One representative map per stage: the last drawable layer of each stage.

    Args:
        model: the model ``maps`` came from.
        maps: feature maps of (at least) the stages' last layers, e.g. from
            :func:`all_feature_maps`; layers absent from ``maps`` are skipped.
        stage_of: node → stage name (None: not part of any stage). Default: runs of layers
            at the same resolution, which is what a stage is in every ImageNet CNN (the
            spatial size halves between stages) and shows exactly what the walk is about:
            resolution shrinking while channels grow.
    """
    stage_of = stage_of or _by_resolution
    last: dict[str, Node] = {}
    order: list[str] = []
    for node in map_layers(model):
        if node.name not in maps:
            continue
        stage = stage_of(node)
        if stage is None:
            continue
        if stage not in last:
            order.append(stage)
        last[stage] = node
    steps = []
    for stage in order:
        node = last[stage]
        fmap = maps[node.name]
        channel = int(rank_channels(fmap, "mean", top=1)[0])
        steps.append(DepthStep(stage, node.name, tuple(fmap.shape), channel, fmap[..., channel]))
    return steps
