"""Model inspection as plain data: parameter and MAC counts, shapes, blocks and stages.

No Streamlit here, and no TensorFlow import at module import time: functions receive
an already-built ``keras.Model`` (Keras is imported lazily by the few helpers that
need its layer classes). The graph itself is read by :func:`cnnviz.graph.walk`; timings
of all this live in :mod:`cnnviz.bench.explorer`. This module imports nothing of cnnviz
but :mod:`cnnviz.graph`.

Conventions (the explorer page states them next to the numbers):

* **MACs** are multiply-accumulates (= the "FLOPs (multiply-adds)" of the CNN papers,
  e.g. ResNet's Table 1) of the convolution and dense layers only: ``Conv1D/2D/3D``
  (``H_out·W_out·C_out·k_h·k_w·C_in/groups``), ``DepthwiseConv``, ``SeparableConv``
  (depthwise + pointwise), ``Conv*Transpose`` (``H_in·W_in·k_h·k_w·C_in·C_out``) and
  ``Dense`` (``in·out`` times the number of positions it is applied to, which matters
  for ConvNeXt's pointwise Dense layers on 4-D tensors). Biases, pooling,
  normalisation, activations, element-wise adds/multiplies and resizing are *not*
  counted: they are a small fraction of the arithmetic and the papers leave them out.
* **Parameters** are what Keras' ``count_params()`` counts, including the two moving
  statistics of every BatchNormalization channel (non-trainable).
* **Size** is parameters × 4 bytes (float32) in MB of 1024² bytes, as ``model.summary()``.
* **Depth** two ways: layers with weights (what the Keras Applications table calls depth:
  ResNet50 = 107) and all layers (every operation of the graph except the inputs).

Blocks and stages come from the deterministic layer names of the zoo (``conv2_block1_*``,
``block3a_*``, ``expanded_conv_3_*``, ``convnext_tiny_stage_2_block_1_*``, ``mixed5``,
``inception_4a_*``...). Layers Keras names automatically (``conv2d_7``, ``activation_3``,
``add_12``: the counters depend on what else the process built) are placed from the graph
instead: the network's *trunk* (the layers every input→output path goes through) splits it
into segments; a branch layer belongs to the block its branch merges into, and an unnamed
trunk layer to the block whose branches it merges, else the block before it, else "stem"
(before the first named block) or "head" (after the last). Stages the names do not give are
the spatial size of the block's output (``"28×28"``), the "resolution down" grouping the
course teaches. Every layer gets a block and a stage.
"""

from __future__ import annotations

import csv
import io
import os
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from cnnviz.graph import (  # noqa: F401  (format_shape: public here too)
    INPUT_TYPES, Op, as_tuple, first_shape, format_shape, functional_of, trunk as graph_trunk, walk,
)

STEM = "stem"
HEAD = "head"
BYTES_PER_PARAM = 4  # float32
MB = 1024 * 1024


# --------------------------------------------------------------------------- data

@dataclass(frozen=True)
class LayerRow:
    """One layer (or graph operation) of a model, nested models expanded.

    Attributes:
        name: the layer's Keras name.
        type: its class name (``"Conv2D"``, ``"Dense"``, ``"Add"``...).
        output_shape: output shape with the batch dimension (``(None, 56, 56, 256)``);
            a list of shapes for layers with several outputs.
        params: all its weights (trainable + non-trainable).
        trainable_params: its trainable weights.
        macs: multiply-accumulates for one image; 0 for layer types not counted
            (pooling, normalisation...), None when the shapes are unknown.
        trainable: the layer has weights and is trainable.
        block: e.g. ``"conv2_block1"``, ``"block3a"``, ``"stem"``, ``"head"``.
        stage: e.g. ``"conv2"``, ``"block3"``, ``"28×28"``, ``"stem"``, ``"head"``.
        index: position in the (expanded, topologically ordered) table.
        parent: name of the nested model it belongs to, or None.
        fully_connected: a Dense layer applied to a vector, or a 1×1 convolution on a
            1×1 map (the same maths): the "fully connected" layers of the classic
            classifier heads and of squeeze-and-excitation branches. A Dense layer
            applied at every position of a feature map (ConvNeXt) is a pointwise
            convolution, not fully connected.
    """

    name: str
    type: str
    output_shape: Any
    params: int
    trainable_params: int
    macs: int | None
    trainable: bool
    block: str
    stage: str
    index: int = 0
    parent: str | None = None
    fully_connected: bool = False

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def spatial(self) -> tuple[int | None, int | None] | None:
        """(H, W) of a 4-D (channels-last) output, else None."""
        shape = first_shape(self.output_shape)
        if shape is not None and len(shape) == 4:
            return shape[1], shape[2]
        return None

    @property
    def channels(self) -> int | None:
        shape = first_shape(self.output_shape)
        if shape is not None and len(shape) >= 2:
            return shape[-1]
        return None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["non_trainable_params"] = self.non_trainable_params
        data["output_shape"] = _shape_json(self.output_shape)
        return data


