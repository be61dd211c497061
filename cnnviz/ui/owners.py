"""Who this browser session is: the student's secret token (``?me=`` in the URL) and the teacher's key.

Where the token lives — the URL, not a cookie. Streamlit can read cookies
(``st.context.cookies``) but has no way to set one: that needs a custom JavaScript component
writing ``document.cookie`` from an iframe, which a headless test cannot drive and a reverse
proxy may block. The URL already carries the session's language (``?lang=``) and followed run
(``?run=``) the same way: the session keeps the token (a page switch finds it in
``st.session_state``) and every run writes it back to the URL (a reload and a bookmark find it
there). The price, said on the page: the address of the page *is* the key — whoever gets the
whole URL gets the student's work, so students keep it to themselves (a ``?run=`` link shared
without ``me=`` shows nothing of the run). Only its hash is ever written to disk
(:func:`cnnviz.owners.owner_id`).

The teacher types ``CNNVIZ_TEACHER_KEY`` once in the sidebar; the session (never the URL)
remembers it, so a page switch keeps the teacher's view; a reload asks again.
"""

from __future__ import annotations

import streamlit as st

from cnnviz import owners
from cnnviz.ui import t

Q_OWNER = "me"                  # the URL parameter that carries the student's token
K_TOKEN = "owner_token"         # session key of the token
K_TEACHER = "owner_teacher"     # session key: True once the teacher's key was entered
K_KEY_INPUT = "owner_teacher_key_input"


def token() -> str:
    """This session's secret token: the session's, else a well-formed ``?me=``, else a new one; kept in the URL."""
    value = st.session_state.get(K_TOKEN)
    if not owners.valid_token(value):
        wanted = st.query_params.get(Q_OWNER)
        value = wanted if owners.valid_token(wanted) else owners.new_token()
        st.session_state[K_TOKEN] = value
    if st.query_params.get(Q_OWNER) != value:
        st.query_params[Q_OWNER] = value
    return value


def is_teacher() -> bool:
    return bool(st.session_state.get(K_TEACHER)) and owners.teacher_key() is not None


def viewer() -> owners.Viewer:
    """Who this session is: the teacher (after the key), or the student of :func:`token`."""
    return owners.Viewer(owner=owners.owner_id(token()), teacher=is_teacher())


def owner() -> str:
    """The owner id this session's runs and uploads are recorded under."""
    return owners.owner_id(token())


def _check_key() -> None:
    key = st.session_state.pop(K_KEY_INPUT, "")
    ok = owners.teacher_key_ok(key)
    st.session_state[K_TEACHER] = ok
    st.session_state["owner_teacher_refused"] = bool(key) and not ok


def sidebar() -> None:
    """The sidebar's "your work" line and, when the server has a teacher key, the teacher's login."""
    token()
    with st.sidebar:
        if is_teacher():
            st.success(t("owners.teacher_on"), icon=":material/admin_panel_settings:")
            if st.button(t("owners.teacher_off"), key="owner_teacher_logout"):
                st.session_state[K_TEACHER] = False
                st.rerun()
            return
        st.caption(t("owners.private_link"))
        if owners.teacher_key() is None:
            return
        with st.expander(t("owners.teacher"), icon=":material/key:"):
            st.text_input(t("owners.teacher_key"), type="password", key=K_KEY_INPUT, on_change=_check_key)
            if st.session_state.get("owner_teacher_refused"):
                st.error(t("owners.teacher_refused"))
