"""The download cache: the only code that knows ``models_cache/``.

Every file the app downloads is described by a :class:`FileRecord` (origin URL, file
name, pinned hash) that its owner keeps beside what uses it -- the zoo's pretrained
weights on each model spec, ImageNet's class index in :mod:`cnnviz.zoo.pretrained`.
This module knows no model: it fetches a record's file once through its URL (or a
mirror of it), checks it against the hash and keeps it under :func:`cache_dir`:

- downloads stream into a temporary file in the cache folder and are renamed into
  place only after the hash matched, so an interrupted or corrupted download never
  leaves a file that looks complete;
- a per-file lock (a thread lock plus ``flock`` on a lock file) makes two sessions
  that ask for the same file at once download it once: the second finds it cached;
- ``CNNVIZ_OFFLINE=1`` or any network failure raises a typed, translated
  :class:`CacheError` that says which file is missing, where it would go and how to
  get it there (prefetch, import a zip, or a mirror) -- within seconds, never a hang;
- ``CNNVIZ_WEIGHTS_MIRROR=http://host/path/`` replaces the
  ``https://storage.googleapis.com/`` prefix (:data:`MIRROR_ORIGINS`), so a mirror is a
  copy of that folder tree (``file:///media/usb/keras/`` works too); hashes are still
  checked.

Files cnnviz derives itself (converted models...) go under :func:`derived_dir`;
:func:`derived_status` lists them and :func:`clear_derived` removes them.

:func:`status` is cheap enough for the sidebar of every page: it never hashes a
100 MB file. A successful hash check is remembered in a small sidecar
(``.verified.json``: size, mtime and digest per file); a file without a matching
record gets a structural check instead (HDF5 superblock: a truncated file is shorter
than the end-of-file address it declares). :func:`verify` and :func:`fetch`
do the full hash check.

Public API (records in, paths and :class:`EntryStatus` out): :func:`fetch`,
:func:`path`, :func:`status`, :func:`verify`, :func:`prefetch`, :func:`clear`,
:func:`export_zip`, :func:`import_zip`; :func:`cache_dir`, :func:`offline`,
:func:`mirror_prefix`; :func:`derived_dir`, :func:`derived_status`, :func:`clear_derived`.

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
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, NamedTuple

import cnnviz
from cnnviz import fileio, settings
from cnnviz.errors import UserFacingError
from cnnviz.i18n import translate

Progress = Callable[[int, "int | None"], None]
"""``progress(done_bytes, total_bytes_or_None)``, called as a download advances."""

MIRROR_ORIGINS: tuple[str, ...] = ("https://storage.googleapis.com/",)
"""Origin prefixes ``CNNVIZ_WEIGHTS_MIRROR`` replaces (Keras' weights, its datasets and
ImageNet's class index all live under this one); see :attr:`FileRecord.mirror_path`."""

DERIVED = "derived"
"""Folder under the cache root for files cnnviz makes itself (see :func:`derived_dir`)."""

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
PART_SUFFIX = fileio.PART_SUFFIX
MANIFEST = "cnnviz-cache.json"
"""Manifest written into exported zips (digests of files Keras pins no hash for)."""
_IGNORED_IN_ZIP = {"README.md", ".gitignore", MANIFEST, SIDECAR}

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


class ZipImportError(CacheError, ValueError):
    """A cache zip that cnnviz refuses to import (unsafe or unknown entries, not a zip)."""


# --------------------------------------------------------------------------- data

@dataclass(frozen=True)
class FileRecord:
    """One file fetched from outside, pinned to its hash: all the cache needs to know about it.

    Owners keep their records beside what uses them (the zoo's pretrained weights on each
    :class:`cnnviz.zoo.ModelSpec`, ImageNet's class index in :mod:`cnnviz.zoo.pretrained`,
    datasets beside the labs); this module only fetches, checks, lists, removes and
    carries files by record.

    Attributes:
        url: the origin URL (where Keras itself downloads it). With a mirror set, the
            part after a known origin prefix (:data:`MIRROR_ORIGINS`) is the file's
            path in the mirror; see :attr:`mirror_path`.
        filename: the file's name in the cache folder (and in an exported zip); unique
            across all records.
        file_hash: hex digest the owner pins, or None when none is known (MobileNetV2's
            weights): then the file gets a structural check and the digest seen on first
            download is remembered ("trust on first use").
        hash_algo: "md5" or "sha256"; "" (default) picks as keras' ``get_file(hash_algorithm="auto")``:
            64 hex digits are SHA-256, anything else MD5 (SHA-256 when unpinned).
        name: what the file belongs to, shown in tables and messages ("resnet50", "labels", "mnist").
        include_top: for model weights, True (classifier "top" file) or False ("notop");
            None for any other file.
    """

    url: str
    filename: str
    file_hash: str | None
    hash_algo: str = ""
    name: str = ""
    include_top: bool | None = None

    def __post_init__(self) -> None:
        if not self.hash_algo:
            object.__setattr__(self, "hash_algo", _algo(self.file_hash))
        if self.hash_algo not in ("md5", "sha256"):
            raise ValueError(f"hash_algo must be 'md5' or 'sha256'; got hash_algo={self.hash_algo!r}")
        if not self.filename or "/" in self.filename or "\\" in self.filename or self.filename.startswith("."):
            raise ValueError(f"filename must be a plain file name; got filename={self.filename!r}")
        if "://" not in self.url:
            raise ValueError(f"url must be absolute; got url={self.url!r}")
        if not self.name:
            object.__setattr__(self, "name", self.filename)

    @property
    def mirror_path(self) -> str:
        """The file's path under a mirror's root: :attr:`url` without its known origin prefix.

        ``https://storage.googleapis.com/tensorflow/keras-applications/resnet/x.h5`` →
        ``tensorflow/keras-applications/resnet/x.h5`` (so a mirror is a copy of that
        folder tree, weights and ``tf-keras-datasets`` alike); a URL under no known
        prefix keeps host and path (``www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz``).
        """
        for origin in MIRROR_ORIGINS:
            if self.url.startswith(origin):
                return self.url[len(origin):]
        return self.url.split("://", 1)[1]

    @property
    def path(self) -> Path:
        """Where the file lives (or will live) in the cache (same as :func:`path`)."""
        return cache_dir() / self.filename

    @property
    def fetch_url(self) -> str:
        """Where cnnviz downloads from: :attr:`url`, or the mirror's copy of it."""
        mirror = mirror_prefix()
        return (mirror + self.mirror_path) if mirror else self.url

    @property
    def label(self) -> str:
        """Short human name for messages and progress lines: "resnet50", "resnet50 (notop)"."""
        return self.name if self.include_top is not False else f"{self.name} (notop)"

    @property
    def is_hdf5(self) -> bool:
        return self.filename.endswith(".h5")


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
    return settings.env_bool(ENV_OFFLINE, False)


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
    """(connect, read) seconds; ``CNNVIZ_DOWNLOAD_TIMEOUT`` overrides both (tests, slow links).

    Raises:
        settings.SettingError: the variable is set but is not a number of seconds above 0.
    """
    value = settings.env_float(ENV_TIMEOUT, 0.0, low=0, low_open=True)
    return (value, value) if value else (CONNECT_TIMEOUT, READ_TIMEOUT)


# --------------------------------------------------------------------------- records

def _algo(file_hash: str | None) -> str:
    # keras.utils.get_file(hash_algorithm="auto"): 64 hex digits are SHA-256, anything else MD5.
    return "sha256" if file_hash is None or len(file_hash) == 64 else "md5"


def path(record: FileRecord) -> Path:
    """Where ``record``'s file lives (or will live) in the cache."""
    return cache_dir() / record.filename


_path_of = path  # for functions whose argument is also called ``path``


# --------------------------------------------------------------------------- locks

@contextlib.contextmanager
def file_lock(name: str) -> Iterator[None]:
    """Exclusive lock named ``name`` across threads and processes (:func:`cnnviz.fileio.file_lock`).

    The lock files live in ``<cache>/.locks/<name>.lock`` and are never deleted. Used around
    a download, an import, a clear, the sidecar, and by owners of derived files (LiteRT).

    Raises:
        CacheError: the lock folder cannot be written (a read-only cache).
    """
    lock_dir = cache_dir() / LOCK_DIR
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(fileio.file_lock(lock_dir / (name + ".lock")))
        except OSError as exc:
            raise CacheError("cache.error.write", path=str(lock_dir), reason=_reason(exc),
                             hint="cache.hint.writable") from exc
        yield




# --------------------------------------------------------------------------- hashing, records

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
        with file_lock("sidecar"):
            records = _read_records(folder)
            for file_name, record in changes.items():
                if record is None:
                    records.pop(file_name, None)
                else:
                    records[file_name] = record
            fileio.write_json(folder / SIDECAR, records, indent=1, sort_keys=True)
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


def _structure_problem(entry: FileRecord, path: Path, size: int) -> str | None:
    if size == 0:
        return "truncated"
    if entry.is_hdf5:
        return _hdf5_problem(path, size)
    return None


def _assess(entry: FileRecord, *, verify: bool, records: dict[str, dict]) -> EntryStatus:
    """State of ``entry`` on disk. ``verify`` forces a full hash (and records the result).

    Without ``verify`` a big file is judged by its sidecar record (a hash check done
    earlier for this exact size and mtime) or, lacking one, by the structural check.
    """
    path = cache_dir() / entry.filename

    def result(state: str, size: int | None, verified: bool, problem: str | None = None,
               expected_size: int | None = None) -> EntryStatus:
        return EntryStatus(entry.name, entry.include_top, entry.filename, state, path, size, verified, entry.fetch_url,
                           problem, expected_size)

    try:
        st = path.stat()
    except OSError:
        return result("missing", None, False)
    if not stat.S_ISREG(st.st_mode):
        return result("corrupt", None, False, "format")
    size = st.st_size
    record = records.get(entry.filename) or {}
    expected_size = record.get("size") if isinstance(record.get("size"), int) else None
    # Keras pins no hash for some files: then the digest recorded at download time is the reference.
    expected = entry.file_hash or record.get("trusted_digest")
    fresh = (record.get("size") == size and record.get("mtime_ns") == st.st_mtime_ns
             and record.get("algo") == entry.hash_algo and bool(record.get("digest")))
    small = size <= 4 * 1024 * 1024  # the labels file: hashing it costs nothing
    if verify or small:
        try:
            digest = fileio.hash_file(path, entry.hash_algo)
        except OSError:
            return result("corrupt", size, True, "format", expected_size)
        if verify and not small:
            new_record = _record(path, entry.hash_algo, digest)
            if record.get("trusted_digest"):
                new_record["trusted_digest"] = record["trusted_digest"]
            _update_records(cache_dir(), {entry.filename: new_record})
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
    if isinstance(exc, fileio.FileWriteError) and exc.__cause__ is not None:
        exc = exc.__cause__  # the OS's own words, not fileio's sentence
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    elif isinstance(reason, str) and reason:
        return reason.splitlines()[0]
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _hint_params(entry: FileRecord) -> dict[str, object]:
    return {"model": entry.name, "file": entry.filename, "path": str(cache_dir() / entry.filename)}


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


def _open(entry: FileRecord, url: str):
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


def _check_space(folder: Path, total: int | None, entry: FileRecord) -> None:
    if total is None:
        return
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < total + 16 * 1024 * 1024:
        raise CacheError("cache.error.no_space", file=entry.filename, path=str(folder), needed_mb=_mb(total),
                         free_mb=_mb(free))


def _mb(size: int | None) -> str:
    return "?" if size is None else f"{size / 1e6:.1f}"


def _part_path(folder: Path, file_name: str) -> Path:
    return fileio.temp_path(folder / file_name)


def _download(entry: FileRecord, progress: Progress | None) -> None:
    """Download ``entry`` into the cache (caller holds its lock). Raises a :class:`CacheError`."""
    import http.client

    url = entry.fetch_url
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError("cache.error.write", path=str(folder), reason=_reason(exc), hint="cache.hint.writable") from exc
    tmp = _part_path(folder, entry.filename)
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
            fileio.replace(tmp, _path_of(entry))
        except OSError as exc:
            raise CacheError("cache.error.write", path=str(_path_of(entry)), reason=_reason(exc),
                             hint="cache.hint.writable") from exc
        record = _record(_path_of(entry), entry.hash_algo, actual)
        if entry.file_hash is None:
            record["trusted_digest"] = actual
        _update_records(folder, {entry.filename: record})
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def fetch(entry: FileRecord, progress: Progress | None = None) -> Path:
    """Path of ``entry``'s file in the cache, downloaded (once) if missing or corrupt.

    Args:
        entry: the file's record.
        progress: ``progress(done_bytes, total_bytes_or_None)`` while downloading.

    Raises:
        OfflineError: offline mode, or the server cannot be reached.
        DownloadError: HTTP error or interrupted transfer.
        HashMismatchError: the server sent a file with the wrong hash.
        CacheError: the cache folder is not writable or the disk is full.
    """
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
    with file_lock(entry.filename):
        # Whoever held the lock before us may have just downloaded it.
        current = _assess(entry, verify=False, records=_read_records(folder))
        if current.state == "cached" and not current.verified:
            current = _assess(entry, verify=True, records=_read_records(folder))
        if current.state == "cached":
            return current.path
        _download(entry, progress)
    return _path_of(entry)


# --------------------------------------------------------------------------- status, prefetch, verify, clear

def status(records: Iterable[FileRecord], verify: bool = False) -> list[EntryStatus]:
    """State of each record's file, in order; cheap unless ``verify``.

    Args:
        records: the files to look at.
        verify: hash every present file (slow for big files); otherwise remembered
            hash checks and the structural check decide.
    """
    known = _read_records(cache_dir())
    return [_assess(entry, verify=verify, records=known) for entry in records]


def verify(records: Iterable[FileRecord]) -> list[EntryStatus]:
    """Hash-check every cached file of ``records``; absent ones are left out, corrupt ones reported."""
    return [s for s in status(records, verify=True) if s.state != "missing"]


def prefetch(records: Iterable[FileRecord],
             progress: Callable[[FileRecord, int, int | None], None] | None = None) -> list[Path]:
    """Download what is missing of ``records`` so the app works offline afterwards.

    Args:
        records: the files to have in the cache.
        progress: ``progress(record, done_bytes, total_bytes_or_None)``.

    Returns:
        The cached paths.

    Raises:
        OfflineError: at the first file when there is no network (the rest would fail too).
        CacheError: the first failure after every other file was tried.
    """
    paths: list[Path] = []
    failures: list[CacheError] = []
    for entry in records:
        callback = (lambda done, total, _e=entry: progress(_e, done, total)) if progress else None
        try:
            paths.append(fetch(entry, callback))
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



def _remove(path: Path, removed: list[Removed]) -> None:
    """Delete one cached file (or an emptied folder) and record it; a vanished file is fine."""
    try:
        if path.is_dir():
            path.rmdir()
            return
        size = path.stat().st_size
        path.unlink()
        removed.append(Removed(path, size))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise CacheError("cache.error.write", path=str(path), reason=_reason(exc),
                         hint="cache.hint.writable") from exc

def clear(records: Iterable[FileRecord]) -> list[Removed]:
    """Delete the cached files of ``records`` and leftovers of their interrupted downloads.

    Files that are not named by a record (README.md, anything else in the folder) are
    never touched; :func:`clear_derived` removes derived files.

    Returns:
        The deleted files.
    """
    folder = cache_dir()
    entries = list(records)
    removed: list[Removed] = []
    if not folder.is_dir():
        return removed
    for entry in entries:
        with file_lock(entry.filename):
            candidates = [folder / entry.filename, *folder.glob(f".{entry.filename}.*{PART_SUFFIX}")]
            for path in candidates:
                _remove(path, removed)
    _update_records(folder, {entry.filename: None for entry in entries})
    return removed


# --------------------------------------------------------------------------- export / import

def export_zip(path: str | os.PathLike, records: Iterable[FileRecord]) -> list[EntryStatus]:
    """Write every intact cached file of ``records`` into the zip ``path`` (for machines without network).

    Each file is hash-checked first; corrupt files are left out. The zip is written
    to a temporary name and renamed, so a half-written zip never exists.

    Returns:
        The exported entries.

    Raises:
        CacheError: nothing intact to export, or the zip cannot be written.
    """
    target = Path(path).expanduser()
    states = [s for s in verify(records) if s.state == "cached"]
    if not states:
        raise CacheError("cache.error.export_empty", path=str(cache_dir()))
    sidecar = _read_records(cache_dir())
    manifest = {"format": 1, "cnnviz": cnnviz.__version__, "files": {}}
    try:
        with fileio.atomic_path(target) as tmp, \
                zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for s in states:
                # HDF5 weights barely compress; the JSON labels do.
                method = zipfile.ZIP_DEFLATED if s.file_name.endswith(".json") else zipfile.ZIP_STORED
                zf.write(s.path, arcname=s.file_name, compress_type=method)
                record = sidecar.get(s.file_name) or {}
                manifest["files"][s.file_name] = {"size": s.size, "algo": record.get("algo"),
                                                  "digest": record.get("digest")}
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    except OSError as exc:
        raise CacheError("cache.error.write", path=str(target), reason=_reason(exc)) from exc
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


def import_zip(path: str | os.PathLike, records: Iterable[FileRecord]) -> list[EntryStatus]:
    """Install the files of a cache zip (from :func:`export_zip`, or a zipped ``models_cache/``).

    Every entry must be the file of one of ``records``; each is streamed to a temporary
    file, checked against its record's hash (or, when the record pins none, the export's
    manifest and the HDF5 structure), and only when every entry passed are they all renamed into
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
    known = {entry.filename: entry for entry in records}
    folder = cache_dir()
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ZipImportError("cache.error.zip_invalid", zip=str(source), reason=_reason(exc)) from None
    staged: list[tuple[FileRecord, Path, str]] = []
    try:
        with zf:
            plan = _zip_plan(zf, source, known)
            manifest = _zip_manifest(zf)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CacheError("cache.error.write", path=str(folder), reason=_reason(exc),
                                 hint="cache.hint.writable") from exc
            for name, info in plan.items():
                tmp = _part_path(folder, name)
                staged.append((known[name], tmp, ""))
                staged[-1] = (known[name], tmp, _stage_zip_entry(zf, info, known[name], tmp, source, manifest))
        _install_staged(folder, staged)
    finally:
        for _, tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
    sidecar = _read_records(folder)
    return [_assess(entry, verify=False, records=sidecar) for entry, _, _ in staged]


def _zip_plan(zf: zipfile.ZipFile, source: Path, known: dict[str, FileRecord]) -> dict[str, zipfile.ZipInfo]:
    """Cache file name → zip entry, for every entry to import; refuses the zip before anything is written."""
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
    return plan


def _zip_manifest(zf: zipfile.ZipFile) -> dict:
    """The ``files`` table of an exported zip's manifest (digests Keras pins none for); {} if absent or unreadable."""
    if MANIFEST not in zf.namelist():
        return {}
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile):
        files = json.loads(zf.read(MANIFEST)).get("files", {}) or {}
        return files if isinstance(files, dict) else {}
    return {}


