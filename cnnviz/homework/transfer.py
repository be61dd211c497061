"""Transfer learning of zoo models on a homework dataset: feature extraction, then fine-tuning.

Imports TensorFlow/Keras at the top: the worker thread or a script imports it.

Per model (Keras' "Transfer learning & fine-tuning" guide):

1. **Feature extraction.** The base (``include_top=False``, ImageNet weights) is frozen and
   called with ``training=False``; a new head (global average pooling, dropout, dense softmax)
   is trained. The frozen base gives the same output for an image every epoch, so its feature
   maps are computed once per image (the *feature cache*) and the head trains on them: the
   same training as the full pass (``cache_features=False``), hundreds of times cheaper.
2. **Fine-tuning.** The top of the base is unfrozen — by default its last block
   (:data:`DEFAULT_UNFREEZE`, :data:`UNFREEZE_BLOCK`), or the last stage, the layers that work at
   the final resolution (:data:`UNFREEZE_FROM`), or the last N layers: the top holds the most
   task-specific features; earlier layers keep ImageNet's generic edges and textures, and a
   small dataset would only overfit them. Batch-norm layers stay frozen and in inference mode
   (their statistics came from 1.2 M images; 150 would ruin them). Recompiled with a low rate
   (1e-5), with EarlyStopping (best weights restored) and ReduceLROnPlateau. The layers below
   the cut do not change, so their output (the activations at the cut) is computed once too.
   ``unfreeze=N`` unfreezes (at least) the last N layers instead (:mod:`cnnviz.homework.options`).

Augmentation (``augment="flip"`` / ``"flip,crop"``, off by default) adds *fixed* views of every
training image (:func:`cnnviz.homework.options.augment_views`): the head then trains on 2× (3×)
the examples, and both caches simply hold one entry per image and per view — no augmentation
here needs the full forward pass, so the caches stay on (see :mod:`cnnviz.homework.options`).

The frozen base runs over the images **once**: to the cut (the activations fine-tuning trains
on), and from there the short top gives the features of phase 1 — one pass instead of two, in a
compiled graph (ConvNeXt's grouped convolutions retrace per call in eager mode).

Training goes through :func:`cnnviz.training.fit.train_model`, so a homework run has the
labs' live curves, Stop and on-disk record.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from cnnviz import cache, fileio, graph, zoo
from cnnviz.homework import options
from cnnviz.homework import verdict as verdict_mod
from cnnviz.homework.intake import DatasetError, HomeworkDataset, HomeworkWeightsError, to_array
from cnnviz.infer import dtype_policy
from cnnviz.training.fit import local_context, train_model
from cnnviz.training.manager import RunContext

DEFAULT_FE_EPOCHS = 10
DEFAULT_FT_EPOCHS = 10
FE_LEARNING_RATE = 1e-3
FT_LEARNING_RATE = 1e-5
DROPOUT = 0.2
BATCH_SIZE = 16
INFERENCE_RUNS = 10
CACHE_LIMIT_BYTES = 1_500_000_000
"""Largest activation cache for fine-tuning; above it the full forward pass is used instead."""

DEFAULT_UNFREEZE = options.UNFREEZE_DEFAULT
"""What fine-tuning unfreezes by default (the last block; :mod:`cnnviz.homework.options` says why)."""

UNFREEZE_BLOCK = {
    # First layer of each homework model's last block (a residual block, or EfficientNet's last MBConv).
    "resnet50": "conv5_block3_1_conv",
    "efficientnetb0": "block7a_expand_conv",
    "mobilenetv3small": "expanded_conv_10_expand",
    "convnexttiny": "convnext_tiny_stage_3_block_2_depthwise_conv",
}

UNFREEZE_FROM = {
    # First layer of each homework model's last stage (the stage at the final 7×7 resolution).
    "resnet50": "conv5_block1_1_conv",
    "efficientnetb0": "block6a_expand_conv",
    "mobilenetv3small": "expanded_conv_8_expand",
    "convnexttiny": "convnext_tiny_downsampling_block_2",
}


@dataclass
class HomeworkResult:
    """What a homework run produced: one entry per model, the verdict, the settings."""

    models: dict[str, dict] = field(default_factory=dict)
    verdict: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    split: dict = field(default_factory=dict)
    device: str = "CPU"
    random_weights: bool = False
    stopped: bool = False
    seconds: float = 0.0
    run_id: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> list[dict]:
        keys = ("fe_val_accuracy", "fe_accuracy", "ft_val_accuracy", "ft_accuracy", "params", "trainable_params_fe",
                "trainable_params_ft", "inference_ms", "train_seconds")
        return [{"model": n, **{k: m.get(k) for k in keys}} for n, m in self.models.items()]


class _Arrays:
    """The ``Dataset`` shape ``train_model`` reads (x/y per split, class names)."""

    def __init__(self, x: dict, y: dict, class_names):
        self.x_train, self.x_val, self.x_test = x["train"], x["val"], x["test"]
        self.y_train, self.y_val, self.y_test = y["train"], y["val"], y["test"]
        self.class_names = tuple(class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# --------------------------------------------------------------------------- building blocks

def check_weights(models: Iterable[str]) -> None:
    """Make sure each model's "notop" ImageNet file is cached (downloading it when online).

    Raises:
        HomeworkWeightsError: the files that could not be had, and what to do.
    """
    from cnnviz.zoo import pretrained

    missing, reason = [], ""
    for name in models:
        try:
            pretrained.fetch_weights(name, include_top=False)
        except cache.CacheError as exc:
            missing.append(zoo.get_spec(name).display_name)
            reason = reason or str(exc)
    if missing:
        raise HomeworkWeightsError("homework.error.weights_missing", models=", ".join(missing), reason=reason)


def input_size(name: str, image_size: int | None = None) -> tuple[int, int]:
    """The model's native input size, or ``image_size`` for a model that accepts other sizes."""
    spec = zoo.get_spec(name)
    if image_size and spec.accepts_input_size:
        return (int(image_size), int(image_size))
    return tuple(spec.input_shape[:2])


