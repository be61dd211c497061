"""The pretrained-weights cache: the only code that knows ``models_cache/``.

Every file the app downloads (Keras' ImageNet weights and ImageNet's class index) is
listed in :data:`WEIGHTS` / :data:`LABELS_FILE` with Keras' own URL and hash, fetched
once through those URLs (or a mirror of them), checked against the hash and kept
under :func:`cache_dir`:

- downloads stream into a temporary file in the cache folder and are renamed into
  place only after the hash matched, so an interrupted or corrupted download never
  leaves a file that looks complete;
- a per-file lock (a thread lock plus ``flock`` on a lock file) makes two sessions
  that ask for the same file at once download it once: the second finds it cached;
- ``CNNVIZ_OFFLINE=1`` or any network failure raises a typed, translated
  :class:`CacheError` that says which file is missing, where it would go and how to
  get it there (prefetch, import a zip, or a mirror) -- within seconds, never a hang;
- ``CNNVIZ_WEIGHTS_MIRROR=http://host/path/`` replaces the
  ``https://storage.googleapis.com/`` prefix, so a mirror is a copy of that folder
  tree (``file:///media/usb/keras/`` works too); hashes are still checked.

:func:`status` is cheap enough for the sidebar of every page: it never hashes a
100 MB file. A successful hash check is remembered in a small sidecar
(``.verified.json``: size, mtime and digest per file); a file without a matching
record gets a structural check instead (HDF5 superblock: a truncated file is shorter
than the end-of-file address it declares). :func:`verify` and :func:`fetch_weights`
do the full hash check.

This module imports neither TensorFlow/Keras nor Streamlit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import struct
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, NamedTuple

import cnnviz
from cnnviz.errors import UserFacingError
from cnnviz.i18n import translate

Progress = Callable[[int, "int | None"], None]
"""``progress(done_bytes, total_bytes_or_None)``, called as a download advances."""

KERAS_PREFIX = "https://storage.googleapis.com/"
"""The prefix of every Keras download URL; ``CNNVIZ_WEIGHTS_MIRROR`` replaces it."""

LABELS = "labels"
"""Pseudo model name of the ImageNet class index in :func:`status`, :func:`prefetch`, :func:`clear`."""

# Environment variables (documented in docs/ARCHITECTURE.md and models_cache/README.md).
ENV_DIR = "CNNVIZ_CACHE_DIR"
ENV_OFFLINE = "CNNVIZ_OFFLINE"
ENV_MIRROR = "CNNVIZ_WEIGHTS_MIRROR"
ENV_TIMEOUT = "CNNVIZ_DOWNLOAD_TIMEOUT"

CONNECT_TIMEOUT = 5.0
"""Seconds to resolve and connect (and for the first byte): an unreachable host fails fast."""
READ_TIMEOUT = 30.0
"""Seconds a started download may stall before it is abandoned (bad classroom Wi-Fi)."""
CHUNK = 256 * 1024
MAX_FILE_BYTES = 2 * 1024**3
"""No Keras weights file comes near this (VGG19 with top: ~575 MB); guards zip bombs."""

SIDECAR = ".verified.json"
LOCK_DIR = ".locks"
PART_SUFFIX = ".part"
MANIFEST = "cnnviz-cache.json"
"""Manifest written into exported zips (digests of files Keras pins no hash for)."""
_IGNORED_IN_ZIP = {"README.md", ".gitignore", MANIFEST, SIDECAR}

# --------------------------------------------------------------------------- the table
# name -> (folder under KERAS_PREFIX, top file, top hash, notop file, notop hash).
# Copied from the installed keras' applications/*.py (keras 3.15.1): exactly what
# ``keras.applications.X(weights="imagenet", include_top=...)`` passes to
# ``keras.utils.get_file``. tests/test_cache.py re-derives a representative set from
# the keras sources so the table cannot drift silently. 32-hex hashes are MD5, 64-hex
# SHA-256 (ConvNeXt), as keras' ``hash_algorithm="auto"`` decides. Keras pins no hash
# for MobileNetV2 (None): those files get a structural HDF5 check instead, and their
# SHA-256 is recorded on first download ("trust on first use").
_KA = "tensorflow/keras-applications/"
WEIGHTS: dict[str, tuple[str, str, str | None, str, str | None]] = {
    "resnet50": (_KA + "resnet/", "resnet50_weights_tf_dim_ordering_tf_kernels.h5", "2cb95161c43110f7111970584f804107",
                 "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": (_KA + "resnet/", "resnet101_weights_tf_dim_ordering_tf_kernels.h5", "f1aeb4b969a6efcfb50fad2f0c20cfc5",
                  "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": (_KA + "resnet/", "resnet152_weights_tf_dim_ordering_tf_kernels.h5", "100835be76be38e30d865e96f2aaae62",
                  "resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": (_KA + "resnet/", "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5", "3ef43a0b657b3be2300d5770ece849e0",
                   "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": (_KA + "resnet/", "resnet101v2_weights_tf_dim_ordering_tf_kernels.h5",
                    "6343647c601c52e1368623803854d971",
                    "resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": (_KA + "resnet/", "resnet152v2_weights_tf_dim_ordering_tf_kernels.h5",
                    "a49b44d1979771252814e80f8ec446f9",
                    "resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "ed17cf2e0169df9d443503ef94b23b33"),
    "vgg16": (_KA + "vgg16/", "vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b",
              "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
    "vgg19": (_KA + "vgg19/", "vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318",
              "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
    "inceptionv3": (_KA + "inception_v3/", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                    "9a0d58056eeedaa3f26cb7ebd46da564",
                    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "bcbd6486424b2319ff4ef7d526e38f63"),
    "xception": (_KA + "xception/", "xception_weights_tf_dim_ordering_tf_kernels.h5", "0a58e3b7378bc2990ea3b43d5981f1f6",
                 "xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "b0042744bf5b25fce3cb969f33bebb97"),
    "inceptionresnetv2": (_KA + "inception_resnet_v2/", "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
                          "e693bd0210a403b3192acc6073ad2e96",
                          "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                          "d19885ff4a710c122648d3b5c3b684e4"),
    "densenet121": (_KA + "densenet/", "densenet121_weights_tf_dim_ordering_tf_kernels.h5",
                    "9d60b8095a5708f2dcce2bca79d332c7",
                    "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": (_KA + "densenet/", "densenet169_weights_tf_dim_ordering_tf_kernels.h5",
                    "d699b8f76981ab1b30698df4c175e90b",
                    "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": (_KA + "densenet/", "densenet201_weights_tf_dim_ordering_tf_kernels.h5",
                    "1ceb130c1ea1b78c3bf6114dbdfd8807",
                    "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5", "c13680b51ded0fb44dff2d8f86ac8bb1"),
    "mobilenetv2": (_KA + "mobilenet_v2/", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", None,
                    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", None),
    "mobilenetv3small": (_KA + "mobilenet_v3/", "weights_mobilenet_v3_small_224_1.0_float.h5",
                         "8768d4c2e7dee89b9d02b2d03d65d862",
                         "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "mobilenetv3large": (_KA + "mobilenet_v3/", "weights_mobilenet_v3_large_224_1.0_float.h5",
                         "59e551e166be033d707958cf9e29a6a7",
                         "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5", "07fb09a5933dd0c8eaafa16978110389"),
    "efficientnetb0": ("keras-applications/", "efficientnetb0.h5", "902e53a9f72be733fc0bcb005b3ebbac",
                       "efficientnetb0_notop.h5", "50bc09e76180e00e4465e1a485ddc09d"),
    "efficientnetb1": ("keras-applications/", "efficientnetb1.h5", "1d254153d4ab51201f1646940f018540",
                       "efficientnetb1_notop.h5", "74c4e6b3e1f6a1eea24c589628592432"),
    "efficientnetb2": ("keras-applications/", "efficientnetb2.h5", "b15cce36ff4dcbd00b6dd88e7857a6ad",
                       "efficientnetb2_notop.h5", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "efficientnetb3": ("keras-applications/", "efficientnetb3.h5", "ffd1fdc53d0ce67064dc6a9c7960ede0",
                       "efficientnetb3_notop.h5", "af6d107764bb5b1abb91932881670226"),
    "efficientnetv2b0": (_KA + "efficientnet_v2/", "efficientnetv2-b0.h5", "21ecbf6da12460d5c40bb2f29ceb2188",
                         "efficientnetv2-b0_notop.h5", "893217f2bb855e2983157299931e43ff"),
    "convnexttiny": (_KA + "convnext/", "convnext_tiny.h5",
                     "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                     "convnext_tiny_notop.h5", "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnextsmall": (_KA + "convnext/", "convnext_small.h5",
                      "ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                      "convnext_small_notop.h5", "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
}

# keras.applications.imagenet_utils.CLASS_INDEX_PATH and the hash decode_predictions pins.
LABELS_FILE = ("download.tensorflow.org/data/", "imagenet_class_index.json", "c2c37ea517e94d9795004a39431a14cb")


# --------------------------------------------------------------------------- errors

class CacheError(UserFacingError):
    """Anything that keeps the cache from delivering a file; ``hint`` adds how to fix it."""

    hint_key: str | None = None

    def __init__(self, key: str, *, hint: str | None = None, **params: object) -> None:
        self.hint = hint if hint is not None else self.hint_key
        super().__init__(key, **params)

    def message(self, lang: str = "en") -> str:
        text = translate(self.key, lang, **self.params)
        if self.hint:
            text += " " + translate(self.hint, lang, **self.params)
        return text


class OfflineError(CacheError):
    """No network (``CNNVIZ_OFFLINE=1``, or the host cannot be reached) and the file is not cached."""

    hint_key = "cache.hint.get_file"


class DownloadError(CacheError):
    """The server answered with an error, or the transfer broke off; nothing was kept."""

    hint_key = "cache.hint.retry"


class HashMismatchError(CacheError):
    """A downloaded or imported file does not match the hash Keras pins; it was not kept."""


class NoPretrainedWeightsError(CacheError, KeyError):
    """The model has no ImageNet weights file in the table (a from-code classic, or a typo)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message("en")