def _stage_zip_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, entry: FileRecord, tmp: Path, source: Path,
                     manifest: dict) -> str:
    """Stream one zip entry to ``tmp`` and check it; returns its digest (raises if it does not pass)."""
    digest = hashlib.new(entry.hash_algo)
    size = 0
    try:
        with zf.open(info) as src, open(tmp, "wb") as out:
            for block in iter(lambda: src.read(CHUNK), b""):
                size += len(block)
                if size > MAX_FILE_BYTES:
                    raise ZipImportError("cache.error.zip_too_big", zip=str(source), entry=info.filename)
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
        meta = manifest.get(entry.filename)
        if isinstance(meta, dict) and meta.get("algo") == entry.hash_algo and meta.get("digest"):
            expected = str(meta["digest"])
    if expected is not None and actual != expected:
        raise HashMismatchError("cache.error.hash_mismatch", algo=entry.hash_algo, expected=expected,
                                actual=actual, source=f"{source}:{info.filename}",
                                hint="cache.hint.bad_zip", **_hint_params(entry))
    if entry.file_hash is None and _structure_problem(entry, tmp, size) is not None:
        raise ZipImportError("cache.error.zip_not_weights", zip=str(source), entry=info.filename)
    return actual


def _install_staged(folder: Path, staged: list[tuple[FileRecord, Path, str]]) -> None:
    """Every entry passed: move each into place under its download lock, then record the digests."""
    changes: dict[str, dict] = {}
    for entry, tmp, actual in staged:
        with file_lock(entry.filename):
            fileio.replace(tmp, folder / entry.filename)
            record = _record(folder / entry.filename, entry.hash_algo, actual)
            if entry.file_hash is None:
                record["trusted_digest"] = actual
            changes[entry.filename] = record
    _update_records(folder, changes)


