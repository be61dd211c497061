"""Labs: the course's exercises, trained live in the background, with curves that teach.
The logic lives in cnnviz.ui.labs (drawing) and cnnviz.labs / cnnviz.training (the library)."""

import streamlit as st

from cnnviz.ui import labs, t

st.title(t("labs_ui.title"))
st.caption(t("labs_ui.intro"))
labs.render()
