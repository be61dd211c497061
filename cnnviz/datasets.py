"""Training data for the labs: scikit-learn's digits (always offline) and Keras' datasets.

``load(name, subset=None, seed=0, val_split=0.2)`` returns a :class:`Dataset` with
train/validation/test arrays (float32 N×H×W×C in [0, 1], integer labels), the class
names and an i18n ``description`` key that says where the data came from.

- ``digits``: the 1,797 real 8×8 scans that ship inside scikit-learn's wheel, resized
  bilinearly to 32×32 and repeated over 3 channels for the course nets. It needs no
  network ever: it is the labelled *offline stand-in* for the others.
- ``cifar10``, ``mnist``, ``fashion_mnist``: the files Keras itself downloads
  (:data:`RECORDS`, URLs and hashes from ``keras/src/datasets/*.py``; Fashion-MNIST's
  MD5s are Zalando's, since Keras pins none). They are :class:`cnnviz.cache.FileRecord` records
  named by the dataset, so the weights cache's rules hold for them: fetched once by
  :func:`cnnviz.cache.fetch` (progress, hash check, temp file + rename, lock), listed,
  prefetched, cleared, exported and imported by ``python -m cnnviz cache ...`` under the
  dataset's name, and mirrored by ``CNNVIZ_WEIGHTS_MIRROR``: a classroom mirror holds
  ``tensorflow/tf-keras-datasets/mnist.npz`` (and Fashion-MNIST's four ``.gz``) beside the
  weights, and ``www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz`` (a URL outside
  storage.googleapis.com keeps its host in the mirror path). The parsed arrays are kept
  as a derived file, ``<cache root>/derived/datasets/<name>.npz``, so CIFAR's 170 MB
  archive is read once, not on every load. Debian's ``dataset-fashion-mnist`` files under
  ``/usr/share/datasets/fashion-mnist/`` are used when installed. Offline
  (``CNNVIZ_OFFLINE=1``) or unreachable → :class:`DatasetOfflineError` naming the dataset
  and suggesting ``digits``, a prefetch, a cache zip or a mirror.
- a user's own zip of one folder per class: :func:`from_folders` shapes the class folders
  a reader accepted (the homework intake, called by :func:`cnnviz.labs.load_data`: this data
  layer depends on no feature), each image fitted to ``size``×``size`` (cover + centre crop)
  and split per class (stratified, seeded: the folders' own ``split``). The page keeps an
  upload under ``<cache root>/derived/datasets/user/<sha256>.zip`` (:func:`store_upload`) so
  the background run, and a reload, read the same file.
- :func:`availability`: whether a dataset is ready here, will be downloaded, or cannot be had
  (offline).

This module imports neither TensorFlow nor Streamlit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import io
import json
import os
import pickle
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from cnnviz import cache, fileio, images
from cnnviz.errors import UserFacingError

Progress = cache.Progress

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_SIZE = 32
"""Side of the images the course nets take (CIFAR-10's 32×32)."""


# --------------------------------------------------------------------------- errors

class DatasetError(UserFacingError, ValueError):
    """A dataset that cannot be loaded or settings it cannot take (unknown name, bad subset)."""


class DatasetOfflineError(DatasetError):
    """The files are not cached and cannot be downloaded (offline mode or no network)."""


class DatasetFormatError(DatasetError):
    """A cached or downloaded file that does not parse as the dataset's format."""


# --------------------------------------------------------------------------- records

_TF_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_PREFIX = "fashion-mnist-"
"""Fashion-MNIST's files keep Zalando's names behind this prefix in the (flat) cache folder."""


def _record(name: str, url: str, file_hash: str, filename: str | None = None) -> cache.FileRecord:
    return cache.FileRecord(url=url, filename=filename or url.rsplit("/", 1)[1], file_hash=file_hash, name=name)


RECORDS: dict[str, tuple[cache.FileRecord, ...]] = {
    # keras/src/datasets/cifar10.py
    "cifar10": (_record("cifar10", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),),
    # keras/src/datasets/mnist.py
    "mnist": (_record("mnist", _TF_DATASETS + "mnist.npz",
                      "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),),
    # keras/src/datasets/fashion_mnist.py (URLs); MD5s from zalandoresearch/fashion-mnist's README.
    "fashion_mnist": tuple(_record("fashion_mnist", _TF_DATASETS + name, digest, FASHION_PREFIX + name)
                           for name, digest in (
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    )),
}
"""The files of each downloadable dataset, as :class:`cnnviz.cache.FileRecord` records named by the dataset."""

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "digits": tuple(str(i) for i in range(10)),
    "mnist": tuple(str(i) for i in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                      "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}
NAMES: tuple[str, ...] = ("digits", "cifar10", "mnist", "fashion_mnist")
USER = "user"
"""``Dataset.name`` of a user's own zip (its settings keep the zip's path)."""


def list_datasets() -> list[str]:
    return list(NAMES)


# --------------------------------------------------------------------------- the result

@dataclass
class Dataset:
    """Arrays ready for ``model.fit``: float32 N×H×W×C in [0, 1]; labels int32 0..classes-1.

    Attributes:
        description: i18n key of one line saying what the data is (``datasets.desc.<name>``).
        offline_standin: True for ``digits``, the data that always works without network.
        settings: what was asked for (subset, seed, split fractions, size), shown beside the run.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    description: str
    offline_standin: bool = False
    settings: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}

    def samples_per_class(self, per_class: int = 4) -> dict[int, np.ndarray]:
        """A few training images of each class (for the page's preview before training)."""
        return {c: self.x_train[self.y_train == c][:per_class] for c in range(self.num_classes)}


# --------------------------------------------------------------------------- download

def _fetch(record: cache.FileRecord, progress: Progress | None = None) -> Path:
    """``record``'s file through :func:`cnnviz.cache.fetch` (cache, mirror, hash, offline rules).

    Offline or unreachable becomes :class:`DatasetOfflineError` (it names the dataset and
    suggests ``digits``); a broken or lying download passes through as the cache's own
    :class:`cnnviz.cache.DownloadError` / :class:`cnnviz.cache.HashMismatchError`, whose
    message already names the file and the dataset.
    """
    try:
        return cache.fetch(record, progress)
    except cache.OfflineError as exc:
        params = {"dataset": record.name, "file": record.filename, "path": str(cache.path(record))}
        if exc.key == "cache.error.unreachable":
            raise DatasetOfflineError("datasets.error.unreachable", host=exc.params.get("host", ""),
                                      reason=exc.params.get("reason", ""), **params) from exc
        key = "datasets.error.offline_corrupt" if exc.key == "cache.error.offline_corrupt" else "datasets.error.offline"
        raise DatasetOfflineError(key, **params) from exc


def records(names: Iterable[str] | str | None = None) -> list[cache.FileRecord]:
    """The cache records of ``names`` (default: every downloadable dataset), in :data:`RECORDS` order.

    Raises:
        DatasetError: a name that is not a downloadable dataset (``digits`` needs no file).
    """
    if names is None:
        names = list(RECORDS)
    elif isinstance(names, str):
        names = [names]
    out: list[cache.FileRecord] = []
    for name in names:
        key = str(name).strip().lower().replace("-", "_")
        if key not in RECORDS:
            raise DatasetError("datasets.error.not_downloadable", name=name, available=", ".join(RECORDS))
        out += RECORDS[key]
    return out


def arrays_path(name: str) -> Path:
    """Where the parsed arrays of dataset ``name`` are kept: ``<cache>/derived/datasets/<name>.npz``."""
    return cache.derived_dir("datasets") / f"{name}.npz"


def clear(names: Iterable[str] | str | None = None) -> list[cache.Removed]:
    """Delete the downloaded files of ``names`` (default all) and their parsed arrays."""
    wanted = records(names)
    removed = cache.clear(wanted)
    for name in dict.fromkeys(r.name for r in wanted):
        npz = arrays_path(name)
        with contextlib.suppress(FileNotFoundError):
            size = npz.stat().st_size
            npz.unlink()
            removed.append(cache.Removed(npz, size))
    return removed


# --------------------------------------------------------------------------- parsers

class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR's batches are pickles: allow only what rebuilds numpy arrays (as Keras does)."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"),
                ("_codecs", "encode")}  # how Python 3's protocol-2 pickles spell bytes (a re-pickled mirror copy)

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a CIFAR batch")


def parse_cifar10_tar(path: Path) -> dict[str, np.ndarray]:
    """``cifar-10-python.tar.gz`` → x_train (50000×32×32×3 uint8), y_train, x_test, y_test."""
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if not member.isfile() or not (base.startswith("data_batch_") or base == "test_batch"):
                    continue
                raw = tar.extractfile(member).read()
                batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
                batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
                data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                parts[base] = (data, np.asarray(batch["labels"], dtype=np.uint8))
    except (tarfile.TarError, OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError) as exc:
        raise DatasetFormatError("datasets.error.format", dataset="cifar10", path=str(path), reason=str(exc)) from exc
    train = sorted(k for k in parts if k.startswith("data_batch_"))
    if not train or "test_batch" not in parts:
        raise DatasetFormatError("datasets.error.format", dataset="cifar10", path=str(path),
                                 reason="data_batch_* or test_batch missing")
    return {"x_train": np.concatenate([parts[k][0] for k in train]),
            "y_train": np.concatenate([parts[k][1] for k in train]),
            "x_test": parts["test_batch"][0], "y_test": parts["test_batch"][1]}


def parse_mnist_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetFormatError("datasets.error.format", dataset="mnist", path=str(path), reason=str(exc)) from exc


def _read_idx(path: Path, dataset: str) -> np.ndarray:
    """An IDX file (gzipped or not): magic 0x0801 (labels) or 0x0803 (images)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetFormatError("datasets.error.format", dataset=dataset, path=str(path), reason=str(exc)) from exc
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (0x0801, 0x0803):
        raise DatasetFormatError("datasets.error.format", dataset=dataset, path=str(path),
                                 reason=f"bad IDX magic {magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    data = np.frombuffer(raw, np.uint8, offset=offset)
    if data.size != int(np.prod(dims)):
        raise DatasetFormatError("datasets.error.format", dataset=dataset, path=str(path),
                                 reason=f"{data.size} values for shape {dims}")
    return data.reshape(dims)


def _fashion_files(progress: Progress | None) -> list[Path]:
    paths = []
    for record in RECORDS["fashion_mnist"]:
        original = record.filename.removeprefix(FASHION_PREFIX)  # Zalando's name, as Debian installs it
        system = [DEBIAN_FASHION_DIR / original, DEBIAN_FASHION_DIR / original[:-3]]
        found = next((p for p in system if p.is_file()), None)
        paths.append(found or _fetch(record, progress))
    return paths


def parse_fashion(paths: list[Path]) -> dict[str, np.ndarray]:
    train_x, train_y, test_x, test_y = (_read_idx(p, "fashion_mnist") for p in
                                        (paths[0], paths[1], paths[2], paths[3]))
    return {"x_train": train_x, "y_train": train_y, "x_test": test_x, "y_test": test_y}


def _raw_arrays(name: str, progress: Progress | None) -> dict[str, np.ndarray]:
    """uint8 arrays of a Keras dataset, from the cached ``.npz`` or parsed once from its files."""
    npz = arrays_path(name)
    if npz.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError), np.load(npz, allow_pickle=False) as f:
            return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    if name == "cifar10":
        arrays = parse_cifar10_tar(_fetch(RECORDS["cifar10"][0], progress))
    elif name == "mnist":
        arrays = parse_mnist_npz(_fetch(RECORDS["mnist"][0], progress))
    else:
        arrays = parse_fashion(_fashion_files(progress))
    # A read-only or full cache still works, just slower: the arrays are kept in memory, and
    # nothing half-written stays behind (fileio removes its temporary file).
    with contextlib.suppress(OSError), fileio.atomic_path(npz) as tmp:
        with open(tmp, "wb") as out:
            np.savez(out, **arrays)
    return arrays


def _digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits  # heavy: scikit-learn, only for this dataset

    bunch = load_digits()
    images = np.clip(bunch.images * (255.0 / 16.0), 0, 255).astype(np.uint8)  # 0..16 → 0..255
    return {"x": images, "y": bunch.target.astype(np.uint8)}


# --------------------------------------------------------------------------- a user's own zip

def user_source(name: str | os.PathLike) -> Path | None:
    """The path ``name`` gives for a user's zip (or folder) of class folders; None for a built-in name.

    A name that is not one of :data:`NAMES` is a path when it ends in ``.zip``, contains a
    path separator, or is an existing folder; anything else stays an unknown dataset name.
    """
    text = str(name).strip()
    if text.lower().replace("-", "_") in NAMES:
        return None
    if text.lower().endswith(".zip") or "/" in text or os.sep in text or Path(text).expanduser().is_dir():
        return Path(text).expanduser()
    return None


def uploads_dir() -> Path:
    """Where uploaded zips are kept: ``<cache root>/derived/datasets/user/``."""
    return cache.derived_dir("datasets") / USER


def store_upload(data: bytes, name: str | None = None, owner: str | None = None) -> Path:
    """Keep an uploaded zip as ``<uploads_dir>/<sha256>.zip`` (written atomically; the same
    bytes are stored once) with its original file name and its owners beside it; returns its path.

    Args:
        owner: the owner id (:func:`cnnviz.owners.owner_id`) of the student who uploaded it; the side
            file keeps ``{"owners": {owner id: file name}}``, so two students who upload the same
            bytes each own it under their own name, and neither sees the other's file name.
    """
    digest = hashlib.sha256(data).hexdigest()
    folder = uploads_dir()
    path = folder / f"{digest}.zip"
    folder.mkdir(parents=True, exist_ok=True)
    meta = upload_meta(path)
    owners_map = dict(meta.get("owners") or {})
    owners_map[owner or ""] = name or path.name
    meta = {"name": meta.get("name") or name or path.name, "owners": owners_map}
    if not path.is_file():
        fileio.write_bytes(path, bytes(data))
    fileio.write_bytes(path.with_suffix(".json"), json.dumps(meta).encode())
    return path


def upload_meta(path: str | os.PathLike) -> dict:
    """An upload's side file: ``{"name", "owners": {owner id ("" for none): file name}}`` ({} if none)."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        meta = json.loads(Path(path).with_suffix(".json").read_text(encoding="utf-8"))
        if isinstance(meta, dict):
            if not isinstance(meta.get("owners"), dict):  # written before owners: nobody's but the teacher's
                meta["owners"] = {"": str(meta.get("name") or Path(path).name)}
            return meta
    return {}


def upload_owners(path: str | os.PathLike) -> list[str | None]:
    """Who owns an upload (owner ids; None for an upload without an owner: the teacher's)."""
    return [o or None for o in (upload_meta(path).get("owners") or {"": ""})]


def may_use_upload(path: str | os.PathLike, viewer) -> bool:
    """Whether ``viewer`` (a :class:`cnnviz.owners.Viewer`) may list, preview or train on the upload."""
    path = Path(path)
    if path.parent != uploads_dir() or not path.is_file():
        return False
    return any(viewer.may(o) for o in upload_owners(path))


def stored_uploads(viewer=None) -> list[Path]:
    """The zips kept by :func:`store_upload`, newest first; only those ``viewer`` may use (None: all)."""
    folder = uploads_dir()
    if not folder.is_dir():
        return []
    found = sorted((p for p in folder.glob("*.zip") if not p.name.startswith(".")),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    return [p for p in found if viewer is None or any(viewer.may(o) for o in upload_owners(p))]


def user_label(source: str | os.PathLike, viewer=None) -> str:
    """A user zip's name for people: the uploaded file's name when it was stored by :func:`store_upload`
    (the name ``viewer``'s owner gave it; the first name otherwise)."""
    path = Path(source)
    if path.parent == uploads_dir():
        owners_map = upload_meta(path).get("owners") or {}
        owner = getattr(viewer, "owner", None)
        if owner and owner in owners_map:
            return str(owners_map[owner])
        if owners_map:
            return str(next(iter(owners_map.values())))
    return path.name


def delete_upload(path: str | os.PathLike) -> None:
    """Remove a stored upload and its side file."""
    path = Path(path)
    for target in (path, path.with_suffix(".json")):
        with contextlib.suppress(FileNotFoundError):
            target.unlink()


def availability(name: str) -> str:
    """"ready" (no network needed), "download" (fetched when a run starts) or "offline" (not here,
    and downloads are off). A user's zip is "ready" (it is read when the run starts)."""
    if name == "digits" or user_source(name) is not None:
        return "ready"
    records = RECORDS.get(name, ())
    debian = name == "fashion_mnist" and all(
        (DEBIAN_FASHION_DIR / original).is_file() or (DEBIAN_FASHION_DIR / original[:-3]).is_file()
        for original in (r.filename.removeprefix(FASHION_PREFIX) for r in records))
    if arrays_path(name).is_file() or (records and all(r.path.is_file() for r in records)) or debian:
        return "ready"
    return "offline" if cache.offline() else "download"


def _stratified_subset(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices keeping about ``fraction`` of every class (at least 3 each, so each split gets one)."""
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n = min(len(idx), max(3, int(round(len(idx) * fraction))))
        keep.append(rng.permutation(idx)[:n])
    return np.sort(np.concatenate(keep))


def from_folders(folders, source: str | os.PathLike, subset: int | None = None, seed: int = 0,
                 val_split: float = 0.2, *, test_split: float = 0.2, size: int = DEFAULT_SIZE,
                 channels: int = 3) -> Dataset:
    """A user's class folders (as a reader accepted them: ``items`` with ``.image``, ``labels``,
    ``class_names``, ``refused``, ``warnings``, ``split(seed, val=, test=)``) as a :class:`Dataset`.

    ``subset``: about that many images for train + validation, drawn per class with ``seed``.
    """
    if not (0.0 < float(val_split) < 1.0):
        raise DatasetError("datasets.error.val_split", value=val_split)
    val_split, ds, label = float(val_split), folders, user_label(source)
    rng = np.random.default_rng(seed)
    if subset is not None:
        if isinstance(subset, bool) or int(subset) != subset or subset < 2:
            raise DatasetError("datasets.error.subset_small", value=subset)
        pool = sum(len(ds.split(seed, val=val_split, test=test_split)[k]) for k in ("train", "val"))
        if subset > pool:
            raise DatasetError("datasets.error.subset_large", value=subset, name=label, available=pool)
        if subset < pool:
            keep = _stratified_subset(ds.labels, subset / pool, rng)
            ds = dataclasses.replace(ds, items=[ds.items[i] for i in keep])
    parts = ds.split(seed, val=val_split, test=test_split)  # stratified, seeded
    x = np.stack([np.asarray(images.fit_and_crop(item.image, (size, size)), dtype=np.uint8)
                  for item in ds.items])  # uint8 N×size×size×3 (cover + centre crop)
    y = ds.labels

    def prep(idx: np.ndarray) -> np.ndarray:
        return _channels(_resize(x[idx], size), channels)

    return Dataset(
        name=USER,
        x_train=prep(parts["train"]), y_train=y[parts["train"]], x_val=prep(parts["val"]), y_val=y[parts["val"]],
        x_test=prep(parts["test"]), y_test=y[parts["test"]], class_names=tuple(ds.class_names),
        description="datasets.desc.user",
        settings={"dataset": str(source), "source_name": label, "subset": subset, "seed": seed,
                  "val_split": val_split, "test_split": test_split, "size": size, "channels": channels,
                  "refused": len(ds.refused), "warnings": list(ds.warnings)},
    )


# --------------------------------------------------------------------------- shaping

def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 N×h×w(×c) → float32 N×size×size×c in [0, 1]: bilinear (or zero-pad 28 → 32, as LeNet did)."""
    from PIL import Image

    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return images.astype(np.float32) / 255.0
    if h == w and size - h > 0 and (size - h) % 2 == 0 and h >= 28:
        pad = (size - h) // 2
        return np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0))).astype(np.float32) / 255.0
    out = np.empty((n, size, size, c), np.float32)
    for i in range(n):
        for ch in range(c):
            img = Image.fromarray(images[i, :, :, ch].astype(np.float32), mode="F")
            out[i, :, :, ch] = np.asarray(img.resize((size, size), Image.BILINEAR))
    return out / 255.0


def _channels(x: np.ndarray, channels: int) -> np.ndarray:
    if x.shape[-1] == channels:
        return x
    if x.shape[-1] == 1 and channels == 3:
        return np.repeat(x, 3, axis=-1)
    if x.shape[-1] == 3 and channels == 1:
        return x.mean(axis=-1, keepdims=True, dtype=np.float32)
    raise DatasetError("datasets.error.channels", value=channels)


def _take(rng: np.random.Generator, n_total: int, n: int) -> np.ndarray:
    return np.sort(rng.permutation(n_total)[:n])


def load(name: str = "digits", subset: int | None = None, seed: int = 0, val_split: float = 0.2, *,
         test_split: float = 0.2, size: int = DEFAULT_SIZE, channels: int = 3,
         progress: Progress | None = None) -> Dataset:
    """A dataset split into train/validation/test, resized to ``size``×``size``×``channels``.

    Args:
        name: one of :func:`list_datasets` ("digits" always works offline). A user's zip of class
            folders is read by :func:`cnnviz.labs.load_data` (the intake), then :func:`from_folders`.
        subset: how many images to train on (train + validation, drawn with ``seed`` from the
            training pool); None = all of it. The test set is cut to the same share (a user's
            zip: about that many, drawn per class).
        seed: fixes which images are drawn and how they are split.
        val_split: share of the drawn images kept for validation (0 < val_split < 1).
        test_split: for ``digits`` and a user's zip (no official test set): share held out for test.
        progress: ``progress(done_bytes, total_bytes | None)`` while a file downloads.

    Raises:
        DatasetError: unknown name, a subset larger than the data, or a bad split;
            DatasetOfflineError when the files are not cached and cannot be downloaded.
        cnnviz.cache.CacheError: a download that broke off or does not match its hash.
    """
    if not (0.0 < float(val_split) < 1.0):
        raise DatasetError("datasets.error.val_split", value=val_split)
    key = str(name).strip().lower().replace("-", "_")
    if key not in NAMES:
        raise DatasetError("datasets.error.unknown", name=name, available=", ".join(NAMES))
    rng = np.random.default_rng(seed)
    if key == "digits":
        raw = _digits()
        n = len(raw["y"])
        order = rng.permutation(n)
        n_test = int(round(n * test_split))
        test_idx, pool_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
        x_pool, y_pool = raw["x"][pool_idx], raw["y"][pool_idx]
        x_test, y_test = raw["x"][test_idx], raw["y"][test_idx]
    else:
        raw = _raw_arrays(key, progress)
        x_pool, y_pool, x_test, y_test = raw["x_train"], raw["y_train"].reshape(-1), raw["x_test"], raw["y_test"].reshape(-1)
    pool = len(y_pool)
    if subset is not None:
        if isinstance(subset, bool) or int(subset) != subset or subset < 2:
            raise DatasetError("datasets.error.subset_small", value=subset)
        if subset > pool:
            raise DatasetError("datasets.error.subset_large", value=subset, name=key, available=pool)
        idx = _take(rng, pool, int(subset))
        x_pool, y_pool = x_pool[idx], y_pool[idx]
        n_test = max(1, min(len(y_test), int(round(len(y_test) * subset / pool))))
        t_idx = _take(rng, len(y_test), n_test)
        x_test, y_test = x_test[t_idx], y_test[t_idx]
    order = rng.permutation(len(y_pool))
    n_val = max(1, int(round(len(order) * val_split)))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])

    def prep(x: np.ndarray) -> np.ndarray:
        return _channels(_resize(x, size), channels)

    return Dataset(
        name=key,
        x_train=prep(x_pool[train_idx]), y_train=y_pool[train_idx].astype(np.int32),
        x_val=prep(x_pool[val_idx]), y_val=y_pool[val_idx].astype(np.int32),
        x_test=prep(x_test), y_test=y_test.astype(np.int32),
        class_names=CLASS_NAMES[key], description=f"datasets.desc.{key}", offline_standin=(key == "digits"),
        settings={"dataset": key, "subset": subset, "seed": seed, "val_split": val_split,
                  "test_split": test_split if key == "digits" else None, "size": size, "channels": channels},
    )