def real_weights_anyway(name: str, random_weights: bool) -> bool:
    """In a random-weights run, a model whose ImageNet weights ship with the install
    (EfficientNet-Lite0) keeps them: the offline demo then shows transfer learning with real
    features next to the random bases. Such a model is an extra, left out of the verdict."""
    return bool(random_weights) and zoo.get_spec(name).installed is not None


def build_base(name: str, random_weights: bool, size: tuple[int, int] | None = None) -> keras.Model:
    shape = None if size is None else (*size, 3)
    return zoo.create_model(name, weights=None if random_weights else "imagenet", include_top=False,
                            input_shape=shape)


def build_head(feature_shape: tuple, classes: int, *, dropout: float = DROPOUT, seed: int = 0,
               name: str = "head") -> keras.Model:
    """Global average pooling → dropout → dense softmax, on the base's feature maps."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(feature_shape, name=f"{name}_features")
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(inp)
    x = keras.layers.Dropout(dropout, seed=seed, name=f"{name}_dropout")(x)
    out = keras.layers.Dense(classes, activation="softmax", name=f"{name}_dense")(x)
    return keras.Model(inp, out, name=name)


def full_model(base: keras.Model, head: keras.Model, name: str) -> keras.Model:
    """Images → base (always in inference mode) → head: the model the student downloads."""
    inp = keras.Input(base.input_shape[1:], name="image")
    return keras.Model(inp, head(base(inp, training=False)), name=f"{name}_transfer")


def unfreeze_point(base: keras.Model, name: str, unfreeze: str | int = DEFAULT_UNFREEZE) -> tuple[int, Any]:
    """Where fine-tuning starts: (index in ``graph.walk(base)``, the tensor at the cut).

    The cut is a *trunk* tensor (every path from input to output goes through it), so the
    layers below it are a model of their own whose output can be cached.

    Args:
        unfreeze: "block" (the last block, :data:`UNFREEZE_BLOCK`), "stage" (the last stage,
            :data:`UNFREEZE_FROM`; for another model either means the layers at the final
            resolution) or N (at least the last N operations).
    """
    ops = graph.walk(base)
    trunk = [i for i in graph.trunk(ops) if not ops[i].is_input]
    if isinstance(unfreeze, (int, np.integer)) and not isinstance(unfreeze, bool):
        first = max(1, len(ops) - int(unfreeze))
    else:
        names = [o.name for o in ops]
        target = (UNFREEZE_BLOCK if str(unfreeze) == "block" else UNFREEZE_FROM).get(name)
        if target in names:
            first = names.index(target)
        else:
            final = tuple(base.output_shape[1:3])
            first = next(i for i, o in enumerate(ops) if isinstance(o.output_shape, tuple)
                         and len(o.output_shape) == 4 and tuple(o.output_shape[1:3]) == final)
    candidates = [i for i in trunk if i < first]
    cut = max(candidates) if candidates else 0
    return cut, ops[cut].op.output


def set_trainable_top(base: keras.Model, top: keras.Model) -> list[str]:
    """Unfreeze the layers of ``top`` (shared with ``base``) except batch-norm; return their names."""
    top_ids = {id(layer) for layer in top.layers}
    base.trainable = True
    unfrozen = []
    for layer in base.layers:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = id(layer) in top_ids and not is_bn
        if layer.trainable and layer.weights:
            unfrozen.append(layer.name)
    return unfrozen


def _count(weights) -> int:
    return int(sum(int(np.prod(w.shape)) for w in weights))


def forward(model: keras.Model, x: np.ndarray, name: str | None, ctx: RunContext | None = None,
            batch: int = 32) -> np.ndarray | None:
    """``model(preprocess(x), training=False)`` batch by batch; None when Stop is pressed in between.

    ``name`` None: ``x`` is already the model's input (activations), no preprocessing. More than
    one batch runs through one compiled graph (traced once, for any batch size): eager calls
    cost more per image than the trace (ConvNeXt's grouped convolutions even retrace per call).
    """
    graph_fn = None
    if len(x) > batch:
        graph_fn = tf.function(lambda v: model(v, training=False), reduce_retracing=True,
                               input_signature=[tf.TensorSpec((None, *x.shape[1:]), tf.float32)])
    outs = []
    for i in range(0, len(x), batch):
        if ctx is not None and ctx.stop_requested:
            return None
        xb = x[i:i + batch] if name is None else zoo.preprocess_input(name, x[i:i + batch])
        xb = tf.constant(np.asarray(xb, np.float32))
        out = graph_fn(xb) if graph_fn is not None else model(xb, training=False)
        outs.append(np.asarray(out, dtype=np.float32))  # float16 under mixed precision
    return np.concatenate(outs) if outs else None


def forward_parts(model: keras.Model, images: dict[str, np.ndarray], name: str | None,
                  ctx: RunContext | None = None) -> dict[str, np.ndarray] | None:
    """:func:`forward` over train, val and test in one pass (one trace), split back."""
    order = ("train", "val", "test")
    out = forward(model, np.concatenate([images[p] for p in order]), name, ctx)
    if out is None:
        return None
    sizes = np.cumsum([len(images[p]) for p in order])[:-1]
    return dict(zip(order, np.split(out, sizes)))


def inference_ms(name: str, model: keras.Model, x_one: np.ndarray, runs: int = INFERENCE_RUNS) -> tuple[float, str]:
    """Median ms per image, measured as the Classify page does (compiled, batch of 1, same device)."""
    from cnnviz import infer  # the Classify page's predictor: same device choice, same timing

    predictor = infer.load_predictor(name, None, model=model, runs=runs)
    _, times = predictor.run_compiled(x_one[None].astype(np.float32), runs)
    return float(statistics.median(times)), predictor.device.label("en")


def batch_probabilities(model: keras.Model, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Class probabilities, eagerly, batch by batch (no predict graph to trace for a few images)."""
    return np.concatenate([np.asarray(model(tf.constant(x[i:i + batch]), training=False))
                           for i in range(0, len(x), batch)])


def _accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    return float((batch_probabilities(model, x).argmax(-1) == y).mean()) if len(x) else float("nan")


# --------------------------------------------------------------------------- one model

@dataclass
class TrainedModels:
    """The live Keras objects of one model's homework run, given to ``run(on_trained=...)``.

    ``base`` (the zoo network, its top unfrozen after fine-tuning), ``head`` (the classifier),
    ``final`` (base + head: the deliverable), ``fe_head_weights`` (the head's weights right
    after feature extraction, before fine-tuning moved them). Not part of the stored record.
    """

    base: Any
    head: Any
    final: Any
    fe_head_weights: list


@dataclass
class _Cut:
    """Where fine-tuning cuts the base: the layer index, its tensor, the model above it, and
    whether the one frozen pass keeps the activations there (``shared``) for phase 2."""

    index: int | None = None
    tensor: Any = None
    top: Any = None
    shared: bool = False


def train_one(ctx: RunContext, name: str, images: dict[str, np.ndarray], labels: dict[str, np.ndarray],
              class_names, *, fe_epochs: int, ft_epochs: int, seed: int = 0, random_weights: bool = False,
              unfreeze: str | int = DEFAULT_UNFREEZE, cache_features: bool = True, batch_size: int = BATCH_SIZE,
              inference_runs: int = INFERENCE_RUNS, save_dir=None,
              on_progress: Callable[[dict], None] | None = None,
              on_trained: Callable[[str, TrainedModels], None] | None = None,
              mixed_precision: bool = False) -> dict:
    """Both phases for one zoo model; returns its row (accuracies, params, times, confusion...).

    ``images["train"]`` / ``labels["train"]`` already hold the augmentation views, if any
    (:func:`run` adds them): every cache below is per image and per view.

    ``mixed_precision``: the base, and the models that train through it, compute in float16
    (variables in float32; those models get Keras' loss scaling when compiled); the head stays
    float32 (a softmax in float16 loses small probabilities), and cached features are float32.

    ``on_trained(name, TrainedModels)``: called once the model is trained, with its live Keras objects.
    """
    def policy():
        return dtype_policy("mixed_float16" if mixed_precision else None)

    def phase(p: str, **data):
        ctx.event(name, "phase", None, phase=p, **data)
        if on_progress:
            on_progress({"kind": "phase", "model": name, "phase": p, **data})

    times: dict[str, float] = {}
    entry: dict[str, Any] = {"model": name, "display_name": zoo.get_spec(name).display_name}
    if real_weights_anyway(name, random_weights):
        random_weights = False
        entry["weights"] = "installed"  # ImageNet weights from the install, in a random-weights run
    else:
        entry["weights"] = "random" if random_weights else "imagenet"
    t0 = time.perf_counter()
    phase("build")
    with policy():
        base = build_base(name, random_weights, tuple(images["train"].shape[1:3]))
    base.trainable = False
    times["build_s"] = time.perf_counter() - t0
    # Where fine-tuning will cut, decided first: the one frozen pass stops there when it can.
    cut = _fine_tune_cut(base, name, images, ft_epochs, unfreeze, cache_features)

    # ---- phase 1: feature extraction
    t0 = time.perf_counter()
    features = _features(ctx, name, base, cut, images, cache_features, phase)
    if features is None:
        return {**entry, "stopped": True, "times": times}
    x, xa = features
    times["fe_features_s"] = time.perf_counter() - t0
    head = build_head(tuple(base.output_shape[1:]), len(class_names), seed=seed, name=f"{name}_head")
    with policy():
        model = head if cache_features else full_model(base, head, name)
    phase("head")
    fe = train_model(ctx, f"{name}-fe", model, _Arrays(x, labels, class_names), epochs=fe_epochs,
                     batch_size=batch_size, seed=seed, learning_rate=FE_LEARNING_RATE, on_progress=on_progress,
                     save_model=False)
    times["fe_train_s"] = fe["seconds"]
    entry.update(fe_accuracy=fe["test_accuracy"], fe_val_accuracy=_accuracy(model, x["val"], labels["val"]),
                 fe_history=fe["history"], fe_confusion=fe["confusion"], train_examples=int(len(x["train"])),
                 trainable_params_fe=_count(model.trainable_weights), fe_epochs_run=fe["epochs_run"])
    with policy():
        final = full_model(base, head, name)
    entry["params"] = int(final.count_params())
    fe_head_weights = [w.copy() for w in head.get_weights()] if on_trained else []
    del x
    gc.collect()

    # ---- phase 2: fine-tuning
    entry["ft_accuracy"] = entry["ft_val_accuracy"] = None
    predictor = None
    if ft_epochs > 0 and not ctx.stop_requested:
        predictor = _fine_tune(ctx, entry, times, name, base, head, final, cut, xa, images, labels, class_names,
                               unfreeze=unfreeze, ft_epochs=ft_epochs, batch_size=batch_size, seed=seed,
                               policy=policy, phase=phase, on_progress=on_progress)
    del xa
    if predictor is None:
        predictor = ((head, forward(base, images["test"], name)) if cache_features
                     else (final, zoo.preprocess_input(name, images["test"])))
    entry["test_predictions"] = batch_probabilities(*predictor).argmax(-1).astype(int).tolist()
    entry.setdefault("trainable_params_ft", None)
    entry["confusion"] = entry.get("ft_confusion") or entry["fe_confusion"]

    # ---- inference time and the deliverable model
    phase("inference")
    _deliver(entry, times, name, final, images, inference_runs, save_dir)
    entry["stopped"] = bool(ctx.stop_requested)
    if on_trained:
        on_trained(name, TrainedModels(base=base, head=head, final=final, fe_head_weights=fe_head_weights))
    return entry


def _fine_tune_cut(base: keras.Model, name: str, images: dict[str, np.ndarray], ft_epochs: int,
                   unfreeze: str | int, cache_features: bool) -> _Cut:
    """Where fine-tuning cuts ``base``, and whether its activations fit the cache (no cut without phase 2)."""
    if ft_epochs <= 0:
        return _Cut()
    index, tensor = unfreeze_point(base, name, unfreeze)
    top = keras.Model(tensor, base.output, name=f"{name}_top")
    n_images = sum(len(v) for v in images.values())
    shared = cache_features and n_images * int(np.prod(tuple(tensor.shape[1:]))) * 4 <= CACHE_LIMIT_BYTES
    return _Cut(index, tensor, top, bool(shared))


def _features(ctx: RunContext, name: str, base: keras.Model, cut: _Cut, images: dict[str, np.ndarray],
              cache_features: bool, phase: Callable) -> tuple[dict, dict | None] | None:
    """Phase 1's inputs of the head: ``(features, activations at the cut or None)``; None when stopped.

    With ``cache_features`` the frozen base runs once (stopping at the cut when the activations
    there are kept for phase 2); without, the head trains through the base on preprocessed images.
    """
    if not cache_features:
        return {part: zoo.preprocess_input(name, images[part]) for part in ("train", "val", "test")}, None
    phase("features", images=sum(len(v) for v in images.values()))
    xa = None
    if cut.shared:  # one pass: images → activations at the cut (kept for phase 2) → features
        bottom = keras.Model(base.input, cut.tensor, name=f"{name}_bottom")
        xa = forward_parts(bottom, images, name, ctx)
        x = forward_parts(cut.top, xa, None, ctx) if xa is not None else None
    else:
        x = forward_parts(base, images, name, ctx)
    return None if x is None else (x, xa)


def _fine_tune(ctx: RunContext, entry: dict, times: dict, name: str, base, head, final, cut: _Cut, xa,
               images: dict[str, np.ndarray], labels: dict[str, np.ndarray], class_names, *, unfreeze, ft_epochs: int,
               batch_size: int, seed: int, policy: Callable, phase: Callable,
               on_progress: Callable | None) -> tuple[Any, np.ndarray] | None:
    """Phase 2 (the top of the base unfrozen, a small learning rate); fills ``entry``.

    Returns ``(model, test inputs)`` that predict the test set, or None when it was stopped.
    """
    unfrozen = set_trainable_top(base, cut.top)
    entry["unfreeze"] = {"mode": str(unfreeze), "cut_after": graph.walk(base)[cut.index].name,
                         "first_unfrozen": unfrozen[0] if unfrozen else None, "layers": unfrozen}
    t0 = time.perf_counter()
    entry["ft_cached"] = bool(cut.shared)
    if cut.shared:  # the activations at the cut came from phase 1's pass
        inp = keras.Input(tuple(cut.tensor.shape[1:]), name="activations")
        with policy():
            ft_model = keras.Model(inp, head(cut.top(inp, training=False)), name=f"{name}_finetune")
    else:
        xa = {part: zoo.preprocess_input(name, images[part]) for part in ("train", "val", "test")}
        ft_model = final
    times["ft_cache_s"] = time.perf_counter() - t0
    if len(xa) != 3 or ctx.stop_requested:
        return None
    phase("finetune", layers=len(unfrozen))
    ft = train_model(ctx, f"{name}-ft", ft_model, _Arrays(xa, labels, class_names), epochs=ft_epochs,
                     batch_size=batch_size, seed=seed, learning_rate=FT_LEARNING_RATE,
                     callbacks=({"early_stopping": {"patience": 3, "restore_best_weights": True}},
                                {"reduce_lr": {"factor": 0.2, "patience": 2, "min_lr": 1e-7}}),
                     on_progress=on_progress, save_model=False)
    times["ft_train_s"] = ft["seconds"]
    entry.update(ft_accuracy=ft["test_accuracy"], ft_val_accuracy=_accuracy(ft_model, xa["val"], labels["val"]),
                 ft_history=ft["history"], ft_confusion=ft["confusion"],
                 trainable_params_ft=_count(ft_model.trainable_weights), ft_epochs_run=ft["epochs_run"])
    return ft_model, xa["test"]


def _deliver(entry: dict, times: dict, name: str, final, images: dict[str, np.ndarray], inference_runs: int,
             save_dir) -> None:
    """The deliverable: its inference time on one image, its ``.keras`` file, the rounded times."""
    t0 = time.perf_counter()
    one = zoo.preprocess_input(name, images["test"][:1])[0]
    entry["inference_ms"], entry["device"] = inference_ms(name, final, one, inference_runs)
    times["inference_s"] = time.perf_counter() - t0
    if save_dir is not None:
        t0 = time.perf_counter()
        path = save_dir / f"{name}.keras"
        fileio.save_keras(final, path)
        entry["model_file"] = str(path)
        times["save_s"] = time.perf_counter() - t0
    entry["times"] = {k: round(v, 3) for k, v in times.items()}
    entry["train_seconds"] = round(sum(entry["times"].get(k, 0.0) for k in ("fe_features_s", "fe_train_s",
                                                                            "ft_cache_s", "ft_train_s")), 3)


# --------------------------------------------------------------------------- the homework

def run(dataset: HomeworkDataset, models: Iterable[str], fe_epochs: int | None = None, ft_epochs: int | None = None,
        seed: int = 0, on_progress: Callable[[dict], None] | None = None, *, random_weights: bool = False,
        unfreeze: str | int = DEFAULT_UNFREEZE, cache_features: bool = True, batch_size: int = BATCH_SIZE,
        inference_runs: int = INFERENCE_RUNS, context: RunContext | None = None, save_dir=None,
        on_trained: Callable[[str, TrainedModels], None] | None = None, image_size: int | None = None, augment=None,
        mixed_precision: bool | None = None) -> HomeworkResult:
    """Feature extraction and fine-tuning of ``models`` on ``dataset``; see :func:`cnnviz.homework.run`."""
    from cnnviz import device as device_mod

    names = [zoo.get_spec(str(m).strip().lower()).name for m in models]
    if not names:
        raise DatasetError("homework.error.no_models")
    fe_epochs = DEFAULT_FE_EPOCHS if fe_epochs is None else int(fe_epochs)
    ft_epochs = DEFAULT_FT_EPOCHS if ft_epochs is None else int(ft_epochs)
    if fe_epochs < 1 or ft_epochs < 0:
        raise DatasetError("homework.error.epochs", fe=fe_epochs, ft=ft_epochs)
    unfreeze = options.parse_unfreeze(unfreeze)
    views = options.parse_augment(augment)
    check_weights([n for n in names if not random_weights or real_weights_anyway(n, random_weights)])
    ctx = context or local_context("homework")
    if save_dir is None and ctx.dir is not None:
        save_dir = ctx.dir / "models"
    t_start = time.perf_counter()
    parts = dataset.split(seed)
    labels = {p: dataset.labels[idx] for p, idx in parts.items()}
    labels["train"] = np.tile(labels["train"], 1 + len(views))  # the views follow the originals
    settings = {"models": names, "fe_epochs": fe_epochs, "ft_epochs": ft_epochs, "seed": seed,
                "random_weights": bool(random_weights), "unfreeze": str(unfreeze),
                "augment": options.augment_label(views), "cache_features": cache_features,
                "batch_size": batch_size, "fe_learning_rate": FE_LEARNING_RATE, "ft_learning_rate": FT_LEARNING_RATE,
                "dropout": DROPOUT, "inference_runs": inference_runs, "image_size": image_size, "val_fraction": 0.2, "test_fraction": 0.2}
    dev = device_mod.probe()
    # Mixed precision where it pays (a GPU with tensor cores, as the Classify page decides); None: auto.
    mixed = bool(dev.mixed_precision if mixed_precision is None else mixed_precision)
    settings["mixed_precision"] = mixed
    result = HomeworkResult(settings=settings, dataset=dataset.summary(), class_names=list(dataset.class_names),
                            split={p: [dataset.items[i].path for i in idx] for p, idx in parts.items()},
                            device=f"GPU ({dev.name})" if dev.is_gpu else "CPU", random_weights=bool(random_weights),
                            run_id=ctx.run.run_id)
    ctx.plan([f"{n}-{p}" for n in names for p in (("fe", "ft") if ft_epochs else ("fe",))])
    arrays: dict[tuple, dict[str, np.ndarray]] = {}
    for name in names:
        if ctx.stop_requested:
            break
        size = input_size(name, image_size)
        if size not in arrays:  # the images as this input size sees them, once per size
            arrays[size] = {p: np.stack([to_array(dataset.items[i], size) for i in idx]) for p, idx in parts.items()}
            arrays[size]["train"] = options.augment_views(arrays[size]["train"], views, seed)
        entry = train_one(ctx, name, arrays[size], labels, dataset.class_names, fe_epochs=fe_epochs,
                          ft_epochs=ft_epochs, seed=seed, random_weights=random_weights, unfreeze=unfreeze,
                          cache_features=cache_features, batch_size=batch_size, inference_runs=inference_runs,
                          save_dir=save_dir, on_progress=on_progress, on_trained=on_trained,
                          mixed_precision=mixed)
        result.models[name] = entry
        gc.collect()
    result.stopped = bool(ctx.stop_requested)
    result.seconds = round(time.perf_counter() - t_start, 3)
    # The verdict compares like with like: an installed model with real weights in a random run is an extra.
    complete = {n: m for n, m in result.models.items() if m.get("inference_ms") is not None
                and m.get("weights") != "installed"}
    result.verdict = verdict_mod.evaluate(complete, test_images=len(parts["test"]), device=result.device,
                                          random_weights=random_weights)
    if ctx.dir is not None:
        from cnnviz.homework import report

        report.write_files(result, ctx.dir)
    return result
