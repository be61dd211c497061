"""Classify an image: one photo, four architectures, their answers and their speed."""

import streamlit as st

from cnnviz import device
from cnnviz.ui import classify as view
from cnnviz.ui import server_hooks, t
from cnnviz.ui.image_input import image_input
from cnnviz.ui.weights import weights_banner

st.title(t("classify.title"))
st.caption(t("classify.intro"))
server_hooks.loading_notice()  # models loading (n/4), or inference on a remote cluster

picked = image_input("image")

# The pickers sit right above the result columns they control.
names = view.model_pickers("classify")
with st.expander(t("classify.settings"), icon=":material/tune:"):
    runs = st.slider(t("classify.runs"), 1, 20, 1, key="classify_runs", help=t("classify.runs_help"))
    gpu_seen = device.probe().is_gpu or device.force_cpu()
    force_cpu = st.toggle(t("classify.force_cpu"), key="classify_force_cpu", disabled=not gpu_seen,
                          help=t("classify.force_cpu_help") if gpu_seen else t("classify.no_gpu_help"))
    compare = st.toggle(t("classify.engines.toggle"), key="classify_engines", help=t("classify.engines.help"))
modes = weights_banner(names, key="classify_weights")

if picked is None:
    st.info(t("classify.no_image"), icon=":material/add_photo_alternate:")
    st.stop()

image, image_name = picked
columns = view.render(image, image_name, names, modes, runs=runs, force_cpu=force_cpu)
if compare:
    view.engines_section(image, names, modes, runs=runs, force_cpu=force_cpu)
view.gradcam_section(image, columns)
