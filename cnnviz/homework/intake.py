"""Dataset intake for the homework: a zip, a folder upload or a server folder of one folder per class.

The layout is Keras' ``image_dataset_from_directory``: ``<class>/<image>``; files in
sub-folders of a class belong to that class. One wrapping folder (``dataset/<class>/...``,
what "compress this folder" and a browser's folder upload produce) is looked through.

Safety, before a single image is decoded:

- The archive itself: at most :func:`upload_limit_bytes` (``CNNVIZ_UPLOAD_MB``) and
  :data:`MAX_MEMBERS` entries; the sizes the members *declare* must add up to at most
  :data:`MAX_TOTAL_BYTES` and to at most :data:`MAX_ARCHIVE_RATIO` × the archive's own size;
  every member's ratio is checked (:data:`MAX_RATIO`: a big one refuses the archive, a small
  one is refused and never unpacked); a member that inflates past what it declared stops the
  reading. Nothing is ever extracted to disk, and a zip is read from its file (never copied whole).
- Names: absolute paths, ``..`` components and drive letters refuse the whole archive
  (:class:`ArchiveError`), as do nested archives (a zip in the zip): the student re-zips.
  The same name twice (or twice but for case) and class folders whose names differ only by
  case are refused, each file with its reason.
- Server folders: only under the teacher's roots (:func:`server_folder`, ``CNNVIZ_DATASET_ROOTS``),
  walked without following links; only regular files are opened (``lstat``, then
  ``O_NONBLOCK | O_NOFOLLOW`` and ``fstat``): a FIFO or a device is refused, never read; an
  ``OSError`` is a refusal with its reason; at most :func:`upload_limit_bytes` in all.
- Images: every file goes through :func:`cnnviz.images.load_image`; what it refuses
  (not an image, damaged, a pixel or memory bomb, too big...) is listed with its reason and
  left out. Links, files outside any class folder and duplicates are listed too; system files
  (``__MACOSX``, ``.DS_Store``, ``Thumbs.db``) are counted, not listed.

Memory: :func:`load_dataset` streams, one file at a time (read, hashed, decoded at the scale
needed, kept as the centre square at the dataset's side, bytes dropped), so a dataset holds
at most its budget (:data:`BUDGET_MB_DEFAULT`) plus one file; :func:`reading_slot` bounds how
many are read at once server-wide.

No TensorFlow and no Streamlit here.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from cnnviz import images, settings
from cnnviz.errors import UserFacingError
from cnnviz.i18n import translate

UPLOAD_MB_VAR = "CNNVIZ_UPLOAD_MB"
"""The one setting for how big a dataset upload may be (MB, default 1024): the dataset uploaders'
``max_upload_size``, ``server.maxUploadSize`` must be at least this (``.streamlit/config.toml``)."""
UPLOAD_MB_DEFAULT = 1024
MAX_ARCHIVE_BYTES = UPLOAD_MB_DEFAULT * 1024 * 1024
"""Largest zip or server folder read (bytes); :func:`upload_limit_bytes` applies the setting."""
MAX_MEMBERS = 5_000
"""Most entries in one archive or folder: 50 classes × 100 photos; a homework has ~250."""
MAX_TOTAL_BYTES = 2 * 1024**3
"""Most bytes the archive's members may declare once inflated (2 GB)."""
MAX_RATIO = 200
"""Highest declared inflated/compressed ratio of one member (photos compress ~1:1, a bomb 1000:1).
Checked on every member: one over :data:`RATIO_FLOOR_BYTES` refuses the archive, a smaller one is
refused alone and never read."""
RATIO_FLOOR_BYTES = 1024 * 1024
MAX_ARCHIVE_RATIO = 20
"""Highest ratio of the bytes all members declare to the archive's own size: what is inflated
is bounded by what was uploaded (a zip of photos is ~1:1, of PNGs ~1.1:1)."""
MIN_PER_CLASS = 5
"""Fewest accepted images a class may have: one each for validation and test, the rest to train."""
MIN_CLASSES = 2
RECOMMENDED_CLASSES = 5
"""The homework asks for at least five classes; fewer is a warning, not a refusal."""
MAX_SIDE = 300
"""Side of the square each accepted image is kept at: the largest input of the pretrained models
(EfficientNetB3, 300 px; InceptionV3/Xception 299, the homework's four 224). Training crops the
centre square of the picture anyway (:func:`cnnviz.images.fit_and_crop`), so nothing it uses is lost."""
MIN_SIDE = 96
"""Smallest side the budget may shrink the kept images to (the smallest training size offered)."""
BUDGET_MB_VAR = "CNNVIZ_DATASET_BUDGET_MB"
BUDGET_MB_DEFAULT = 128
"""Pixel bytes one dataset may hold in memory (MB): ~490 images at 300 px (270 KB each; a homework
of 250 photos takes 67 MB); a larger
dataset is kept at a smaller side (down to :data:`MIN_SIDE`), so memory is bounded by the budget,
never by the archive."""
ROOTS_VAR = "CNNVIZ_DATASET_ROOTS"
"""Folders (``:``-separated) under which the page offers "Folder on the server"; unset: not offered."""
SLOTS_VAR = "CNNVIZ_INTAKE_SLOTS"
SLOTS_DEFAULT = 2
"""How many datasets the server reads at once (each holds at most its budget plus one member)."""
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst")
SYSTEM_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "__macosx", ".git"}


