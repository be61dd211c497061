"""Cached model loaders shared by every model page.

Models are built once per (name, weights, options) and shared across sessions
(``st.cache_resource``); only thread-safe use of them is allowed (inference
through :mod:`cnnviz.infer`, which serialises per model). Importing this module
does not import TensorFlow; calling the loaders does.
"""

from __future__ import annotations

import streamlit as st

# Keep a bounded number of built models: VGG19 alone is ~550 MB of float32 weights.
MAX_MODELS = 10


@st.cache_resource(max_entries=MAX_MODELS, show_spinner=False)
def _build(name: str, weights: str | None, options: tuple[tuple[str, object], ...]):
    from cnnviz import zoo

    return zoo.create_model(name, weights=weights, **dict(options))


def get_model(name: str, weights: str | None = None, **options: object):
    """The zoo model ``name``, built once and shared (``weights``: None or "imagenet")."""
    return _build(name, weights, tuple(sorted(options.items())))
