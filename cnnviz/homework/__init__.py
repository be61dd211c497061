"""The homework studio: the course's verifiable homework (class 130), end to end.

Compare ResNet50, EfficientNetB0, MobileNetV3Small and ConvNeXtTiny on the student's own
≥ 5-class image dataset by transfer learning (feature extraction, then fine-tuning), and
report accuracy, parameters and inference time against the acceptance criterion
("ConvNeXt or EfficientNet win accuracy, MobileNet wins speed, ResNet is the baseline").

>>> from cnnviz import homework
>>> ds = homework.load_dataset("my_photos.zip")           # doctest: +SKIP
>>> result = homework.run(ds, fe_epochs=5, ft_epochs=5)   # doctest: +SKIP  (TensorFlow)
>>> result.models["mobilenetv3small"]["inference_ms"], result.verdict["status"]  # doctest: +SKIP

Light to import: :func:`load_dataset` needs only Pillow; :func:`run` imports TensorFlow when
called. In the app, :func:`start` queues the run on a :class:`cnnviz.training.RunManager`
(background, Stop, kept on disk).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from cnnviz import HOMEWORK_MODELS
from cnnviz.homework.intake import (
    MIN_PER_CLASS,
    ArchiveError,
    DatasetError,
    HomeworkDataset,
    HomeworkWeightsError,
    IntakeStopped,
    Item,
    Refused,
    load_dataset,
    reading_slot,
    server_folder,
    server_roots,
    upload_limit_mb,
)
from cnnviz.homework.options import AUGMENT_VIEWS, UNFREEZE_DEFAULT, OptionError, parse_augment, parse_unfreeze
from cnnviz.homework.sample import load_sample, sample_zip

HOMEWORK_FOUR = tuple(HOMEWORK_MODELS)
"""ResNet50, EfficientNetB0, MobileNetV3Small, ConvNeXtTiny."""

KIND = "homework"
"""``kind`` of homework runs in :class:`cnnviz.training.RunManager`."""


def run(dataset, models: Iterable[str] = HOMEWORK_FOUR, fe_epochs: int | None = None, ft_epochs: int | None = None,
        seed: int = 0, on_progress: Callable[[dict], None] | None = None, **kwargs: Any):
    """Transfer learning of ``models`` on ``dataset``, both phases, with the homework's verdict.

    Args:
        dataset: a :class:`HomeworkDataset`, or a zip/folder path (or zip bytes) for :func:`load_dataset`.
        models: zoo names with ImageNet weights (default the homework's four).
        fe_epochs / ft_epochs: epochs of feature extraction / fine-tuning (None: 10 / 10;
            ``ft_epochs=0`` skips fine-tuning).
        seed: fixes the split, the head's initial weights and the shuffling.
        on_progress: called with {"kind": "phase"|"model_start"|"epoch"|"model_end", "model", ...}.
        **kwargs: ``random_weights`` (no ImageNet: results meaningless), ``unfreeze`` ("stage", the
            default, or N layers), ``augment`` (None, "flip" or "flip,crop": fixed extra views of the
            training images, see :mod:`cnnviz.homework.options`), ``image_size``, ``cache_features``,
            ``batch_size``, ``inference_runs``, ``context`` (a run's ``RunContext``), ``save_dir``
            (where the fine-tuned ``.keras`` go).

    Returns:
        :class:`cnnviz.homework.transfer.HomeworkResult`: ``models[name]`` has ``fe_accuracy``,
        ``ft_accuracy`` (test split), ``params``, ``trainable_params_fe``, ``trainable_params_ft``,
        ``inference_ms``, ``train_seconds`` (and ``fe_val_accuracy``/``ft_val_accuracy``,
        ``train_examples``, curves, confusion, times); ``verdict``.

    Raises:
        DatasetError / ArchiveError: an unusable dataset. HomeworkWeightsError: weights missing offline.
    """
    from cnnviz.homework import transfer  # heavy: TF

    if not isinstance(dataset, HomeworkDataset):
        dataset = load_dataset(dataset)
    return transfer.run(dataset, models, fe_epochs, ft_epochs, seed, on_progress, **kwargs)


def start(manager, dataset: HomeworkDataset, models: Iterable[str] = HOMEWORK_FOUR, *, owner: str | None = None,
          **settings: Any):
    """Queue :func:`run` on ``manager`` (a :class:`cnnviz.training.RunManager`); returns the ``Run``."""
    models = list(models)
    # Refuse a bad choice now, in the page, rather than in the worker minutes later.
    if "unfreeze" in settings:
        settings["unfreeze"] = parse_unfreeze(settings["unfreeze"])
    if "augment" in settings:
        settings["augment"] = ",".join(parse_augment(settings["augment"]))
    params = {"dataset": dataset.name, "classes": list(dataset.class_names), "images": len(dataset.items),
              "models": models, **{k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool, type(None)))}}
    held = [dataset]  # the job takes the dataset out: a finished (or failed) run holds no reference to it

    def job(ctx):
        return run(held.pop(), models, context=ctx, **settings)

    return manager.submit(job, kind=KIND, params=params, title=dataset.name, owner=owner)


__all__ = ["AUGMENT_VIEWS", "HOMEWORK_FOUR", "KIND", "MIN_PER_CLASS", "UNFREEZE_DEFAULT", "ArchiveError", "DatasetError",
           "HomeworkDataset", "HomeworkWeightsError", "IntakeStopped", "Item", "OptionError", "Refused", "load_dataset", "load_sample",
           "parse_augment", "parse_unfreeze", "reading_slot", "run", "sample_zip", "server_folder", "server_roots",
           "start", "upload_limit_mb"]
