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

import contextlib
import copy
import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cnnviz import fileio, owners, settings
from cnnviz.errors import UserFacingError
from cnnviz.training import store
from cnnviz.training.store import RunDiskFullError, TrainingError, UnknownRunError

ENV_MAX_RUNS = "CNNVIZ_MAX_RUNS"
ENV_QUEUE_MAX = "CNNVIZ_QUEUE_MAX"                  # runs waiting, all students together (default 30)
ENV_QUEUE_PER_STUDENT = "CNNVIZ_QUEUE_PER_STUDENT"  # runs queued or training per student (default 2)
ENV_RUN_SECONDS = "CNNVIZ_RUN_SECONDS"              # wall time of one run before it is stopped (default 1800)
ENV_RUN_IMAGE_EPOCHS = "CNNVIZ_RUN_IMAGE_EPOCHS"    # epochs × training images of one run (default 2,000,000)
ENV_RUNS_MAX_MB = "CNNVIZ_RUNS_MAX_MB"              # disk all runs may use; the oldest over ones go first (0: no cap)


def default_max_runs() -> int:
    """Runs trained at once (``CNNVIZ_MAX_RUNS``, default 1: two cores train one network well)."""
    return settings.env_int(ENV_MAX_RUNS, 1, low=1)


@dataclass(frozen=True)
class Limits:
    """What one server allows: the queue (all, per student) and one run's budget.

    Sized for a class of 30 on one training slot: every student may have one run training or
    waiting plus one more; a run stops after ``run_seconds`` (its curves and models so far are
    kept) and one that asks for more than ``run_image_epochs`` (epochs × training images) is
    refused before it starts.
    """

    queue_max: int = 30
    per_student: int = 2
    run_seconds: float = 1800.0
    run_image_epochs: int = 2_000_000
    #: The disk all stored runs may use, in MB (0: no cap, the default: deleting a student's work is
    #: the teacher's decision). Past it, each run that ends deletes the oldest runs that are over
    #: (never a queued or training one, never the run that just ended) until the rest fit.
    runs_max_mb: float = 0.0

    @classmethod
    def from_env(cls) -> "Limits":
        return cls(queue_max=settings.env_int(ENV_QUEUE_MAX, cls.queue_max, low=1),
                   per_student=settings.env_int(ENV_QUEUE_PER_STUDENT, cls.per_student, low=1),
                   run_seconds=settings.env_float(ENV_RUN_SECONDS, cls.run_seconds, low=0, low_open=True),
                   run_image_epochs=settings.env_int(ENV_RUN_IMAGE_EPOCHS, cls.run_image_epochs, low=1),
                   runs_max_mb=settings.env_float(ENV_RUNS_MAX_MB, cls.runs_max_mb, low=0))


class QueueFullError(TrainingError):
    """The training queue (or this student's share of it) is full: try again when a run ends."""


