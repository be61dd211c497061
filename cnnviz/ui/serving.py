"""Serving in the UI: warm start at server start, readiness, queue position, remote inference.

* :func:`lifespan` and :func:`routes` are what ``app.py`` hands to ``st.App`` when
  ``streamlit run app.py`` starts the server: the lifespan starts the warm pool
  (:func:`cnnviz.serving.warm_start`, the homework models through the same cached loader the
  pages use) before any page is visited, and ``GET /api/cnnviz/status`` reports readiness.
* :func:`sidebar_status` ("models loading (n/4)") and :func:`loading_notice` (Classify page).
* :func:`predict`: one model's answer for one image, through the model's fair queue
  (:class:`cnnviz.serving.ModelQueue`) with the session's place in the queue and the expected
  wait shown while it waits; or through the Ray Serve cluster at ``CNNVIZ_INFERENCE_URL``,
  falling back to in-process inference with a banner when it is unreachable.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import streamlit as st

from cnnviz import HOMEWORK_MODELS, serving
from cnnviz.serve import InferenceClient, RemoteInferenceError, client as remote_client
from cnnviz.ui import t

STATUS_ROUTE = "/api/cnnviz/status"

#: Predictions kept for reruns, server-wide (bounded: see cnnviz.serving.ResultCache).
_RESULTS = serving.ResultCache(serving.ServingConfig.from_env().result_cache)
#: Remote URLs found unreachable, and when: retried after REMOTE_RETRY_S.
_REMOTE_DOWN: dict[str, float] = {}
_REMOTE_LOCK = threading.Lock()
REMOTE_RETRY_S = 30.0


# --------------------------------------------------------------------------- server start

def _loader(name: str, weights: str | None):
    from cnnviz.ui.models import get_predictor  # the pages' own cached loader: one predictor per model

    return get_predictor(name, weights)


def start_warm_pool() -> serving.WarmPool | None:
    """Start loading the homework models in the background (once), unless ``CNNVIZ_WARM_START=0``
    or inference runs on a remote cluster."""
    if not serving.ServingConfig.from_env().warm_start or remote_client() is not None:
        return None
    return serving.warm_start(_loader, serving.warm_models())


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
    pool = serving.warm_pool()
    if pool is None:
        remote = remote_client()
        return {"ready": True, "loaded": 0, "total": 0, "done": True, "models": [], "warm_start": False,
                "inference_url": remote.url if remote else None}
    out = pool.readiness()
    out["warm_start"] = True
    out["queues"] = serving.queues().stats()
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
    pool = serving.warm_pool()
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
    pool = serving.warm_pool()
    if pool is not None and not pool.done:
        st.info(t("serving.loading_page", loaded=pool.loaded, total=pool.total), icon=":material/hourglass_top:")


# --------------------------------------------------------------------------- predictions

def _session_id() -> str:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx  # internal, harmless if moved

        ctx = get_script_run_ctx(suppress_warning=True)
        return ctx.session_id if ctx is not None else "local"
    except Exception:
        return "local"


def _remote_usable(remote: InferenceClient) -> bool:
    with _REMOTE_LOCK:
        since = _REMOTE_DOWN.get(remote.url)
    return since is None or time.monotonic() - since > REMOTE_RETRY_S


def _mark_remote_down(remote: InferenceClient) -> None:
    with _REMOTE_LOCK:
        _REMOTE_DOWN[remote.url] = time.monotonic()


def predict(predictor, image, *, digest: str, weights: str | None, runs: int = 1, force_cpu: bool = False,
            engine: str | None = None):
    """``predictor``'s answer for ``image``: from the result cache, the remote cluster, or its queue.

    While the request waits, a line shows its place in the queue and the expected wait.

    Raises:
        cnnviz.serving.ServerBusyError: past the queue's hard limit ("try again in N s").
        The predictor's own user-facing errors.
    """
    name = predictor.name
    key = (digest, name, weights, bool(force_cpu), int(runs), engine or getattr(predictor, "engine_id", None))  # the id: Engine itself is not hashable
    cached = _RESULTS.get(key)
    if cached is not None:
        return cached

    remote = remote_client()
    if remote is not None:
        if _remote_usable(remote):
            try:
                result = remote.predict(name, image, runs=runs)
                _RESULTS.put(key, result)
                return result
            except RemoteInferenceError as exc:
                _mark_remote_down(remote)
                st.warning(exc.message(_lang()), icon=":material/cloud_off:")
        else:
            st.warning(t("serving.remote_down", url=remote.url, error="…"), icon=":material/cloud_off:")

    queue = serving.queues().queue_for(predictor)
    ticket = queue.submit(image, runs=runs, session=_session_id())
    box = st.empty()
    last = None

    def show(tk: serving.Ticket) -> None:
        nonlocal last
        pos = tk.position()
        if pos > 0:
            text = ":material/schedule: " + t("serving.queue", model=predictor.display_name, position=pos + 1,
                                               seconds=f"{max(1.0, tk.expected_wait_s()):.0f}")
        else:
            text = t("serving.running", model=predictor.display_name)
        if text != last:  # a new message only when the line changes
            box.caption(text)
            last = text

    try:
        result = ticket.result(on_wait=show)
    finally:
        box.empty()
    _RESULTS.put(key, result)
    return result


def _lang() -> str:
    from cnnviz.ui import current_lang

    return current_lang()