class ZipImportError(CacheError, ValueError):
    """A cache zip that cnnviz refuses to import (unsafe or unknown entries, not a zip)."""


# --------------------------------------------------------------------------- data

@dataclass(frozen=True)
class WeightFile:
    """One downloadable file of the table.

    Attributes:
        name: registry name ("resnet50") or :data:`LABELS`.
        include_top: True for the classifier ("top") file, False for "notop", None for labels.
        file_name: the name Keras gives it (also its name in the cache folder).
        rel_url: path under :data:`KERAS_PREFIX` (also its path in a mirror).
        file_hash: hex digest Keras pins, or None when Keras pins none (MobileNetV2).
        hash_algo: "md5" or "sha256" (the algorithm of ``file_hash``; sha256 when unpinned).
    """

    name: str
    include_top: bool | None
    file_name: str
    rel_url: str
    file_hash: str | None
    hash_algo: str

    @property
    def keras_url(self) -> str:
        """The URL Keras itself downloads from."""
        return KERAS_PREFIX + self.rel_url

    @property
    def url(self) -> str:
        """Where cnnviz downloads from: the Keras URL, or the mirror's copy of it."""
        mirror = mirror_prefix()
        return (mirror + self.rel_url) if mirror else self.keras_url

    @property
    def path(self) -> Path:
        """Where the file lives (or will live) in the cache."""
        return cache_dir() / self.file_name

    @property
    def label(self) -> str:
        """Short human name for messages and progress lines: "resnet50", "resnet50 (notop)"."""
        return self.name if self.include_top is not False else f"{self.name} (notop)"

    @property
    def is_hdf5(self) -> bool:
        return self.file_name.endswith(".h5")