class DatasetError(UserFacingError, ValueError):
    """A dataset that cannot be used at all (the message says why and what to do)."""


class ArchiveError(DatasetError):
    """An archive refused as a whole: unsafe names, nested archives, over the limits, not a zip."""


class HomeworkWeightsError(UserFacingError):
    """Pretrained weights are missing and cannot be fetched (offline): names the models."""


@dataclass
class Refused:
    """A file left out, with the catalog key and parameters of its reason."""

    path: str
    key: str
    params: dict = field(default_factory=dict)

    def message(self, lang: str = "en") -> str:
        return translate(self.key, lang, **self.params)

    def to_dict(self) -> dict:
        return {"path": self.path, "key": self.key, "params": {k: str(v) for k, v in self.params.items()},
                "reason": self.message("en")}


@dataclass
class Item:
    """One accepted image."""

    path: str            # relative to the dataset root: "<class>/<file>"
    label: int
    image: Image.Image   # RGB, the centre square at the dataset's ``side`` (≤ MAX_SIDE)
    digest: str          # sha256 of the file's bytes


@dataclass
class HomeworkDataset:
    """What :func:`load_dataset` accepted and refused.

    Attributes:
        class_names: sorted folder names (the label order, as Keras sorts them).
        items: accepted images.
        refused: files left out, each with its reason.
        duplicates: groups of paths whose bytes are identical (the copies were refused).
        warnings: catalog keys of things to tell the student (e.g. fewer than 5 classes).
        ignored_system: number of system files skipped silently.
        description: catalog key of a one-line description (the demo dataset says what it is).
    """

    name: str
    class_names: list[str]
    items: list[Item]
    refused: list[Refused] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    ignored_system: int = 0
    description: str | None = None
    demo: bool = False
    side: int = MAX_SIDE
    budget_bytes: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> dict[str, int]:
        out = {c: 0 for c in self.class_names}
        for it in self.items:
            out[self.class_names[it.label]] += 1
        return out

    @property
    def labels(self) -> np.ndarray:
        return np.array([it.label for it in self.items], dtype=np.int32)

    def split(self, seed: int = 0, val: float = 0.2, test: float = 0.2) -> dict[str, np.ndarray]:
        """Stratified, seeded split: indices into ``items`` for "train", "val" and "test".

        Each class gives ``round(n·test)`` (≥ 1) images to test, ``round(n·val)`` (≥ 1) to
        validation and the rest (≥ 1) to training; the same seed always gives the same split.
        """
        rng = np.random.default_rng(seed)
        parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
        labels = self.labels
        for c in range(self.num_classes):
            idx = np.flatnonzero(labels == c)
            idx = idx[rng.permutation(len(idx))]
            n = len(idx)
            n_test = min(max(1, round(n * test)), n - 2)
            n_val = min(max(1, round(n * val)), n - 1 - n_test)
            parts["test"] += idx[:n_test].tolist()
            parts["val"] += idx[n_test:n_test + n_val].tolist()
            parts["train"] += idx[n_test + n_val:].tolist()
        return {k: np.array(sorted(v), dtype=np.int64) for k, v in parts.items()}

    def split_counts(self, seed: int = 0) -> dict[str, dict[str, int]]:
        """{class: {"train": n, "val": n, "test": n}} of :meth:`split`."""
        parts = self.split(seed)
        out = {c: {"train": 0, "val": 0, "test": 0} for c in self.class_names}
        for part, idx in parts.items():
            for i in idx:
                out[self.class_names[self.items[i].label]][part] += 1
        return out

    def samples(self, per_class: int = 6) -> dict[str, list[Item]]:
        out: dict[str, list[Item]] = {c: [] for c in self.class_names}
        for it in self.items:
            bucket = out[self.class_names[it.label]]
            if len(bucket) < per_class:
                bucket.append(it)
        return out

    def summary(self) -> dict:
        """Plain data for reports and JSON (no pixels)."""
        return {"name": self.name, "classes": list(self.class_names), "counts": self.counts(),
                "images": len(self.items), "refused": [r.to_dict() for r in self.refused],
                "duplicates": self.duplicates, "warnings": self.warnings, "ignored_system": self.ignored_system,
                "demo": self.demo, "description": self.description}


