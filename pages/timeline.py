"""Page under construction (being written in this session)."""

import streamlit as st

from cnnviz.ui import t

st.title(t("nav.timeline"))
