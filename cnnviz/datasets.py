"""Training data for the labs: scikit-learn's digits (always offline) and Keras' datasets.

``load(name, subset=None, seed=0, val_split=0.2)`` returns a :class:`Dataset` with
train/validation/test arrays (float32 N×H×W×C in [0, 1], integer labels), the class
names and an i18n ``description`` key that says where the data came from.

- ``digits``: the 1,797 real 8×8 scans that ship inside scikit-learn's wheel, resized
  bilinearly to 32×32 and repeated over 3 channels for the course nets. It needs no
  network ever: it is the labelled *offline stand-in* for the others.
- ``cifar10``, ``mnist``, ``fashion_mnist``: the files Keras itself downloads
  (:data:`RECORDS`, URLs and hashes from ``keras/src/datasets/*.py``; Fashion-MNIST's
  MD5s are Zalando's, since Keras pins none), fetched once into
  ``<cache root>/datasets/<name>/``; the parsed arrays are kept there as ``<name>.npz``
  so CIFAR's 170 MB archive is read once, not on every load. Debian's
  ``dataset-fashion-mnist`` files under ``/usr/share/datasets/fashion-mnist/`` are used
  when installed. Offline (``CNNVIZ_OFFLINE=1``) or unreachable → :class:`DatasetOfflineError`
  naming the dataset and suggesting ``digits`` or a mirror.

This module imports neither TensorFlow nor Streamlit.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import http.client
import io
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from cnnviz import cache
from cnnviz.errors import UserFacingError

Progress = Callable[[int, "int | None"], None]

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_SIZE = 32
"""Side of the images the course nets take (CIFAR-10's 32×32)."""


# --------------------------------------------------------------------------- errors

class DatasetError(UserFacingError, ValueError):
    """A dataset that cannot be loaded or settings it cannot take (unknown name, bad subset)."""


class DatasetOfflineError(DatasetError):
    """The files are not cached and cannot be downloaded (offline mode or no network)."""


class DatasetDownloadError(DatasetError):
    """The download broke off, or the file does not match its pinned hash; nothing was kept."""


class DatasetFormatError(DatasetError):
    """A cached or downloaded file that does not parse as the dataset's format."""


# --------------------------------------------------------------------------- records

@dataclass(frozen=True)
class FileRecord:
    """One downloadable file: where Keras gets it, its pinned hash, where it lives in the cache.

    ``rel_url`` is the part of the URL a mirror reproduces (``CNNVIZ_WEIGHTS_MIRROR``
    replaces everything before it), as for the weights files.
    """

    dataset: str
    file_name: str
    url: str
    file_hash: str
    hash_algo: str = "sha256"

    @property
    def rel_url(self) -> str:
        if self.url.startswith(cache.KERAS_PREFIX):
            return self.url[len(cache.KERAS_PREFIX):]
        return self.url.split("://", 1)[-1]

    @property
    def path(self) -> Path:
        return cache.cache_dir() / "datasets" / self.dataset / self.file_name

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.file_name}"


