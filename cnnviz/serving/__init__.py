"""Serving many students, by job.

* :mod:`cnnviz.serving.queue` — the fair per-model queue and micro-batching (one process), the result cache.
* :mod:`cnnviz.serving.pool` — the warm pool at server start and its readiness (``status.json``).
* :mod:`cnnviz.serving.ray_app` — the Ray Serve application (Ray optional, imported inside functions).
* :mod:`cnnviz.serving.remote` — the HTTP client of a remote cluster (``CNNVIZ_INFERENCE_URL``).

The Streamlit side (routes, lifespan, sidebar) is :mod:`cnnviz.ui.server_hooks`; which path answers a
page (result cache → remote → queue) is :func:`cnnviz.ui.models.classify_image`. The queue's and the
pool's names are re-exported here. Nothing here imports TensorFlow, Ray or Streamlit.
"""

from __future__ import annotations

from cnnviz.serving.pool import (STATUS_FILE, WarmModel, WarmPool, default_weights, read_status, status_path,
                                 warm_models, warm_pool, warm_start)
from cnnviz.serving.queue import (ModelQueue, QueueRegistry, ResultCache, ServerBusyError, ServingConfig, Ticket,
                                  TooManyPendingError, predict_many, queues)

__all__ = [
    "ModelQueue", "QueueRegistry", "ResultCache", "STATUS_FILE", "ServerBusyError", "ServingConfig", "Ticket",
    "TooManyPendingError", "WarmModel", "WarmPool", "default_weights", "predict_many", "queues", "read_status",
    "status_path", "warm_models", "warm_pool", "warm_start",
]
