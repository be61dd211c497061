"""The warm pool and readiness: the homework models loaded and warmed when the server starts.

The :class:`WarmPool` loads and warms the four homework models in a background thread when the
server starts (``app.py`` starts it from Streamlit's ASGI lifespan, :mod:`cnnviz.ui.server_hooks`,
before any page is visited) and records its progress (n/4) in memory and in
``<cache root>/serving/status.json``, which ``python -m cnnviz status`` reads;
``GET /api/cnnviz/status`` on the server answers the same. Each model is warmed with one
prediction through its queue (:mod:`cnnviz.serving.queue`), which seeds the queue's service time.

Settings: ``CNNVIZ_WARM_START`` (load and warm at server start [1], read by
:class:`cnnviz.serving.queue.ServingConfig`), ``CNNVIZ_WARM_MODELS`` (comma-separated models to warm
instead of the homework four).

Nothing here imports TensorFlow or Streamlit.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from cnnviz import HOMEWORK_MODELS, fileio
from cnnviz.serving.queue import queues

#: Where the warm pool's progress is written, under the cache root.
STATUS_FILE = Path("serving") / "status.json"
_POOL_LOCK = threading.Lock()


def status_path() -> Path:
    """``<cache root>/serving/status.json``."""
    from cnnviz import cache

    return cache.cache_dir() / STATUS_FILE


def default_weights(names: Iterable[str]) -> dict[str, str | None]:
    """What the pages pick by default: "imagenet" where the weights are cached, else None."""
    from cnnviz.zoo import pretrained

    names = list(names)
    try:
        states = {s.name: s.state for s in pretrained.status(names, verify=False)}
    except Exception:  # an unreadable cache: the pages fall back to random weights too
        states = {}
    return {n: "imagenet" if states.get(n) == "cached" else None for n in names}


@dataclass
class WarmModel:
    """One model of the warm pool: its weights and loading state."""

    name: str
    weights: str | None
    state: str = "waiting"  # waiting → loading → ready | error
    seconds: float | None = None
    error: str | None = None


@dataclass
class WarmPool:
    """Loads and warms models in a background thread; reports readiness (n/total).

    Args:
        loader: ``loader(name, weights)`` → predictor; the UI passes its cached
            :func:`cnnviz.ui.models.get_predictor` so the pages use these very objects.
        names: models to warm (default the homework four).
        weights: ``{name: "imagenet" | None}``; default :func:`default_weights`.
        write_status: also write :func:`status_path` (for ``python -m cnnviz status``).
        hold: an event the loading waits for first, at most ``hold_s`` seconds (the server
            holds it until its first page is drawn: a teacher's first page does not share the
            two cores with TensorFlow's import); None: start at once.
        prepare: called once after the hold and before the first model (the server's first
            imports, :func:`cnnviz.ui.server_hooks.first_imports`).
    """

    loader: Callable[[str, str | None], Any]
    names: Sequence[str] = HOMEWORK_MODELS
    weights: dict[str, str | None] | None = None
    write_status: bool = True
    models: list[WarmModel] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    hold: threading.Event | None = None
    hold_s: float = 0.0
    prepare: Callable[[], None] | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "WarmPool":
        """Start loading in a daemon thread (once); returns self."""
        with self._lock:
            if self._thread is not None:
                return self
            weights = self.weights or default_weights(self.names)
            self.models = [WarmModel(n, weights.get(n)) for n in self.names]
            self.started_at = time.time()
            self._thread = threading.Thread(target=self._run, name="cnnviz-warm-pool", daemon=True)
        self._write()
        self._thread.start()
        return self

    def _run(self) -> None:
        from PIL import Image

        if self.hold is not None:
            self.hold.wait(self.hold_s)
        if self.prepare is not None:
            self.prepare()
        probe = Image.new("RGB", (256, 256), (128, 110, 90))
        for m in self.models:
            m.state = "loading"
            self._write()
            t0 = time.perf_counter()
            try:
                predictor = self.loader(m.name, m.weights)
                # One prediction through its queue: warms the whole path and seeds the
                # queue's service time, so the first expected wait shown is realistic.
                queues().queue_for(predictor).submit_and_wait(probe)
                m.state = "ready"
            except Exception as exc:  # noqa: BLE001 - one model failing must not stop the others
                m.state, m.error = "error", f"{type(exc).__name__}: {exc}"
            m.seconds = round(time.perf_counter() - t0, 2)
            self._write()
        self.finished_at = time.time()
        self._write()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    @property
    def loaded(self) -> int:
        return sum(1 for m in self.models if m.state == "ready")

    @property
    def total(self) -> int:
        return len(self.models) or len(self.names)

    @property
    def done(self) -> bool:
        return bool(self.models) and all(m.state in {"ready", "error"} for m in self.models)

    @property
    def ready(self) -> bool:
        return bool(self.models) and all(m.state == "ready" for m in self.models)

    def readiness(self) -> dict[str, Any]:
        """``{ready, loaded, total, done, models: [...], pid, started, finished, queues}``."""
        return {
            "ready": self.ready,
            "loaded": self.loaded,
            "total": self.total,
            "done": self.done,
            "models": [{"name": m.name, "weights": m.weights or "random", "state": m.state,
                        "seconds": m.seconds, "error": m.error} for m in self.models],
            "pid": os.getpid(),
            "started": self.started_at,
            "finished": self.finished_at,
            "updated": time.time(),
        }

    def _write(self) -> None:
        if not self.write_status:
            return
        try:
            fileio.write_json(status_path(), self.readiness())
        except OSError:  # a read-only cache must not stop serving; the HTTP route still answers
            pass


def read_status(path: Path | None = None) -> dict[str, Any] | None:
    """The last readiness the warm pool wrote, or None when no server wrote one."""
    path = path or status_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


_POOL: WarmPool | None = None


WARM_MODELS_ENV = "CNNVIZ_WARM_MODELS"


def named_warm_models() -> tuple[str, ...]:
    """The models ``CNNVIZ_WARM_MODELS`` names (comma-separated); empty when it names none."""
    return tuple(n.strip().lower() for n in os.environ.get(WARM_MODELS_ENV, "").split(",") if n.strip())


def warm_models() -> tuple[str, ...]:
    """The models the server warms: ``CNNVIZ_WARM_MODELS`` or the homework four."""
    return named_warm_models() or HOMEWORK_MODELS


def warm_models_set() -> bool:
    """Whether ``CNNVIZ_WARM_MODELS`` names the models (else the defaults are warmed)."""
    return bool(named_warm_models())


def warm_start(loader: Callable[[str, str | None], Any], names: Sequence[str] = HOMEWORK_MODELS,
               weights: dict[str, str | None] | None = None, *, hold: threading.Event | None = None,
               hold_s: float = 0.0, prepare: Callable[[], None] | None = None) -> WarmPool:
    """Start the process-wide warm pool once (later calls return the same pool); ``hold``, ``hold_s``
    and ``prepare`` as in :class:`WarmPool`."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = WarmPool(loader, tuple(names), weights, hold=hold, hold_s=hold_s, prepare=prepare)
        pool = _POOL
    return pool.start()


def warm_pool() -> WarmPool | None:
    """The process-wide warm pool, if the server started one."""
    return _POOL


__all__ = ["STATUS_FILE", "WarmModel", "WarmPool", "default_weights", "read_status", "status_path", "warm_models",
           "named_warm_models", "warm_models_set", "warm_pool", "warm_start", "WARM_MODELS_ENV"]
