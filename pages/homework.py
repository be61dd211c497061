"""Homework studio: four CNNs by transfer learning on the student's own dataset, with a report."""

import streamlit as st

from cnnviz.ui import runs, t
from cnnviz.ui import homework as view

st.title(t("homework.page.title"))
st.caption(t("homework.page.intro"))
with st.expander(t("homework.page.explain_title"), icon=":material/school:"):
    st.markdown(t("homework.page.explain"))

ds = view.dataset_input()
if ds is not None:
    view.dataset_summary(ds)
    settings = view.settings_form(ds)
    if settings is not None and st.button(t("homework.page.run"), type="primary", icon=":material/play_arrow:",
                                          key="homework_run_button"):
        view.start(ds, settings)

run = runs.followed()  # the same ?run= handling as Labs
if run is not None:
    st.divider()
    view.run_view(run, ds)
