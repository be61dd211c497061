"""Running a lab: data, models, training through the run machinery, and the lab's measurements.

Imports TensorFlow/Keras at the top: call it from a worker thread or a script.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from cnnviz import datasets, zoo
from cnnviz.labs import builders
from cnnviz.labs.data import load_data
from cnnviz.labs.registry import Lab, LabModel, bn_momentum_for, check_settings, get_lab
from cnnviz.training.fit import local_context, train_model
from cnnviz.training.manager import RunContext


@dataclass
class LabResult:
    """What a lab run produced. ``models[name]`` holds at least ``params``, ``seconds`` and
    ``history`` (Keras' ``History.history``: loss, accuracy, val_loss, val_accuracy per epoch)."""

    lab_id: str
    dataset: str
    settings: dict
    models: dict[str, dict] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    dataset_description: str = ""
    stopped: bool = False
    seconds: float = 0.0
    run_id: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> list[dict]:
        """One row per model: params, MACs, best val accuracy, train–val gap, epoch time, test accuracy."""
        keys = ("params", "macs", "best_val_accuracy", "final_train_accuracy", "final_val_accuracy",
                "train_val_gap", "epoch_seconds_mean", "seconds", "test_accuracy", "epochs_run")
        return [{"model": name, **{k: m.get(k) for k in keys}} for name, m in self.models.items()]


def build(spec: LabModel, input_shape: tuple[int, int, int], classes: int) -> keras.Model:
    if spec.source == "lab":
        return builders.BUILDERS[spec.build](input_shape, classes, **spec.options)
    kwargs = dict(spec.options)
    if zoo.get_spec(spec.build).accepts_input_size:
        kwargs["input_shape"] = input_shape
    model = zoo.create_model(spec.build, weights=None, classes=classes, **kwargs)
    if tuple(model.input_shape[1:]) != tuple(input_shape):
        raise ValueError(f"{spec.build} takes {model.input_shape[1:]}, the data are {input_shape}")
    return model


def nested_layers(model):
    """Every layer of ``model``, those inside nested sub-models included (depth first)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from nested_layers(layer)


def gradient_norms(model: keras.Model, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """L2 norm of the loss gradient w.r.t. each convolution/dense kernel, on one batch (training mode)."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    kernels = [w for w in model.trainable_weights if w.path.endswith("kernel")]
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, kernels)
    return {w.path.rsplit("/", 1)[0]: float(tf.norm(g)) for w, g in zip(kernels, grads) if g is not None}


class _GradNormsAfterFirstEpoch(keras.callbacks.Callback):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.norms = x, y, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.norms = gradient_norms(self.model, self.x, self.y)