@dataclass(frozen=True)
class EntryStatus:
    """State of one cache file.

    Attributes:
        state: "cached" (present and, as far as checked, intact), "missing" or "corrupt".
        verified: True when the state rests on a full hash check (now or remembered for
            this exact size and mtime); False when only the cheap structural check ran.
        size: bytes on disk (None when missing).
        problem: for "corrupt": "hash" (digest differs), "truncated" or "format".
        expected_size: bytes the file should have, when known (from a completed download).
    """

    name: str
    include_top: bool | None
    file_name: str
    state: str
    path: Path
    size: int | None
    verified: bool
    url: str
    problem: str | None = None
    expected_size: int | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "include_top": self.include_top, "file": self.file_name, "state": self.state,
                "path": str(self.path), "size": self.size, "verified": self.verified, "url": self.url,
                "problem": self.problem, "expected_size": self.expected_size}


# --------------------------------------------------------------------------- configuration

def _project_root() -> Path:
    return Path(cnnviz.__file__).resolve().parents[1]


def cache_dir() -> Path:
    """The cache folder: ``CNNVIZ_CACHE_DIR``, else ``models_cache/`` next to app.py.

    When cnnviz is installed as a package (no app.py beside it, e.g. in site-packages)
    the default is the user's cache folder instead (``~/.cache/cnnviz/models_cache``,
    or ``XDG_CACHE_HOME``), never a folder inside the Python installation.
    The folder is not created here (that happens on the first download).
    """
    explicit = os.environ.get(ENV_DIR, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute()
    root = _project_root()
    if (root / "app.py").is_file():
        return root / "models_cache"
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "cnnviz" / "models_cache"


def offline() -> bool:
    """True when ``CNNVIZ_OFFLINE`` asks for no network at all."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


def mirror_prefix() -> str | None:
    """The mirror URL prefix from ``CNNVIZ_WEIGHTS_MIRROR`` (with a trailing slash), or None.

    Raises:
        CacheError: the variable is set but is not an http(s):// or file:// URL.
    """
    raw = os.environ.get(ENV_MIRROR, "").strip()
    if not raw:
        return None
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme not in {"http", "https", "file"}:
        raise CacheError("cache.error.bad_mirror", value=raw)
    return raw if raw.endswith("/") else raw + "/"


def _timeouts() -> tuple[float, float]:
    """(connect, read) seconds; ``CNNVIZ_DOWNLOAD_TIMEOUT`` overrides both (tests, slow links)."""
    raw = os.environ.get(ENV_TIMEOUT, "").strip()
    if raw:
        try:
            value = float(raw)
            if value > 0:
                return value, value
        except ValueError:
            pass
    return CONNECT_TIMEOUT, READ_TIMEOUT


# --------------------------------------------------------------------------- the table, as objects

def _algo(file_hash: str | None) -> str:
    # keras.utils.get_file(hash_algorithm="auto"): 64 hex digits are SHA-256, anything else MD5.
    return "sha256" if file_hash is None or len(file_hash) == 64 else "md5"


def pretrained_models() -> list[str]:
    """Registry names that have ImageNet weights in the table, in table order."""
    return list(WEIGHTS)


def has_weights(name: str) -> bool:
    """True when ``name`` has an ImageNet weights file cnnviz can download."""
    return str(name).strip().lower() in WEIGHTS


def weights_file(name: str, include_top: bool = True) -> WeightFile:
    """The table entry of ``name``'s weights (``include_top`` False → the "notop" file).

    Raises:
        NoPretrainedWeightsError: ``name`` has no file in the table.
    """
    key = str(name).strip().lower()
    if key not in WEIGHTS:
        raise NoPretrainedWeightsError("cache.error.no_weights", name=name, available=", ".join(WEIGHTS))
    folder, top, top_hash, notop, notop_hash = WEIGHTS[key]
    file_name, file_hash = (top, top_hash) if include_top else (notop, notop_hash)
    return WeightFile(key, bool(include_top), file_name, folder + file_name, file_hash, _algo(file_hash))


def labels_file() -> WeightFile:
    """The table entry of ImageNet's class index (``imagenet_class_index.json``)."""
    folder, file_name, file_hash = LABELS_FILE
    return WeightFile(LABELS, None, file_name, folder + file_name, file_hash, _algo(file_hash))


def all_files() -> list[WeightFile]:
    """Every file of the table: each model's top and notop file, then the labels."""
    files = []
    for name in WEIGHTS:
        files += [weights_file(name, True), weights_file(name, False)]
    return [*files, labels_file()]


def _entries_for(names: Iterable[str] | None, include_top: bool | None) -> list[WeightFile]:
    """Table entries for ``names`` ("labels" allowed); ``include_top`` None means both files."""
    if names is None:
        names = [*WEIGHTS, LABELS]
    if isinstance(names, str):
        names = [names]
    tops = [True, False] if include_top is None else [bool(include_top)]
    out: list[WeightFile] = []
    for name in names:
        if str(name).strip().lower() == LABELS:
            out.append(labels_file())
        else:
            out += [weights_file(name, top) for top in tops]
    return out


def _by_file_name() -> dict[str, WeightFile]:
    return {entry.file_name: entry for entry in all_files()}


# --------------------------------------------------------------------------- locks

_registry_lock = threading.Lock()
_thread_locks: dict[str, threading.Lock] = {}


def _thread_lock(key: str) -> threading.Lock:
    with _registry_lock:
        return _thread_locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def _file_lock(name: str) -> Iterator[None]:
    """Exclusive lock named ``name`` across threads (thread lock) and processes (flock).

    The lock files live in ``<cache>/.locks/`` and are never deleted: deleting a lock
    file another process has open would let a third process lock a different inode.
    """
    folder = cache_dir()
    lock_dir = folder / LOCK_DIR
    with _thread_lock(str(lock_dir / name)):
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            handle = open(lock_dir / (name + ".lock"), "a+b")
        except OSError as exc:
            raise CacheError("cache.error.write", path=str(lock_dir), reason=_reason(exc),
                             hint="cache.hint.writable") from exc
        try:
            _lock_handle(handle)
            yield
        finally:
            handle.close()  # closing releases flock / msvcrt locks


def _lock_handle(handle) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: msvcrt.locking retries for ~10 s per call; loop until ours
        import msvcrt

        while True:
            try:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                return
            except OSError:
                time.sleep(0.5)
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


# --------------------------------------------------------------------------- hashing, records

def _hash_file(path: Path, algo: str) -> str:
    digest = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_records(folder: Path) -> dict[str, dict]:
    try:
        data = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _update_records(folder: Path, changes: dict[str, dict | None]) -> None:
    """Apply ``changes`` (file name → record, or None to forget) to the sidecar, atomically.

    The sidecar is only a speed-up: failing to write it (read-only cache) is not an error.
    """
    try:
        with _file_lock("sidecar"):
            records = _read_records(folder)
            for file_name, record in changes.items():
                if record is None:
                    records.pop(file_name, None)
                else:
                    records[file_name] = record
            tmp = folder / f".{SIDECAR}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, folder / SIDECAR)
    except (OSError, CacheError):
        pass


def _record(path: Path, algo: str, digest: str) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "algo": algo, "digest": digest}


