"""The Timeline page's state: which entry's card is open, from a shared link (``?arch=``)
or a click on the timeline chart, kept in the URL so the page can be shared again."""

from __future__ import annotations

import streamlit as st

from cnnviz import timeline
from cnnviz.ui import error_message

DEFAULT_ARCH = "resnet"
ARCH_KEY = "timeline_arch"          # selectbox state
CHART_KEY = "timeline_chart"        # Plotly selection state
LAST_PICK_KEY = "timeline_last_pick"  # last chart click already applied (the selection persists)


def picked_from_chart(state) -> str | None:
    """The entry id of the point clicked on the timeline chart, if any."""
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        data = point.get("customdata")
        arch_id = data[0] if isinstance(data, (list, tuple)) else data
        if isinstance(arch_id, str):
            return arch_id
    return None


def sync_url() -> None:
    """Keep ``?arch=`` in the URL on the open card (also the picker's ``on_change``)."""
    st.query_params["arch"] = st.session_state[ARCH_KEY]


def open_arch(tl: timeline.Timeline) -> timeline.Architecture:
    """The entry whose card is open: the URL first (a shared link; an unknown id shows a
    warning listing the valid ones), then a new click on the chart; else :data:`DEFAULT_ARCH`."""
    if ARCH_KEY not in st.session_state:
        wanted = str(st.query_params.get("arch", "") or "").strip().lower()
        st.session_state[ARCH_KEY] = DEFAULT_ARCH
        if wanted:
            try:
                st.session_state[ARCH_KEY] = tl.get(wanted).id
            except timeline.UnknownArchitectureError as exc:
                st.warning(error_message(exc))
    picked = picked_from_chart(st.session_state.get(CHART_KEY))
    if picked and picked != st.session_state.get(LAST_PICK_KEY) and picked in tl.ids:
        st.session_state[LAST_PICK_KEY] = picked
        st.session_state[ARCH_KEY] = picked
    sync_url()
    return tl.get(st.session_state[ARCH_KEY])