@dataclass(frozen=True)
class GroupRow:
    """Totals of one block or stage; ``output_shape`` is that of its last layer in the table."""

    name: str
    stage: str
    params: int
    macs: int | None
    layers: int
    first_index: int
    output_shape: Any = None
    last_index: int = 0


@dataclass(frozen=True)
class ModelSummary:
    """Totals and per-layer rows of a model (see the module docstring for conventions)."""

    name: str
    input_shape: Any
    output_shape: Any
    total_params: int
    trainable_params: int
    non_trainable_params: int
    macs: int | None
    size_mb: float
    depth_weighted: int
    depth_all: int
    layers: list[LayerRow] = field(default_factory=list)

    @property
    def fc_params(self) -> int:
        """Parameters in fully connected layers (see :attr:`LayerRow.fully_connected`)."""
        return sum(r.params for r in self.layers if r.fully_connected)

    @property
    def fc_share(self) -> float:
        """Fraction of all parameters in fully connected layers (VGG16: 0.89)."""
        return self.fc_params / self.total_params if self.total_params else 0.0

    def type_counts(self) -> dict[str, int]:
        """Layer types and how many of each, most frequent first."""
        return dict(Counter(r.type for r in self.layers).most_common())

    def by_block(self) -> list[GroupRow]:
        return _group(self.layers, "block")

    def by_stage(self) -> list[GroupRow]:
        return _group(self.layers, "stage")

    def to_dict(self, *, layers: bool = True) -> dict:
        data = {
            "name": self.name,
            "input_shape": _shape_json(self.input_shape),
            "output_shape": _shape_json(self.output_shape),
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "size_mb": round(self.size_mb, 2),
            "depth_weighted": self.depth_weighted,
            "depth_all": self.depth_all,
            "fc_params": self.fc_params,
            "fc_share": round(self.fc_share, 4),
            "stages": [asdict(g) | {"output_shape": _shape_json(g.output_shape)} for g in self.by_stage()],
        }
        if layers:
            data["layers"] = [r.to_dict() for r in self.layers]
        return data

    def table(self) -> list[dict]:
        """The layer table as plain records (for pandas / CSV)."""
        return [
            {"index": r.index, "name": r.name, "type": r.type, "output_shape": format_shape(r.output_shape),
             "params": r.params, "trainable_params": r.trainable_params,
             "non_trainable_params": r.non_trainable_params, "macs": r.macs, "trainable": r.trainable,
             "block": r.block, "stage": r.stage, "parent": r.parent or "", "fully_connected": r.fully_connected}
            for r in self.layers
        ]

    def to_csv(self) -> str:
        """The layer table as CSV text (UTF-8, header row, one row per layer)."""
        records = self.table()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else ["name"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue()


def _group(rows: Sequence[LayerRow], attr: str) -> list[GroupRow]:
    order: dict[str, list[LayerRow]] = {}
    for row in rows:
        order.setdefault(getattr(row, attr), []).append(row)
    groups = []
    for name, members in order.items():
        macs = None if any(m.macs is None for m in members) else sum(m.macs for m in members)  # type: ignore[misc]
        last_shaped = next((m.output_shape for m in reversed(members) if m.output_shape is not None), None)
        groups.append(GroupRow(name=name, stage=members[0].stage, params=sum(m.params for m in members), macs=macs,
                               layers=len(members), first_index=members[0].index, output_shape=last_shaped,
                               last_index=members[-1].index))
    return sorted(groups, key=lambda g: g.first_index)


# --------------------------------------------------------------------------- shapes

def _shape_json(shape: Any) -> Any:
    if isinstance(shape, list):
        return [list(s) if s is not None else None for s in shape]
    return list(shape) if shape is not None else None


def _prod(values: Iterable[int | None]) -> int | None:
    out = 1
    for v in values:
        if v is None:
            return None
        out *= int(v)
    return out


# --------------------------------------------------------------------------- MACs

def _keras_classes():
    import keras  # heavy: TF

    L = keras.layers
    return {
        "transpose": tuple(c for c in (getattr(L, n, None) for n in ("Conv1DTranspose", "Conv2DTranspose",
                                                                     "Conv3DTranspose")) if c),
        "separable": tuple(c for c in (getattr(L, n, None) for n in ("SeparableConv1D", "SeparableConv2D")) if c),
        "depthwise": tuple(c for c in (getattr(L, n, None) for n in ("DepthwiseConv1D", "DepthwiseConv2D")) if c),
        "conv": tuple(c for c in (getattr(L, n, None) for n in ("Conv1D", "Conv2D", "Conv3D")) if c),
        "dense": (L.Dense,),
    }


def _spatial(shape: tuple | None, data_format: str | None) -> tuple | None:
    """The spatial dims of a conv input/output shape (batch and channels removed)."""
    if shape is None:
        return None
    if data_format == "channels_first":
        return tuple(shape[2:])
    return tuple(shape[1:-1])


def _weight_shape(layer, attr: str) -> tuple | None:
    weight = getattr(layer, attr, None)
    if weight is None:
        return None
    try:
        return tuple(int(d) for d in weight.shape)
    except (TypeError, ValueError):
        return None


def layer_macs(layer, input_shape: tuple | None, output_shape: tuple | None, classes=None) -> tuple[int | None, bool]:
    """MACs of one call of ``layer`` for one sample, and whether it is fully connected.

    Returns ``(0, False)`` for layer types not counted, ``(None, ...)`` when a needed
    spatial size is unknown (a model built with ``input_shape=(None, None, 3)``).
    """
    classes = classes or _keras_classes()
    fmt = getattr(layer, "data_format", None)
    if isinstance(layer, classes["transpose"]):
        kernel = _weight_shape(layer, "kernel")
        positions = _prod(_spatial(input_shape, fmt) or ())
        if kernel is None or positions is None:
            return None, False
        return positions * _prod(kernel), False  # type: ignore[operator]
    if isinstance(layer, classes["separable"]):
        dw, pw = _weight_shape(layer, "depthwise_kernel"), _weight_shape(layer, "pointwise_kernel")
        positions = _prod(_spatial(output_shape, fmt) or ())
        if dw is None or pw is None or positions is None:
            return None, False
        return positions * (_prod(dw) + _prod(pw)), False  # type: ignore[operator]
    if isinstance(layer, classes["depthwise"]):
        kernel = _weight_shape(layer, "kernel") or _weight_shape(layer, "depthwise_kernel")
        positions = _prod(_spatial(output_shape, fmt) or ())
        if kernel is None or positions is None:
            return None, False
        return positions * _prod(kernel), False  # type: ignore[operator]
    if isinstance(layer, classes["conv"]):
        # kernel: (*k, C_in/groups, C_out): one product covers grouped convs too.
        kernel = _weight_shape(layer, "kernel")
        spatial_in = _spatial(input_shape, fmt)
        positions = _prod(_spatial(output_shape, fmt) or ())
        if kernel is None or positions is None:
            return None, False
        pointwise_on_point = (spatial_in is not None and all(d == 1 for d in spatial_in)
                              and all(k == 1 for k in kernel[:-2]))
        return positions * _prod(kernel), pointwise_on_point  # type: ignore[operator]
    if isinstance(layer, classes["dense"]):
        kernel = _weight_shape(layer, "kernel")
        if kernel is None or output_shape is None:
            return None, False
        positions = _prod(output_shape[1:-1])
        if positions is None:
            return None, False
        return positions * _prod(kernel), positions == 1  # type: ignore[operator]
    return 0, False


# --------------------------------------------------------------------------- names → blocks

# (pattern, block template, stage template or None). Stage None: the spatial size of the
# block's output. Order matters: the first match wins.
_RULES: list[tuple[re.Pattern, str, str | None]] = [
    # ConvNeXt (keras: convnext_tiny_stage_2_block_1_*, timm/torch: stages.2.blocks.1.*)
    (re.compile(r"(?:^|[._])stages?[._](?P<s>\d+)[._]blocks?[._](?P<b>\d+)(?:[._]|$)"),
     "stage_{s}_block_{b}", "stage_{s}"),
    (re.compile(r"(?:^|_)downsampling_block_(?P<d>\d+)$"), "stage_{d1}_downsampling", "stage_{d1}"),
    # InceptionResNetV2: block35_3_*, block17_10_*, block8_1_*
    (re.compile(r"^block(?P<k>35|17|8)_(?P<i>\d+)(?:_|$)"), "block{k}_{i}", None),
    # EfficientNet (V1/V2): block3a_*
    (re.compile(r"^block(?P<s>\d+)(?P<b>[a-z])_"), "block{s}{b}", "block{s}"),
    # VGG, Xception: block3_conv1, block13_sepconv2_act
    (re.compile(r"^block(?P<s>\d+)_"), "block{s}", None),
    # MobileNetV2: block_12_expand; MobileNetV3 (and V2's first block): expanded_conv_3_*
    (re.compile(r"^block_(?P<i>\d+)_"), "block_{i}", None),
    (re.compile(r"^(?P<e>expanded_conv(?:_\d+)?)_[a-z]"), "{e}", None),
    # ResNet (v1/v2, from-code 18/34, SE-ResNet) and DenseNet: conv2_block1_*, conv3_block4_*
    (re.compile(r"^conv(?P<s>\d+)_block(?P<b>\d+)_"), "conv{s}_block{b}", "conv{s}"),
    (re.compile(r"^conv1_(?:pad|conv|bn|relu)$"), "conv1", "conv1"),
    (re.compile(r"^pool(?P<s>\d+)_(?:pad|pool|bn|relu|conv)$"), "pool{s}", "conv{s}"),
    # GoogLeNet: inception_4a_*; InceptionV3: mixed5, mixed9_1; InceptionResNetV2: mixed_6a
    (re.compile(r"^inception_?(?P<s>\d+)(?P<b>[a-z])(?:_|$)"), "inception_{s}{b}", "inception_{s}"),
    (re.compile(r"^mixed(?P<i>\d+)(?:_\d+)?$"), "mixed{i}", None),
    (re.compile(r"^mixed_(?P<i>\d+[a-z])$"), "mixed_{i}", None),
]


def block_from_name(name: str) -> tuple[str, str | None] | None:
    """(block, stage or None) from a deterministic layer name, or None if it has no rule.

    >>> block_from_name("conv2_block1_1_conv")
    ('conv2_block1', 'conv2')
    >>> block_from_name("block3a_expand_conv")
    ('block3a', 'block3')
    >>> block_from_name("convnext_tiny_stage_2_block_1_depthwise_conv")
    ('stage_2_block_1', 'stage_2')
    """
    for pattern, block, stage in _RULES:
        m = pattern.search(name)
        if m:
            fields = m.groupdict()
            if "d" in fields:
                fields["d1"] = int(fields["d"]) + 1
            return block.format(**fields), (stage.format(**fields) if stage else None)
    return None


def _has_weights(op) -> bool:
    return bool(getattr(op, "weights", None))


def _is_compute(o: Op) -> bool:
    """Layers that open a block in a model without block names: conv and dense layers, and
    nested models with weights (a data-augmentation Sequential has none)."""
    if o.is_input:
        return False
    if _is_model(o.op):
        return _has_weights(o.op)
    return "Conv" in o.type or o.type in {"Dense", "EinsumDense"}


def _is_model(op) -> bool:
    """A nested ``keras.Model`` (Functional, Sequential or subclassed) used as a layer."""
    import keras  # heavy: TF

    return isinstance(op, keras.Model) and bool(getattr(op, "layers", None))


# Layers that may precede the first block without forming a "stem" of their own.
_TRIVIAL_LEADING = ("InputLayer", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")


def _assign_blocks(ops: list[Op]) -> tuple[list[str], list[str | None], bool]:
    """Block of every op, the stage the names give (or None), and whether names gave blocks.

    Models whose names give fewer than two blocks (LeNet, AlexNet, ZFNet, the course's CIFAR
    models) are split at their convolution/dense layers and merges instead: each opens a
    block named after it.
    """
    n = len(ops)
    if n == 0:
        return [], [], False
    named: list[tuple[str, str | None] | None] = [block_from_name(o.name) for o in ops]
    has_names = len({b[0] for b in named if b}) >= 2
    trunk = graph_trunk(ops)
    if not has_names:
        named = _blocks_at_compute_layers(ops, trunk)
    blocks: list[str | None] = [None] * n
    stages: list[str | None] = [None] * n
    closer = _merge_points(ops, trunk)
    region: dict[int, list[int]] = {}
    for i, c in enumerate(closer):
        if c >= 0:
            region.setdefault(c, []).append(i)

    # 1. trunk layers with a rule; 2. unnamed trunk layers merging named branches.
    for t in trunk:
        if named[t]:
            blocks[t], stages[t] = named[t]  # type: ignore[misc]
        else:
            votes = Counter(named[i] for i in region.get(t, []) if named[i])
            if votes:
                blocks[t], stages[t] = votes.most_common(1)[0][0]
    resolved = _join_trivial_leading(ops, trunk, closer, blocks, stages)
    _fill_trunk_gaps(trunk, resolved, blocks, stages)
    # 4. branch layers follow the trunk layer their branch merges into.
    on_trunk = set(trunk)
    for i in range(n):
        if i in on_trunk:
            continue
        if closer[i] >= 0:
            blocks[i], stages[i] = blocks[closer[i]], stages[closer[i]]
        elif named[i]:  # a branch that ends in its own output (auxiliary classifier)
            blocks[i], stages[i] = named[i]  # type: ignore[misc]
        else:
            blocks[i], stages[i] = HEAD, HEAD
    return [b or HEAD for b in blocks], stages, has_names


def _blocks_at_compute_layers(ops: list[Op], trunk: list[int]) -> list[tuple[str, str | None] | None]:
    """For a model without block names: each conv/dense/merge on the trunk opens a block named
    after it, and a layer named after one (``s2_pool`` after ``s2``) joins it."""
    named: list[tuple[str, str | None] | None] = [None] * len(ops)
    for t in trunk:
        if _is_compute(ops[t]) or len(ops[t].preds) >= 2:
            named[t] = (ops[t].name, None)
    anchors = {ops[t].name: named[t] for t in trunk if named[t]}
    for t in trunk:  # "s2_pool" goes with "s2", "conv1_pad" with "conv1"
        if named[t] is None:
            for anchor, value in anchors.items():
                if ops[t].name.startswith(anchor + "_"):
                    named[t] = value
                    break
    return named


def _merge_points(ops: list[Op], trunk: list[int]) -> list[int]:
    """For every branch layer, the first trunk layer it reaches (where its branch merges); -1 for
    trunk layers and for branches that never come back (an auxiliary output)."""
    on_trunk = set(trunk)
    position = {t: k for k, t in enumerate(trunk)}
    closer = [-1] * len(ops)
    for i in range(len(ops)):
        if i in on_trunk:
            continue
        best, stack, seen = None, list(ops[i].succs), set()
        while stack:
            j = stack.pop()
            if j in seen:
                continue
            seen.add(j)
            if j in on_trunk:
                if best is None or position[j] < position[best]:
                    best = j
                continue
            stack.extend(ops[j].succs)
        closer[i] = -1 if best is None else best
    return closer


def _join_trivial_leading(ops: list[Op], trunk: list[int], closer: list[int], blocks: list, stages: list) -> list[int]:
    """Trivial layers before the first block (the Input, a padding) join it instead of forming
    an empty "stem" (ResNet's conv1, VGG's block1). Returns the trunk layers that have a block."""
    resolved = [t for t in trunk if blocks[t] is not None]
    if not resolved:
        return resolved
    first = resolved[0]
    on_trunk = set(trunk)
    leading = [t for t in trunk if t < first]
    if all(ops[t].type in _TRIVIAL_LEADING for t in leading) and not any(
            0 <= closer[i] <= first for i in range(first) if i not in on_trunk):
        for t in leading:
            blocks[t], stages[t] = blocks[first], stages[first]
        resolved = [t for t in trunk if blocks[t] is not None]
    return resolved


def _fill_trunk_gaps(trunk: list[int], resolved: list[int], blocks: list, stages: list) -> None:
    """The remaining trunk layers: between two layers of one block → that block; else the block
    before; before the first block → stem; after the last → head."""
    k = 0
    for t in trunk:
        if blocks[t] is not None:
            continue
        while k < len(resolved) and resolved[k] < t:
            k += 1
        before = resolved[k - 1] if k > 0 else None
        after = resolved[k] if k < len(resolved) else None
        if before is None:
            blocks[t], stages[t] = STEM, STEM
        elif after is None:
            blocks[t], stages[t] = HEAD, HEAD
        else:
            blocks[t], stages[t] = blocks[before], stages[before]


def _rank(shape: Any) -> int:
    shape = first_shape(shape)
    return len(shape) if shape is not None else 0


def _resolution_stage(shape: Any) -> str:
    shape = first_shape(shape)
    if shape is not None and len(shape) == 4:
        h, w = shape[1], shape[2]
        return f"{'?' if h is None else h}×{'?' if w is None else w}"
    if shape is not None and len(shape) == 3:  # 1-D sequences (Conv1D)
        return f"{'?' if shape[1] is None else shape[1]}"
    return HEAD


def _fill_stages(ops: list[Op], blocks: list[str], stages: list[str | None]) -> list[str]:
    """Stages the names did not give: the spatial size of the block's last feature map."""
    last_map: dict[str, int] = {}
    for i, b in enumerate(blocks):
        if _rank(ops[i].output_shape) >= 3 or b not in last_map:
            last_map[b] = i
    out = []
    for b, s in zip(blocks, stages):
        if s is not None:
            out.append(s)
        elif b in (STEM, HEAD):
            out.append(b)
        else:
            out.append(_resolution_stage(ops[last_map[b]].output_shape))
    return out


# --------------------------------------------------------------------------- summarize

def _weights_count(weights, seen: set[int]) -> int:
    total = 0
    for w in weights:
        if id(w) in seen:
            continue
        seen.add(id(w))
        total += _prod(int(d) for d in w.shape) or 0
    return total


def _rows(model, classes, seen: set[int], parent: str | None, inherit: tuple[str, str] | None) -> list[LayerRow]:
    ops = walk(model)
    blocks, name_stages, has_names = _assign_blocks(ops)
    stages = _fill_stages(ops, blocks, name_stages)
    if inherit is not None and not has_names:
        # A nested model without block names of its own (ConvNeXt's stem, a data-augmentation
        # Sequential) belongs to the block of the outer layer it is.
        blocks, stages = [inherit[0]] * len(ops), [inherit[1]] * len(ops)
    rows: list[LayerRow] = []
    for o, block, stage in zip(ops, blocks, stages):
        if o.is_input and parent is not None:
            continue  # a nested model's own Input is not a layer of the outer model
        if _is_model(o.op) and o.op is not model:
            rows.extend(_rows(o.op, classes, seen, o.name, (block, stage)))
            continue
        layer = o.op
        trainable_w = list(getattr(layer, "trainable_weights", []) or [])
        all_w = list(getattr(layer, "weights", []) or [])
        trainable_ids = {id(w) for w in trainable_w}
        trainable_params = _weights_count(trainable_w, seen)
        other = [w for w in all_w if id(w) not in trainable_ids]
        params = trainable_params + _weights_count(other, seen)
        input_shape = o.input_shapes[0] if o.input_shapes else None
        out_shape = first_shape(o.output_shape)
        macs, fc = layer_macs(layer, input_shape, out_shape, classes)
        if macs is not None and o.calls > 1:
            macs *= o.calls  # a shared layer computes once per call
        rows.append(LayerRow(
            name=o.name, type=o.type, output_shape=o.output_shape, params=params,
            trainable_params=trainable_params, macs=macs,
            trainable=bool(getattr(layer, "trainable", False)) and trainable_params > 0,
            block=block, stage=stage, parent=parent, fully_connected=fc,
        ))
    return rows


def summarize(model) -> ModelSummary:
    """Totals and the per-layer table of a built ``keras.Model`` (nested models expanded).

    Row sums equal the totals: ``sum(r.params for r in s.layers) == s.total_params``
    (= ``model.count_params()``) and likewise for MACs.
    """
    classes = _keras_classes()
    seen: set[int] = set()
    rows = _rows(model, classes, seen, None, None)
    rows = [LayerRow(**{**r.__dict__, "index": i}) for i, r in enumerate(rows)]
    total = sum(r.params for r in rows)
    trainable = sum(r.trainable_params for r in rows)
    macs = None if any(r.macs is None for r in rows) else sum(r.macs for r in rows)  # type: ignore[misc]
    try:
        input_shape = as_tuple(model.inputs[0].shape) if len(model.inputs) == 1 else [
            as_tuple(t.shape) for t in model.inputs]
        output_shape = as_tuple(model.outputs[0].shape) if len(model.outputs) == 1 else [
            as_tuple(t.shape) for t in model.outputs]
    except (AttributeError, TypeError, ValueError):
        input_shape = output_shape = None
    return ModelSummary(
        name=model.name,
        input_shape=input_shape,
        output_shape=output_shape,
        total_params=total,
        trainable_params=trainable,
        non_trainable_params=total - trainable,
        macs=macs,
        size_mb=total * BYTES_PER_PARAM / MB,
        depth_weighted=sum(1 for r in rows if r.params > 0),
        depth_all=sum(1 for r in rows if r.type not in INPUT_TYPES),
        layers=rows,
    )


# --------------------------------------------------------------------------- summary text

_ENV_LOCK = threading.Lock()


def _summary_layout(model, expand_nested: bool) -> tuple[int, list[float]]:
    """A line length and column positions wide enough for every layer name.

    Keras' defaults (88/108 columns, or the terminal's width) cut long names such as
    ``convnext_tiny_stage_0_block_0_pointwise_conv_1`` with an ellipsis.
    """
    names = []

    def walk(m, level):
        for layer in getattr(m, "_operations", None) or getattr(m, "layers", []):
            prefix = ("   " * level + "└ ") if level else ""
            names.append(len(f"{prefix}{layer.name} ({type(layer).__name__})"))
            if expand_nested and getattr(layer, "layers", None) and layer is not m:
                walk(layer, level + 1)

    walk(model, 0)
    name_w = min(max(names, default=30) + 4, 90)
    shape_w, param_w, conn_w = 26, 15, 44
    functional = functional_of(model)
    branched = functional is not None and type(model).__name__ != "Sequential" and any(
        len(v) > 1 or (len(v) == 1 and len(v[0].input_tensors) > 1) for v in functional._nodes_by_depth.values())
    widths = [name_w, shape_w, param_w] + ([conn_w] if branched else [])
    total = sum(widths)
    positions, acc = [], 0
    for w in widths:
        acc += w
        positions.append(acc / total)
    return total, positions


def summary_text(model, expand_nested: bool = False) -> str:
    """The exact text of Keras' ``model.summary()``, plain (no Rich markup, no ANSI colours).

    Keras renders the table with Rich and hands the whole captured text to ``print_fn`` in
    one call; Rich sizes the console from ``COLUMNS`` (80 when not in a terminal), which
    would crop the table, so the width is set for the duration of the call.
    """
    line_length, positions = _summary_layout(model, expand_nested)
    parts: list[str] = []
    with _ENV_LOCK:
        old = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = str(line_length + 4)
        try:
            model.summary(print_fn=lambda text, *a, **k: parts.append(str(text)), line_length=line_length,
                          positions=positions, expand_nested=expand_nested)
        finally:
            if old is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = old
    text = "\n".join(parts)
    return _ANSI.sub("", text).rstrip() + "\n"


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
