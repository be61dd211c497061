"""Callback options of every run (names, Keras defaults sized for short runs). No TensorFlow."""

from __future__ import annotations

from typing import Any, Iterable

from cnnviz.training.store import TrainingError

CALLBACK_OPTIONS = ("early_stopping", "reduce_lr", "checkpoint", "csv_logger", "tensorboard")
DEFAULT_OPTIONS: dict[str, dict] = {
    # Keras' own defaults, with patience sized for short classroom runs.
    "early_stopping": {"monitor": "val_loss", "patience": 3, "restore_best_weights": True},
    "reduce_lr": {"monitor": "val_loss", "factor": 0.5, "patience": 1, "min_lr": 1e-5},
    "checkpoint": {"monitor": "val_loss", "save_best_only": True},
    "csv_logger": {},
    # Epoch scalars (+ the graph); histograms and images would need the `tensorboard` package
    # (see cnnviz.training.tensorboard_logs): off, as in Keras.
    "tensorboard": {"histogram_freq": 0, "write_graph": True, "write_images": False, "update_freq": "epoch",
                    "profile_batch": 0},
}


def parse_callbacks(callbacks: Iterable[Any]) -> dict[str, dict]:
    """``("early_stopping", {"reduce_lr": {"factor": 0.2}})`` → {option: keyword arguments}.

    Raises:
        TrainingError: an option that does not exist (the message lists those that do).
    """
    out: dict[str, dict] = {}
    items: list[tuple[str, dict]] = []
    for item in callbacks or ():
        if isinstance(item, str):
            items.append((item, {}))
        elif isinstance(item, dict):
            items.extend((k, dict(v or {})) for k, v in item.items())
        else:
            raise TrainingError("training.error.callback", value=repr(item), available=", ".join(CALLBACK_OPTIONS))
    for name, kwargs in items:
        key = name.strip().lower().replace("-", "_")
        if key not in CALLBACK_OPTIONS:
            raise TrainingError("training.error.callback", value=name, available=", ".join(CALLBACK_OPTIONS))
        out[key] = {**DEFAULT_OPTIONS[key], **kwargs}
    return out