def _hdf5_problem(path: Path, size: int) -> str | None:
    """Cheap structural check of an HDF5 file: None if plausible, else "format" or "truncated".

    Reads the superblock (HDF5 spec §II.A) and compares the end-of-file address it
    declares with the real size: a download cut short is shorter than that.
    """
    signature = b"\x89HDF\r\n\x1a\n"
    try:
        with open(path, "rb") as f:
            base = 0
            while base + 48 <= size:  # the superblock sits at 0, 512, 1024, 2048, ...
                f.seek(base)
                head = f.read(96)
                if head[:8] == signature:
                    break
                base = 512 if base == 0 else base * 2
            else:
                return "format"
    except OSError:
        return "format"
    version = head[8]
    if version in (0, 1):
        offset_size, start = head[13], 24 if version == 0 else 28
    elif version in (2, 3):
        offset_size, start = head[9], 12
    else:
        return None  # a future superblock version: nothing to say
    if offset_size not in (2, 4, 8) or start + 3 * offset_size > len(head):
        return "format"
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[offset_size]
    base_address = struct.unpack_from(fmt, head, start)[0]
    eof_index = start + 2 * offset_size
    eof = struct.unpack_from(fmt, head, eof_index)[0]
    if eof == (1 << (8 * offset_size)) - 1:  # "undefined address"
        return None
    return "truncated" if size < base + base_address + eof else None


