"""Runs on disk: ``<cache root>/runs/<run_id>/``, written atomically, listed and reloaded.

Layout of one run folder::

    settings.json      what was asked (lab, dataset, epochs, seed...), written when the run is created
    history.json       {model: Keras History.history}            \
    batches.json       {model: {"step": [...], "loss": [...], ...}} |  written when the run ends
    events.json        [{"model", "epoch", "kind", ...}]          |
    result.json        the run's result (``LabResult.to_dict()``) /
    models/<model>.keras, confusion/<model>.npy, <model>.csv (CSVLogger), checkpoints/<model>.keras
    test_set.npz       the test images (uint8) and labels; each model's predictions are in result.json
    done.json          {"status": "finished"|"stopped"|"failed", "plan", "steps", ...}: written LAST

Every file goes through a temporary file in the same folder and ``os.replace``, so a
reader never sees half a file. A folder without ``done.json`` is listed as
``"interrupted"`` (the process died, or the disk filled up before the marker), never as
finished. No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cnnviz import cache, fileio
from cnnviz.errors import UserFacingError

MARKER = "done.json"
STATUSES = ("queued", "running", "stopping", "stopped", "finished", "failed", "interrupted")
#: The statuses of a run that is over: the one "finished" set of every page (a folder without its
#: marker is "interrupted": over too, never resumed).
DONE_STATUSES = ("stopped", "finished", "failed", "interrupted")
TEST_SET = "test_set.npz"   # the test images (uint8) and labels every model of the run was scored on


class TrainingError(UserFacingError):
    """A run that cannot start, continue or be saved."""


class RunDiskFullError(TrainingError, OSError):
    """The disk filled up while a run was being saved; the run is marked failed."""


class UnknownRunError(TrainingError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message("en")


def runs_root() -> Path:
    return cache.cache_dir() / "runs"


#: The shape of every run id :func:`new_run_id` makes (63 characters at most); nothing else names a run.
RUN_ID_RE = re.compile(r"[0-9]{8}-[0-9]{6}-[A-Za-z0-9_-]{1,40}-[0-9a-f]{6}")
RUN_ID_MAX = 63


def new_run_id(kind: str = "run") -> str:
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "-" for ch in kind)[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{secrets.token_hex(3)}"


def valid_run_id(run_id: object) -> bool:
    """Whether ``run_id`` has the generated shape (a URL's value is checked before any disk access)."""
    return isinstance(run_id, str) and len(run_id) <= RUN_ID_MAX and RUN_ID_RE.fullmatch(run_id) is not None


def _check_id(run_id: str) -> str:
    if not valid_run_id(run_id):  # never echoed: the message names no id it did not generate
        raise UnknownRunError("training.error.unknown_run", run_id="?")
    return run_id


def run_dir(run_id: str) -> Path:
    return runs_root() / _check_id(run_id)


def raise_write_error(exc: OSError, path: Path) -> None:
    """Re-raise an OS error met while writing ``path`` as the run's error: disk full, or the reason."""
    if fileio.is_disk_full(exc):
        raise RunDiskFullError("training.error.disk_full", path=str(path)) from exc
    raise TrainingError("training.error.write", path=str(path), reason=exc.strerror or str(exc)) from exc


def write_atomic(path: Path, writer: Callable[[Any], None], *, binary: bool = True) -> Path:
    """Write ``path`` through ``writer(file)`` atomically and durably (:func:`cnnviz.fileio.atomic_writer`).

    Raises:
        RunDiskFullError: ENOSPC/EDQUOT while writing (nothing is left behind).
        TrainingError: any other OS error.
    """
    try:
        with fileio.atomic_writer(path, binary=binary) as out:
            writer(out)
    except OSError as exc:
        raise_write_error(exc, path)
    return Path(path)


def write_json(path: Path, obj: Any) -> Path:
    text = json.dumps(obj, indent=1, default=_jsonable)
    return write_atomic(path, lambda f: f.write(text), binary=False)


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def error_fields(error: BaseException | None) -> dict:
    """What a failed run's marker keeps of its error, so a page can say it in the UI language
    after a restart: ``{"error_key", "error_params"}`` (params as strings), or {} for a plain error."""
    if not isinstance(error, UserFacingError):
        return {}
    return {"error_key": error.key,
            "error_params": {k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
                             for k, v in error.params.items()}}


def effective_settings(params: dict, result: dict | None) -> dict:
    """A run's settings as it trained: what was asked (``params``, checked when the run was queued),
    completed by what the job measured of them (the result's own ``settings``: data sizes...)."""
    return {**(params or {}), **((result or {}).get("settings") or {})}


def steps_per_epoch(history: dict, batches: dict) -> dict[str, float]:
    """``{model: batches per epoch}`` of a stored run that predates the marker's ``steps``."""
    return {n: len(batches.get(n, {}).get("step", [])) / max(1, len(h.get("loss", [])) or 1)
            for n, h in history.items()}


@dataclass
class RunRecord:
    """A run as found on disk (finished, stopped, failed or interrupted).

    It answers the same read interface as a live :class:`cnnviz.training.Run`: ``status``,
    ``plan``, ``error``, ``settings``, ``history``, ``batches``, ``events``, ``result``, ``steps``.
    """

    run_id: str
    path: Path
    status: str
    stored: dict = field(default_factory=dict)   # settings.json: run_id, kind, title, params, created
    marker: dict = field(default_factory=dict)

    done = True  # a stored run never changes

    @property
    def kind(self) -> str | None:
        return self.stored.get("kind")

    @property
    def owner(self) -> str | None:
        """The owner id (:func:`cnnviz.owners.owner_id`) of the student who started it; None: the teacher's."""
        owner = self.stored.get("owner")
        return owner if isinstance(owner, str) else None

    @property
    def title(self) -> str:
        return self.stored.get("title") or self.run_id

    @property
    def created(self) -> float | None:
        return self.stored.get("created")

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def stop_reason(self) -> str | None:
        """Why a stopped run stopped: "user", or "time" (it used the server's wall-time budget)."""
        return self.marker.get("stop_reason") if self.status == "stopped" else None

    @property
    def settings(self) -> dict:
        return effective_settings(self.stored.get("params") or {}, self.result)

    @property
    def plan(self) -> list[str]:
        return list(self.marker.get("plan") or self.history)

    @property
    def steps(self) -> dict[str, float]:
        return dict(self.marker.get("steps") or steps_per_epoch(self.history, self.batches))

    @property
    def history(self) -> dict:
        return read_json(self.path / "history.json", {}) or {}

    @property
    def batches(self) -> dict:
        return read_json(self.path / "batches.json", {}) or {}

    @property
    def events(self) -> list:
        return read_json(self.path / "events.json", []) or []

    @property
    def result(self) -> dict:
        return read_json(self.path / "result.json", {}) or {}

    @property
    def error(self) -> TrainingError | None:
        """A failed run's error, rebuilt from its marker (translatable when its key was kept)."""
        if self.status != "failed":
            return None
        key, params = self.marker.get("error_key"), self.marker.get("error_params")
        if isinstance(key, str) and isinstance(params, dict):
            with contextlib.suppress(Exception):  # a key or fields this version's catalog lacks: the English text
                return TrainingError(key, **params)
        return TrainingError("training.error.failed_stored", reason=self.marker.get("error") or "?")

    def model_path(self, model_name: str) -> Path | None:
        path = self.path / "models" / f"{model_name}.keras"
        return path if path.is_file() else None

    def confusion(self, model_name: str):
        import numpy as np

        path = self.path / "confusion" / f"{model_name}.npy"
        return np.load(path, allow_pickle=False) if path.is_file() else None

    def test_set(self):
        """``(images uint8 N×H×W×C, labels)`` the run's models were tested on, or None (an older run)."""
        import numpy as np

        path = self.path / TEST_SET
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return data["x"], data["y"]

    def summary(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "kind": self.kind,
                "title": self.stored.get("title"), "created": self.created,
                "finished": self.marker.get("finished"), "settings": self.stored.get("params", {}),
                "error": self.marker.get("error"), "owner": self.owner}


def load_run(run_id: str) -> RunRecord:
    """The run ``run_id`` as stored on disk.

    Raises:
        UnknownRunError: no such run folder.
    """
    path = run_dir(run_id)
    if not (path / "settings.json").is_file():
        raise UnknownRunError("training.error.unknown_run", run_id=run_id)
    settings = read_json(path / "settings.json", {}) or {}
    marker = read_json(path / MARKER, None)
    if isinstance(marker, dict) and marker.get("status") in DONE_STATUSES:
        status = marker["status"]
    else:
        marker, status = {}, "interrupted"
    return RunRecord(run_id=run_id, path=path, status=status, stored=settings, marker=marker)


def list_runs() -> list[RunRecord]:
    """Every run folder under the cache root, newest first (``status`` "interrupted" without a marker)."""
    root = runs_root()
    if not root.is_dir():
        return []
    records = []
    for child in root.iterdir():
        if child.is_dir() and not child.name.startswith(".") and (child / "settings.json").is_file():
            with contextlib.suppress(UnknownRunError):
                records.append(load_run(child.name))
    records.sort(key=lambda r: (r.created or 0, r.run_id), reverse=True)
    return records


def delete_run(run_id: str) -> None:
    shutil.rmtree(run_dir(run_id), ignore_errors=True)


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def sync_run(path: Path) -> None:
    """Flush a run folder to disk (every subfolder's entries, then the folder) before its marker is written,
    so after a power loss a run marked done holds all its files (each file was fsynced when written)."""
    for root, _dirs, _files in os.walk(path, topdown=False):
        fileio.sync_folder(Path(root))


#: A run folder without its marker is live (or was interrupted): only one older than this may be pruned.
INTERRUPTED_AGE_S = 86400.0


def prunable(records: list[RunRecord], now: float | None = None) -> list[RunRecord]:
    """Runs that are over: a marker, or interrupted (no marker) and older than a day (a live run has none yet)."""
    now = time.time() if now is None else now
    return [r for r in records if r.status != "interrupted" or now - (r.created or 0) > INTERRUPTED_AGE_S]


def select_prune(records: list[RunRecord], *, older_than: float | None = None, keep: int | None = None,
                 max_bytes: int | None = None, now: float | None = None,
                 sizes: dict[str, int] | None = None) -> list[RunRecord]:
    """Which of ``records`` (runs that are over) to delete: those older than ``older_than`` seconds, beyond
    the ``keep`` newest, then the oldest until the rest fit in ``max_bytes``. Newest are kept first."""
    now = time.time() if now is None else now
    ordered = sorted(records, key=lambda r: (r.created or 0, r.run_id), reverse=True)
    doomed: list[RunRecord] = []
    kept: list[RunRecord] = []
    for i, r in enumerate(ordered):
        if (older_than is not None and now - (r.created or 0) > older_than) or (keep is not None and i >= keep):
            doomed.append(r)
        else:
            kept.append(r)
    if max_bytes is not None:
        sizes = sizes if sizes is not None else {r.run_id: folder_bytes(r.path) for r in kept}
        total = sum(sizes.get(r.run_id, 0) for r in kept)
        while kept and total > max_bytes:
            r = kept.pop()  # the oldest left
            total -= sizes.get(r.run_id, 0)
            doomed.append(r)
    return doomed
