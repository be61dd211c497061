"""Dataset intake for the homework: a zip (or a server folder) of one folder per class.

The layout is Keras' ``image_dataset_from_directory``: ``<class>/<image>``; files in
sub-folders of a class belong to that class. One wrapping folder (``dataset/<class>/...``,
what "compress this folder" produces) is looked through.

Safety, before a single image is decoded:

- The archive itself: at most :data:`MAX_ARCHIVE_BYTES` and :data:`MAX_MEMBERS` entries;
  the sizes the archive *declares* must add up to at most :data:`MAX_TOTAL_BYTES`, and no
  member may claim a compression ratio above :data:`MAX_RATIO` (a zip bomb); a member that
  inflates past what it declared stops the reading. Nothing is ever extracted to disk: each
  member is read into memory, bounded by its declared size.
- Names: absolute paths, ``..`` components and drive letters refuse the whole archive
  (:class:`ArchiveError`), as do nested archives (a zip in the zip): the student re-zips.
- Images: every file goes through :func:`cnnviz.images.load_image`; what it refuses
  (not an image, damaged, a pixel bomb, too big...) is listed with its reason and left out.
  Links, files outside any class folder and duplicates are listed too; system files
  (``__MACOSX``, ``.DS_Store``, ``Thumbs.db``) are counted, not listed.

No TensorFlow and no Streamlit here.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

import numpy as np
from PIL import Image

from cnnviz import images
from cnnviz.errors import UserFacingError
from cnnviz.i18n import translate

MAX_ARCHIVE_BYTES = 500 * 1024 * 1024
"""Largest zip read from disk (an upload is also bounded by Streamlit's ``server.maxUploadSize``)."""
MAX_MEMBERS = 10_000
"""Most entries in one archive."""
MAX_TOTAL_BYTES = 2 * 1024**3
"""Most bytes the archive's members may declare once inflated (2 GB)."""
MAX_RATIO = 200
"""Highest declared inflated/compressed ratio of one member (photos compress ~1:1, a bomb 1000:1)."""
RATIO_FLOOR_BYTES = 1024 * 1024
"""Members that inflate to less than this are never called bombs (a tiny flat PNG may compress 300:1)."""
MIN_PER_CLASS = 5
"""Fewest accepted images a class may have: one each for validation and test, the rest to train."""
MIN_CLASSES = 2
RECOMMENDED_CLASSES = 5
"""The homework asks for at least five classes; fewer is a warning, not a refusal."""
MAX_SIDE = 448
"""Images are kept in memory at this longest side (twice the models' 224 px input)."""
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
    image: Image.Image   # RGB, longest side ≤ MAX_SIDE
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


# --------------------------------------------------------------------------- sources

@dataclass
class _Entry:
    path: PurePosixPath
    read: object        # () -> bytes
    size: int
    link: bool = False
    is_dir: bool = False


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


def _zip_entries(data: bytes | str | os.PathLike, label: str) -> Iterator[_Entry]:
    if not isinstance(data, (bytes, bytearray)):
        size = Path(data).stat().st_size
        if size > MAX_ARCHIVE_BYTES:
            raise ArchiveError("homework.error.archive_too_large", name=label, size_mb=f"{size / 2**20:.0f}",
                               limit_mb=MAX_ARCHIVE_BYTES // 2**20)
        data = Path(data).read_bytes()
    elif len(data) > MAX_ARCHIVE_BYTES:
        raise ArchiveError("homework.error.archive_too_large", name=label, size_mb=f"{len(data) / 2**20:.0f}",
                           limit_mb=MAX_ARCHIVE_BYTES // 2**20)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError("homework.error.not_a_zip", name=label, reason=str(exc)[:200]) from exc
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError("homework.error.too_many_files", name=label, count=len(infos), limit=MAX_MEMBERS)
    total = 0
    for info in infos:
        if _safe_name(info.filename) is None:
            raise ArchiveError("homework.error.escaping_member", name=label, member=info.filename[:200])
        if info.flag_bits & 0x1:
            raise ArchiveError("homework.error.encrypted", name=label, member=info.filename[:200])
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > RATIO_FLOOR_BYTES and ratio > MAX_RATIO:
            raise ArchiveError("homework.error.zip_bomb", name=label, member=info.filename[:200],
                               ratio=f"{ratio:.0f}", limit=MAX_RATIO)
    if total > MAX_TOTAL_BYTES:
        raise ArchiveError("homework.error.archive_inflates", name=label, size_mb=f"{total / 2**20:.0f}",
                           limit_mb=MAX_TOTAL_BYTES // 2**20)
    for info in infos:
        if info.is_dir():
            continue
        path = _safe_name(info.filename)
        if path.suffix.lower() in ARCHIVE_SUFFIXES and not _is_system(path.parts):
            raise ArchiveError("homework.error.nested_archive", name=label, member=info.filename[:200])
    for info in infos:
        path = _safe_name(info.filename)
        if info.is_dir():
            yield _Entry(path, lambda: b"", 0, is_dir=True)
            continue
        mode = info.external_attr >> 16
        link = info.create_system == 3 and stat.S_ISLNK(mode)

        def read(info=info) -> bytes:
            limit = min(info.file_size, images.MAX_UPLOAD_BYTES)
            with zf.open(info) as member:
                raw = member.read(limit + 1)
            if len(raw) > info.file_size:  # inflates past what it declared: a lying header
                raise ArchiveError("homework.error.zip_bomb", name=label, member=info.filename[:200],
                                   ratio="?", limit=MAX_RATIO)
            return raw

        yield _Entry(path, read, info.file_size, link)


def _folder_entries(root: Path) -> Iterator[_Entry]:
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        if Path(dirpath) != root:
            yield _Entry(PurePosixPath(*Path(dirpath).relative_to(root).parts), lambda: b"", 0, is_dir=True)
        for fname in sorted(filenames):
            full = Path(dirpath) / fname
            count += 1
            if count > MAX_MEMBERS:
                raise ArchiveError("homework.error.too_many_files", name=str(root), count=f">{MAX_MEMBERS}",
                                   limit=MAX_MEMBERS)
            rel = PurePosixPath(*full.relative_to(root).parts)
            if full.suffix.lower() in ARCHIVE_SUFFIXES and not _is_system(rel.parts):
                raise ArchiveError("homework.error.nested_archive", name=str(root), member=str(rel))
            link = full.is_symlink()
            size = 0 if link else full.stat().st_size
            yield _Entry(rel, (lambda full=full: full.read_bytes()), size, link)
        # links to folders are listed by os.walk in dirnames but never followed
        for d in list(dirnames):
            if (Path(dirpath) / d).is_symlink():
                rel = PurePosixPath(*(Path(dirpath) / d).relative_to(root).parts)
                yield _Entry(rel, lambda: b"", 0, True)


def _strip_wrapper(entries: list[_Entry]) -> list[_Entry]:
    """Look through one wrapping folder (``dataset/<class>/<file>`` → ``<class>/<file>``)."""
    while True:
        real = [e for e in entries if not _is_system(e.path.parts) and e.path.parts]
        files = [e for e in real if not e.is_dir]
        tops = {e.path.parts[0] for e in real}
        if len(tops) != 1 or not any(len(e.path.parts) >= 3 for e in files):
            return entries
        entries = [_Entry(PurePosixPath(*e.path.parts[1:]), e.read, e.size, e.link, e.is_dir) for e in entries
                   if len(e.path.parts) > 1]


# --------------------------------------------------------------------------- public

def load_dataset(source: bytes | str | os.PathLike, *, name: str | None = None,
                 min_per_class: int = MIN_PER_CLASS) -> HomeworkDataset:
    """Read a homework dataset: a zip (bytes or path) or a folder of one sub-folder per class.

    Returns:
        A :class:`HomeworkDataset` with the accepted images per class and the refused files.

    Raises:
        ArchiveError: the archive is refused as a whole (unsafe names, nested archive, zip
            bomb, over the size/file limits, not a zip).
        DatasetError: nothing usable: fewer than 2 classes, or a class with fewer than
            ``min_per_class`` usable images, or the path does not exist.
    """
    if isinstance(source, (bytes, bytearray)):
        label = name or "dataset.zip"
        entries = list(_zip_entries(bytes(source), label))
    else:
        path = Path(source)
        label = name or path.name
        if path.is_dir():
            entries = list(_folder_entries(path))
        elif path.is_file():
            entries = list(_zip_entries(path, label))
        else:
            raise DatasetError("homework.error.not_found", path=str(source))
    entries = _strip_wrapper(entries)

    refused: list[Refused] = []
    ignored = 0
    by_class: dict[str, list[tuple[str, bytes]]] = {}
    for e in sorted(entries, key=lambda e: str(e.path)):
        rel = str(e.path)
        if _is_system(e.path.parts):
            ignored += 0 if e.is_dir else 1
            continue
        if e.is_dir:
            if e.path.parts:
                by_class.setdefault(e.path.parts[0], [])
            continue
        if e.link:
            refused.append(Refused(rel, "homework.refused.link"))
            continue
        if len(e.path.parts) < 2:
            refused.append(Refused(rel, "homework.refused.no_class_folder"))
            continue
        if e.size > images.MAX_UPLOAD_BYTES:
            refused.append(Refused(rel, "images.error.too_large", {"size_mb": f"{e.size / 2**20:.1f}",
                                                                   "limit_mb": images.MAX_UPLOAD_BYTES // 2**20}))
            continue
        by_class.setdefault(e.path.parts[0], []).append((rel, e.read()))
    # Folders that hold no image are classes too (image_dataset_from_directory lists them): an
    # empty class is refused below rather than silently dropped.

    class_names = sorted(by_class)
    # Identical bytes: within a class keep the first, across classes keep none (contradictory labels).
    seen: dict[str, list[tuple[str, str]]] = {}
    for cls in class_names:
        for rel, raw in by_class[cls]:
            seen.setdefault(hashlib.sha256(raw).hexdigest(), []).append((cls, rel))
    duplicates = [[rel for _, rel in group] for group in seen.values() if len(group) > 1]
    drop: dict[str, Refused] = {}
    for group in seen.values():
        if len(group) < 2:
            continue
        if len({cls for cls, _ in group}) > 1:
            others = ", ".join(rel for _, rel in group)
            for _, rel in group:
                drop[rel] = Refused(rel, "homework.refused.duplicate_across", {"paths": others})
        else:
            for _, rel in group[1:]:
                drop[rel] = Refused(rel, "homework.refused.duplicate", {"first": group[0][1]})

    items: list[Item] = []
    for label_index, cls in enumerate(class_names):
        for rel, raw in by_class[cls]:
            if rel in drop:
                refused.append(drop[rel])
                continue
            try:
                image = images.load_image(raw, max_side=MAX_SIDE)
            except images.ImageError as exc:
                refused.append(Refused(rel, exc.key, dict(exc.params)))
                continue
            items.append(Item(rel, label_index, image, hashlib.sha256(raw).hexdigest()))
    refused.sort(key=lambda r: r.path)

    ds = HomeworkDataset(name=label, class_names=class_names, items=items, refused=refused, duplicates=duplicates,
                         ignored_system=ignored)
    if len(class_names) < MIN_CLASSES:
        raise DatasetError("homework.error.too_few_classes", count=len(class_names), found=", ".join(class_names) or "—",
                           min=MIN_CLASSES)
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
    low, high = min(counts.values()), max(counts.values())
    if high >= 3 * low:
        ds.warnings.append({"key": "homework.warn.imbalance", "params": {"low": low, "high": high}})
    return ds


def to_array(item: Item, size: tuple[int, int]) -> np.ndarray:
    """The image as a model of input ``size`` (H, W) sees it: uint8 H×W×3."""
    return np.asarray(images.fit_and_crop(item.image, size), dtype=np.uint8)