def _structure_problem(entry: WeightFile, path: Path, size: int) -> str | None:
    if size == 0:
        return "truncated"
    if entry.is_hdf5:
        return _hdf5_problem(path, size)
    return None


def _assess(entry: WeightFile, *, verify: bool, records: dict[str, dict]) -> EntryStatus:
    """State of ``entry`` on disk. ``verify`` forces a full hash (and records the result).

    Without ``verify`` a big file is judged by its sidecar record (a hash check done
    earlier for this exact size and mtime) or, lacking one, by the structural check.
    """
    path = cache_dir() / entry.file_name

    def result(state: str, size: int | None, verified: bool, problem: str | None = None,
               expected_size: int | None = None) -> EntryStatus:
        return EntryStatus(entry.name, entry.include_top, entry.file_name, state, path, size, verified, entry.url,
                           problem, expected_size)

    try:
        st = path.stat()
    except OSError:
        return result("missing", None, False)
    if not stat.S_ISREG(st.st_mode):
        return result("corrupt", None, False, "format")
    size = st.st_size
    record = records.get(entry.file_name) or {}
    expected_size = record.get("size") if isinstance(record.get("size"), int) else None
    # Keras pins no hash for some files: then the digest recorded at download time is the reference.
    expected = entry.file_hash or record.get("trusted_digest")
    fresh = (record.get("size") == size and record.get("mtime_ns") == st.st_mtime_ns
             and record.get("algo") == entry.hash_algo and bool(record.get("digest")))
    small = size <= 4 * 1024 * 1024  # the labels file: hashing it costs nothing
    if verify or small:
        try:
            digest = _hash_file(path, entry.hash_algo)
        except OSError:
            return result("corrupt", size, True, "format", expected_size)
        if verify and not small:
            new_record = _record(path, entry.hash_algo, digest)
            if record.get("trusted_digest"):
                new_record["trusted_digest"] = record["trusted_digest"]
            _update_records(cache_dir(), {entry.file_name: new_record})
        verified = True
    elif fresh:
        digest, verified = record["digest"], True
    else:
        digest, verified = None, False
    if digest is not None and expected is not None:
        if digest != expected:
            return result("corrupt", size, True, "hash", expected_size)
        if entry.file_hash is not None:
            return result("cached", size, True, None, expected_size)
    problem = _structure_problem(entry, path, size)
    return result("cached" if problem is None else "corrupt", size, verified, problem, expected_size)


# --------------------------------------------------------------------------- downloading

