"""The Streamlit-aware layer: language, translated strings, shared sidebar.

This package is the only part of cnnviz that imports Streamlit. Pages stay thin:
they read widgets, call the library, and render through these helpers.
Nothing here imports TensorFlow; model loaders live in :mod:`cnnviz.ui.models`.
"""

from __future__ import annotations

import sys
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from cnnviz import HOMEWORK_MODELS, device
from cnnviz.zoo import pretrained
from cnnviz.i18n import LANG_NAMES, LANGS, default_lang, translate

LANG_KEY = "lang"


def _leave_legacy_pages_mode() -> None:
    """Make a fresh server honour app.py's ``st.navigation`` from its very first request.

    Streamlit switches to its legacy multipage mode when a ``pages/`` folder sits next
    to the entry script, until some run calls ``st.navigation``. So the first visitor of
    a fresh server who opens a deep link (``/timeline?lang=es``, shared by a teacher)
    would get that page alone: no sidebar, no language switch. Every page imports this
    module, so the first such run turns legacy mode off and reruns through app.py.
    """
    try:  # internal: Streamlit may move these, so import them where a failure is harmless
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # a future Streamlit without this internal: nothing to fix
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        ctx = get_script_run_ctx(suppress_warning=True)
        if ctx is not None and ctx.pages_manager.main_script_path.endswith("app.py"):
            st.rerun()


_leave_legacy_pages_mode()


def _keep_keras_warm_between_runs() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit's script runner "cleans problem modules" after each run
    (``script_runner._clean_problem_modules``). For Keras 3 on TensorFlow that clears
    TensorFlow's kernel cache, so every cached, compiled model pays its instantiation
    again on its next call: 0.5–1.5 s per model on the first prediction of EVERY rerun
    here (measured: MobileNetV3Small 20 ms → ~500 ms, ResNet50 130 ms → ~1 s), and the
    timings shown to students would be that instead of the model's real speed. cnnviz
    builds its models once and shares them (``st.cache_resource``), so there is no
    per-run Keras state to clear. Matplotlib figures are still closed as before.
    """
    try:  # internal: Streamlit may move it, so import it where a failure is harmless
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:  # a Streamlit without this internal: nothing to undo
        return
    current = getattr(script_runner, "_clean_problem_modules", None)
    if current is None or getattr(current, "cnnviz_keeps_keras", False):
        return

    def clean_problem_modules() -> None:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            try:
                plt.close("all")
            except Exception:  # same leniency as Streamlit's own cleanup
                pass

    clean_problem_modules.cnnviz_keeps_keras = True  # type: ignore[attr-defined]
    script_runner._clean_problem_modules = clean_problem_modules


_keep_keras_warm_between_runs()

# Pages, by id: (file, material icon). Titles come from the catalog ("nav.<id>").
PAGES: dict[str, tuple[str, str]] = {
    "home": ("pages/home.py", ":material/home:"),
    "timeline": ("pages/timeline.py", ":material/timeline:"),
    "explorer": ("pages/explorer.py", ":material/account_tree:"),
    "classify": ("pages/classify.py", ":material/image_search:"),
    "choose": ("pages/choose.py", ":material/tune:"),
    "visualize": ("pages/visualize.py", ":material/visibility:"),
    "labs": ("pages/labs.py", ":material/model_training:"),
    "homework": ("pages/homework.py", ":material/assignment:"),
}


def _browser_lang() -> str | None:
    try:
        locale = st.context.locale or ""
    except Exception:  # no browser (AppTest, bare mode)
        return None
    code = locale.split("-")[0].lower()
    return code if code in LANGS else None


def current_lang() -> str:
    """The session's language: URL ``?lang=`` first, then the browser's, then the default.

    Initialised once per session; the sidebar switch changes it afterwards.
    """
    if LANG_KEY not in st.session_state:
        wanted = str(st.query_params.get(LANG_KEY, "")).lower()
        st.session_state[LANG_KEY] = wanted if wanted in LANGS else (_browser_lang() or default_lang())
    lang = st.session_state[LANG_KEY]
    return lang if lang in LANGS else default_lang()


def t(key: str, /, **params: object) -> str:
    """The catalog message ``key`` in the session's language."""
    return translate(key, current_lang(), **params)


def error_message(exc: Exception) -> str:
    """A user-facing error's message in the session's language (plain ``str`` otherwise)."""
    message = getattr(exc, "message", None)
    return message(current_lang()) if callable(message) else str(exc)


def _sync_lang_to_url() -> None:
    st.query_params[LANG_KEY] = st.session_state[LANG_KEY]


def language_switch() -> str:
    """The Español / English switch; keeps ``?lang=`` in the URL so links can be shared."""
    lang = current_lang()
    st.sidebar.radio(
        t("common.language"),
        LANGS,
        format_func=LANG_NAMES.__getitem__,
        key=LANG_KEY,
        horizontal=True,
        on_change=_sync_lang_to_url,
    )
    if st.query_params.get(LANG_KEY) != lang:
        st.query_params[LANG_KEY] = lang
    return lang


def device_badge() -> None:
    """Compute device line for the sidebar, without importing TensorFlow."""
    info = device.probe()
    if info.is_gpu:
        mem = f" · {info.memory_mb / 1024:.0f} GB" if info.memory_mb else ""
        st.sidebar.caption(t("common.device_gpu", name=info.name, mem=mem))
    else:
        forced = t("common.device_forced") if device.force_cpu() else ""
        st.sidebar.caption(t("common.device_cpu", forced=forced))


def cache_badge() -> None:
    """How many of the homework models' weights are in the local cache (cheap file check)."""
    try:
        states = pretrained.status(HOMEWORK_MODELS, verify=False)
    except Exception as exc:  # the sidebar must never take a page down
        st.sidebar.caption(t("common.cache_unknown", error=type(exc).__name__))
        return
    cached = sum(1 for s in states if s.state == "cached")
    st.sidebar.caption(t("common.cache_state", cached=cached, total=len(states)))


def sidebar(*sections) -> None:
    """Everything every page shows in the sidebar; ``sections`` (callables) draw before the footer."""
    language_switch()
    with st.sidebar:
        st.divider()
    device_badge()
    cache_badge()
    for section in sections:  # e.g. cnnviz.ui.server_hooks.sidebar_status: "models loading (n/4)"
        section()
    st.sidebar.caption(t("common.footer"))


def page_link(page_id: str, label: str | None = None, *, icon: str | None = None, **query: str) -> None:
    """A link to another page of the app, carrying the language (and ``query``) along.

    When a page runs on its own (AppTest runs page files without app.py's
    ``st.navigation``), Streamlit cannot resolve the target page; a plain relative
    link to the same URL is rendered instead.
    """
    file, page_icon = PAGES[page_id]
    params = {LANG_KEY: current_lang(), **query}
    label = label or t(f"nav.{page_id}")
    try:
        st.page_link(file, label=label, icon=icon or page_icon, query_params=params)
    except StreamlitPageNotFoundError:  # no st.navigation registered in this run
        st.markdown(f"[{label}](/{page_id}?{urlencode(params)})")
