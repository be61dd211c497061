"""Models in the UI: their display names, cached builds and predictors, their inputs, their answers.

Models are built once per (name, weights, options) and shared across sessions
(``st.cache_resource``); only thread-safe use of them is allowed (inference
through :mod:`cnnviz.infer`, which serialises per model). :func:`get_predictor`
builds one :class:`cnnviz.infer.Predictor` per (name, weights, device, engine) as
:func:`cnnviz.infer.plan_load` decides, and shares it the same way; :func:`classify_image`
answers through the result cache, the remote cluster or the model's fair queue. Importing this module does not import TensorFlow; calling the
loaders does.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from cnnviz import device, infer, zoo
from cnnviz.errors import UserFacingError
from cnnviz.images import image_digest
from cnnviz.model_labels import model_label
from cnnviz.serving import queue as serving_queue
from cnnviz.serving.remote import RemoteInferenceError, client as remote_client
from cnnviz.ui import current_lang, error_message, t
from cnnviz.ui.runs import is_trained, load_trained_model

# Keep a bounded number of built models: VGG19 alone is ~550 MB of float32 weights.
MAX_MODELS = 10
#: Predictors kept alive at once (each homework model is 10–110 MB of float32 weights).
MAX_PREDICTORS = 8

# (name, weights, force_cpu) of every predictor built by this process, so a page can
# tell "will load (show progress)" from "already warm" without touching the cache.
_LOADED: set[tuple[str, str | None, bool]] = set()


def display_name(name: str) -> str:
    """How pages write model ``name`` ("ResNet50", a lab's "With SE"): :func:`cnnviz.model_labels.model_label`
    in the page's language."""
    return model_label(name, current_lang())


# --------------------------------------------------------------------------- models

@st.cache_resource(max_entries=MAX_MODELS, show_spinner=False)
def _build(name: str, weights: str | None, options: tuple[tuple[str, object], ...]):
    if is_trained(weights):  # trained in Labs: the run's model.keras
        return load_trained_model(weights)
    return zoo.create_model(name, weights=weights, **dict(options))


def get_model(name: str, weights: str | None = None, **options: object):
    """The zoo model ``name``, built once and shared (``weights``: None or "imagenet")."""
    return _build(name, weights, tuple(sorted(options.items())))


def load_model(name: str, weights: str | None):
    """The shared cached model, or None after showing why it could not be built."""
    try:
        return get_model(name, weights)
    except UserFacingError as exc:
        st.error(error_message(exc))
        return None


def model_input(image: Image.Image, name: str, model) -> tuple[Image.Image, np.ndarray]:
    """(the image as the model sees it, one preprocessed input H×W×C) for zoo model ``name``.

    The same resize, crop and preprocessing as Classify (:func:`cnnviz.infer.prepare_image`),
    at the size of the built ``model`` (the registry's default when its input is flexible).
    """
    shape = tuple(model.inputs[0].shape[1:3])
    if None in shape:
        shape = tuple(zoo.get_spec(name).input_shape[:2])
    view, batch = infer.prepare_image(name, image, shape)
    return view, batch[0]


# --------------------------------------------------------------------------- predictors

def _plan_and_model(name: str, weights: str | None, force_cpu: bool, engine: str):
    """:func:`cnnviz.infer.plan_load`'s plan, and the page-wide model when the plan may share it."""
    plan = infer.plan_load(name, weights, engine=engine, force_cpu=force_cpu)
    return plan, (get_model(name, weights) if plan.page_model else None)


@st.cache_resource(max_entries=MAX_PREDICTORS, show_spinner=False)
def _predictor(name: str, weights: str | None, force_cpu: bool, engine: str = "auto"):
    plan, model = _plan_and_model(name, weights, force_cpu, engine)
    predictor = infer.load_predictor(name, weights, model=model, device=plan.device, engine=engine)
    _LOADED.add((name, weights, force_cpu, engine))
    return predictor


def _force_cpu(force_cpu: bool) -> bool:
    return bool(force_cpu or device.force_cpu())


def get_predictor(name: str, weights: str | None, *, force_cpu: bool = False, engine: str = "auto"):
    """The shared, warm predictor for (name, weights, device, engine)."""
    return _predictor(name, weights, _force_cpu(force_cpu), engine)


def predictor_loaded(name: str, weights: str | None, *, force_cpu: bool = False, engine: str = "auto") -> bool:
    """Whether :func:`get_predictor` would return at once (no build, no compile)."""
    return (name, weights, _force_cpu(force_cpu), engine) in _LOADED


def convert_first(name: str, weights: str | None, *, force_cpu: bool = False, engine: str = "auto",
                  progress=None) -> None:
    """A first LiteRT conversion of what :func:`get_predictor` will load, run here with its progress.

    The shared predictor is built inside a cached loader, where Streamlit cannot replay
    elements drawn from outside it; so the conversion (and its engine check) runs first, out
    here, and the cached loader then finds it on disk. Same plan and model as :func:`get_predictor`.
    """
    plan, model = _plan_and_model(name, weights, _force_cpu(force_cpu), engine)
    if plan.needs_conversion(model):
        infer.convert_to_litert(plan, model, progress)


# --------------------------------------------------------------------------- answers

#: Predictions kept for reruns, server-wide (bounded: see cnnviz.serving.queue.ResultCache).
_RESULTS = serving_queue.ResultCache(serving_queue.ServingConfig.from_env().result_cache)


def _session_id() -> str:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx  # internal, harmless if moved

        ctx = get_script_run_ctx(suppress_warning=True)
        return ctx.session_id if ctx is not None else "local"
    except Exception:
        return "local"


def classify_image(predictor, image, *, runs: int = 1, digest: str | None = None):
    """``predictor``'s answer for ``image``: from the result cache, the remote cluster, or its queue.

    The cache is keyed by the image's content (``digest``: :func:`cnnviz.images.image_digest`, computed
    when not given) and what the predictor is (model, weights, device, engine) and ``runs``. With
    ``CNNVIZ_INFERENCE_URL`` set, the Ray Serve cluster answers (a dead URL: a banner, then the
    in-process queue). In-process, the model's fair queue (:mod:`cnnviz.serving.queue`) answers, and
    while the request waits a line shows its place in the queue and the expected wait.

    Raises:
        cnnviz.serving.queue.ServerBusyError: past the queue's hard limit ("try again in N s").
        The predictor's own user-facing errors.
    """
    digest = digest or image_digest(image)
    key = (digest, predictor.name, predictor.weights, predictor.device, int(runs), predictor.engine_id)
    cached = _RESULTS.get(key)
    if cached is not None:
        return cached
    result = _remote_answer(predictor, image, runs)
    if result is None:
        result = _queued_answer(predictor, image, runs)
    _RESULTS.put(key, result)
    return result


def _remote_answer(predictor, image, runs: int):
    remote = remote_client()
    if remote is None:
        return None
    if not remote.usable():
        st.warning(t("serving.remote_down", url=remote.url, error="…"), icon=":material/cloud_off:")
        return None
    try:
        return remote.classify(predictor.name, image, runs=runs)
    except RemoteInferenceError as exc:
        remote.mark_down()
        st.warning(exc.message(current_lang()), icon=":material/cloud_off:")
        return None


def _queued_answer(predictor, image, runs: int):
    ticket = serving_queue.queues().queue_for(predictor).submit(image, runs=runs, session=_session_id())
    box = st.empty()
    last = None

    def show(tk: serving_queue.Ticket) -> None:
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
        return ticket.result(on_wait=show)
    finally:
        box.empty()
