"""The Streamlit server's hooks: lifespan (warm start), HTTP routes (readiness), sidebar and page notices.

* :func:`lifespan` and :func:`routes` are what ``app.py`` hands to ``st.App`` when
  ``streamlit run app.py`` starts the server: the lifespan starts the warm pool
  (:func:`cnnviz.serving.pool.warm_start`, the homework models through the same cached loader the
  pages use; the imports page runs and the model imports share first, :data:`FIRST_IMPORTS`) before
  any page is visited, and ``GET /api/cnnviz/status`` reports readiness.
* :func:`sidebar_status` ("models loading (n/5)": the four and, offline, the trained reference) and :func:`loading_notice` (Classify page).

Which path answers a page's request (result cache → remote cluster → the model's queue) is
:func:`cnnviz.ui.models.classify_image`, beside the predictors it serves.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from typing import Any

import streamlit as st

from cnnviz.serving import pool as serving_pool
from cnnviz.serving import queue as serving_queue
from cnnviz.serving.remote import client as remote_client
from cnnviz.ui import t

STATUS_ROUTE = "/api/cnnviz/status"
#: Imported by the warm pool's thread before TensorFlow and Keras: the modules that page runs and
#: the model imports both reach. A page importing Plotly → pandas while the warm start imports
#: Keras → pandas could meet a module the other had only half imported (Python breaks the
#: import-lock cycle that way): "partially initialized module 'pandas' has no attribute 'Series'"
#: from Plotly on the Timeline, seen in 4 of 11 fresh starts while the models warmed (issue 23).
#: Imported alone first, they form no cycle with a page's imports (pandas imports no page module),
#: and TensorFlow's import then finds them whole. Not on the server's start path: the Home page
#: does not need pandas (0.5 s here).
FIRST_IMPORTS = ("pandas", "plotly.graph_objects", "plotly.io", "plotly.subplots", "plotly.colors",
                 "PIL.Image", "numpy")
#: The warm start waits for the server's first page to be drawn, at most this long (seconds):
#: the teacher's first page does not share the two cores with TensorFlow's import, and the
#: models are warm at most this much later when nobody opens a page.
FIRST_PAGE_WAIT_S = 3.0
_FIRST_PAGE = threading.Event()


# --------------------------------------------------------------------------- server start

def _loader(name: str, weights: str | None):
    from cnnviz.ui.models import get_predictor  # the pages' own cached loader: one predictor per model

    return get_predictor(name, weights)


def warm_plan() -> tuple[tuple[str, ...], dict[str, str | None]]:
    """What the server warms: the models (:func:`cnnviz.serving.pool.warm_models`) with the weights
    the pages pick, and — when those are the Classify page's defaults (no ``CNNVIZ_WARM_MODELS``) —
    the trained reference it shows under random-weight columns (EfficientNet-Lite0): without it,
    the first class after a start waited for its first conversion (p95 30 s for 30 students at
    once, against 5.6 s once it was converted; issue 23)."""
    from cnnviz.ui.classify import reference_models  # the page's own rule; heavy-ish: kept off the start path

    names = serving_pool.warm_models()
    weights = serving_pool.default_weights(names)
    if not serving_pool.warm_models_set():
        reference = reference_models(names, weights)
        names = (*names, *reference)
        weights.update({n: "imagenet" for n in reference})
    return tuple(names), weights


def start_warm_pool() -> serving_pool.WarmPool | None:
    """Start loading :func:`warm_plan`'s models in the background (once), unless ``CNNVIZ_WARM_START=0``
    or inference runs on a remote cluster; it begins once the first page is drawn (:func:`page_drawn`)
    or after :data:`FIRST_PAGE_WAIT_S`."""
    if not serving_queue.ServingConfig.from_env().warm_start or remote_client() is not None:
        return None
    names, weights = warm_plan()
    return serving_pool.warm_start(_loader, names, weights, hold=_FIRST_PAGE, hold_s=FIRST_PAGE_WAIT_S,
                                   prepare=first_imports)


def first_imports() -> None:
    """Import :data:`FIRST_IMPORTS` in this thread (the warm pool's, before it imports TensorFlow)."""
    for name in FIRST_IMPORTS:
        importlib.import_module(name)


def page_drawn() -> None:
    """A page run has ended (``app.py`` after ``navigation.run()``): the warm start may begin."""
    _FIRST_PAGE.set()


@contextlib.asynccontextmanager
async def lifespan(app):
    """``st.App`` lifespan: start the warm pool when the server starts."""
    _no_legacy_pages_mode()
    start_warm_pool()
    yield


def _no_legacy_pages_mode() -> None:
    """Keep a fresh server out of Streamlit's legacy ``pages/`` mode.

    ``cnnviz.ui`` turns that mode off when its first page run imports it; here the server's
    start imports ``cnnviz.ui`` before any session exists, so do it now: app.py always
    navigates with ``st.navigation``, and a deep link (``/classify``) must go through it.
    """
    try:  # internal: Streamlit may move it, so import it where a failure is harmless
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    PagesManager.uses_pages_directory = False


def readiness() -> dict[str, Any]:
    """The server's readiness: the warm pool's, or "ready" when none runs (nothing to wait for)."""
    pool = serving_pool.warm_pool()
    if pool is None:
        remote = remote_client()
        return {"ready": True, "loaded": 0, "total": 0, "done": True, "models": [], "warm_start": False,
                "inference_url": remote.url if remote else None}
    out = pool.readiness()
    out["warm_start"] = True
    out["queues"] = serving_queue.queues().stats()
    return out


async def _status_endpoint(request):
    from starlette.responses import JSONResponse

    data = readiness()
    return JSONResponse(data, status_code=200 if data["ready"] else 503)


def routes() -> list:
    """Extra HTTP routes of the server: ``GET /api/cnnviz/status`` (200 ready, 503 not yet)."""
    from starlette.routing import Route

    return [Route(STATUS_ROUTE, _status_endpoint, methods=["GET"])]


# --------------------------------------------------------------------------- sidebar and page notices

def sidebar_status() -> None:
    """"Models loading (n/4)" while the warm pool works, then "Models ready (4/4)"."""
    pool = serving_pool.warm_pool()
    if pool is None:
        return
    if not pool.done:
        st.sidebar.caption(":material/hourglass_top: " + t("serving.loading", loaded=pool.loaded, total=pool.total))
        return
    failed = [m.name for m in pool.models if m.state == "error"]
    if failed:
        st.sidebar.caption(t("serving.failed", loaded=pool.loaded, total=pool.total, models=", ".join(failed)))
    else:
        st.sidebar.caption(":material/check_circle: " + t("serving.ready", loaded=pool.loaded, total=pool.total))


def loading_notice() -> None:
    """On the Classify page: the models are still loading (n/4), or inference runs remotely."""
    remote = remote_client()
    if remote is not None:
        st.caption(t("serving.remote", url=remote.url))
    pool = serving_pool.warm_pool()
    if pool is not None and not pool.done:
        st.info(t("serving.loading_page", loaded=pool.loaded, total=pool.total), icon=":material/hourglass_top:")
