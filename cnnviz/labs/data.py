"""The data of a lab run: a built-in dataset (:mod:`cnnviz.datasets`) or a user's zip of class
folders, read by the homework intake (safe zip/folder reading, refused files, its clear
errors) and shaped by :func:`cnnviz.datasets.from_folders`. Here, not in ``datasets``, so the
data layer depends on no feature. No TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from cnnviz import datasets
from cnnviz.homework import intake


def check_source(source: Path) -> None:
    """Fail fast (before a run is queued) when a user's zip or folder does not exist.

    Raises:
        cnnviz.homework.DatasetError: the intake's own "not found" error.
    """
    if not Path(source).exists():
        raise intake.DatasetError("homework.error.not_found", path=str(source))


def load_data(name: str = "digits", subset: int | None = None, seed: int = 0, val_split: float = 0.2, *,
              test_split: float = 0.2, size: int = datasets.DEFAULT_SIZE, channels: int = 3,
              progress: datasets.Progress | None = None) -> datasets.Dataset:
    """:func:`cnnviz.datasets.load`, or for the path of a user's zip (:func:`cnnviz.datasets.user_source`)
    the intake's reading of it.

    Raises:
        what :func:`cnnviz.datasets.load` raises; for a user's zip also
        cnnviz.homework.ArchiveError / cnnviz.homework.DatasetError (unsafe, not a zip, fewer
        than 2 classes or 5 images a class).
    """
    source = datasets.user_source(name)
    if source is None:
        return datasets.load(name, subset, seed, val_split, test_split=test_split, size=size, channels=channels,
                             progress=progress)
    if not (0.0 < float(val_split) < 1.0):
        raise datasets.DatasetError("datasets.error.val_split", value=val_split)
    folders = intake.load_dataset(source, name=datasets.user_label(source))  # messages name the uploaded file
    return datasets.from_folders(folders, source, subset, seed, val_split, test_split=test_split, size=size,
                                 channels=channels)