def _reason(exc: BaseException) -> str:
    """A short, single-line reason for a network or file error."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    elif isinstance(reason, str) and reason:
        return reason.splitlines()[0]
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _hint_params(entry: WeightFile) -> dict[str, object]:
    return {"model": entry.name, "file": entry.file_name, "path": str(cache_dir() / entry.file_name)}


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or parts.path or url


def _resolve(url: str, timeout: float) -> None:
    """Resolve ``url``'s host within ``timeout`` s (the socket timeout does not cover DNS).

    A classroom network with a broken DNS server can otherwise block ``getaddrinfo``
    for tens of seconds. Skipped when a proxy handles the URL (the proxy resolves).
    """
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(parts.hostname):
        return
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
            outcome["error"] = None
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="cnnviz-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if "error" not in outcome:
        raise TimeoutError(f"name resolution of {parts.hostname} took more than {timeout:g} s")
    if outcome["error"] is not None:
        raise outcome["error"]


def _open(entry: WeightFile, url: str):
    """Open ``url`` for streaming, mapping failures to typed errors."""
    import http.client
    import urllib.error
    import urllib.request

    connect_timeout, read_timeout = _timeouts()
    params = {**_hint_params(entry), "url": url, "host": _host_of(url)}
    request = urllib.request.Request(url, headers={"User-Agent": f"cnnviz/{cnnviz.__version__}"})
    try:
        _resolve(url, connect_timeout)
        response = urllib.request.urlopen(request, timeout=connect_timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DownloadError("cache.error.http", status=exc.code, reason=_reason(exc), **params) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        cause = getattr(exc, "reason", exc)
        if url.startswith("file:") and isinstance(cause, FileNotFoundError):
            raise DownloadError("cache.error.http", status=404, reason=_reason(exc), **params) from None
        raise OfflineError("cache.error.unreachable", reason=_reason(exc), **params) from None
    # Connected: allow longer stalls while the body streams (bad Wi-Fi), but never forever.
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(read_timeout)
    return response


def _check_space(folder: Path, total: int | None, entry: WeightFile) -> None:
    if total is None:
        return
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < total + 16 * 1024 * 1024:
        raise CacheError("cache.error.no_space", file=entry.file_name, path=str(folder), needed_mb=_mb(total),
                         free_mb=_mb(free))


def _mb(size: int | None) -> str:
    return "?" if size is None else f"{size / 1e6:.1f}"


def _part_path(folder: Path, file_name: str) -> Path:
    return folder / f".{file_name}.{os.getpid()}.{threading.get_ident()}{PART_SUFFIX}"


def _download(entry: WeightFile, progress: Progress | None) -> None:
    """Download ``entry`` into the cache (caller holds its lock). Raises a :class:`CacheError`."""
    import http.client

    url = entry.url
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError("cache.error.write", path=str(folder), reason=_reason(exc), hint="cache.hint.writable") from exc
    tmp = _part_path(folder, entry.file_name)
    params = {**_hint_params(entry), "url": url, "host": _host_of(url)}
    try:
        response = _open(entry, url)
        with response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > MAX_FILE_BYTES:
                raise DownloadError("cache.error.too_big", size_mb=_mb(total), **params)
            _check_space(folder, total, entry)
            digest = hashlib.new(entry.hash_algo)
            done = 0
            if progress:
                progress(0, total)
            try:
                out = open(tmp, "wb")
            except OSError as exc:
                raise CacheError("cache.error.write", path=str(tmp), reason=_reason(exc),
                                 hint="cache.hint.writable") from exc
            with out:
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise DownloadError("cache.error.interrupted", done_mb=_mb(done), total_mb=_mb(total),
                                            reason=_reason(exc), **params) from None
                    if not chunk:
                        break
                    done += len(chunk)
                    if done > MAX_FILE_BYTES:
                        raise DownloadError("cache.error.too_big", size_mb=_mb(done), **params)
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise CacheError("cache.error.write", path=str(tmp), reason=_reason(exc),
                                         hint="cache.hint.writable") from exc
                    digest.update(chunk)
                    if progress:
                        progress(done, total)
                out.flush()
                with contextlib.suppress(OSError):
                    os.fsync(out.fileno())
        if total is not None and done != total:
            raise DownloadError("cache.error.interrupted", done_mb=_mb(done), total_mb=_mb(total),
                                reason=f"{done} of {total} bytes", **params)
        actual = digest.hexdigest()
        if entry.file_hash is not None and actual != entry.file_hash:
            raise HashMismatchError("cache.error.hash_mismatch", algo=entry.hash_algo, expected=entry.file_hash,
                                    actual=actual, source=url, hint="cache.hint.bad_source", **params)
        # A pinned hash that matches is conclusive; without one, at least the structure must hold.
        if entry.file_hash is None and _structure_problem(entry, tmp, done) is not None:
            raise DownloadError("cache.error.not_weights", **params)
        try:
            os.replace(tmp, entry.path)
        except OSError as exc:
            raise CacheError("cache.error.write", path=str(entry.path), reason=_reason(exc),
                             hint="cache.hint.writable") from exc
        record = _record(entry.path, entry.hash_algo, actual)
        if entry.file_hash is None:
            record["trusted_digest"] = actual
        _update_records(folder, {entry.file_name: record})
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _fetch(entry: WeightFile, progress: Progress | None) -> Path:
    """``entry``'s path in the cache, downloading it first when missing or corrupt."""
    folder = cache_dir()
    current = _assess(entry, verify=False, records=_read_records(folder))
    if current.state == "cached" and not current.verified:
        # Present but never hash-checked (copied in by hand, or the sidecar is gone): check it
        # now, without the lock, so a read-only cache prepared by a teacher works as it is.
        current = _assess(entry, verify=True, records=_read_records(folder))
    if current.state == "cached":
        return current.path
    if offline():  # before the lock: offline mode creates nothing in the cache folder
        key = "cache.error.offline" if current.state == "missing" else "cache.error.offline_corrupt"
        raise OfflineError(key, **_hint_params(entry))
    with _file_lock(entry.file_name):
        # Whoever held the lock before us may have just downloaded it.
        current = _assess(entry, verify=False, records=_read_records(folder))
        if current.state == "cached" and not current.verified:
            current = _assess(entry, verify=True, records=_read_records(folder))
        if current.state == "cached":
            return current.path
        _download(entry, progress)
    return entry.path


def fetch_weights(name: str, include_top: bool = True, progress: Progress | None = None) -> Path:
    """Path of ``name``'s ImageNet weights in the cache, downloaded (once) if needed.

    Args:
        name: registry name, e.g. "resnet50".
        include_top: False for the "notop" file (feature extractor, transfer learning).
        progress: ``progress(done_bytes, total_bytes_or_None)`` while downloading.

    Raises:
        NoPretrainedWeightsError: the model has no weights file.
        OfflineError: offline mode, or the server cannot be reached.
        DownloadError: HTTP error or interrupted transfer.
        HashMismatchError: the server sent a file with the wrong hash.
        CacheError: the cache folder is not writable or the disk is full.
    """
    return _fetch(weights_file(name, include_top), progress)


def fetch_labels(progress: Progress | None = None) -> Path:
    """Path of ``imagenet_class_index.json`` in the cache, downloaded (once) if needed."""
    return _fetch(labels_file(), progress)


_labels_memo: dict[tuple, list[str]] = {}


def load_labels() -> list[str] | None:
    """ImageNet's 1000 class names in index order ("tench", "goldfish", ..., "tabby", ...).

    Read from the cached class index (underscores become spaces); None when the file
    is absent or damaged. Never downloads: call :func:`fetch_labels` for that.
    """
    entry = labels_file()
    path = cache_dir() / entry.file_name
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _labels_memo:
        return list(_labels_memo[key])
    if _assess(entry, verify=True, records={}).state != "cached":
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

