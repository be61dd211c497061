"""Files written whole or not at all, hashed and locked: the one home of temp file + ``os.replace``.

- :func:`atomic_path` / :func:`atomic_writer`: the new content goes to a temporary file in
  the target's own folder (so the rename never crosses a file system), is flushed to disk
  (``fsync``), renamed over the target with ``os.replace`` and the folder is synced too, so
  after a crash a reader sees the old file or the new one, never half a file. On any error
  the temporary file is removed.
- :func:`write_bytes`, :func:`write_text`, :func:`write_json`, :func:`save_keras` on top.
- :func:`hash_file`: hex digest of a file, read in blocks.
- :func:`file_lock`: an exclusive lock across threads (a thread lock) and processes
  (``flock``, ``msvcrt.locking`` on Windows) on a lock file that is never deleted.

A write that fails raises :class:`FileWriteError` (an ``OSError`` too, so callers that
catch ``OSError`` keep working); a full disk or quota (ENOSPC/EDQUOT) raises its subclass
:class:`DiskFullError`, one message in every language. No TensorFlow at import
(:func:`save_keras` only calls the model's own ``save``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from cnnviz.errors import UserFacingError

PART_SUFFIX = ".part"
"""Suffix of the temporary files (``.<name>.<token>.part``); cleaners may glob for it."""

DISK_FULL_ERRNOS = tuple(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None)


class FileWriteError(UserFacingError, OSError):
    """A file could not be written (permissions, read-only disk...); no half-written file is left."""

    def __init__(self, key: str, *, errno_code: int | None = None, **params: object) -> None:
        super().__init__(key, **params)
        self.errno = errno_code


class DiskFullError(FileWriteError):
    """The disk (or the user's quota) is full: ENOSPC or EDQUOT."""


def is_disk_full(exc: BaseException) -> bool:
    """True for an ``OSError`` that means "no space left" (ENOSPC, EDQUOT)."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def write_error(exc: OSError, path: str | os.PathLike) -> FileWriteError:
    """The :class:`FileWriteError` (or :class:`DiskFullError`) that says why ``path`` was not written."""
    if isinstance(exc, FileWriteError):
        return exc
    if is_disk_full(exc):
        return DiskFullError("fileio.error.disk_full", errno_code=exc.errno, path=str(path))
    reason = (exc.strerror or str(exc) or type(exc).__name__).splitlines()[0]
    return FileWriteError("fileio.error.write", errno_code=exc.errno, path=str(path), reason=reason)


# --------------------------------------------------------------------------- atomic writes

def temp_path(path: str | os.PathLike, suffix: str = PART_SUFFIX) -> Path:
    """A fresh temporary name beside ``path``: ``.<name>.<pid>-<thread>-<random><suffix>``."""
    path = Path(path)
    token = f"{os.getpid()}-{threading.get_ident()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.name}.{token}{suffix}")


def _fsync(path: Path, *, directory: bool = False) -> None:
    """Flush ``path`` (a file, or a folder's entries) to disk; a system that cannot is not an error."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sync_folder(path: str | os.PathLike) -> None:
    """Flush a folder's entries to disk (the names of the files renamed into it); best effort."""
    _fsync(Path(path), directory=True)


def replace(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Put the finished temporary file ``tmp`` in place of ``path``: fsync, ``os.replace``, fsync the folder.

    For writers that stage several files and commit them together (a cache zip import);
    everything else uses :func:`atomic_path`. ``tmp`` must be in ``path``'s folder
    (:func:`temp_path`). Raises ``OSError`` as ``os.replace`` does.
    """
    tmp, path = Path(tmp), Path(path)
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent, directory=True)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = PART_SUFFIX) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, that file becomes ``path``.

    The block writes the temporary file by any means (``open``, ``zipfile``, ``model.save``...).
    Then it is fsynced, renamed over ``path`` with ``os.replace`` and the folder fsynced. If the
    block raises, or the rename fails, the temporary file is removed and ``path`` is untouched.

    Args:
        path: the file to (re)place; its folder is created if missing.
        suffix: the temporary name's ending (``model.save`` insists on ``.keras``).

    Raises:
        DiskFullError: ENOSPC/EDQUOT while writing.
        FileWriteError: any other ``OSError`` of the block or the rename (other errors pass through).
    """
    path = Path(path)
    tmp = temp_path(path, suffix)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        replace(tmp, path)
    except FileWriteError:
        raise
    except OSError as exc:
        raise write_error(exc, path) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, binary: bool = True, encoding: str = "utf-8") -> Iterator[IO]:
    """``with atomic_writer(p) as f: f.write(...)``: :func:`atomic_path` with the file opened for you."""
    with atomic_path(path) as tmp:
        with open(tmp, "xb") if binary else open(tmp, "x", encoding=encoding) as out:
            yield out


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_writer(path) as out:
        out.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_writer(path, binary=False, encoding=encoding) as out:
        out.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1, sort_keys: bool = False,
               ensure_ascii: bool = True, default: Callable[[Any], Any] | None = None) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (``json.dumps`` arguments); returns ``path``.

    The text is made before anything is written, so an object that is not serializable
    raises ``TypeError`` and leaves no file behind.
    """
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=default)
    return write_text(path, text)


def save_keras(model: Any, path: str | os.PathLike) -> Path:
    """Save a Keras model to the ``.keras`` file ``path`` atomically; returns ``path``.

    ``model.save`` insists on a ``.keras`` name, so the temporary file is ``.<name>.<token>.part.keras``.
    """
    with atomic_path(path, suffix=PART_SUFFIX + ".keras") as tmp:
        model.save(str(tmp))  # heavy: TF (the model's own method; nothing imported here)
    return Path(path)


# --------------------------------------------------------------------------- hashing

def hash_file(path: str | os.PathLike, algo: str = "sha256", *, block: int = 1024 * 1024) -> str:
    """Hex digest (``hashlib`` algorithm ``algo``) of the file at ``path``, read ``block`` bytes at a time."""
    digest = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- locks

_registry_lock = threading.Lock()
_thread_locks: dict[str, threading.Lock] = {}


def _thread_lock(key: str) -> threading.Lock:
    with _registry_lock:
        return _thread_locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def file_lock(lock_file: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` across threads and processes while the block runs.

    The lock file (and its folder) is created if missing and never deleted: deleting a lock
    file another process has open would let a third process lock a different inode.

    Raises:
        OSError: the lock file cannot be created or opened (raised before the block runs).
    """
    lock_file = Path(lock_file)
    with _thread_lock(str(lock_file.absolute())):
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_file, "a+b")
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
