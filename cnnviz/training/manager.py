"""Background training runs: a server-wide registry, a FIFO queue, live state, Stop.

A Streamlit script run is interrupted by the next widget event, so training cannot live
inside it. :class:`RunManager` (one per server: the page keeps it in
``st.cache_resource``) starts each run in its own worker thread, at most
``max_concurrent`` at a time (``CNNVIZ_MAX_RUNS``, default 1: a 2-core machine trains one
network at a time); the others wait in a visible queue. A page holds only the run id and
reads :meth:`Run.snapshot` to draw; nothing it does (rerun, page switch, reload) touches
the worker.

The job of a run is any callable ``job(ctx: RunContext) -> result``; the Keras callback
from :func:`cnnviz.training.fit.RunCallback` (through ``ctx``) is the one bridge from
Keras to the run state: it records metrics per batch/epoch and turns Stop into
``model.stop_training = True`` at the next batch. No TensorFlow is imported here.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cnnviz import fileio, settings
from cnnviz.errors import UserFacingError
from cnnviz.training import store
from cnnviz.training.store import RunDiskFullError, TrainingError, UnknownRunError

ENV_MAX_RUNS = "CNNVIZ_MAX_RUNS"


def default_max_runs() -> int:
    """Runs trained at once (``CNNVIZ_MAX_RUNS``, default 1: two cores train one network well)."""
    return settings.env_int(ENV_MAX_RUNS, 1, low=1)


@dataclass
class ModelProgress:
    """Live progress of one model inside a run."""

    name: str
    epochs: int = 0
    steps: int = 0                   # batches per epoch
    epoch: int = 0                   # epochs completed
    batch: int = 0                   # batches completed in the current epoch
    status: str = "waiting"          # waiting / training / done / stopped
    history: dict = field(default_factory=dict)          # Keras History.history, per epoch
    batches: dict = field(default_factory=lambda: {"step": []})  # per batch: step + metric lists
    epoch_seconds: list = field(default_factory=list)
    info: dict = field(default_factory=dict)             # params, macs, seconds, test accuracy...


class Run:
    """One run: its settings, live state and (once done) result. Thread-safe to read.

    It answers the same read interface as a stored :class:`cnnviz.training.RunRecord`:
    ``status``, ``plan``, ``error``, ``settings``, ``history``, ``batches``, ``events``,
    ``result``, ``steps`` (and ``run_id``, ``kind``, ``title``, ``created``, ``done``, ``path``).
    The job writes through the ``begin_model``/``record_*``/``add_event`` methods (via
    :class:`RunContext`).
    """

    def __init__(self, run_id: str, kind: str, params: dict, title: str | None, job: Callable, persist: bool):
        self.run_id = run_id
        self.kind = kind
        self.params = dict(params)
        self.title = title or kind
        self.job = job
        self.persist = persist
        self.status = "queued"
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.error: UserFacingError | None = None
        self.error_detail: str | None = None
        self.returned: Any = None   # what the job returned (e.g. a LabResult); ``result`` is its dict
        self.models: dict[str, ModelProgress] = {}
        self._plan: list[str] = []
        self._events: list[dict] = []
        self.current: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()

    # ---------------------------------------------------------------- control
    @property
    def path(self) -> Path | None:
        return store.run_dir(self.run_id) if self.persist else None

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the run to end at its next batch (a queued run ends before it starts)."""
        with self._lock:
            if self.status in ("queued", "running"):
                self._stop.set()
                if self.status == "running":
                    self.status = "stopping"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run is over; True if it is."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # ---------------------------------------------------------------- the read interface (as RunRecord)
    @property
    def plan(self) -> list[str]:
        with self._lock:
            return list(self._plan)

    @property
    def events(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._events)

    @property
    def history(self) -> dict:
        with self._lock:
            return {n: copy.deepcopy(m.history) for n, m in self.models.items()}

    @property
    def batches(self) -> dict:
        with self._lock:
            return {n: self._sorted_batches(m) for n, m in self.models.items()}

    @property
    def steps(self) -> dict[str, int]:
        with self._lock:
            return {n: m.steps for n, m in self.models.items()}

    @property
    def result(self) -> dict:
        """The job's result as plain data (``to_dict()`` of a LabResult/HomeworkResult); {} until it ends."""
        value = self.returned
        value = value.to_dict() if hasattr(value, "to_dict") else value
        return value if value is not None else {}

    @property
    def settings(self) -> dict:
        """The effective settings: as queued, completed by the result's own ``settings`` once there."""
        return store.effective_settings(self.params, self.result)

    def model_path(self, model_name: str) -> Path | None:
        if self.path is None:
            return None
        path = self.path / "models" / f"{model_name}.keras"
        return path if path.is_file() else None

    # ---------------------------------------------------------------- writing (the job, through RunContext)
    def set_plan(self, model_names: list[str]) -> None:
        with self._lock:
            self._plan = list(model_names)
            for name in model_names:
                self.models.setdefault(name, ModelProgress(name))

    def begin_model(self, name: str, *, epochs: int, steps: int, **info: Any) -> None:
        with self._lock:
            m = self.models.setdefault(name, ModelProgress(name))
            m.epochs, m.steps, m.status = int(epochs), int(steps), "training"
            m.info.update(info)
            self.current = name
            if name not in self._plan:
                self._plan.append(name)

    def end_model(self, name: str, **info: Any) -> None:
        with self._lock:
            m = self.models[name]
            m.status = "stopped" if self.stop_requested else "done"
            m.info.update(info)

    def record_batch(self, name: str, epoch: int, batch: int, logs: dict) -> None:
        with self._lock:
            m = self.models[name]
            m.batch = max(m.batch, batch + 1)  # batch-end records may arrive out of order (async)
            b = m.batches
            b["step"].append(epoch * m.steps + batch)
            for key, value in logs.items():
                b.setdefault(key, []).append(float(value))

    def record_epoch(self, name: str, epoch: int, logs: dict, seconds: float) -> None:
        with self._lock:
            m = self.models[name]
            m.epoch, m.batch = epoch + 1, 0
            for key, value in logs.items():
                m.history.setdefault(key, []).append(float(value))
            m.epoch_seconds.append(float(seconds))

    def add_event(self, event: dict) -> None:
        with self._lock:
            self._events.append(dict(event))

    def epoch_seconds(self, name: str) -> list[float]:
        with self._lock:
            m = self.models.get(name)
            return list(m.epoch_seconds) if m else []

    def _finish(self, status: str) -> None:
        with self._lock:
            self.status, self.finished = status, time.time()

    # ---------------------------------------------------------------- reading
    @staticmethod
    def _sorted_batches(m: ModelProgress) -> dict:
        order = sorted(range(len(m.batches["step"])), key=m.batches["step"].__getitem__)
        return {k: [v[i] for i in order] for k, v in m.batches.items()}

    def progress(self) -> dict:
        """Fractions and times: done/total steps, elapsed and remaining seconds (None until known)."""
        with self._lock:
            return self._progress()

    def _progress(self) -> dict:
        planned = self._plan or list(self.models)
        total = done = 0
        for name in planned:
            m = self.models.get(name)
            if m is None or not m.steps:
                continue
            total += m.epochs * m.steps
            done += min(m.epochs * m.steps, m.epoch * m.steps + m.batch) if m.status == "training" else (
                m.epochs * m.steps if m.status in ("done", "stopped") else 0)
        known = all(self.models.get(n) is not None and self.models[n].steps for n in planned)
        elapsed = ((self.finished or time.time()) - self.started) if self.started else 0.0
        fraction = (done / total) if total else 0.0
        if self.status in ("finished",):
            fraction = 1.0
        eta = None
        if self.status in ("running", "stopping") and known and done:
            eta = elapsed * (total - done) / done
        m = self.models.get(self.current) if self.current else None
        return {"fraction": fraction, "steps_done": done, "steps_total": total if known else None,
                "elapsed": elapsed, "eta": eta, "model": self.current,
                "model_index": planned.index(self.current) + 1 if self.current in planned else None,
                "models_total": len(planned), "epoch": m.epoch if m else 0, "epochs": m.epochs if m else 0,
                "batch": m.batch if m else 0, "batches": m.steps if m else 0}

    def snapshot(self) -> dict:
        """A consistent copy of everything a page draws (safe to keep and mutate)."""
        with self._lock:
            models = {}
            for name, m in self.models.items():
                batches = self._sorted_batches(m)
                models[name] = {"epochs": m.epochs, "steps": m.steps, "epoch": m.epoch, "batch": m.batch,
                                "status": m.status, "history": copy.deepcopy(m.history), "batches": batches,
                                "epoch_seconds": list(m.epoch_seconds), "info": copy.deepcopy(m.info)}
            return {"run_id": self.run_id, "kind": self.kind, "title": self.title, "params": dict(self.params),
                    "status": self.status, "created": self.created, "started": self.started,
                    "finished": self.finished, "error": None if self.error is None else {
                        "key": self.error.key, "params": {k: str(v) for k, v in self.error.params.items()},
                        "message": str(self.error)},
                    "plan": list(self._plan), "models": models, "events": copy.deepcopy(self._events),
                    "progress": self._progress()}

    def summary(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "kind": self.kind, "title": self.title,
                "created": self.created, "finished": self.finished, "settings": dict(self.params),
                "error": None if self.error is None else str(self.error)}


