"""The one walker of a Keras model's graph, and the one way to print a shape.

:func:`walk` lists the operations of a built ``keras.Model`` in topological order with
their edges, shapes and call counts. :mod:`cnnviz.inspect` counts parameters and MACs
over it and splits it into blocks; :mod:`cnnviz.visualize` names its tensors from it.
Nested models come back as one operation each (the caller decides whether to descend).

No TensorFlow import here: functions receive an already-built model.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

INPUT_TYPES = frozenset({"InputLayer"})


# --------------------------------------------------------------------------- shapes

def as_tuple(shape: Any) -> tuple | None:
    """A Keras/TensorFlow shape as a tuple of ints and None (None when it has no rank)."""
    if shape is None:
        return None
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except TypeError:
        return None


def first_shape(shape: Any) -> tuple | None:
    """The first of several output shapes (a list), or the shape itself."""
    if isinstance(shape, list):
        return shape[0] if shape else None
    return shape


def format_shape(shape: Any, *, batch: bool = False) -> str:
    """``(None, 56, 56, 256)`` → ``"56×56×256"`` (``"?"`` for unknown sizes).

    The batch dimension is dropped unless ``batch``; a list of shapes (a layer with several
    outputs) is joined with commas; ``None`` gives ``""`` and a batch-only shape ``"scalar"``.
    """
    if shape is None:
        return ""
    if isinstance(shape, list):
        return ", ".join(format_shape(s, batch=batch) for s in shape)
    dims = tuple(shape) if batch else tuple(shape)[1:]
    return "×".join("?" if d is None else str(d) for d in dims) or "scalar"


# --------------------------------------------------------------------------- walk

@dataclass
class Op:
    """One operation of a model graph (a layer, a nested model or a plain op like ``x + y``).

    ``preds``/``succs`` are indices into the list :func:`walk` returns; ``calls`` counts the
    times a shared layer is applied inside this graph.
    """

    op: Any
    name: str
    type: str
    preds: list[int]
    succs: list[int] = field(default_factory=list)
    input_shapes: list[tuple | None] = field(default_factory=list)
    output_shape: Any = None
    is_input: bool = False
    calls: int = 1


def functional_of(model):
    """The Functional graph behind ``model`` (a Sequential keeps one privately), or None."""
    if hasattr(model, "_nodes_by_depth") and hasattr(model, "_operations"):
        return model
    inner = getattr(model, "_functional", None)
    if inner is not None and hasattr(inner, "_nodes_by_depth"):
        return inner
    return None


def walk(model) -> list[Op]:
    """The operations of ``model`` in topological order, with edges and shapes.

    A subclassed model (or an unbuilt Sequential) has no graph to read: its layers come
    back as a chain, with shapes when Keras knows them.
    """
    functional = functional_of(model)
    if functional is None:
        ops = []
        for i, layer in enumerate(getattr(model, "layers", [])):
            out = None
            try:
                out = as_tuple(layer.output.shape)
            except Exception:  # unbuilt / multi-node layer: no static shape
                pass
            ops.append(Op(layer, layer.name, type(layer).__name__, [i - 1] if i else [], output_shape=out))
        for i in range(len(ops) - 1):
            ops[i].succs.append(i + 1)
        for i in range(1, len(ops)):
            ops[i].input_shapes = [ops[i - 1].output_shape]
        return ops

    nodes = [n for depth in sorted(functional._nodes_by_depth, reverse=True) for n in functional._nodes_by_depth[depth]]
    node_ids = {id(n) for n in nodes}
    operations = list(functional._operations)
    index_of = {id(op): i for i, op in enumerate(operations)}
    ops = [Op(op, op.name, type(op).__name__, []) for op in operations]
    for op_index, op in enumerate(operations):
        own = [n for n in op._inbound_nodes if id(n) in node_ids]
        ops[op_index].calls = max(1, len(own))
        if not own:
            continue
        node = own[0]
        ops[op_index].is_input = bool(getattr(node, "is_input", False)) or type(op).__name__ in INPUT_TYPES
        ops[op_index].input_shapes = [as_tuple(t.shape) for t in node.input_tensors]
        outs = [as_tuple(t.shape) for t in node.outputs]
        ops[op_index].output_shape = outs[0] if len(outs) == 1 else outs
        preds = []
        for n in own:
            for parent in n.parent_nodes:
                p = index_of.get(id(parent.operation))
                if p is not None and p not in preds and p != op_index:
                    preds.append(p)
        ops[op_index].preds = preds
    for i, o in enumerate(ops):
        for p in o.preds:
            ops[p].succs.append(i)
    return _toposort(ops)


def _toposort(ops: list[Op]) -> list[Op]:
    """Stable topological order (Keras' operation order already is one; this guards it)."""
    indegree = [len(o.preds) for o in ops]
    ready = [i for i, d in enumerate(indegree) if d == 0]
    order: list[int] = []
    heapq.heapify(ready)
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for s in ops[i].succs:
            indegree[s] -= 1
            if indegree[s] == 0:
                heapq.heappush(ready, s)
    if len(order) != len(ops):  # a cycle cannot happen in a Keras graph; keep Keras' order
        return ops
    if order == list(range(len(ops))):
        return ops
    remap = {old: new for new, old in enumerate(order)}
    out = []
    for old in order:
        o = ops[old]
        o.preds = [remap[p] for p in o.preds]
        o.succs = [remap[s] for s in o.succs]
        out.append(o)
    return out


def trunk(ops: list[Op]) -> list[int]:
    """Indices of the operations every input→output path goes through, in order.

    They are the dominators of a virtual sink fed by every output, computed on the DAG
    in topological order (Cooper–Harvey–Kennedy intersection with depths).
    """
    n = len(ops)
    source = n
    idom = [-1] * (n + 2)
    depth = [0] * (n + 2)
    idom[source] = source

    def intersect(a: int, b: int) -> int:
        while a != b:
            while depth[a] > depth[b]:
                a = idom[a]
            while depth[b] > depth[a]:
                b = idom[b]
            if a != b:
                a, b = idom[a], idom[b]
        return a

    for i, o in enumerate(ops):
        # Only edges from earlier ops: a layer shared at two depths would otherwise make a cycle.
        preds = [p for p in o.preds if p < i] or [source]
        d = preds[0]
        for p in preds[1:]:
            d = intersect(d, p)
        idom[i], depth[i] = d, depth[d] + 1
    outputs = [i for i, o in enumerate(ops) if not o.succs] or [n - 1]
    d = outputs[0]
    for p in outputs[1:]:
        d = intersect(d, p)
    chain = []
    while d != source:
        chain.append(d)
        d = idom[d]
    return sorted(chain)
