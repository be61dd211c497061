"""Training one Keras model inside a run: input pipeline, the bridge callback, options, results.

Imports TensorFlow/Keras at the top: only the worker thread (or a script) imports it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from cnnviz import fileio
from cnnviz.training import store, tensorboard_logs
from cnnviz.training.manager import Run, RunContext
from cnnviz.training.options import CALLBACK_OPTIONS, parse_callbacks  # noqa: F401 (re-exported)

def local_context(kind: str = "script") -> RunContext:
    """A memory-only run for scripts and the CLI (nothing written to disk, never queued)."""
    run = Run(store.new_run_id(kind), kind, {}, kind, job=lambda ctx: None, persist=False)
    run.status, run.started = "running", time.time()
    return RunContext(run)


class _CoreSummary:
    """``tf.summary`` whose ``scalar`` needs no ``tensorboard`` package.

    In TF ≥ 2.16 ``tf.summary.scalar`` lives in the ``tensorboard`` package (TF only keeps a stub
    that raises when it is missing), while the writer, ``tf.summary.write`` and ``graph`` are core
    TF. ``scalar`` below writes exactly what TensorBoard's own ``scalar`` writes (a float32 tensor
    tagged with the "scalars" plugin), so the files read the same in TensorBoard.
    """

    _metadata = None

    def __getattr__(self, name):
        return getattr(tf.summary, name)

    def scalar(self, name, data, step=None, description=None):
        if _CoreSummary._metadata is None:
            # plugin_data.content: TensorBoard's ScalarPluginData(version=0), which serializes to b"".
            _CoreSummary._metadata = tf.compat.v1.SummaryMetadata(
                plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars", content=b""))
        metadata = tf.compat.v1.SummaryMetadata()
        metadata.CopyFrom(_CoreSummary._metadata)
        if description:
            metadata.summary_description = description
        with tf.summary.experimental.summary_scope(name, "scalar_summary", values=[data, step]) as (tag, _):
            return tf.summary.write(tag=tag, tensor=tf.cast(data, tf.float32), step=step, metadata=metadata)


class TensorBoardLogs(keras.callbacks.TensorBoard):
    """Keras' ``TensorBoard`` callback writing with core TF only (:class:`_CoreSummary`).

    Epoch scalars (loss, accuracy, their ``val_`` twins, learning rate) and the model graph;
    ``histogram_freq`` / ``write_images`` still need the ``tensorboard`` package.
    """

    @property
    def summary(self):
        if self._summary_module is None:
            self._summary_module = tf.summary if tensorboard_logs.viewer_installed() else _CoreSummary()
        return self._summary_module


class RunCallback(keras.callbacks.Callback):
    """The one bridge between Keras and a run: metrics per batch/epoch, events, Stop.

    Batch bookkeeping is a few float conversions and list appends under a lock; Keras may
    run it off the training loop (``async_safe``). The Stop flag is read at the start of
    every batch, so Stop ends training after the batch in flight.
    """

    async_safe = True

    def __init__(self, ctx: RunContext, name: str, on_progress: Callable[[dict], None] | None = None):
        super().__init__()
        self.ctx, self.name, self.on_progress = ctx, name, on_progress
        self.epoch = 0
        self._t0 = 0.0
        self._lr: float | None = None
        self.best_val_loss = np.inf
        self.best_epoch: int | None = None

    def _current_lr(self) -> float | None:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except Exception:  # optimizer without a scalar rate (a schedule): nothing to report
            return None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._t0 = time.perf_counter()
        self._lr = self._current_lr()

    def on_train_batch_begin(self, batch, logs=None):
        if self.ctx.stop_requested:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        self.ctx.record_batch(self.name, self.epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        seconds = time.perf_counter() - self._t0
        lr = self._current_lr()
        if lr is not None:
            logs.setdefault("learning_rate", lr)
            if self._lr is not None and lr < self._lr * 0.999:
                self.ctx.event(self.name, "lr_drop", epoch, old=self._lr, new=lr)
        if "val_loss" in logs and logs["val_loss"] < self.best_val_loss:
            self.best_val_loss, self.best_epoch = logs["val_loss"], epoch
        self.ctx.record_epoch(self.name, epoch, logs, seconds)
        if self.on_progress:
            self.on_progress({"kind": "epoch", "model": self.name, "epoch": epoch + 1, "logs": logs,
                              "seconds": seconds})


def pipeline(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int) -> tf.data.Dataset:
    """tf.data: cached in memory, shuffled with ``seed`` each epoch (training), batched, prefetched."""
    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """classes×classes counts: row = true class, column = predicted class."""
    return np.bincount(y_true.astype(np.int64) * classes + y_pred.astype(np.int64),
                       minlength=classes * classes).reshape(classes, classes)


def save_keras_model(model: keras.Model, path) -> None:
    """Save ``model`` to ``path`` (.keras) atomically and durably (:func:`cnnviz.fileio.save_keras`).

    Raises RunDiskFullError / TrainingError like :func:`cnnviz.training.store.write_atomic`.
    """
    try:
        fileio.save_keras(model, path)
    except OSError as exc:
        store.raise_write_error(exc, path)


def train_model(ctx: RunContext, name: str, model: keras.Model, data, *, epochs: int, batch_size: int = 32,
                seed: int = 0, learning_rate: float = 1e-3, callbacks: Iterable[Any] = (),
                on_progress: Callable[[dict], None] | None = None, extra_callbacks: Iterable = (),
                save_model: bool = True) -> dict:
    """Compile (Adam, sparse categorical cross-entropy, accuracy), fit, evaluate on test, save.

    Args:
        data: a :class:`cnnviz.datasets.Dataset` (x/y train, val, test; class_names).
        callbacks: options from :data:`CALLBACK_OPTIONS` (names or {name: kwargs}); their
            events (rate drops, early stop, kept epoch) go to the run's events.

    Returns:
        {"history", "seconds", "epoch_seconds", "epochs_run", "test_accuracy", "confusion",
        "per_class_accuracy", "test_predictions", "test_confidence", "stopped", "best_epoch", "files"};
        the test images and labels go once to the run's ``test_set.npz`` (the page shows them with
        the predictions, without loading the data or the model again).
    """
    options = parse_callbacks(callbacks)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train = pipeline(data.x_train, data.y_train, batch_size, shuffle=True, seed=seed)
    val = pipeline(data.x_val, data.y_val, batch_size, shuffle=False, seed=seed)
    steps = int(np.ceil(len(data.x_train) / batch_size))
    ctx.begin_model(name, epochs=epochs, steps=steps, images=len(data.x_train))  # counts against the budget
    if on_progress:
        on_progress({"kind": "model_start", "model": name, "epochs": epochs, "steps": steps})

    files: dict[str, str] = {}
    keras_cbs: list = []
    es = ckpt = None
    if "early_stopping" in options:
        es = keras.callbacks.EarlyStopping(**options["early_stopping"])
        keras_cbs.append(es)
    if "reduce_lr" in options:
        keras_cbs.append(keras.callbacks.ReduceLROnPlateau(**options["reduce_lr"]))
    if ctx.dir is not None and "checkpoint" in options:
        path = ctx.dir / "checkpoints" / f"{name}.keras"
        path.parent.mkdir(parents=True, exist_ok=True)
        ckpt = keras.callbacks.ModelCheckpoint(str(path), **options["checkpoint"])
        keras_cbs.append(ckpt)
        files["checkpoint"] = str(path)
    if ctx.dir is not None and "csv_logger" in options:
        path = ctx.dir / f"{name}.csv"
        keras_cbs.append(keras.callbacks.CSVLogger(str(path), **options["csv_logger"]))
        files["csv"] = str(path)
    if "tensorboard" in options:
        path = tensorboard_logs.log_root(ctx.dir, ctx.run.run_id) / name
        keras_cbs.append(TensorBoardLogs(log_dir=str(path), **options["tensorboard"]))
        files["tensorboard"] = str(path)
    bridge = RunCallback(ctx, name, on_progress)
    keras_cbs.extend(extra_callbacks)
    keras_cbs.append(bridge)  # last: it sees the rate ReduceLROnPlateau just set

    t0 = time.perf_counter()
    history = model.fit(train, validation_data=val, epochs=epochs, callbacks=keras_cbs, verbose=0,
                        shuffle=False)  # the pipeline shuffles (seeded)
    seconds = time.perf_counter() - t0
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    epochs_run = len(hist.get("loss", []))

    if ctx.stop_requested:
        ctx.event(name, "stopped", epochs_run - 1)
    if es is not None and es.stopped_epoch > 0:
        ctx.event(name, "early_stop", int(es.stopped_epoch))
        if es.restore_best_weights:
            ctx.event(name, "best_epoch", int(es.best_epoch), restored=True)
    if ckpt is not None and bridge.best_epoch is not None:
        ctx.event(name, "checkpoint", int(bridge.best_epoch), path=files["checkpoint"])

    probs = model.predict(pipeline(data.x_test, data.y_test, max(batch_size, 128), shuffle=False, seed=seed),
                          verbose=0)
    pred = probs.argmax(axis=-1)
    cm = confusion_matrix(data.y_test, pred, data.num_classes)
    per_class = (np.diag(cm) / np.maximum(cm.sum(axis=1), 1)).tolist()
    test_acc = float((pred == data.y_test).mean()) if len(pred) else float("nan")
    if ctx.dir is not None:
        np_path = ctx.dir / "confusion" / f"{name}.npy"
        store.write_atomic(np_path, lambda f: np.save(f, cm))
        store.write_json(ctx.dir / "confusion" / f"{name}.json",
                         {"classes": list(data.class_names), "matrix": cm.tolist()})
        if not (ctx.dir / store.TEST_SET).is_file():  # the same test set for every model of the run
            images = (np.clip(data.x_test, 0, 1) * 255).astype(np.uint8)
            store.write_atomic(ctx.dir / store.TEST_SET,
                               lambda f: np.savez_compressed(f, x=images, y=data.y_test.astype(np.int64)))
        if save_model:
            path = ctx.dir / "models" / f"{name}.keras"
            save_keras_model(model, path)
            files["model"] = str(path)
    out = {"history": hist, "seconds": seconds, "epoch_seconds": ctx.epoch_seconds(name),
           "epochs_run": epochs_run, "test_accuracy": test_acc, "confusion": cm.tolist(),
           "per_class_accuracy": per_class, "test_predictions": pred.astype(int).tolist(),
           "test_confidence": [round(float(c), 5) for c in probs.max(axis=-1)], "stopped": bool(ctx.stop_requested),
           "best_epoch": bridge.best_epoch, "files": files}
    ctx.end_model(name, seconds=seconds, test_accuracy=test_acc)
    if on_progress:
        on_progress({"kind": "model_end", "model": name, "seconds": seconds, "test_accuracy": test_acc})
    return out