def status(names: Iterable[str] | None = None, verify: bool = False, *,
           include_top: bool | None = True) -> list[EntryStatus]:
    """State of cache files, cheap unless ``verify``.

    Args:
        names: registry names (and/or "labels"). None: every model's top file and the
            labels, plus every "notop" file that is on disk.
        verify: hash every present file (slow for big files); otherwise remembered
            hash checks and the structural check decide.
        include_top: which file of each named model: True (top), False (notop), None (both).

    Raises:
        NoPretrainedWeightsError: a name without weights.
    """
    records = _read_records(cache_dir())
    entries = _entries_for(names, include_top)
    out = [_assess(entry, verify=verify, records=records) for entry in entries]
    if names is None and include_top is True:
        for name in WEIGHTS:
            notop = _assess(weights_file(name, False), verify=verify, records=records)
            if notop.state != "missing":
                out.append(notop)
    return out


def verify(names: Iterable[str] | None = None) -> list[EntryStatus]:
    """Hash-check every cached file of ``names`` (default: all, top and notop); corrupt ones are reported."""
    states = status(names, verify=True, include_top=None)
    return [s for s in states if s.state != "missing"]


def prefetch(names: Iterable[str] | None = None, progress: Callable[[WeightFile, int, int | None], None] | None = None,
             *, include_top: bool | None = True, labels: bool | None = None) -> list[Path]:
    """Download what is missing so the app works offline afterwards.

    Args:
        names: registry names; default the four homework models (``cnnviz.HOMEWORK_MODELS``).
        progress: ``progress(entry, done_bytes, total_bytes_or_None)``.
        include_top: True (top files), False (notop), None (both: classify and transfer learning).
        labels: also fetch the ImageNet class index; default True when ``names`` is None.

    Returns:
        The cached paths.

    Raises:
        OfflineError: at the first file when there is no network (the rest would fail too).
        CacheError: the first failure after every other file was tried.
    """
    if names is None:
        names, labels = list(cnnviz.HOMEWORK_MODELS), (True if labels is None else labels)
    names = [names] if isinstance(names, str) else list(names)
    entries = _entries_for([n for n in names if str(n).strip().lower() != LABELS], include_top)
    if labels or any(str(n).strip().lower() == LABELS for n in names):
        entries.append(labels_file())
    paths: list[Path] = []
    failures: list[CacheError] = []
    for entry in entries:
        callback = (lambda done, total, _e=entry: progress(_e, done, total)) if progress else None
        try:
            paths.append(_fetch(entry, callback))
        except OfflineError:
            raise
        except CacheError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    return paths


class Removed(NamedTuple):
    """A file :func:`clear` deleted, and how many bytes that freed."""

    path: Path
    size: int


def clear(names: Iterable[str] | None = None) -> list[Removed]:
    """Delete cached files of ``names`` (both top and notop; "labels" allowed), default all.

    Also removes leftovers of interrupted downloads. Files that are not cnnviz's
    (README.md, anything else in the folder) are never touched.

    Returns:
        The deleted files.
    """
    folder = cache_dir()
    entries = _entries_for(names, None)
    removed: list[Removed] = []
    if not folder.is_dir():
        return removed
    for entry in entries:
        with _file_lock(entry.file_name):
            candidates = [folder / entry.file_name, *folder.glob(f".{entry.file_name}.*{PART_SUFFIX}")]
            for path in candidates:
                try:
                    size = path.stat().st_size
                    path.unlink()
                    removed.append(Removed(path, size))
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise CacheError("cache.error.write", path=str(path), reason=_reason(exc),
                                     hint="cache.hint.writable") from exc
    _update_records(folder, {entry.file_name: None for entry in entries})
    return removed


# --------------------------------------------------------------------------- export / import

def export_zip(path: str | os.PathLike) -> list[EntryStatus]:
    """Write every intact cached file into the zip ``path`` (for machines without network).

    Each file is hash-checked first; corrupt files are left out. The zip is written
    to a temporary name and renamed, so a half-written zip never exists.

    Returns:
        The exported entries.

    Raises:
        CacheError: nothing intact to export, or the zip cannot be written.
    """
    target = Path(path).expanduser()
    states = [s for s in verify() if s.state == "cached"]
    if not states:
        raise CacheError("cache.error.export_empty", path=str(cache_dir()))
    records = _read_records(cache_dir())
    manifest = {"format": 1, "cnnviz": cnnviz.__version__, "files": {}}
    tmp = target.with_name(f".{target.name}.{os.getpid()}{PART_SUFFIX}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for s in states:
                # HDF5 weights barely compress; the JSON labels do.
                method = zipfile.ZIP_DEFLATED if s.file_name.endswith(".json") else zipfile.ZIP_STORED
                zf.write(s.path, arcname=s.file_name, compress_type=method)
                record = records.get(s.file_name) or {}
                manifest["files"][s.file_name] = {"size": s.size, "algo": record.get("algo"),
                                                  "digest": record.get("digest")}
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(tmp, target)
    except OSError as exc:
        raise CacheError("cache.error.write", path=str(target), reason=_reason(exc)) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return states


def _zip_entry_name(info: zipfile.ZipInfo, zip_path: Path) -> str | None:
    """The cache file name of a zip entry; None for entries to skip; raises if unsafe."""
    raw = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ZipImportError("cache.error.zip_symlink", zip=str(zip_path), entry=raw)
    normalized = raw.replace("\\", "/")
    pure = PurePosixPath(normalized)
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":") or ".." in pure.parts:
        raise ZipImportError("cache.error.zip_escape", zip=str(zip_path), entry=raw)
    if info.is_dir():
        return None
    if pure.name in _IGNORED_IN_ZIP:
        return None
    return pure.name


