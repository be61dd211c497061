"""Models in the UI: their display names, cached builds and predictors, their inputs.

Models are built once per (name, weights, options) and shared across sessions
(``st.cache_resource``); only thread-safe use of them is allowed (inference
through :mod:`cnnviz.infer`, which serialises per model). :func:`get_predictor`
builds one :class:`cnnviz.infer.Predictor` per (name, weights, device) and shares
it the same way. Importing this module does not import TensorFlow; calling the
loaders does.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from cnnviz import device, infer, zoo
from cnnviz.errors import UserFacingError
from cnnviz.ui import error_message
from cnnviz.ui.runs import is_trained, load_trained_model

# Keep a bounded number of built models: VGG19 alone is ~550 MB of float32 weights.
MAX_MODELS = 10
#: Predictors kept alive at once (each homework model is 10–110 MB of float32 weights).
MAX_PREDICTORS = 8

# (name, weights, force_cpu) of every predictor built by this process, so a page can
# tell "will load (show progress)" from "already warm" without touching the cache.
_LOADED: set[tuple[str, str | None, bool]] = set()


def display_name(name: str) -> str:
    """How pages write zoo model ``name`` ("ResNet50"); the name itself outside the zoo."""
    try:
        return zoo.get_spec(name).display_name
    except Exception:  # a name outside the zoo (a custom model in a notebook)
        return name


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

def _gpu_present() -> bool:
    return device.select_device(force_cpu=False).is_gpu


@st.cache_resource(max_entries=MAX_PREDICTORS, show_spinner=False)
def _predictor(name: str, weights: str | None, force_cpu: bool, engine: str = "auto"):
    where = device.select_device(force_cpu=force_cpu)
    model = None
    # Share the page-wide model (the Filters page uses the same one) when it lives where
    # this predictor runs: default placement and float32. Mixed precision, or a CPU forced
    # on a GPU machine, needs a model built for that device. LiteRT on a CPU converts the
    # cached ImageNet file itself and needs no Keras model at all.
    litert_file = weights is not None and engine != "tf" and not where.is_gpu
    if not where.mixed_precision and (where.is_gpu or not _gpu_present()) and not litert_file:
        model = get_model(name, weights)
    predictor = infer.load_predictor(name, weights, model=model, device=where, engine=engine)
    _LOADED.add((name, weights, force_cpu, engine))
    return predictor


def get_predictor(name: str, weights: str | None, *, force_cpu: bool = False, engine: str = "auto"):
    """The shared, warm predictor for (name, weights, device, engine)."""
    return _predictor(name, weights, bool(force_cpu or device.force_cpu()), engine)


def predictor_loaded(name: str, weights: str | None, *, force_cpu: bool = False, engine: str = "auto") -> bool:
    """Whether :func:`get_predictor` would return at once (no build, no compile)."""
    return (name, weights, bool(force_cpu or device.force_cpu()), engine) in _LOADED