class RunBudgetError(TrainingError):
    """A run asks for more work than one run may do on this server."""


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

    def __init__(self, run_id: str, kind: str, params: dict, title: str | None, job: Callable, persist: bool,
                 owner: str | None = None, limits: Limits | None = None):
        self.run_id = run_id
        self.owner = owner              # owner id (never the token); None: the teacher's / the CLI's
        self.limits = limits or Limits()
        self.stop_reason: str | None = None   # "user", or "time" when the run used its wall-time budget
        self.image_epochs = 0
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
        if not self._stop.is_set() and self.started and time.time() - self.started > self.limits.run_seconds:
            self.stop(reason="time")  # the wall-time budget: stop at the next batch, keep what is done
        return self._stop.is_set()

    def stop(self, reason: str = "user") -> None:
        """Ask the run to end at its next batch (a queued run ends before it starts)."""
        with self._lock:
            if self.status in ("queued", "running"):
                self._stop.set()
                self.stop_reason = self.stop_reason or reason
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
        """A model starts training; ``images`` (training images per epoch) counts against the run's
        budget of epochs × images (:class:`RunBudgetError` beyond it: the run fails with that message)."""
        with self._lock:
            images = info.pop("images", None)
            if images is not None:
                self.image_epochs += int(epochs) * int(images)
                if self.image_epochs > self.limits.run_image_epochs:
                    raise RunBudgetError("training.error.budget_images", asked=self.image_epochs,
                                         allowed=self.limits.run_image_epochs)
            m = self.models.setdefault(name, ModelProgress(name))
            m.epochs, m.steps, m.status = int(epochs), int(steps), "training"
            m.info.update(info)
            self.current = name
            if name not in self._plan:
                self._plan.append(name)

    def end_model(self, name: str, **info: Any) -> None:
        with self._lock:
            m = self.models[name]
            m.status = "stopped" if self._stop.is_set() else "done"  # (under the lock: no budget check here)
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
                    "progress": self._progress(), "owner": self.owner, "stop_reason": self.stop_reason}

    def summary(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "kind": self.kind, "title": self.title,
                "created": self.created, "finished": self.finished, "settings": dict(self.params),
                "error": None if self.error is None else str(self.error), "owner": self.owner}


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

    def __init__(self, max_concurrent: int | None = None, *, persist: bool = True, limits: Limits | None = None):
        self.max_concurrent = max(1, int(max_concurrent)) if max_concurrent else default_max_runs()
        self.persist = persist
        self.limits = limits or Limits.from_env()
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._queue: list[str] = []
        self._running: set[str] = set()
        self.peak_running = 0  # the most runs that ever trained at once (tests, bench)

    # ---------------------------------------------------------------- starting
    def submit(self, job: Callable[[RunContext], Any], *, kind: str = "run", params: dict | None = None,
               title: str | None = None, owner: str | None = None) -> Run:
        """Queue ``job``; it starts as soon as fewer than ``max_concurrent`` runs train.

        Args:
            owner: the owner id (:func:`cnnviz.owners.owner_id`) of the student who asks; kept in the
                run's ``settings.json`` (the token never is). None: the teacher's (the CLI).

        Raises:
            QueueFullError: ``limits.queue_max`` runs already wait, or this owner already has
                ``limits.per_student`` runs queued or training (nothing is written then).
        """
        run = Run(store.new_run_id(kind), kind, params or {}, title, job, self.persist, owner, self.limits)
        with self._lock:
            self._check_room(owner)
            self._runs[run.run_id] = run   # reserved now, so two quick submits cannot both pass the cap
            self._queue.append(run.run_id)
        if run.path is not None:
            try:
                store.write_json(run.path / "settings.json", {
                    "run_id": run.run_id, "kind": kind, "title": run.title, "params": run.params,
                    "created": run.created, "owner": owner, "owner_label": owners.owner_label(owner)})
            except UserFacingError:
                with self._lock:
                    self._runs.pop(run.run_id, None)
                    if run.run_id in self._queue:
                        self._queue.remove(run.run_id)
                raise
        self._pump()
        return run

    def _check_room(self, owner: str | None) -> None:
        if len(self._queue) >= self.limits.queue_max:
            raise QueueFullError("training.error.queue_full", max=self.limits.queue_max)
        if owner is not None:
            mine = sum(1 for rid in (*self._queue, *self._running) if self._runs[rid].owner == owner)
            if mine >= self.limits.per_student:
                raise QueueFullError("training.error.queue_student", max=self.limits.per_student)

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
        run.job = None
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
            if fileio.is_disk_full(exc) and not isinstance(exc, RunDiskFullError):
                run.error = RunDiskFullError("training.error.disk_full", path=str(run.path or ""))
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
        saved = status != "failed"
        if status == "failed" and run.path is not None:
            try:  # best effort: when the disk is full the folder stays "interrupted", never "finished"
                store.write_json(run.path / store.MARKER, {"status": "failed", "finished": time.time(),
                                                           "error": str(run.error), **store.error_fields(run.error)})
                saved = True
            except UserFacingError:
                pass
        run._finish(status)
        run.job = None  # the job's closure holds the dataset (a homework run's images): let it go
        with self._lock:
            self._running.discard(run.run_id)
            if saved and run.path is not None:  # over and on disk: it leaves memory (get() reads the folder)
                self._runs.pop(run.run_id, None)
        if saved and run.path is not None and self.limits.runs_max_mb > 0:
            with contextlib.suppress(OSError):  # a failed cleanup must never keep the run from ending
                self.enforce_disk_cap(keep=run.run_id)  # before "done": whoever waits sees the disk as it stays
        run._done.set()
        self._pump()

    def enforce_disk_cap(self, keep: str | None = None) -> list[str]:
        """Delete the oldest runs that are over until all stored runs fit in ``limits.runs_max_mb``;
        never a live run (queued, training) nor ``keep``. Returns the deleted run ids."""
        if self.limits.runs_max_mb <= 0 or not self.persist:
            return []
        with self._lock:
            live = set(self._runs)
        now = time.time()
        records = store.list_runs()
        sizes = {r.run_id: store.folder_bytes(r.path) for r in records}
        candidates = [r for r in store.prunable(records, now) if r.run_id not in live and r.run_id != keep]
        movable = {r.run_id for r in candidates}
        fixed = sum(size for run_id, size in sizes.items() if run_id not in movable)  # live, kept, too young
        budget = max(0, int(self.limits.runs_max_mb * 1e6) - fixed)
        doomed = store.select_prune(candidates, max_bytes=budget, now=now, sizes=sizes)
        for r in doomed:
            store.delete_run(r.run_id)
        return [r.run_id for r in doomed]

    def _save(self, run: Run, status: str) -> None:
        snap = run.snapshot()
        result = run.result
        store.write_json(run.path / "history.json", {n: m["history"] for n, m in snap["models"].items()})
        store.write_json(run.path / "batches.json", {n: m["batches"] for n, m in snap["models"].items()})
        store.write_json(run.path / "events.json", snap["events"])
        store.write_json(run.path / "result.json", result)
        store.sync_run(run.path)  # every file and folder on disk before the marker says "done"
        store.write_json(run.path / store.MARKER, {"status": status, "finished": time.time(),
                                                   "elapsed": snap["progress"]["elapsed"], "plan": snap["plan"],
                                                   "steps": {n: m["steps"] for n, m in snap["models"].items()},
                                                   "stop_reason": run.stop_reason if status == "stopped" else None})

    # ---------------------------------------------------------------- reading
    def get(self, run_id: str, viewer: owners.Viewer | None = None) -> Run | store.RunRecord:
        """The live run, or else the one stored on disk (finished, stopped, failed, interrupted).

        Args:
            viewer: who asks (a page always says); a run this viewer may not see raises the same
                :class:`UnknownRunError` as a missing one, so an id tells nobody whether it exists.
                None: a trusted caller (the CLI, a script).
        """
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            run = store.load_run(run_id)
        if viewer is not None and not viewer.may(run.owner):
            raise UnknownRunError("training.error.unknown_run", run_id="?")
        return run

    def stop(self, run_id: str, viewer: owners.Viewer | None = None) -> None:
        """Stop a run: a running one ends at its next batch; a queued one is cancelled now
        (status "stopped", it never starts). ``viewer``: as in :meth:`get` (not theirs → UnknownRunError)."""
        run = self.get(run_id, viewer)
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

    def list_runs(self, viewer: owners.Viewer | None = None) -> list[dict]:
        """Live runs of this process plus stored ones, newest first (summaries); only those ``viewer``
        may see (None: all, for trusted callers). Each summary has ``owner`` and ``owner_label``."""
        with self._lock:
            live = {rid: r.summary() for rid, r in self._runs.items()}
        rows = dict(live)
        if self.persist:
            for record in store.list_runs():
                rows.setdefault(record.run_id, record.summary())
        out = [r for r in rows.values() if viewer is None or viewer.may(r.get("owner"))]
        for r in out:
            r["owner_label"] = owners.owner_label(r.get("owner"))
        return sorted(out, key=lambda r: (r.get("created") or 0, r["run_id"]), reverse=True)

    def delete(self, run_id: str, viewer: owners.Viewer | None = None) -> None:
        """Delete a run that is over (its folder); the teacher's (or a trusted caller's) only.

        Raises:
            UnknownRunError: no such run, or ``viewer`` is not the teacher.
            TrainingError: the run is still queued or training (stop it first).
        """
        if viewer is not None and not viewer.teacher:
            raise UnknownRunError("training.error.unknown_run", run_id="?")
        run = self.get(run_id)
        if not run.done:
            raise TrainingError("training.error.delete_live", run_id=run_id)
        with self._lock:
            self._runs.pop(run_id, None)
        store.delete_run(run_id)

    def wait_all(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.time() + timeout
        for run in list(self._runs.values()):
            left = None if deadline is None else max(0.0, deadline - time.time())
            if not run.wait(left):
                return False
        return True


__all__ = ["RunManager", "Run", "RunContext", "ModelProgress", "Limits", "QueueFullError", "RunBudgetError",
           "default_max_runs", "UnknownRunError"]
