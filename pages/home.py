"""Home: what cnnviz offers, where to go, and which architecture to use.

Needs no model: this page must never import TensorFlow (numbers come from the
timeline's data file).
"""

from __future__ import annotations

import streamlit as st

from cnnviz import HOMEWORK_MODELS, timeline, ui
from cnnviz.ui import t
from cnnviz.ui.tables import md_table

# The three uses of the app: (catalog id, material icon, pages it leads to).
USES = (
    ("demo", ":material/co_present:", ("timeline", "explorer")),
    ("classify", ":material/image_search:", ("classify",)),
    ("layers", ":material/layers:", ("explorer", "visualize")),
)
#: Columns of the homework table (catalog ``home.table.<col>``).
HOME_COLS = ("model", "role", "params", "top1", "macs", "sources")


lang = ui.current_lang()

st.title(t("home.title"))
st.markdown(f"##### {t('home.tagline')}")

st.subheader(t("home.uses.header"))
for col, (use, icon, pages) in zip(st.columns(3), USES):
    with col.container(border=True):
        st.markdown(f"### {icon} {t(f'home.use.{use}.title')}")
        st.markdown(t(f"home.use.{use}.text"))
        for page_id in pages:
            ui.page_link(page_id)

st.subheader(t("home.guide.header"))
st.markdown(t("home.guide.intro"))
st.markdown("\n".join(f"- {t(f'home.guide.{k}')}" for k in ("default", "mobile", "baseline", "vit")))

st.subheader(t("home.homework.header"))
st.markdown(t("home.homework.text"))
try:
    tl = timeline.load()
except timeline.TimelineDataError as exc:
    st.error(ui.error_message(exc))
else:
    rows = []
    for name in HOMEWORK_MODELS:
        row = timeline.model_summary(tl, name, lang)
        rows.append([f"**{row['model']}**", t(f"home.role.{name}"), row["params"], row["top1"], row["macs"],
                     row["sources"]])
    st.markdown(md_table([t(f"home.table.{c}") for c in HOME_COLS], rows))
    st.caption(t("home.table.caption"))
ui.page_link("timeline", t("home.timeline_link"))

