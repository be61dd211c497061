"""Serving throughput (section ``serving``): 8 concurrent requests, in-process (batching off / on) vs Ray Serve.

For each predictor the inference section loaded (default: the homework four), 8 client threads
send ``requests`` classifications through a :class:`cnnviz.serving.queue.ModelQueue`, first with
batching off, then on (``predict_batch``, when the predictor's engine has it). Then, when Ray
Serve is installed (``requirements-serve.txt``) and ``CNNVIZ_BENCH_RAY`` is not ``0``, the same
load goes over HTTP to a local Ray Serve deployment of MobileNetV3Small (``num_cpus=2``).
Rows go under "other benchmarks" (``source=serving``): ``model``, ``engine``, ``path``,
``batching``, ``concurrency``, ``requests``, ``per_s``, ``p50_s``, ``p95_s``, ``largest_batch``.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any, Callable

from cnnviz import settings
from cnnviz.bench.base import Context, Section
from cnnviz.serving import ray_app
from cnnviz.serving.queue import ModelQueue, ServingConfig
from cnnviz.serving.remote import InferenceClient

CONCURRENCY = 8
REQUESTS = 32
RAY_MODEL = "mobilenetv3small"


def drive(call: Callable[[Any], Any], images: list, *, concurrency: int = CONCURRENCY,
          requests: int = REQUESTS) -> dict:
    """``requests`` calls of ``call(image)`` from ``concurrency`` threads: rate and latency."""
    lock = threading.Lock()
    todo = list(range(requests))
    lat: list[float] = []
    errors: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            t0 = time.perf_counter()
            try:
                call(images[i % len(images)])
                with lock:
                    lat.append(time.perf_counter() - t0)
            except Exception as exc:  # noqa: BLE001 - a row says it, the bench goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"concurrency": concurrency, "requests": requests, "errors": len(errors),
            "per_s": round(len(lat) / wall, 2), "p50_s": round(statistics.median(lat), 3) if lat else None,
            "p95_s": round(lat[int(0.95 * (len(lat) - 1))], 3) if lat else None}


def _measure(ctx: Context) -> list[dict]:
    from cnnviz import infer, loadtest  # heavy: TF (predictors)

    images = [loadtest.student_photo(i, size=320) for i in range(8)]
    predictors = dict(ctx.predictors) or {n: infer.load_predictor(n, None, runs=1) for n in ctx.names}
    rows = []
    for name, predictor in predictors.items():
        engine = getattr(predictor, "engine", "tf")
        for mode in ("off", "on"):
            cfg = ServingConfig(batch=mode, max_batch=8, batch_window_s=0.005, queue_limit=1000,
                                        session_pending=1000)
            queue = ModelQueue(predictor, cfg)
            if mode == "on" and not queue.batching:
                queue.close()
                rows.append({"model": name, "engine": engine, "path": "in-process", "batching": "unsupported"})
                continue
            ctx.log(f"serving: {name} in-process, batching {mode}")
            row = drive(lambda img: queue.submit_and_wait(img), images)
            rows.append({"model": name, "engine": engine, "path": "in-process", "batching": mode, **row,
                         "largest_batch": queue.stats()["largest_batch"]})
            queue.close()
    rows.extend(_ray_rows(ctx, predictors, images))
    return rows


def _ray_rows(ctx: Context, predictors: dict, images: list) -> list[dict]:
    if not settings.env_bool("CNNVIZ_BENCH_RAY", True):
        return []
    try:
        import ray  # noqa: F401 - optional extra
    except ImportError:
        return [{"model": RAY_MODEL, "path": "ray", "skipped": "ray[serve] not installed (requirements-serve.txt)"}]
    import socket

    local = predictors.get(RAY_MODEL)
    weights = getattr(local, "weights", None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx.log(f"serving: starting a local Ray Serve ({RAY_MODEL}, num_cpus=2)")
    try:
        url = ray_app.serve_local([RAY_MODEL], weights={RAY_MODEL: weights or "random"}, port=port, num_cpus=2,
                                replica_cpus=1)
        client = InferenceClient(url)
        client.classify(RAY_MODEL, images[0])  # warm
        row = drive(lambda img: client.classify(RAY_MODEL, img), images)
        return [{"model": RAY_MODEL, "engine": "tf", "path": "ray", "batching": "serve.batch(8, 5 ms)", **row}]
    finally:
        ray_app.shutdown_local()


SECTION = Section("serving", _measure, when=lambda ctx: True)
