"""The fair per-model queue and micro-batching: one process serving a lecture hall.

Streamlit runs every browser session's script in its own thread, and all sessions share the
cached predictors (:func:`cnnviz.ui.models.get_predictor`). Without this module, thirty students
who upload at once race for each predictor's lock and whoever waits more than five seconds gets
an error. Here every predictor gets ONE :class:`ModelQueue`: a worker thread that serves its
requests in arrival order (first come, first served; a session may hold only a few requests at
once, so one cannot crowd the others out), batches what is already waiting (and, if asked, what
arrives within a short window), and tells each waiting request its place in the queue and the
expected wait. A caller gets :class:`ServerBusyError` ("the server is busy, try again in N s")
only when its expected wait would pass a class-sized limit (``CNNVIZ_BUSY_WAIT``, 60 s: a class
that waits its turn is not refused), or past a hard limit of waiting requests. :class:`ResultCache` keeps
answers for reruns.

The predictor is used from outside: :meth:`ModelQueue` calls ``predictor.predict_batch(images)``
when the predictor has it (one batched call), else ``predictor.predict(image)`` per image.

Settings (environment variables; defaults in brackets; the warm pool's are in :mod:`cnnviz.serving.pool`):


==============================  ==================================================================
``CNNVIZ_WARM_START``           load and warm the homework models at server start [1]
``CNNVIZ_WARM_MODELS``          comma-separated models to warm instead of the homework four
``CNNVIZ_BUSY_WAIT``            expected wait (s) past which a new request is told "busy" [60]
``CNNVIZ_QUEUE_LIMIT``          waiting requests per model before "busy" [200]
``CNNVIZ_SESSION_PENDING``      requests one session may have waiting per model [4]
``CNNVIZ_QUEUE_TIMEOUT``        seconds a request may wait in all before "busy" [300]
``CNNVIZ_BATCH``                ``auto`` (batch on GPU only), ``on`` or ``off`` [auto]
``CNNVIZ_BATCH_MAX``            most images in one batch [8]
``CNNVIZ_BATCH_WINDOW_MS``      how long the worker waits for more requests to batch [5]
``CNNVIZ_RESULT_CACHE``         predictions kept for reruns (server-wide, LRU) [256]

Nothing here imports TensorFlow or Streamlit.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

from cnnviz import settings
from cnnviz.errors import UserFacingError

# --------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class ServingConfig:
    """Queue and batching settings (see the module docstring for the environment variables)."""

    queue_limit: int = 200
    session_pending: int = 4
    wait_timeout_s: float = 300.0
    batch: str = "auto"
    max_batch: int = 8
    batch_window_s: float = 0.005
    result_cache: int = 256
    warm_start: bool = True
    busy_wait_s: float = settings.BUSY_WAIT_S

    @classmethod
    def from_env(cls) -> "ServingConfig":
        return cls(
            queue_limit=settings.env_int("CNNVIZ_QUEUE_LIMIT", 200, low=1),
            session_pending=settings.env_int("CNNVIZ_SESSION_PENDING", 4, low=1),
            wait_timeout_s=settings.env_float("CNNVIZ_QUEUE_TIMEOUT", 300.0, low=1.0),
            batch=settings.env_choice("CNNVIZ_BATCH", ("auto", "on", "off"), "auto"),
            max_batch=settings.env_int("CNNVIZ_BATCH_MAX", 8, low=1),
            batch_window_s=settings.env_float("CNNVIZ_BATCH_WINDOW_MS", 5.0, low=0.0) / 1000.0,
            result_cache=settings.env_int("CNNVIZ_RESULT_CACHE", 256, low=0),
            warm_start=settings.env_bool("CNNVIZ_WARM_START", True),
            busy_wait_s=settings.busy_wait_s(),
        )

    def batching_for(self, predictor: Any) -> bool:
        """Whether requests for ``predictor`` are batched: ``on``/``off``, or ``auto``.

        ``auto`` batches on a GPU only: on these CPUs the bench (``serving`` section) shows no
        throughput gain from batching either engine, and a LiteRT interpreter pays a
        re-allocation for every change of batch size.
        """
        if self.batch == "off" or self.max_batch < 2 or not hasattr(predictor, "predict_batch"):
            return False
        if self.batch == "on":
            return True
        device = getattr(predictor, "device", None)
        return bool(getattr(device, "is_gpu", False))


# --------------------------------------------------------------------------- errors

class ServerBusyError(UserFacingError):
    """Too many requests are waiting for this model: the caller should retry later.

    ``limit_s`` given: the expected wait passed that limit (the class-sized rule); else the
    queue's hard limit of waiting requests (or the wait timeout) was reached.
    """

    def __init__(self, model: str, seconds: float, limit_s: float | None = None) -> None:
        self.retry_after_s = max(1, int(math.ceil(seconds)))
        self.limit_s = limit_s
        if limit_s is None:
            super().__init__("serving.error.busy", model=model, seconds=self.retry_after_s)
        else:
            super().__init__("serving.error.busy_wait", model=model, seconds=self.retry_after_s,
                             limit=f"{limit_s:g}")


def too_long(expected_wait_s: float | None, limit_s: float) -> bool:
    """The busy rule: refuse a request only when its expected wait is known and passes ``limit_s``."""
    return expected_wait_s is not None and expected_wait_s > limit_s


class TooManyPendingError(UserFacingError):
    """One session already has the most requests allowed waiting for this model."""

    def __init__(self, model: str, limit: int) -> None:
        super().__init__("serving.error.session_pending", model=model, limit=limit)


# --------------------------------------------------------------------------- predictions in batches

def predict_many(predictor: Any, images: Sequence[Any], runs: int = 1) -> list[Any]:
    """Classify ``images`` with ``predictor``: one batched call when it can, else one per image.

    Batching applies to ``runs == 1`` only: timed repeats are about one image's latency.
    """
    if len(images) > 1 and runs == 1 and hasattr(predictor, "predict_batch"):
        return list(predictor.predict_batch(list(images)))
    return [predictor.predict(image, runs=runs) for image in images]


# --------------------------------------------------------------------------- queue

class Ticket:
    """One request in a :class:`ModelQueue`: its place in the queue, expected wait, and result."""

    def __init__(self, queue: "ModelQueue", image: Any, runs: int, session: Hashable | None) -> None:
        self.queue = queue
        self.image = image
        self.runs = runs
        self.session = session
        self.enqueued_at = time.monotonic()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.batch_size = 0
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def position(self) -> int:
        """Requests ahead of this one (0: next, or being served)."""
        return self.queue.position(self)

    def expected_wait_s(self) -> float:
        """Seconds until this request's answer, at the model's recent speed."""
        return self.queue.expected_wait_s(self)

    @property
    def waited_s(self) -> float:
        """Seconds spent waiting before the model started on it (so far, if still waiting)."""
        end = self.started_at if self.started_at is not None else time.monotonic()
        return end - self.enqueued_at

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def result(self, timeout: float | None = None, *, on_wait: Callable[["Ticket"], None] | None = None,
               poll_s: float = 0.5) -> Any:
        """The prediction, waiting for it; ``on_wait(ticket)`` is called every ``poll_s`` meanwhile.

        Raises:
            ServerBusyError: no answer within ``timeout`` (default: the queue's wait timeout).
            The predictor's own errors (e.g. a bad image) as they were raised.
        """
        timeout = self.queue.config.wait_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not self._done.wait(min(poll_s, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                self.queue.cancel(self)
                raise ServerBusyError(self.queue.display_name, self.queue.retry_after_s())
            if on_wait is not None:
                on_wait(self)
        if self._error is not None:
            raise self._error
        return self._result

    def _finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.finished_at = time.monotonic()
        self._result, self._error = result, error
        self.image = None  # the queue keeps no images once answered
        self._done.set()


class ModelQueue:
    """First-come-first-served queue in front of one predictor, with one worker thread.

    Args:
        predictor: anything with ``predict(image, runs=...)`` (and optionally
            ``predict_batch(images)``), e.g. a :class:`cnnviz.infer.Predictor`.
        config: limits and batching; default :meth:`ServingConfig.from_env`.
        name: for messages (default the predictor's ``display_name``).
    """

    #: Weight of the newest service time in the moving average used for expected waits.
    EWMA = 0.3

    def __init__(self, predictor: Any, config: ServingConfig | None = None, *, name: str | None = None) -> None:
        self.predictor = predictor
        self.config = config or ServingConfig.from_env()
        self.display_name = name or getattr(predictor, "display_name", None) or str(predictor)
        self.batching = self.config.batching_for(predictor)
        self._cond = threading.Condition()
        self._waiting: collections.deque[Ticket] = collections.deque()
        self._serving: list[Ticket] = []
        self._service_s: float | None = None  # seconds per image, moving average
        self.served = 0
        self.batches = 0
        self.largest_batch = 0
        self.rejected = 0
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"cnnviz-queue-{self.display_name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- callers

    def submit(self, image: Any, *, runs: int = 1, session: Hashable | None = None) -> Ticket:
        """Queue ``image``; returns at once with a :class:`Ticket`.

        Raises:
            ServerBusyError: ``queue_limit`` requests are already waiting.
            TooManyPendingError: ``session`` already has ``session_pending`` requests waiting.
        """
        ticket = Ticket(self, image, runs, session)
        with self._cond:
            if len(self._waiting) >= self.config.queue_limit:
                self.rejected += 1
                raise ServerBusyError(self.display_name, self.retry_after_s_locked())
            expected = self.expected_wait_new_s_locked()
            if too_long(expected, self.config.busy_wait_s):
                self.rejected += 1
                raise ServerBusyError(self.display_name, expected - self.config.busy_wait_s, self.config.busy_wait_s)
            if session is not None:
                mine = sum(1 for t in self._waiting if t.session == session)
                if mine >= self.config.session_pending:
                    self.rejected += 1
                    raise TooManyPendingError(self.display_name, self.config.session_pending)
            self._waiting.append(ticket)
            self._cond.notify_all()
        return ticket

    def submit_and_wait(self, image: Any, *, runs: int = 1, session: Hashable | None = None,
                        on_wait: Callable[[Ticket], None] | None = None) -> Any:
        """Submit and wait: the prediction for ``image`` (see :meth:`Ticket.result`)."""
        return self.submit(image, runs=runs, session=session).result(on_wait=on_wait)

    def cancel(self, ticket: Ticket) -> None:
        """Drop a request that is still waiting (a caller that gave up)."""
        with self._cond:
            try:
                self._waiting.remove(ticket)
            except ValueError:
                pass

    def position(self, ticket: Ticket) -> int:
        with self._cond:
            if ticket in self._serving or ticket.done():
                return 0
            try:
                return self._waiting.index(ticket) + len(self._serving)
            except ValueError:
                return 0

    def expected_wait_s(self, ticket: Ticket) -> float:
        with self._cond:
            per = self._per_image_s()
            if ticket.done():
                return 0.0
            if ticket in self._serving:
                return max(0.0, per - (time.monotonic() - (ticket.started_at or time.monotonic())))
            try:
                ahead = self._waiting.index(ticket)
            except ValueError:
                return 0.0
            in_service = sum(max(0.0, per - (time.monotonic() - (t.started_at or time.monotonic())))
                             for t in self._serving[:1])
            return in_service + (ahead + 1) * per

    def expected_wait_new_s_locked(self) -> float | None:
        """Seconds a request queued now would wait for its answer; None until the model's speed
        has been measured once (no guess refuses anybody)."""
        if self._service_s is None:
            return None
        now = time.monotonic()
        in_service = sum(max(0.0, self._service_s - (now - (t.started_at or now))) for t in self._serving[:1])
        return in_service + (len(self._waiting) + 1) * self._service_s

    def retry_after_s(self) -> float:
        with self._cond:
            return self.retry_after_s_locked()

    def retry_after_s_locked(self) -> float:
        """About how long the current queue takes to drain (for "try again in N s")."""
        return max(1.0, (len(self._waiting) + len(self._serving)) * self._per_image_s())

    def _per_image_s(self) -> float:
        return self._service_s if self._service_s is not None else 1.0

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {"model": self.display_name, "waiting": len(self._waiting), "serving": len(self._serving),
                    "served": self.served, "batches": self.batches, "largest_batch": self.largest_batch,
                    "rejected": self.rejected, "batching": self.batching,
                    "seconds_per_image": None if self._service_s is None else round(self._service_s, 4)}

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ------------------------------------------------------------- worker

    def _take(self) -> list[Ticket] | None:
        with self._cond:
            while not self._waiting and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            first = self._waiting[0]
            limit = self.config.max_batch if (self.batching and first.runs == 1) else 1
            if limit > 1 and len(self._waiting) < limit and self.config.batch_window_s > 0:
                # Micro-batching window: a few ms for requests that arrive together.
                deadline = time.monotonic() + self.config.batch_window_s
                while len(self._waiting) < limit and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
            batch = [self._waiting.popleft()]
            while self._waiting and len(batch) < limit and self._waiting[0].runs == 1:
                batch.append(self._waiting.popleft())
            now = time.monotonic()
            for t in batch:
                t.started_at = now
                t.batch_size = len(batch)
            self._serving = batch
            return batch

    def _work(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            t0 = time.perf_counter()
            try:
                results = predict_many(self.predictor, [t.image for t in batch], batch[0].runs)
                errors: list[BaseException | None] = [None] * len(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller, never lost
                if len(batch) == 1:
                    results, errors = [None], [exc]
                else:  # one bad request must not fail its batch-mates: retry one by one
                    results, errors = [], []
                    for t in batch:
                        try:
                            results.append(self.predictor.predict(t.image, runs=t.runs))
                            errors.append(None)
                        except BaseException as single:  # noqa: BLE001
                            results.append(None)
                            errors.append(single)
            elapsed = time.perf_counter() - t0
            with self._cond:
                per = elapsed / len(batch)
                self._service_s = per if self._service_s is None else (
                    self.EWMA * per + (1 - self.EWMA) * self._service_s)
                self._serving = []
                self.served += len(batch)
                self.batches += 1
                self.largest_batch = max(self.largest_batch, len(batch))
            for t, r, e in zip(batch, results, errors):
                t._finish(r, e)


class QueueRegistry:
    """One :class:`ModelQueue` per predictor object, process-wide (bounded, least recently used)."""

    def __init__(self, config: ServingConfig | None = None, max_queues: int = 16) -> None:
        self.config = config
        self.max_queues = max_queues
        self._lock = threading.Lock()
        self._queues: "collections.OrderedDict[int, ModelQueue]" = collections.OrderedDict()

    def queue_for(self, predictor: Any) -> ModelQueue:
        with self._lock:
            key = id(predictor)
            queue = self._queues.get(key)
            if queue is not None and queue.predictor is predictor:
                self._queues.move_to_end(key)
                return queue
            queue = ModelQueue(predictor, self.config or ServingConfig.from_env())
            self._queues[key] = queue
            while len(self._queues) > self.max_queues:
                _, old = self._queues.popitem(last=False)
                old.close()
            return queue

    def stats(self) -> list[dict[str, Any]]:
        with self._lock:
            queues = list(self._queues.values())
        return [q.stats() for q in queues]


_REGISTRY: QueueRegistry | None = None
_REGISTRY_LOCK = threading.Lock()


def queues() -> QueueRegistry:
    """The process-wide :class:`QueueRegistry`."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = QueueRegistry()
        return _REGISTRY


# --------------------------------------------------------------------------- results kept for reruns

class ResultCache:
    """A bounded, thread-safe LRU of predictions, keyed by (image digest, model, options).

    Keyed by the image's content: two sessions with the same photo get the same answer,
    and a session's rerun (language switch, a click elsewhere) does not run inference again.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._items: "collections.OrderedDict[Hashable, Any]" = collections.OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


__all__ = ["ModelQueue", "QueueRegistry", "ResultCache", "ServerBusyError", "ServingConfig", "Ticket",
           "TooManyPendingError", "predict_many", "queues"]