class RunContext:
    """What a job gets: where to record progress, whether to stop, where to save files."""

    def __init__(self, run: Run):
        self.run = run

    @property
    def dir(self) -> Path | None:
        return self.run.path

    @property
    def stop_requested(self) -> bool:
        return self.run.stop_requested

    def plan(self, model_names: list[str]) -> None:
        self.run.set_plan(model_names)

    def begin_model(self, name: str, *, epochs: int, steps: int, **info: Any) -> None:
        self.run.begin_model(name, epochs=epochs, steps=steps, **info)

    def end_model(self, name: str, **info: Any) -> None:
        self.run.end_model(name, **info)

    def record_batch(self, name: str, epoch: int, batch: int, logs: dict) -> None:
        """One training batch's logs (called from Keras' callback thread; cheap)."""
        self.run.record_batch(name, epoch, batch, logs)

    def record_epoch(self, name: str, epoch: int, logs: dict, seconds: float) -> None:
        self.run.record_epoch(name, epoch, logs, seconds)

    def event(self, name: str | None, kind: str, epoch: int | None = None, **data: Any) -> None:
        """A training event (``lr_drop``, ``early_stop``, ``best_epoch``, ``stopped``...) for the curves."""
        self.run.add_event({"model": name, "kind": kind, "epoch": epoch, **data})

    def epoch_seconds(self, name: str) -> list[float]:
        """The seconds of each epoch ``name`` trained so far."""
        return self.run.epoch_seconds(name)


