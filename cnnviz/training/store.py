"""Runs on disk: ``<cache root>/runs/<run_id>/``, written atomically, listed and reloaded.

Layout of one run folder::

    settings.json      what was asked (lab, dataset, epochs, seed...), written when the run is created
    history.json       {model: Keras History.history}            \
    batches.json       {model: {"step": [...], "loss": [...], ...}} |  written when the run ends
    events.json        [{"model", "epoch", "kind", ...}]          |
    result.json        the run's result (``LabResult.to_dict()``) /
    models/<model>.keras, confusion/<model>.npy, <model>.csv (CSVLogger), checkpoints/<model>.keras
    done.json          {"status": "finished"|"stopped"|"failed", ...}: written LAST

Every file goes through a temporary file in the same folder and ``os.replace``, so a
reader never sees half a file. A folder without ``done.json`` is listed as
``"interrupted"`` (the process died, or the disk filled up before the marker), never as
finished. No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cnnviz import cache
from cnnviz.errors import UserFacingError

MARKER = "done.json"
STATUSES = ("queued", "running", "stopping", "stopped", "finished", "failed", "interrupted")
DONE_STATUSES = ("stopped", "finished", "failed")


class TrainingError(UserFacingError):
    """A run that cannot start, continue or be saved."""


class RunDiskFullError(TrainingError, OSError):
    """The disk filled up while a run was being saved; the run is marked failed."""


class UnknownRunError(TrainingError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message("en")


def runs_root() -> Path:
    return cache.cache_dir() / "runs"


def new_run_id(kind: str = "run") -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in kind)[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{secrets.token_hex(3)}"


def _check_id(run_id: str) -> str:
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise UnknownRunError("training.error.unknown_run", run_id=run_id)
    return run_id


def run_dir(run_id: str) -> Path:
    return runs_root() / _check_id(run_id)


def _raise_disk(exc: OSError, path: Path) -> None:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise RunDiskFullError("training.error.disk_full", path=str(path)) from exc
    raise TrainingError("training.error.write", path=str(path), reason=exc.strerror or str(exc)) from exc


def write_atomic(path: Path, writer: Callable[[Any], None], *, binary: bool = True) -> Path:
    """Write ``path`` through ``writer(file)`` into a temp file beside it, then rename it into place.

    Raises:
        RunDiskFullError: ENOSPC/EDQUOT while writing (nothing is left behind).
        TrainingError: any other OS error.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as out:
            writer(out)
            out.flush()
            with contextlib.suppress(OSError):
                os.fsync(out.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        _raise_disk(exc, path)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path


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


@dataclass
class RunRecord:
    """A run as found on disk (finished, stopped, failed or interrupted)."""

    run_id: str
    path: Path
    status: str
    settings: dict = field(default_factory=dict)
    marker: dict = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status == "finished"

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

    def summary(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "kind": self.settings.get("kind"),
                "title": self.settings.get("title"), "created": self.settings.get("created"),
                "finished": self.marker.get("finished"), "settings": self.settings.get("params", {}),
                "error": self.marker.get("error")}


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
    return RunRecord(run_id=run_id, path=path, status=status, settings=settings, marker=marker)


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
    records.sort(key=lambda r: (r.settings.get("created") or 0, r.run_id), reverse=True)
    return records


def delete_run(run_id: str) -> None:
    shutil.rmtree(run_dir(run_id), ignore_errors=True)