# --------------------------------------------------------------------------- derived files

def derived_dir(kind: str) -> Path:
    """Folder for files of ``kind`` that cnnviz makes itself (e.g. ``"litert"`` models).

    ``<cache>/derived/<kind>/``; not created here. Whatever an owner writes there is
    listed by :func:`derived_status` (so ``cache status`` shows it) and removed by
    :func:`clear_derived` (so ``cache clear`` frees it). Derived files are rebuilt
    from cached downloads, so they carry no hash and are not exported.

    Raises:
        ValueError: ``kind`` is not a plain lowercase name.
    """
    if not kind or not kind.replace("_", "").replace("-", "").isalnum() or kind != kind.lower():
        raise ValueError(f"derived kind must be a plain lowercase name; got kind={kind!r}")
    return cache_dir() / DERIVED / kind


def _derived_files(kind: str | None) -> list[tuple[str, Path]]:
    root = cache_dir() / DERIVED
    kinds = [kind] if kind is not None else sorted(p.name for p in root.iterdir() if p.is_dir()) \
        if root.is_dir() else []
    out = []
    for k in kinds:
        folder = derived_dir(k)
        if folder.is_dir():
            out += [(k, p) for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(PART_SUFFIX)]
    return out


def derived_status(kind: str | None = None) -> list[EntryStatus]:
    """Derived files on disk (of ``kind``, default all), as "cached" entries named by their kind."""
    out = []
    for k, file in _derived_files(kind):
        size = file.stat().st_size
        out.append(EntryStatus(k, None, file.relative_to(derived_dir(k)).as_posix(), "cached", file, size, False,
                               "", None, None))
    return out


def clear_derived(kind: str | None = None) -> list[Removed]:
    """Delete derived files (of ``kind``, default all), leftovers of unfinished writes included."""
    removed: list[Removed] = []
    root = cache_dir() / DERIVED
    if not root.is_dir():
        return removed
    folders = [derived_dir(kind)] if kind is not None else [p for p in root.iterdir() if p.is_dir()]
    for folder in folders:
        if not folder.is_dir():
            continue
        for file in sorted(folder.rglob("*"), reverse=True):
            _remove(file, removed)
    return removed
