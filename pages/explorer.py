"""Architecture explorer: live model.summary, parameter and compute charts, compare mode,
Netron layer graph. The logic lives in cnnviz.ui.explorer and the cnnviz library."""

import streamlit as st

from cnnviz.ui import explorer, t

st.title(t("explorer.title"))
st.caption(t("explorer.intro"))
explorer.render()