class IntakeStopped(DatasetError):
    """The reading was stopped (the page's Stop): nothing was kept."""


# --------------------------------------------------------------------------- settings

def upload_limit_mb() -> int:
    """Largest dataset upload in MB (``CNNVIZ_UPLOAD_MB``, default 1024)."""
    return settings.env_int(UPLOAD_MB_VAR, UPLOAD_MB_DEFAULT, low=1)


def upload_limit_bytes() -> int:
    return upload_limit_mb() * 1024 * 1024


def budget_bytes() -> int:
    """Pixel bytes one dataset may hold (``CNNVIZ_DATASET_BUDGET_MB``, default 128 MB)."""
    return settings.env_int(BUDGET_MB_VAR, BUDGET_MB_DEFAULT, low=1) * 1024 * 1024


def server_roots() -> list[Path]:
    """The folders the teacher configured (``CNNVIZ_DATASET_ROOTS``), resolved; only existing folders."""
    out = []
    for raw in settings.env_paths(ROOTS_VAR):
        try:
            p = Path(raw).resolve(strict=True)
        except OSError:
            continue
        if p.is_dir():
            out.append(p)
    return out


def server_folder(text: str, roots: Sequence[Path] | None = None) -> Path:
    """The dataset folder (or ``.zip``) a student typed, checked to lie under a configured root.

    ``text`` is relative to a root (or absolute, inside one). Refused: no root configured, ``~``,
    any ``..``, a path that resolves (symlinks followed) outside every root, anything but a
    folder or a regular ``.zip`` file; an ``OSError`` becomes a refusal, never a crash.

    Raises:
        DatasetError: ``homework.error.no_roots`` / ``outside_roots`` / ``not_found`` / ``unreadable``.
    """
    roots = [Path(r).resolve() for r in (server_roots() if roots is None else roots)]
    if not roots:
        raise DatasetError("homework.error.no_roots")
    text = (text or "").strip()
    shown = text[:300]
    parts = text.replace("\\", "/").split("/")
    if not text or text.startswith("~") or ".." in parts or "\x00" in text:
        raise DatasetError("homework.error.outside_roots", path=shown, roots=", ".join(map(str, roots)))
    candidates = [Path(text)] if Path(text).is_absolute() else [r / text for r in roots]
    last_error: OSError | None = None
    for cand in candidates:
        try:
            resolved = cand.resolve(strict=True)
            st_ = os.stat(resolved)
        except FileNotFoundError:
            continue
        except OSError as exc:
            last_error = exc
            continue
        if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
            raise DatasetError("homework.error.outside_roots", path=shown, roots=", ".join(map(str, roots)))
        if stat.S_ISDIR(st_.st_mode) or (stat.S_ISREG(st_.st_mode) and resolved.suffix.lower() == ".zip"):
            return resolved
        raise DatasetError("homework.error.not_a_dataset_path", path=shown)
    if last_error is not None:
        raise DatasetError("homework.error.unreadable", path=shown,
                           reason=last_error.strerror or type(last_error).__name__)
    if Path(text).is_absolute():
        raise DatasetError("homework.error.outside_roots", path=shown, roots=", ".join(map(str, roots)))
    raise DatasetError("homework.error.not_found", path=shown)


