"""Pick an architecture by constraint: latency budget, minimum accuracy, memory limit."""

import streamlit as st

from cnnviz.ui import choose as view
from cnnviz.ui import t

st.title(t("choose.title"))
st.caption(t("choose.intro"))
view.render()