_TF_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
RECORDS: dict[str, tuple[FileRecord, ...]] = {
    # keras/src/datasets/cifar10.py
    "cifar10": (FileRecord("cifar10", "cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                           "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),),
    # keras/src/datasets/mnist.py
    "mnist": (FileRecord("mnist", "mnist.npz", _TF_DATASETS + "mnist.npz",
                         "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),),
    # keras/src/datasets/fashion_mnist.py (URLs); MD5s from zalandoresearch/fashion-mnist's README.
    "fashion_mnist": tuple(FileRecord("fashion_mnist", name, _TF_DATASETS + name, digest, "md5") for name, digest in (
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    )),
}

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "digits": tuple(str(i) for i in range(10)),
    "mnist": tuple(str(i) for i in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                      "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}
NAMES: tuple[str, ...] = ("digits", "cifar10", "mnist", "fashion_mnist")


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

def _fetch(record: FileRecord, progress: Progress | None = None) -> Path:
    """``record``'s file in the cache, downloaded (hash-checked, temp file + rename) when missing.

    Kept tiny on purpose: it becomes ``cache.fetch(record, progress)`` once the cache deals in
    file records.
    """
    if record.path.is_file():
        return record.path
    if cache.offline():
        raise DatasetOfflineError("datasets.error.offline", dataset=record.dataset, file=record.file_name,
                                  path=str(record.path))
    mirror = cache.mirror_prefix()
    url = mirror + record.rel_url if mirror else record.url
    record.path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.new(record.hash_algo)
    try:
        response = urllib.request.urlopen(url, timeout=cache.CONNECT_TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise DatasetDownloadError("datasets.error.interrupted", dataset=record.dataset, url=url,
                                   reason=f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DatasetOfflineError("datasets.error.unreachable", dataset=record.dataset, url=url,
                                  reason=str(getattr(exc, "reason", exc))) from exc
    fd, tmp = tempfile.mkstemp(prefix=record.file_name + ".", suffix=".part", dir=record.path.parent)
    try:
        with response, os.fdopen(fd, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while True:
                try:
                    chunk = response.read(cache.CHUNK)
                except (OSError, http.client.HTTPException) as exc:  # cut or stalled transfer
                    raise DatasetDownloadError("datasets.error.interrupted", dataset=record.dataset, url=url,
                                               reason=type(exc).__name__) from exc
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        raise DatasetDownloadError("datasets.error.no_space", dataset=record.dataset,
                                                   path=str(record.path.parent)) from exc
                    raise
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise DatasetDownloadError("datasets.error.interrupted", dataset=record.dataset, url=url,
                                       reason=f"{done} of {total} bytes")
        if digest.hexdigest() != record.file_hash:
            raise DatasetDownloadError("datasets.error.hash", dataset=record.dataset, file=record.file_name,
                                       url=url, algo=record.hash_algo, expected=record.file_hash,
                                       actual=digest.hexdigest())
        os.replace(tmp, record.path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return record.path


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
        system = [DEBIAN_FASHION_DIR / record.file_name, DEBIAN_FASHION_DIR / record.file_name[:-3]]
        found = next((p for p in system if p.is_file()), None)
        paths.append(found or _fetch(record, progress))
    return paths


def parse_fashion(paths: list[Path]) -> dict[str, np.ndarray]:
    train_x, train_y, test_x, test_y = (_read_idx(p, "fashion_mnist") for p in
                                        (paths[0], paths[1], paths[2], paths[3]))
    return {"x_train": train_x, "y_train": train_y, "x_test": test_x, "y_test": test_y}


def _raw_arrays(name: str, progress: Progress | None) -> dict[str, np.ndarray]:
    """uint8 arrays of a Keras dataset, from the cached ``.npz`` or parsed once from its files."""
    npz = cache.cache_dir() / "datasets" / name / f"{name}.npz"
    if npz.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError), np.load(npz, allow_pickle=False) as f:
            return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    if name == "cifar10":
        arrays = parse_cifar10_tar(_fetch(RECORDS["cifar10"][0], progress))
    elif name == "mnist":
        arrays = parse_mnist_npz(_fetch(RECORDS["mnist"][0], progress))
    else:
        arrays = parse_fashion(_fashion_files(progress))
    with contextlib.suppress(OSError):  # a read-only cache still works, just slower
        npz.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=npz.parent)
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **arrays)
        os.replace(tmp, npz)
    return arrays


def _digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits  # heavy: scikit-learn, only for this dataset

    bunch = load_digits()
    images = np.clip(bunch.images * (255.0 / 16.0), 0, 255).astype(np.uint8)  # 0..16 → 0..255
    return {"x": images, "y": bunch.target.astype(np.uint8)}


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
        name: one of :func:`list_datasets` ("digits" always works offline).
        subset: how many images to train on (train + validation, drawn with ``seed`` from the
            training pool); None = all of it. The test set is cut to the same share.
        seed: fixes which images are drawn and how they are split.
        val_split: share of the drawn images kept for validation (0 < val_split < 1).
        test_split: for ``digits`` only (it has no official test set): share held out for test.
        progress: ``progress(done_bytes, total_bytes | None)`` while a file downloads.

    Raises:
        DatasetError: unknown name, a subset larger than the data, or a bad split;
            DatasetOfflineError / DatasetDownloadError when the files cannot be fetched.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in NAMES:
        raise DatasetError("datasets.error.unknown", name=name, available=", ".join(NAMES))
    if not (0.0 < float(val_split) < 1.0):
        raise DatasetError("datasets.error.val_split", value=val_split)
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