_SLOTS: threading.BoundedSemaphore | None = None
_SLOTS_LOCK = threading.Lock()
_WAITING = 0


def _slots() -> threading.BoundedSemaphore:
    global _SLOTS
    with _SLOTS_LOCK:
        if _SLOTS is None:
            _SLOTS = threading.BoundedSemaphore(settings.env_int(SLOTS_VAR, SLOTS_DEFAULT, low=1))
        return _SLOTS


def waiting() -> int:
    """How many readings wait for a slot right now (server-wide)."""
    return _WAITING


@contextmanager
def reading_slot(on_wait: Callable[[int], None] | None = None, poll_s: float = 0.5):
    """Hold one of the server's :data:`SLOTS_DEFAULT` (``CNNVIZ_INTAKE_SLOTS``) reading slots.

    While all are taken, ``on_wait(waiting)`` is called every ``poll_s`` (the page says "N
    datasets are being read, yours starts next"; a Stop there ends the wait).
    """
    global _WAITING
    sem = _slots()
    if not sem.acquire(blocking=False):
        with _SLOTS_LOCK:
            _WAITING += 1
        try:
            while not sem.acquire(timeout=poll_s):
                if on_wait is not None:
                    on_wait(_WAITING)
        finally:
            with _SLOTS_LOCK:
                _WAITING -= 1
    try:
        yield
    finally:
        sem.release()


# --------------------------------------------------------------------------- sources

@dataclass
class _Entry:
    path: PurePosixPath
    read: object        # () -> bytes (bounded), raises OSError/ArchiveError
    size: int
    link: bool = False
    is_dir: bool = False
    refusal: Refused | None = None   # refused by what is known before reading (key, params)


def _is_system(parts: Iterable[str]) -> bool:
    return any(p.lower() in SYSTEM_NAMES or p.startswith("._") for p in parts)


