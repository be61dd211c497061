"""“Where does each model look?”: Grad-CAM (or gradient saliency) over the image, one
column per model, side by side.

Used by the Filters & activations page (its Grad-CAM tab) and by the Classify page
(:func:`gradcam_section`, under the predictions). Each heatmap is computed once per
(image content, model, weights, class, method) and cached; the overlay is drawn on the
image exactly as the model saw it (resized and center-cropped by the same policy as
Classify, :func:`cnnviz.ui.models.model_input`), so the hot regions line up with what the
network actually received. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np
import streamlit as st

from cnnviz import infer, visualize
from cnnviz.images import image_digest
from cnnviz.ui import error_message, t
from cnnviz.ui.models import display_name, load_model, model_input
from cnnviz.visualize import gradcam as vis_gradcam
from cnnviz.visualize import render

METHODS = ("gradcam", "saliency")
#: Columns per row: four fit a projector; more models wrap to a new row.
PER_ROW = 4


# --------------------------------------------------------------------------- shared helpers

def class_label(index: int, classes: int) -> str:
    """The ImageNet class name when the labels are cached, else "class N" (localized)."""
    labels = infer.class_labels(classes)
    if labels is not None and 0 <= index < len(labels):
        return infer.label_for(index, labels)
    return t("visualize.gradcam.class_n", n=index)


def _as_modes(model_names: Sequence[str], weights_modes) -> dict[str, str | None]:
    if isinstance(weights_modes, Mapping):
        return {n: weights_modes.get(n) for n in model_names}
    if weights_modes is None or isinstance(weights_modes, str):
        return {n: weights_modes for n in model_names}
    modes = list(weights_modes)
    if len(modes) != len(model_names):
        raise ValueError(f"weights_modes must match model_names. Received: {len(modes)} modes for "
                         f"{len(model_names)} models")
    return dict(zip(model_names, modes))


# --------------------------------------------------------------------------- computation (cached)

@st.cache_data(max_entries=64, show_spinner=False)
def _explain(digest: str, name: str, weights: str | None, model_id: int, class_index: int | None, method: str,
             _model, _x) -> dict:
    """Heatmap + class for one (image, model, weights, class, method); ``model_id`` ties it to one build."""
    try:
        layer = visualize.zoo_target_layer(_model, name)
    except (KeyError, ValueError, LookupError):
        layer = visualize.default_target_layer(_model)
    # The first call per (model, layer) traces and compiles the gradient function: say so.
    first = not vis_gradcam.explainer_built(_model, layer)
    t0 = time.perf_counter()
    result = visualize.grad_cam_result(_model, _x, class_index, layer)
    heat = result.heatmap
    if method == "saliency":
        heat = visualize.saliency(_model, _x, result.class_index)
    ms = (time.perf_counter() - t0) * 1000.0
    return {"heat": heat.astype(np.float32), "class_index": result.class_index, "probability": result.probability,
            "layer": layer, "ms": ms, "first": first, "classes": int(_model.outputs[0].shape[-1])}


# --------------------------------------------------------------------------- widgets

def _caption(res: dict) -> str:
    label = class_label(res["class_index"], res["classes"])
    if res["probability"] is None:
        return t("visualize.gradcam.looks_for_noprob", label=label)
    return t("visualize.gradcam.looks_for", label=label, prob=f"{100 * res['probability']:.1f}")


def side_by_side(images: Sequence[np.ndarray], gap: int = 8) -> np.ndarray:
    """uint8 H×W×3 images in one row on white (heights equalized by padding)."""
    h = max(im.shape[0] for im in images)
    parts = []
    for i, im in enumerate(images):
        pad = np.full((h, im.shape[1], 3), 255, np.uint8)
        pad[: im.shape[0]] = im
        parts.append(pad)
        if i < len(images) - 1:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
    return np.concatenate(parts, axis=1)


def class_picker(key: str) -> int | None:
    """"Each model's own top-1" (None) or one ImageNet class for every model."""
    if not st.toggle(t("visualize.gradcam.same_class"), key=f"{key}_same_class",
                     help=t("visualize.gradcam.same_class_help")):
        return None
    labels = infer.class_labels()
    if labels is not None:
        names = {i: f"{i} · {label.replace('_', ' ')}" for i, label in enumerate(labels)}
        return int(st.selectbox(t("visualize.gradcam.class"), list(names), format_func=names.__getitem__,
                                key=f"{key}_class"))
    return int(st.number_input(t("visualize.gradcam.class_index"), min_value=0, max_value=999, step=1,
                               key=f"{key}_class_index", help=t("visualize.gradcam.class_index_help")))


def gradcam_panel(image, model_names: Sequence[str], weights_modes, *,
                  class_indices: Mapping[str, int | None] | None = None, key: str = "gradcam",
                  choose_class: bool = False) -> list[dict]:
    """Grad-CAM overlays for ``model_names`` side by side, with method/opacity controls and a PNG download.

    Args:
        image: the RGB ``PIL.Image`` (from :func:`cnnviz.ui.image_input.image_input`).
        model_names: zoo registry names (the homework four on both pages).
        weights_modes: ``{name: "imagenet" | None}`` (from ``weights_banner``), one mode for
            all, or a list parallel to ``model_names``.
        class_indices: class to explain per model (default: each model's own top-1).
        key: widget-key prefix, distinct per page.
        choose_class: offer "one ImageNet class for every model" (the models must have 1000 classes).

    Returns:
        The results shown, one dict per model that produced a map (for tests and callers).
    """
    names = list(dict.fromkeys(model_names))
    modes = _as_modes(names, weights_modes)
    class_indices = dict(class_indices or {})
    if choose_class:
        chosen = class_picker(key)
        if chosen is not None:
            class_indices = {n: chosen for n in names}
    c1, c2 = st.columns([2, 1])
    with c1:
        method = st.segmented_control(
            t("visualize.gradcam.method"), list(METHODS), default="gradcam", key=f"{key}_method",
            format_func={"gradcam": t("visualize.gradcam.method_gradcam"),
                         "saliency": t("visualize.gradcam.method_saliency")}.__getitem__,
            help=t("visualize.gradcam.method_help")) or "gradcam"
    with c2:
        alpha = st.slider(t("visualize.gradcam.opacity"), 0.0, 1.0, 0.55, 0.05, key=f"{key}_alpha")
    digest = image_digest(image)
    shown: list[dict] = []
    overlays: list[np.ndarray] = []
    for row_start in range(0, len(names), PER_ROW):
        row = names[row_start: row_start + PER_ROW]
        for name, col in zip(row, st.columns(PER_ROW if len(names) > PER_ROW else len(row))):
            with col:
                st.markdown(f"**{display_name(name)}**")
                weights = modes[name]
                if weights is None:
                    st.badge(t("visualize.random_badge"), icon=":material/casino:", color="orange")
                with st.spinner(t("visualize.gradcam.computing", model=display_name(name))):
                    model = load_model(name, weights)
                    if model is None:
                        continue
                    try:
                        view, x = model_input(image, name, model)
                        res = _explain(digest, name, weights, id(model), class_indices.get(name), method, model, x)
                    except Exception as exc:  # one model failing must not blank the other columns
                        st.error(error_message(exc))
                        continue
                ov = render.overlay(view, res["heat"], alpha=alpha, cmap="turbo")
                overlays.append(ov)
                st.image(ov, caption=_caption(res), width="stretch")
                st.caption(t("visualize.gradcam.layer_first" if res["first"] else "visualize.gradcam.layer",
                             layer=res["layer"], ms=f"{res['ms']:.0f}"))
                shown.append({"name": name, "weights": weights, **res})
    if overlays:
        st.caption(t("visualize.gradcam.how_to_read") if method == "gradcam" else t("visualize.gradcam.how_to_read_saliency"))
        st.download_button(t("visualize.download_png"), render.png_bytes(side_by_side(overlays)),
                           file_name=f"{method}-{digest[:8]}.png", mime="image/png", icon=":material/download:",
                           key=f"{key}_download", on_click="ignore")
    return shown


def gradcam_section(image, entries: Sequence[tuple[str, str | None, int | None]], *, key: str = "gradcam") -> list[dict]:
    """The Classify page's “where does each model look?” section.

    Args:
        entries: ``(name, weights, class_index)`` per model: each model explains the class it predicted.
    """
    st.subheader(t("visualize.gradcam.section_title"))
    st.caption(t("visualize.gradcam.section_intro"))
    names = [e[0] for e in entries]
    return gradcam_panel(image, names, {e[0]: e[1] for e in entries},
                         class_indices={e[0]: e[2] for e in entries}, key=key)