def excitation(model: keras.Model, image: np.ndarray) -> dict[str, list[float]]:
    """The SE blocks' channel weights (sigmoid outputs, ``se*_excite``) for one image."""
    layers = [layer for layer in model.layers if layer.name.endswith("_excite")]
    probe = keras.Model(model.input, [layer.output for layer in layers])
    outs = probe(image[None], training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return {layer.name: np.asarray(o)[0].round(6).tolist() for layer, o in zip(layers, outs)}


def run_lab(lab_id: str, dataset: str = "digits", epochs: int | None = None, subset: int | None = None,
            seed: int = 0, callbacks: Iterable = (), on_progress: Callable[[dict], None] | None = None, *,
            models: Iterable[str] | None = None, context: RunContext | None = None,
            data_progress: Callable[[int, int | None], None] | None = None,
            val_split: float | None = None) -> LabResult:
    """Train the lab's networks on the same data, seed and budget; measure what the lab teaches.

    Args:
        lab_id: one of :func:`cnnviz.labs.list_labs`.
        dataset: "digits" (offline stand-in), "cifar10", "mnist", "fashion_mnist", or the path of
            a user's zip of one folder per class (read by the homework intake; default subset: all).
        epochs, subset: None means the lab's default.
        seed: fixes data draw, split, initial weights, shuffling and augmentation.
        callbacks: options of every run ("early_stopping", "reduce_lr", "checkpoint",
            "csv_logger", "tensorboard", or {name: kwargs}); default: the lab's own.
        on_progress: called with {"kind": "model_start"|"epoch"|"model_end", ...}.
        models: a subset of the lab's model names (e.g. two of the five CIFAR versions).
        context: the run this belongs to (given by ``RunManager``); None = memory only.
        val_split: share of the drawn images kept for validation (None: the lab's, 0.2).

    Raises:
        LabError / DatasetError / TrainingError (all ``UserFacingError``).
    """
    from cnnviz.inspect import summarize  # noqa: I001 (after TF: inspect is heavy)

    settings = check_settings(lab_id, dataset, epochs, subset, seed, callbacks, val_split=val_split, models=models)
    lab: Lab = get_lab(lab_id)
    chosen = [m for m in lab.models if m.name in settings["models"]]
    ctx = context or local_context(f"lab-{lab.id}")
    t_start = time.perf_counter()
    data = load_data(settings["dataset"], subset=settings["subset"], seed=seed, val_split=settings["val_split"],
                         size=settings["image_size"], progress=data_progress)
    settings["data_sizes"] = data.sizes()
    steps = math.ceil(len(data.x_train) / lab.batch_size)
    settings["bn_momentum"] = bn_momentum = bn_momentum_for(lab.bn_momentum, steps)
    if data.name == datasets.USER:  # what the page and the CLI say about a user's zip
        settings.update({k: data.settings[k] for k in ("source_name", "refused")})
    ctx.plan([m.name for m in chosen])
    result = LabResult(lab_id=lab.id, dataset=data.name, settings=settings, class_names=list(data.class_names),
                       dataset_description=data.description, run_id=ctx.run.run_id)
    first_x, first_y = data.x_train[: lab.batch_size], data.y_train[: lab.batch_size]
    for spec in chosen:
        if ctx.stop_requested:
            break
        keras.utils.set_random_seed(seed)
        model = build(spec, data.input_shape, data.num_classes)
        if bn_momentum is not None:  # short runs: see Lab.bn_momentum
            for layer in nested_layers(model):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = bn_momentum
        summary = summarize(model)
        extra_cbs = []
        info: dict[str, Any] = {}
        if "grad_norms" in lab.extras:
            info["grad_norms_init"] = gradient_norms(model, first_x, first_y)
            keras.utils.set_random_seed(seed)  # the probe must not change what training sees
            after = _GradNormsAfterFirstEpoch(first_x, first_y)
            extra_cbs.append(after)
        out = train_model(ctx, spec.name, model, data, epochs=settings["epochs"], batch_size=lab.batch_size,
                          seed=seed, learning_rate=lab.learning_rate, callbacks=settings["callbacks"],
                          on_progress=on_progress, extra_callbacks=extra_cbs)
        hist = out["history"]
        val_acc = hist.get("val_accuracy") or [float("nan")]
        train_acc = hist.get("accuracy") or [float("nan")]
        entry = {"params": int(model.count_params()), "macs": summary.macs, **out,
                 "best_val_accuracy": float(np.nanmax(val_acc)), "final_train_accuracy": float(train_acc[-1]),
                 "final_val_accuracy": float(val_acc[-1]), "train_val_gap": float(train_acc[-1] - val_acc[-1]),
                 "final_loss": float(hist["loss"][-1]) if hist.get("loss") else float("nan"),
                 "epoch_seconds_mean": float(np.mean(out["epoch_seconds"])) if out["epoch_seconds"] else None}
        if "grad_norms" in lab.extras:
            entry["grad_norms"] = {"layers": list(info["grad_norms_init"]), "init": info["grad_norms_init"],
                                   "after_epoch1": extra_cbs[0].norms}
        if "excitation" in lab.extras and any(layer.name.endswith("_excite") for layer in model.layers):
            result.extras.setdefault("excitation", {})
            result.extras["excitation"] = {"image_index": 0, "label": int(data.y_test[0]),
                                           "class": data.class_names[int(data.y_test[0])],
                                           "layers": excitation(model, data.x_test[0])}
        result.models[spec.name] = entry
    result.stopped = bool(ctx.stop_requested)
    result.seconds = time.perf_counter() - t_start
    return result
