"""Filters & activations: what each layer sees in the image, the learned filters,
activation maximization, and where each homework model looks (Grad-CAM)."""

import streamlit as st

from cnnviz import HOMEWORK_MODELS, zoo
from cnnviz.ui import t
from cnnviz.ui import visualize as view
from cnnviz.ui.gradcam import gradcam_panel
from cnnviz.ui.models import display_name, load_model
from cnnviz.ui.runs import split_trained, trained_badge
from cnnviz.ui.image_input import image_input
from cnnviz.ui.weights import weights_banner

st.title(t("visualize.title"))
st.caption(t("visualize.intro"))
with st.expander(t("visualize.explain.title"), icon=":material/school:"):
    st.markdown(t("visualize.explain.body"))

left, right = st.columns(2, gap="large")
with left:
    name, trained = split_trained(view.model_picker())  # trained: "run:<id>/<model>" (Labs) or None
    modes = weights_banner(list(dict.fromkeys([name] * (not trained) + view.gradcam_models())), key="vis_weights")
    weights = modes[name] = trained or modes[name]
    trained_badge(trained)
    if weights is None:
        st.badge(t("visualize.random_badge"), icon=":material/casino:", color="orange")
with right:
    picked = image_input("image")
image, image_name = picked if picked is not None else (None, "")

tabs = view.tabs()
with st.spinner(t("visualize.loading_model", model=display_name(name))):
    model = load_model(name, weights)
if model is None:
    st.stop()

option = None  # the chosen layer, once its picker is drawn (maps tab, else the activation tab)
if view.is_open(tabs["maps"]) or view.is_open(tabs["depth"]):
    prepared = view.prepare(image, name, weights) if image is not None else None
    if prepared is not None:
        _, model_view, x, digest = prepared
        catalog = view.layer_catalog(name, weights, id(model), model)
        with st.spinner(t("visualize.computing_maps", model=display_name(name))):
            mapset = view.all_maps(name, weights, id(model), digest, model, x)
        with tabs["maps"]:
            if view.is_open(tabs["maps"]):
                st.caption(t("visualize.maps.pass", n=len(mapset.maps), ms=f"{mapset.ms:.0f}",
                             mb=f"{mapset.mb:.0f}"))
                option = view.layer_picker(catalog, display_name(name))
                view.maps_tab(mapset, option, catalog, model_view, random_weights=weights is None)
        with tabs["depth"]:
            if view.is_open(tabs["depth"]):
                view.depth_tab(mapset, catalog, model)
    else:
        for key in ("maps", "depth"):
            with tabs[key]:
                st.info(t("visualize.no_image"), icon=":material/add_photo_alternate:")

with tabs["filters"]:
    if view.is_open(tabs["filters"]):
        view.filters_tab(model, name, random_weights=weights is None)

with tabs["actmax"]:
    if view.is_open(tabs["actmax"]):
        catalog = view.layer_catalog(name, weights, id(model), model)
        if option is None:
            option = view.layer_picker(catalog, display_name(name))
        view.actmax_tab(model, name, weights, option)

with tabs["gradcam"]:
    if view.is_open(tabs["gradcam"]):
        options = [n for n in view.model_options() if zoo.get_spec(n).classes == 1000]
        chosen = st.multiselect(t("visualize.gradcam.models"), options, default=list(HOMEWORK_MODELS),
                                key=view.K_GRADCAM_MODELS, format_func=display_name, max_selections=8)
        if image is None:
            st.info(t("visualize.no_image"), icon=":material/add_photo_alternate:")
        elif chosen:
            gradcam_panel(image, chosen, modes, key="vis_gradcam", choose_class=True)