def _safe_name(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it would leave the dataset's folder."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return None
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _too_large(label: str, size: int, limit: int) -> ArchiveError:
    return ArchiveError("homework.error.archive_too_large", name=label, size_mb=f"{size / 2**20:.0f}",
                        limit_mb=limit // 2**20)


def _zip_entries(data, label: str) -> Iterator[_Entry]:
    """The members of a zip given as bytes, a path or a binary file object (never copied whole)."""
    limit = upload_limit_bytes()
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            import io
            size, fh = len(data), io.BytesIO(data)
        elif isinstance(data, (str, os.PathLike)):
            st_ = os.stat(data)
            if not stat.S_ISREG(st_.st_mode):
                raise DatasetError("homework.error.not_a_dataset_path", path=str(data))
            size, fh = st_.st_size, data
        else:
            size = getattr(data, "size", None)
            if not isinstance(size, int):
                data.seek(0, os.SEEK_END)
                size = data.tell()
            data.seek(0)
            fh = data
        if size > limit:
            raise _too_large(label, size, limit)
        zf = zipfile.ZipFile(fh)
        infos = zf.infolist()
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError("homework.error.not_a_zip", name=label, reason=str(exc)[:200]) from exc
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError("homework.error.too_many_files", name=label, count=len(infos), limit=MAX_MEMBERS)
    total = 0
    small_bombs: set[int] = set()
    for i, info in enumerate(infos):
        if _safe_name(info.filename) is None:
            raise ArchiveError("homework.error.escaping_member", name=label, member=info.filename[:200])
        if info.flag_bits & 0x1:
            raise ArchiveError("homework.error.encrypted", name=label, member=info.filename[:200])
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if ratio > MAX_RATIO:
            if info.file_size > RATIO_FLOOR_BYTES:
                raise ArchiveError("homework.error.zip_bomb", name=label, member=info.filename[:200],
                                   ratio=f"{ratio:.0f}", limit=MAX_RATIO)
            small_bombs.add(i)
    if total > MAX_TOTAL_BYTES:
        raise ArchiveError("homework.error.archive_inflates", name=label, size_mb=f"{total / 2**20:.0f}",
                           limit_mb=MAX_TOTAL_BYTES // 2**20)
    if total > MAX_ARCHIVE_RATIO * max(size, 1) and total > RATIO_FLOOR_BYTES:
        raise ArchiveError("homework.error.archive_ratio", name=label, ratio=f"{total / max(size, 1):.0f}",
                           limit=MAX_ARCHIVE_RATIO)
    for info in infos:
        if info.is_dir():
            continue
        path = _safe_name(info.filename)
        if path.suffix.lower() in ARCHIVE_SUFFIXES and not _is_system(path.parts):
            raise ArchiveError("homework.error.nested_archive", name=label, member=info.filename[:200])
    for i, info in enumerate(infos):
        path = _safe_name(info.filename)
        if info.is_dir():
            yield _Entry(path, lambda: b"", 0, is_dir=True)
            continue
        mode = info.external_attr >> 16
        link = info.create_system == 3 and stat.S_ISLNK(mode)
        refusal = None
        if i in small_bombs:
            refusal = Refused(str(path), "homework.refused.compresses_too_well",
                              {"ratio": f"{info.file_size / max(1, info.compress_size):.0f}", "limit": MAX_RATIO})

        def read(info=info) -> bytes:
            cap = min(info.file_size, images.MAX_UPLOAD_BYTES)
            with zf.open(info) as member:
                raw = member.read(cap + 1)
            if len(raw) > info.file_size:  # inflates past what it declared: a lying header
                raise ArchiveError("homework.error.zip_bomb", name=label, member=info.filename[:200],
                                   ratio="?", limit=MAX_RATIO)
            return raw

        yield _Entry(path, read, info.file_size, link, refusal=refusal)


def read_regular(full: Path, size_limit: int) -> bytes:
    """A regular file's bytes, opened without blocking and without following a link: a FIFO or a
    device never blocks or streams (refused on ``fstat``), a file swapped for one after the walk too."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(full, flags)
    try:
        st_ = os.fstat(fd)
        if not stat.S_ISREG(st_.st_mode):
            raise OSError(0, "not a regular file")
        chunks, got = [], 0
        while got <= size_limit:
            chunk = os.read(fd, min(1 << 20, size_limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _folder_entries(root: Path) -> Iterator[_Entry]:
    """A folder's files, walked without following links; only regular files are ever opened."""
    limit = upload_limit_bytes()
    count, total = 0, 0
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=errors.append):
        dirnames.sort()
        here = Path(dirpath)
        if here != root:
            yield _Entry(PurePosixPath(*here.relative_to(root).parts), lambda: b"", 0, is_dir=True)
        for fname in sorted(filenames):
            full = here / fname
            count += 1
            if count > MAX_MEMBERS:
                raise ArchiveError("homework.error.too_many_files", name=root.name, count=f">{MAX_MEMBERS}",
                                   limit=MAX_MEMBERS)
            rel = PurePosixPath(*full.relative_to(root).parts)
            try:
                st_ = os.lstat(full)
            except OSError as exc:
                yield _Entry(rel, None, 0, refusal=Refused(str(rel), "homework.refused.unreadable",
                                                           {"reason": exc.strerror or type(exc).__name__}))
                continue
            if stat.S_ISLNK(st_.st_mode):
                yield _Entry(rel, None, 0, True)
                continue
            if not stat.S_ISREG(st_.st_mode):
                yield _Entry(rel, None, 0, refusal=Refused(str(rel), "homework.refused.not_regular"))
                continue
            if full.suffix.lower() in ARCHIVE_SUFFIXES and not _is_system(rel.parts):
                raise ArchiveError("homework.error.nested_archive", name=root.name, member=str(rel))
            total += st_.st_size
            if total > limit:
                raise ArchiveError("homework.error.folder_too_large", name=root.name, limit_mb=limit // 2**20)
            yield _Entry(rel, (lambda full=full: read_regular(full, images.MAX_UPLOAD_BYTES)), st_.st_size)
        # links to folders are listed by os.walk in dirnames but never followed
        for d in list(dirnames):
            if (here / d).is_symlink():
                yield _Entry(PurePosixPath(*(here / d).relative_to(root).parts), None, 0, True)
    for exc in errors:
        where = Path(exc.filename or root)
        rel = str(PurePosixPath(*where.relative_to(root).parts)) if where.is_relative_to(root) else where.name
        yield _Entry(PurePosixPath(rel or "."), None, 0,
                     refusal=Refused(rel or ".", "homework.refused.unreadable",
                                     {"reason": exc.strerror or type(exc).__name__}))


def _file_entries(files: Sequence, label: str) -> Iterator[_Entry]:
    """Uploaded files (a folder upload: each ``.name`` is its path inside the folder, ``"photos/cat/a.jpg"``)."""
    if len(files) > MAX_MEMBERS:
        raise ArchiveError("homework.error.too_many_files", name=label, count=len(files), limit=MAX_MEMBERS)
    for f in files:
        name = getattr(f, "name", "") or ""
        path = _safe_name(name)
        if path is None:
            raise ArchiveError("homework.error.escaping_member", name=label, member=name[:200])
        if path.suffix.lower() in ARCHIVE_SUFFIXES and not _is_system(path.parts):
            raise ArchiveError("homework.error.nested_archive", name=label, member=name[:200])
        size = getattr(f, "size", None)
        if not isinstance(size, int):
            size = len(f.getvalue())

        def read(f=f) -> bytes:
            f.seek(0)
            return f.read(images.MAX_UPLOAD_BYTES + 1)

        yield _Entry(path, read, size)


def _strip_wrapper(entries: list[_Entry]) -> list[_Entry]:
    """Look through one wrapping folder (``dataset/<class>/<file>`` → ``<class>/<file>``)."""
    while True:
        real = [e for e in entries if not _is_system(e.path.parts) and e.path.parts]
        files = [e for e in real if not e.is_dir]
        tops = {e.path.parts[0] for e in real}
        if len(tops) != 1 or not any(len(e.path.parts) >= 3 for e in files):
            return entries
        out = []
        for e in entries:
            if len(e.path.parts) > 1:
                path = PurePosixPath(*e.path.parts[1:])
                refusal = None if e.refusal is None else Refused(str(path), e.refusal.key, e.refusal.params)
                out.append(_Entry(path, e.read, e.size, e.link, e.is_dir, refusal))
        entries = out


def kept_side(candidates: int, budget: int) -> int:
    """Side of the kept squares so ``candidates`` images fit in ``budget`` bytes (RGB), within
    [:data:`MIN_SIDE`, :data:`MAX_SIDE`]."""
    if candidates <= 0:
        return MAX_SIDE
    return max(MIN_SIDE, min(MAX_SIDE, math.isqrt(budget // (3 * candidates))))


# --------------------------------------------------------------------------- public

def _entries(source, name: str | None) -> tuple[list[_Entry], str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "dataset.zip"
        return list(_zip_entries(source, label)), label
    if isinstance(source, (list, tuple)):
        label = name or "dataset"
        return list(_file_entries(source, label)), label
    if hasattr(source, "read") and not isinstance(source, (str, os.PathLike)):
        label = name or getattr(source, "name", None) or "dataset.zip"
        return list(_zip_entries(source, label)), label
    path = Path(source)
    label = name or path.name
    try:
        st_ = os.stat(path)
    except FileNotFoundError:
        raise DatasetError("homework.error.not_found", path=str(source)) from None
    except OSError as exc:
        raise DatasetError("homework.error.unreadable", path=str(source), reason=exc.strerror or type(exc).__name__) from None
    if stat.S_ISDIR(st_.st_mode):
        return list(_folder_entries(path)), label
    if stat.S_ISREG(st_.st_mode):
        return list(_zip_entries(path, label)), label
    raise DatasetError("homework.error.not_a_dataset_path", path=str(source))


def load_dataset(source, *, name: str | None = None, min_per_class: int = MIN_PER_CLASS,
                 budget: int | None = None, on_progress: Callable[[dict], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> HomeworkDataset:
    """Read a homework dataset: a zip (bytes, path or binary file), a folder of one sub-folder per
    class, or uploaded files of a folder upload (a list of objects with ``.name``, ``.size``, ``.read``).

    Streams: each file is read, checked, hashed, decoded (a JPEG at the scale needed) and kept as
    the centre square at the dataset's side (:func:`kept_side`: :data:`MAX_SIDE`, smaller when the
    ``budget`` — bytes, default :func:`budget_bytes` — would not hold them all), one at a time;
    its bytes are dropped before the next is read.

    Args:
        on_progress: called after each file with {"done", "total", "accepted", "refused", "eta_s", "path"}.
        should_stop: called before each file; True raises :class:`IntakeStopped`.

    Returns:
        A :class:`HomeworkDataset` with the accepted images per class and the refused files.

    Raises:
        ArchiveError: the archive is refused as a whole (unsafe names, nested archive, zip
            bomb, over the size/file limits, not a zip).
        DatasetError: nothing usable: fewer than 2 classes, or a class with fewer than
            ``min_per_class`` usable images, or the path does not exist.
    """
    entries, label = _entries(source, name)
    entries = _strip_wrapper(entries)
    budget = budget_bytes() if budget is None else int(budget)

    refused: list[Refused] = []
    ignored = 0
    classes: set[str] = set()
    todo: list[_Entry] = []
    seen_names: dict[str, str] = {}
    for e in sorted(entries, key=lambda e: str(e.path)):
        rel = str(e.path)
        if _is_system(e.path.parts):
            ignored += 0 if e.is_dir else 1
            continue
        if e.is_dir:
            if e.path.parts:
                classes.add(e.path.parts[0])
            continue
        if e.refusal is not None:
            refused.append(e.refusal)
            continue
        if e.link:
            refused.append(Refused(rel, "homework.refused.link"))
            continue
        if len(e.path.parts) < 2:
            refused.append(Refused(rel, "homework.refused.no_class_folder"))
            continue
        folded = rel.casefold()
        if folded in seen_names:  # the same name twice (or twice but for case: one file on macOS/Windows)
            refused.append(Refused(rel, "homework.refused.duplicate_name", {"first": seen_names[folded]}))
            continue
        seen_names[folded] = rel
        classes.add(e.path.parts[0])
        if e.size > images.MAX_UPLOAD_BYTES:
            refused.append(Refused(rel, "images.error.too_large", {"size_mb": f"{e.size / 2**20:.1f}",
                                                                   "limit_mb": images.MAX_UPLOAD_BYTES // 2**20}))
            continue
        todo.append(e)
    # Class names that differ only by case are one folder on macOS and Windows: refused, all their files.
    by_fold: dict[str, list[str]] = {}
    for c in classes:
        by_fold.setdefault(c.casefold(), []).append(c)
    clashing = {c: sorted(group) for group in by_fold.values() if len(group) > 1 for c in group}
    if clashing:
        for e in todo:
            cls = e.path.parts[0]
            if cls in clashing:
                refused.append(Refused(str(e.path), "homework.refused.case_class",
                                       {"classes": ", ".join(clashing[cls])}))
        todo = [e for e in todo if e.path.parts[0] not in clashing]
        classes -= set(clashing)
    # Folders that hold no image are classes too (image_dataset_from_directory lists them): an
    # empty class is refused below rather than silently dropped.
    class_names = sorted(classes)
    index = {c: i for i, c in enumerate(class_names)}
    side = kept_side(len(todo), budget)
    per_item = side * side * 3

    # Identical bytes: within a class keep the first, across classes keep none (contradictory labels).
    first: dict[str, tuple[str, str]] = {}
    groups: dict[str, list[tuple[str, str]]] = {}
    kept: dict[str, Item] = {}
    used = 0
    t0 = time.monotonic()
    for n, e in enumerate(todo, 1):
        if should_stop is not None and should_stop():
            raise IntakeStopped("homework.error.stopped", done=n - 1, total=len(todo))
        rel, cls = str(e.path), e.path.parts[0]
        try:
            raw = e.read()
        except OSError as exc:
            refused.append(Refused(rel, "homework.refused.unreadable", {"reason": exc.strerror or type(exc).__name__}))
            raw = None
        if raw is not None:
            digest = hashlib.sha256(raw).hexdigest()
            groups.setdefault(digest, []).append((cls, rel))
            if digest in first:
                f_cls, f_rel = first[digest]
                if f_cls == cls:
                    refused.append(Refused(rel, "homework.refused.duplicate", {"first": f_rel}))
                # across classes: refused with all copies below
            else:
                first[digest] = (cls, rel)
                try:
                    image = images.load_image(raw, max_side=2 * side)
                    del raw
                    if used + per_item > budget:
                        refused.append(Refused(rel, "homework.refused.over_budget",
                                               {"budget_mb": f"{budget / 2**20:.0f}"}))
                    else:
                        kept[digest] = Item(rel, index[cls], images.fit_and_crop(image, (side, side)), digest)
                        used += per_item
                    del image
                except images.ImageError as exc:
                    refused.append(Refused(rel, exc.key, dict(exc.params)))
        raw = None
        if on_progress is not None:
            elapsed = time.monotonic() - t0
            on_progress({"done": n, "total": len(todo), "accepted": len(kept), "refused": len(refused),
                         "eta_s": elapsed / n * (len(todo) - n), "path": rel})
    duplicates = [[rel for _, rel in g] for g in groups.values() if len(g) > 1]
    for digest, g in groups.items():
        if len({c for c, _ in g}) > 1:
            others = ", ".join(rel for _, rel in g)
            kept.pop(digest, None)
            done = {r.path for r in refused}
            for _, rel in g:
                refused = [r for r in refused if r.path != rel] if rel in done else refused
                refused.append(Refused(rel, "homework.refused.duplicate_across", {"paths": others}))
    items = sorted(kept.values(), key=lambda it: (it.label, it.path))
    refused.sort(key=lambda r: r.path)

    ds = HomeworkDataset(name=label, class_names=class_names, items=items, refused=refused, duplicates=duplicates,
                         ignored_system=ignored, side=side, budget_bytes=budget)
    if len(class_names) < MIN_CLASSES:
        err = DatasetError("homework.error.too_few_classes", count=len(class_names),
                           found=", ".join(class_names) or "—", min=MIN_CLASSES)
        err.dataset = ds
        raise err
    counts = ds.counts()
    small = [f"{c} ({n})" for c, n in counts.items() if n < min_per_class]
    if small:
        err = DatasetError("homework.error.too_few_images", classes=", ".join(small), min=min_per_class)
        err.dataset = ds  # what was found, so a page can still list the refusals
        raise err
    if len(class_names) < RECOMMENDED_CLASSES:
        ds.warnings.append({"key": "homework.warn.few_classes", "params": {"count": len(class_names),
                                                                          "min": RECOMMENDED_CLASSES}})
    if duplicates:
        ds.warnings.append({"key": "homework.warn.duplicates", "params": {"count": len(duplicates)}})
    if side < 224:
        ds.warnings.append({"key": "homework.warn.small_side", "params": {"side": side,
                                                                         "budget_mb": f"{budget / 2**20:.0f}"}})
    low, high = min(counts.values()), max(counts.values())
    if high >= 3 * low:
        ds.warnings.append({"key": "homework.warn.imbalance", "params": {"low": low, "high": high}})
    return ds


def to_array(item: Item, size: tuple[int, int]) -> np.ndarray:
    """The image as a model of input ``size`` (H, W) sees it: uint8 H×W×3."""
    return np.asarray(images.fit_and_crop(item.image, size), dtype=np.uint8)