def import_zip(path: str | os.PathLike) -> list[EntryStatus]:
    """Install the files of a cache zip (from :func:`export_zip`, or a zipped ``models_cache/``).

    Every entry must be a file of the table; each is streamed to a temporary file,
    checked against the table's hash (or, for MobileNetV2, the export's manifest and
    the HDF5 structure), and only when every entry passed are they all renamed into
    place. Entries that would escape the cache folder (``../``, absolute paths,
    symlinks) or are unknown refuse the whole zip before anything is written.

    Returns:
        The imported entries.

    Raises:
        ZipImportError: not a zip, unknown or unsafe entries, nothing to import.
        HashMismatchError: an entry's content does not match its hash.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise ZipImportError("cache.error.zip_missing", zip=str(source))
    known = _by_file_name()
    folder = cache_dir()
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ZipImportError("cache.error.zip_invalid", zip=str(source), reason=_reason(exc)) from None
    staged: list[tuple[WeightFile, Path, str]] = []
    try:
        with zf:
            plan: dict[str, zipfile.ZipInfo] = {}
            for info in zf.infolist():
                name = _zip_entry_name(info, source)
                if name is None:
                    continue
                if name not in known:
                    raise ZipImportError("cache.error.zip_unknown", zip=str(source), entry=info.filename)
                if name in plan:
                    raise ZipImportError("cache.error.zip_duplicate", zip=str(source), entry=info.filename)
                if info.file_size > MAX_FILE_BYTES:
                    raise ZipImportError("cache.error.zip_too_big", zip=str(source), entry=info.filename)
                plan[name] = info
            if not plan:
                raise ZipImportError("cache.error.zip_empty", zip=str(source))
            manifest = {}
            if MANIFEST in zf.namelist():
                with contextlib.suppress(ValueError, KeyError, TypeError, zipfile.BadZipFile):
                    manifest = json.loads(zf.read(MANIFEST)).get("files", {}) or {}
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CacheError("cache.error.write", path=str(folder), reason=_reason(exc),
                                 hint="cache.hint.writable") from exc
            for name, info in plan.items():
                entry = known[name]
                tmp = _part_path(folder, name)
                staged.append((entry, tmp, ""))
                digest = hashlib.new(entry.hash_algo)
                size = 0
                try:
                    with zf.open(info) as src, open(tmp, "wb") as out:
                        for block in iter(lambda: src.read(CHUNK), b""):
                            size += len(block)
                            if size > MAX_FILE_BYTES:
                                raise ZipImportError("cache.error.zip_too_big", zip=str(source),
                                                     entry=info.filename)
                            digest.update(block)
                            out.write(block)
                except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
                    raise ZipImportError("cache.error.zip_invalid", zip=str(source), reason=_reason(exc)) from None
                except OSError as exc:
                    raise CacheError("cache.error.write", path=str(tmp), reason=_reason(exc),
                                     hint="cache.hint.writable") from exc
                actual = digest.hexdigest()
                expected = entry.file_hash
                if expected is None:
                    meta = manifest.get(name) if isinstance(manifest, dict) else None
                    if isinstance(meta, dict) and meta.get("algo") == entry.hash_algo and meta.get("digest"):
                        expected = str(meta["digest"])
                if expected is not None and actual != expected:
                    raise HashMismatchError("cache.error.hash_mismatch", algo=entry.hash_algo, expected=expected,
                                            actual=actual, source=f"{source}:{info.filename}",
                                            hint="cache.hint.bad_zip", **_hint_params(entry))
                if entry.file_hash is None and _structure_problem(entry, tmp, size) is not None:
                    raise ZipImportError("cache.error.zip_not_weights", zip=str(source), entry=info.filename)
                staged[-1] = (entry, tmp, actual)
        # Every entry passed: move them into place, each under its download lock.
        changes: dict[str, dict] = {}
        for entry, tmp, actual in staged:
            with _file_lock(entry.file_name):
                os.replace(tmp, folder / entry.file_name)
                record = _record(folder / entry.file_name, entry.hash_algo, actual)
                if entry.file_hash is None:
                    record["trusted_digest"] = actual
                changes[entry.file_name] = record
        _update_records(folder, changes)
    finally:
        for _, tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
    records = _read_records(folder)
    return [_assess(entry, verify=False, records=records) for entry, _, _ in staged]