_ids = itertools.count()


class RunManager:
    """Server-wide registry of runs: queue, workers, lookup of live and stored runs.

    Args:
        max_concurrent: how many runs train at once (default ``CNNVIZ_MAX_RUNS`` or 1).
        persist: write runs under ``<cache root>/runs/`` (False: memory only, for scripts).
    """

    def __init__(self, max_concurrent: int | None = None, *, persist: bool = True):
        self.max_concurrent = max(1, int(max_concurrent)) if max_concurrent else default_max_runs()
        self.persist = persist
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._queue: list[str] = []
        self._running: set[str] = set()
        self.peak_running = 0  # the most runs that ever trained at once (tests, bench)

    # ---------------------------------------------------------------- starting
    def submit(self, job: Callable[[RunContext], Any], *, kind: str = "run", params: dict | None = None,
               title: str | None = None) -> Run:
        """Queue ``job``; it starts as soon as fewer than ``max_concurrent`` runs train."""
        run = Run(store.new_run_id(kind), kind, params or {}, title, job, self.persist)
        if run.path is not None:
            store.write_json(run.path / "settings.json", {"run_id": run.run_id, "kind": kind, "title": run.title,
                                                          "params": run.params, "created": run.created})
        with self._lock:
            self._runs[run.run_id] = run
            self._queue.append(run.run_id)
        self._pump()
        return run

    def _pump(self) -> None:
        to_start = []
        with self._lock:
            while self._queue and len(self._running) < self.max_concurrent:
                run_id = self._queue.pop(0)
                run = self._runs[run_id]
                if run.stop_requested:  # stopped while queued: never starts
                    self._finish_unstarted(run)
                    continue
                self._running.add(run_id)
                self.peak_running = max(self.peak_running, len(self._running))
                run.status = "running"
                run.started = time.time()
                to_start.append(run)
        for run in to_start:
            threading.Thread(target=self._work, args=(run,), name=f"cnnviz-run-{run.run_id}", daemon=True).start()

    def _finish_unstarted(self, run: Run) -> None:
        run._finish("stopped")
        if run.path is not None:
            try:
                store.write_json(run.path / store.MARKER, {"status": "stopped", "finished": run.finished})
            except TrainingError:
                pass
        run._done.set()

    def _work(self, run: Run) -> None:
        ctx = RunContext(run)
        status = "failed"
        try:
            run.returned = run.job(ctx)
            status = "stopped" if run.stop_requested else "finished"
        except UserFacingError as exc:
            run.error = exc
        except OSError as exc:
            if fileio.is_disk_full(exc):
                run.error = RunDiskFullError("training.error.disk_full", path=str(run.path or ""))
            else:
                run.error = TrainingError("training.error.crashed", reason=f"{type(exc).__name__}: {exc}")
            run.error_detail = traceback.format_exc()
        except Exception as exc:  # a bug or a Keras error: the run fails, the server lives on
            run.error = TrainingError("training.error.crashed", reason=f"{type(exc).__name__}: {exc}")
            run.error_detail = traceback.format_exc()
        if run.path is not None and status != "failed":
            try:
                self._save(run, status)
            except UserFacingError as exc:
                run.error, status = exc, "failed"
        if status == "failed" and run.path is not None:
            try:  # best effort: when the disk is full the folder stays "interrupted", never "finished"
                store.write_json(run.path / store.MARKER, {"status": "failed", "finished": time.time(),
                                                           "error": str(run.error), **store.error_fields(run.error)})
            except UserFacingError:
                pass
        run._finish(status)
        with self._lock:
            self._running.discard(run.run_id)
        run._done.set()
        self._pump()

    def _save(self, run: Run, status: str) -> None:
        snap = run.snapshot()
        result = run.result
        store.write_json(run.path / "history.json", {n: m["history"] for n, m in snap["models"].items()})
        store.write_json(run.path / "batches.json", {n: m["batches"] for n, m in snap["models"].items()})
        store.write_json(run.path / "events.json", snap["events"])
        store.write_json(run.path / "result.json", result)
        store.write_json(run.path / store.MARKER, {"status": status, "finished": time.time(),
                                                   "elapsed": snap["progress"]["elapsed"], "plan": snap["plan"],
                                                   "steps": {n: m["steps"] for n, m in snap["models"].items()}})

    # ---------------------------------------------------------------- reading
    def get(self, run_id: str) -> Run | store.RunRecord:
        """The live run, or else the one stored on disk (finished, stopped, failed, interrupted)."""
        with self._lock:
            run = self._runs.get(run_id)
        if run is not None:
            return run
        return store.load_run(run_id)

    def stop(self, run_id: str) -> None:
        """Stop a run: a running one ends at its next batch; a queued one is cancelled now
        (status "stopped", it never starts)."""
        run = self.get(run_id)
        if isinstance(run, Run):
            run.stop()
            with self._lock:
                queued = run.run_id in self._queue
                if queued:
                    self._queue.remove(run.run_id)
            if queued:
                self._finish_unstarted(run)
            self._pump()

    def queue(self) -> list[str]:
        with self._lock:
            return list(self._queue)

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._running)

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None when not queued."""
        with self._lock:
            return self._queue.index(run_id) + 1 if run_id in self._queue else None

    def list_runs(self) -> list[dict]:
        """Live runs of this process plus stored ones, newest first (summaries)."""
        with self._lock:
            live = {rid: r.summary() for rid, r in self._runs.items()}
        rows = dict(live)
        if self.persist:
            for record in store.list_runs():
                rows.setdefault(record.run_id, record.summary())
        return sorted(rows.values(), key=lambda r: (r.get("created") or 0, r["run_id"]), reverse=True)

    def wait_all(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.time() + timeout
        for run in list(self._runs.values()):
            left = None if deadline is None else max(0.0, deadline - time.time())
            if not run.wait(left):
                return False
        return True


__all__ = ["RunManager", "Run", "RunContext", "ModelProgress", "default_max_runs", "UnknownRunError"]
