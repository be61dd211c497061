"""Pretrained files by model: the zoo's side of the download cache.

Each keras.applications spec carries its ImageNet weights as
:class:`cnnviz.cache.FileRecord`\\ s (``spec.pretrained.top`` / ``.notop``); this module
turns registry names into those records and hands them to :mod:`cnnviz.cache`, which
knows files only. It also owns ImageNet's class index (:data:`IMAGENET_CLASS_INDEX`,
pseudo-name ``"labels"``) and :func:`load_labels`.

Importing it never imports TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import cnnviz
from cnnviz import cache
from cnnviz.cache import EntryStatus, FileRecord, Progress, Removed
from cnnviz.zoo.registry import NoPretrainedWeightsError, get_spec, list_models, list_specs, UnknownModelError

LABELS = "labels"
"""Pseudo model name of ImageNet's class index in :func:`status`, :func:`prefetch`, :func:`clear`."""

IMAGENET_CLASS_INDEX = FileRecord(
    # keras.applications.imagenet_utils.CLASS_INDEX_PATH and the hash decode_predictions pins.
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
    "imagenet_class_index.json", "c2c37ea517e94d9795004a39431a14cb", name=LABELS)


# --------------------------------------------------------------------------- names → records

def pretrained_models() -> list[str]:
    """Registry names that have ImageNet weights, in registry order."""
    return list_models(pretrained=True)


def weights_file(name: str, include_top: bool = True) -> FileRecord:
    """The record of ``name``'s ImageNet weights (``include_top`` False → the "notop" file).

    Raises:
        NoPretrainedWeightsError: ``name`` has no weights file (built from code, or unknown).
    """
    key = str(name).strip().lower()
    try:
        spec = get_spec(key)
    except UnknownModelError:
        spec = None
    if spec is None or spec.name != key or spec.pretrained is None:
        raise NoPretrainedWeightsError("zoo.error.no_weights", name=name, available=", ".join(pretrained_models()))
    return spec.pretrained.file(bool(include_top))


def labels_file() -> FileRecord:
    """The record of ImageNet's class index (``imagenet_class_index.json``)."""
    return IMAGENET_CLASS_INDEX


def all_records() -> list[FileRecord]:
    """Every pretrained file: each model's top and notop file, then the class index."""
    out: list[FileRecord] = []
    for spec in list_specs(pretrained=True):
        out += [spec.pretrained.top, spec.pretrained.notop]
    return [*out, labels_file()]


def records(names: Iterable[str] | str | None = None, include_top: bool | None = True) -> list[FileRecord]:
    """Records of ``names`` ("labels" allowed; None: every model and the labels).

    ``include_top``: True (top files), False (notop), None (both).

    Raises:
        NoPretrainedWeightsError: a name without weights.
    """
    if names is None:
        names = [*pretrained_models(), LABELS]
    if isinstance(names, str):
        names = [names]
    tops = [True, False] if include_top is None else [bool(include_top)]
    out: list[FileRecord] = []
    for name in names:
        if str(name).strip().lower() == LABELS:
            out.append(labels_file())
        else:
            out += [weights_file(name, top) for top in tops]
    return out


# --------------------------------------------------------------------------- fetching

def fetch_weights(name: str, include_top: bool = True, progress: Progress | None = None) -> Path:
    """Path of ``name``'s ImageNet weights in the cache, downloaded (once) if needed.

    Raises:
        NoPretrainedWeightsError: the model has no weights file.
        cnnviz.cache.CacheError: offline, download or hash failure (see :func:`cnnviz.cache.fetch`).
    """
    return cache.fetch(weights_file(name, include_top), progress)


def fetch_labels(progress: Progress | None = None) -> Path:
    """Path of ``imagenet_class_index.json`` in the cache, downloaded (once) if needed."""
    return cache.fetch(labels_file(), progress)


_labels_memo: dict[tuple, list[str]] = {}


def load_labels() -> list[str] | None:
    """ImageNet's 1000 class names in index order ("tench", "goldfish", ..., "tabby", ...).

    Read from the cached class index (underscores become spaces); None when the file
    is absent or damaged. Never downloads: call :func:`fetch_labels` for that.
    """
    entry = labels_file()
    path = cache.path(entry)
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _labels_memo:
        return list(_labels_memo[key])
    if cache.status([entry], verify=True)[0].state != "cached":
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        labels = [str(index[str(i)][1]).replace("_", " ") for i in range(len(index))]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    _labels_memo.clear()
    _labels_memo[key] = labels
    return list(labels)


# --------------------------------------------------------------------------- status, prefetch, verify, clear

def status(names: Iterable[str] | str | None = None, verify: bool = False, *,
           include_top: bool | None = True) -> list[EntryStatus]:
    """State of pretrained files by model name, cheap unless ``verify``.

    Args:
        names: registry names (and/or "labels"). None: every model's top file and the
            labels, plus every "notop" file that is on disk.
        verify: hash every present file (slow for big files).
        include_top: which file of each named model: True (top), False (notop), None (both).

    Raises:
        NoPretrainedWeightsError: a name without weights.
    """
    out = cache.status(records(names, include_top), verify=verify)
    if names is None and include_top is True:
        notops = cache.status(records(pretrained_models(), False), verify=verify)
        out += [s for s in notops if s.state != "missing"]
    return out


def verify(names: Iterable[str] | str | None = None) -> list[EntryStatus]:
    """Hash-check every cached file of ``names`` (default: all, top and notop); corrupt ones are reported."""
    return cache.verify(records(names, None))


def prefetch(names: Iterable[str] | str | None = None,
             progress: Callable[[FileRecord, int, int | None], None] | None = None,
             *, include_top: bool | None = True, labels: bool | None = None) -> list[Path]:
    """Download what is missing so the app works offline afterwards.

    Args:
        names: registry names; default the four homework models (``cnnviz.HOMEWORK_MODELS``).
        progress: ``progress(record, done_bytes, total_bytes_or_None)``.
        include_top: True (top files), False (notop), None (both: classify and transfer learning).
        labels: also fetch the ImageNet class index; default True when ``names`` is None.

    Raises:
        cnnviz.cache.OfflineError: at the first file when there is no network.
        cnnviz.cache.CacheError: the first failure after every other file was tried.
    """
    if names is None:
        names, labels = list(cnnviz.HOMEWORK_MODELS), (True if labels is None else labels)
    names = [names] if isinstance(names, str) else list(names)
    wanted = records([n for n in names if str(n).strip().lower() != LABELS], include_top)
    if labels or any(str(n).strip().lower() == LABELS for n in names):
        wanted.append(labels_file())
    return cache.prefetch(wanted, progress)


def clear(names: Iterable[str] | str | None = None) -> list[Removed]:
    """Delete cached files of ``names`` (both top and notop; "labels" allowed), default all."""
    return cache.clear(records(names, None))
