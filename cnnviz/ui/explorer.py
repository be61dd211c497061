"""The Architecture explorer's building blocks: model picker, totals, summary text, layer
table, charts, compare mode, Netron and downloads.

Model logic lives in :mod:`cnnviz.inspect`, :mod:`cnnviz.charts` and
:mod:`cnnviz.netron_server`; this module only reads widgets and draws. Models come from
:func:`cnnviz.ui.models.get_model` (built once per (name, options) and shared); the
summary, its text and the figures are cached per model key, so switching back to a model
already built (or changing the language) redraws without recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from cnnviz import HOMEWORK_MODELS, inspect, netron_server, timeline, zoo
from cnnviz.errors import UserFacingError
from cnnviz.model_labels import model_label
from cnnviz.ui import current_lang, error_message, t
from cnnviz.ui.models import display_name, get_model

MODEL_KEY = "explorer_model"
PILL_KEY = "explorer_pill"
TOP_KEY = "explorer_top"
SIZE_KEY = "explorer_size"
COMPARE_KEY = "explorer_compare"
QP_SEEN = "_explorer_qp_seen"
SIZE_FOR = "_explorer_size_for"
DEFAULT_MODEL = "resnet50"
#: One click away next to the homework four: the timeline's classics.
CLASSICS = ("lenet5", "alexnet", "vgg16", "googlenet", "resnet18", "inceptionv3", "densenet121", "mobilenetv2")
MAX_COMPARE = 6
MAX_INPUT_SIZE = 1024
CODE_HEIGHT = 560
NETRON_HEIGHT = 760
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TAB_KEY = "explorer_tab"
TABS = ("summary", "layers", "charts", "compare", "netron", "downloads")  # catalog: explorer.tab_<id>
GROUP_LEVELS = ("stage", "block")  # option values; labels come from the catalog
TREEMAP_VALUES = ("params", "macs")


# --------------------------------------------------------------------------- model choice

@dataclass(frozen=True)
class Choice:
    """What to build: a zoo name, the classifier head on or off, and the input size."""

    name: str
    include_top: bool
    size: int
    default_size: int
    channels: int

    @property
    def key(self) -> str:
        """Cache / export key, e.g. ``"resnet50-224-top"``."""
        return f"{self.name}-{self.size}-{'top' if self.include_top else 'notop'}"

    def options(self) -> dict[str, Any]:
        """Keyword options for ``get_model``: only the non-defaults, so defaults share one build."""
        options: dict[str, Any] = {}
        if not self.include_top:
            options["include_top"] = False
        if self.size != self.default_size:
            options["input_shape"] = (self.size, self.size, self.channels)
        return options


def model_names() -> list[str]:
    """Every registry model, grouped by family (families in registry order)."""
    order = {family: i for i, family in enumerate(zoo.families())}
    names = zoo.list_models()
    position = {n: i for i, n in enumerate(names)}
    return sorted(names, key=lambda n: (order.get(zoo.get_spec(n).family, 99), position[n]))


def _picker_label(name: str) -> str:  # "ResNet · ResNet50 (2015) ★" in the page's language
    return model_label(name, current_lang(), detail=True)


def quick_picks() -> list[str]:
    known = set(zoo.list_models())
    return [n for n in (*HOMEWORK_MODELS, *CLASSICS) if n in known]


def _adopt_query_param() -> None:
    """``?model=`` (the timeline's cards link here with it) preselects the model.

    A value is adopted once per distinct value, so a later pick in the selectbox is not
    overridden on rerun, but following another ``?model=`` link in the same session is.
    """
    wanted = st.query_params.get("model")
    if not wanted or wanted == st.session_state.get(QP_SEEN):
        return
    st.session_state[QP_SEEN] = wanted
    try:
        spec = zoo.get_spec(str(wanted))
    except UserFacingError as exc:
        st.session_state["_explorer_qp_error"] = error_message(exc)
        return
    st.session_state[MODEL_KEY] = spec.name


def _pill_changed() -> None:
    picked = st.session_state.get(PILL_KEY)
    if picked:
        st.session_state[MODEL_KEY] = picked


def pick_model() -> Choice:
    """Quick-pick pills, the searchable selectbox and the build options."""
    names = model_names()
    if MODEL_KEY not in st.session_state or st.session_state[MODEL_KEY] not in names:
        st.session_state[MODEL_KEY] = DEFAULT_MODEL if DEFAULT_MODEL in names else names[0]
    _adopt_query_param()
    error = st.session_state.pop("_explorer_qp_error", None)
    if error:
        st.warning(error)

    picks = quick_picks()
    current = st.session_state[MODEL_KEY]
    st.session_state[PILL_KEY] = current if current in picks else None
    st.pills(t("explorer.quick_picks"), picks, format_func=display_name, key=PILL_KEY, on_change=_pill_changed,
             help=t("explorer.quick_picks_help"))
    st.selectbox(t("explorer.model"), names, format_func=_picker_label, key=MODEL_KEY, help=t("explorer.model_help"))
    name = st.session_state[MODEL_KEY]
    spec = zoo.get_spec(name)
    if st.query_params.get("model") != name:
        st.query_params["model"] = name
        st.session_state[QP_SEEN] = name

    if st.session_state.get(SIZE_FOR) != name:  # a new model starts from its own defaults
        st.session_state[SIZE_FOR] = name
        st.session_state[SIZE_KEY] = spec.input_size
        st.session_state[TOP_KEY] = True
    left, right = st.columns(2)
    include_top = left.toggle(t("explorer.include_top"), key=TOP_KEY, help=t("explorer.include_top_help"))
    if spec.accepts_input_size:
        size = right.number_input(t("explorer.input_size"), min_value=1, max_value=MAX_INPUT_SIZE, step=1,
                                  key=SIZE_KEY, help=t("explorer.input_size_help", default=spec.input_size,
                                                       min=spec.min_input_size))
    else:
        right.caption(t("explorer.input_fixed", size=f"{spec.input_size}×{spec.input_size}"))
        size = spec.input_size
    return Choice(name=name, include_top=bool(include_top), size=int(size or spec.input_size),
                  default_size=spec.input_size, channels=spec.channels)


def spec_header(name: str) -> None:
    """Family, year, paper (linked) and the zoo's notes on the course material."""
    spec = zoo.get_spec(name)
    paper = f"[{spec.paper}]({spec.paper_url})" if spec.paper_url else spec.paper
    st.markdown(t("explorer.spec_line", model=spec.display_name, family=spec.family, year=spec.year or "—", paper=paper,
                  size=f"{spec.input_size}×{spec.input_size}×{spec.channels}"))
    if spec.description:
        st.caption(t(spec.description))
    if spec.notes:  # corrections to the course material, with their sources: one box
        st.info("\n".join(f"- {t(note)}" for note in spec.notes), icon=":material/info:")


# --------------------------------------------------------------------------- building and caching

def build(choice: Choice):
    """The model for ``choice`` (cached), or None after showing why it cannot be built."""
    display = display_name(choice.name)
    try:
        with st.spinner(t("explorer.building", model=display)):
            return get_model(choice.name, **choice.options())
    except UserFacingError as exc:
        st.error(error_message(exc), icon=":material/error:")
    except (ValueError, TypeError, MemoryError) as exc:  # Keras' own checks, outside the zoo's
        st.error(t("explorer.error_build", model=display, error=f"{type(exc).__name__}: {exc}"[:400]),
                 icon=":material/error:")
    return None


@st.cache_resource(max_entries=32, show_spinner=False)
def _summary(key: str, _model):
    return inspect.summarize(_model)


@st.cache_resource(max_entries=32, show_spinner=False)
def _summary_text(key: str, expand_nested: bool, _model) -> str:
    return inspect.summary_text(_model, expand_nested=expand_nested)


@st.cache_resource(max_entries=256, show_spinner=False)
def _figure(key: str, lang: str, kind: str, variant: str, _data):
    from cnnviz import charts  # heavy: plotly

    if kind == "params_per_layer":
        return charts.params_per_layer(_data, lang=lang, log_y=variant == "log")
    if kind == "by_group":
        return charts.by_group(_data, level=variant, lang=lang)
    if kind == "treemap":
        return charts.treemap(_data, lang=lang, value=variant)
    if kind == "cumulative":
        return charts.cumulative_params(_data, lang=lang)
    if kind == "resolution":
        return charts.resolution_channels(_data, lang=lang)
    if kind == "fc_share":
        return charts.fc_share(_data, lang=lang)
    if kind == "compare_totals":
        return charts.compare_totals(_data, lang=lang)
    raise ValueError(f"unknown chart kind={kind!r}")


def summary_for(choice_key: str, model):
    return _summary(choice_key, model)


# --------------------------------------------------------------------------- formatting

def fmt_macs(macs: int | float | None) -> str:
    if macs is None:
        return t("common.na")
    if macs >= 1e9:
        return f"{macs / 1e9:.2f} G"
    if macs >= 1e8:
        return f"{macs / 1e9:.3f} G"
    if macs >= 1e6:
        return f"{macs / 1e6:.1f} M"
    return f"{macs:,.0f}"


def metrics(summary, name: str) -> None:
    """The totals as metrics, with the counting conventions in their help."""
    # Two rows of three: "138,357,544" must fit whole on a projector, not end in "…".
    cols = st.columns(3) + st.columns(3)
    cols[0].metric(t("explorer.m_params"), f"{summary.total_params:,}", help=t("explorer.m_params_help"))
    cols[1].metric(t("explorer.m_trainable"), f"{summary.trainable_params:,}")
    cols[2].metric(t("explorer.m_non_trainable"), f"{summary.non_trainable_params:,}",
                   help=t("explorer.m_non_trainable_help"))
    cols[3].metric(t("explorer.m_macs"), fmt_macs(summary.macs), help=t("explorer.m_macs_help"))
    cols[4].metric(t("explorer.m_size"), f"{summary.size_mb:,.1f} MB", help=t("explorer.m_size_help"))
    cols[5].metric(t("explorer.m_depth"), f"{summary.depth_weighted} / {summary.depth_all}",
                   help=t("explorer.m_depth_help"))
    st.caption(t("explorer.macs_convention"))
    if summary.macs is None:
        st.caption(t("explorer.macs_unknown"))
    reference(summary, name)


def reference(summary, name: str) -> None:
    """The published multiply-add figure next to the computed one, with its source."""
    ref = timeline.reference_macs(name, current_lang())
    if ref is None or summary.macs is None:
        return
    diff = 100 * (summary.macs - ref.value) / ref.value
    text = t("explorer.reference_macs", paper=fmt_macs(ref.value), ours=fmt_macs(summary.macs), diff=f"{diff:+.1f}",
             source=ref.source)
    st.caption(text + (" " + ref.note if ref.note else ""))


# --------------------------------------------------------------------------- tabs

def summary_tab(choice: Choice, model, summary) -> None:
    nested = any(r.parent for r in summary.layers)
    expand = False
    if nested:
        expand = st.toggle(t("explorer.expand_nested"), key=f"explorer_expand_{choice.key}")
    st.caption(t("explorer.summary_caption"))
    st.code(_summary_text(choice.key, expand, model), language=None, height=CODE_HEIGHT)


def layers_tab(choice: Choice, summary) -> None:
    import pandas as pd  # heavy: pandas

    df = pd.DataFrame(summary.table())
    c1, c2, c3 = st.columns(3)
    choose = t("explorer.choose")
    types = c1.multiselect(t("explorer.filter_type"), list(summary.type_counts()), key=f"explorer_types_{choice.key}",
                           placeholder=choose)
    stage_names = list(dict.fromkeys(df["stage"]))
    stages = c2.multiselect(t("explorer.filter_stage"), stage_names, key=f"explorer_stages_{choice.key}",
                            placeholder=choose)
    block_pool = df[df["stage"].isin(stages)] if stages else df
    blocks = c3.multiselect(t("explorer.filter_block"), list(dict.fromkeys(block_pool["block"])),
                            key=f"explorer_blocks_{choice.key}", placeholder=choose)
    c4, c5 = st.columns([3, 1])
    search = c4.text_input(t("explorer.filter_name"), key=f"explorer_search_{choice.key}",
                           placeholder=t("explorer.filter_name_placeholder"))
    only_weights = c5.toggle(t("explorer.filter_weights"), key=f"explorer_weights_{choice.key}")
    view = df
    if types:
        view = view[view["type"].isin(types)]
    if stages:
        view = view[view["stage"].isin(stages)]
    if blocks:
        view = view[view["block"].isin(blocks)]
    if search:
        view = view[view["name"].str.contains(search.strip(), case=False, regex=False)]
    if only_weights:
        view = view[view["params"] > 0]
    columns = ["index", "name", "type", "output_shape", "params", "trainable_params", "non_trainable_params",
               "macs", "block", "stage", "fully_connected"]
    if (df["parent"] != "").any():
        columns.append("parent")
    st.caption(t("explorer.rows_shown", shown=len(view), total=len(df),
                 params=f"{int(view['params'].sum()):,}", macs=fmt_macs(view["macs"].sum(min_count=1)
                                                                        if view["macs"].notna().all() else None)))
    st.dataframe(
        view[columns], hide_index=True, height=520,
        column_config={
            "index": st.column_config.NumberColumn("#", width="small"),
            "name": st.column_config.TextColumn(t("explorer.col_name")),
            "type": st.column_config.TextColumn(t("explorer.col_type")),
            "output_shape": st.column_config.TextColumn(t("explorer.col_output")),
            "params": st.column_config.NumberColumn(t("explorer.col_params"), format="localized"),
            "trainable_params": st.column_config.NumberColumn(t("explorer.col_trainable"), format="localized"),
            "non_trainable_params": st.column_config.NumberColumn(t("explorer.col_non_trainable"),
                                                                  format="localized"),
            "macs": st.column_config.NumberColumn(t("explorer.col_macs"), format="localized"),
            "block": st.column_config.TextColumn(t("explorer.col_block")),
            "stage": st.column_config.TextColumn(t("explorer.col_stage")),
            "fully_connected": st.column_config.CheckboxColumn(t("explorer.col_fc"), help=t("explorer.col_fc_help")),
            "parent": st.column_config.TextColumn(t("explorer.col_parent")),
        },
    )


def _chart(fig, key: str, explanation: str) -> None:
    st.plotly_chart(fig, key=key, config={"displaylogo": False})
    st.caption(explanation)


def charts_tab(choice: Choice, summary) -> None:
    lang = current_lang()
    key = choice.key
    log_y = st.toggle(t("explorer.log_scale"), key=f"explorer_log_{key}", help=t("explorer.log_scale_help"))
    _chart(_figure(key, lang, "params_per_layer", "log" if log_y else "linear", summary), f"explorer_ppl_{key}",
           t("explorer.explain_params_per_layer"))
    level = st.segmented_control(t("explorer.group_level"), GROUP_LEVELS, default=GROUP_LEVELS[0],
                                 format_func=lambda v: t(f"explorer.level_{v}"), key=f"explorer_level_{key}")
    _chart(_figure(key, lang, "by_group", level or "stage", summary), f"explorer_group_{key}",
           t("explorer.explain_by_group"))
    value = st.segmented_control(t("explorer.treemap_value"), TREEMAP_VALUES, default=TREEMAP_VALUES[0],
                                 format_func=lambda v: t(f"explorer.value_{v}"), key=f"explorer_tree_{key}")
    _chart(_figure(key, lang, "treemap", value or "params", summary), f"explorer_treemap_{key}",
           t("explorer.explain_treemap"))
    _chart(_figure(key, lang, "cumulative", "", summary), f"explorer_cum_{key}", t("explorer.explain_cumulative"))
    _chart(_figure(key, lang, "resolution", "", summary), f"explorer_res_{key}", t("explorer.explain_resolution"))
    _chart(_figure(key, lang, "fc_share", "", summary), f"explorer_fc_{key}",
           t("explorer.explain_fc_share", share=f"{100 * summary.fc_share:.1f}"))


def _compare_homework() -> None:
    st.session_state[COMPARE_KEY] = list(HOMEWORK_MODELS)


def compare_tab(current: str) -> None:
    import pandas as pd  # heavy: pandas

    names = model_names()
    if COMPARE_KEY not in st.session_state:  # the picked model next to a reference one
        other = "resnet50" if current != "resnet50" else "convnexttiny"
        st.session_state[COMPARE_KEY] = [current] + ([other] if other in names else [])
    st.caption(t("explorer.compare_intro"))
    chosen = st.multiselect(t("explorer.compare_models"), names, format_func=_picker_label, key=COMPARE_KEY,
                            max_selections=MAX_COMPARE, placeholder=t("explorer.choose"))
    st.button(t("explorer.compare_homework"), on_click=_compare_homework, key="explorer_compare_hw")
    if len(chosen) < 2:
        st.info(t("explorer.compare_hint"))
        return
    summaries = {}
    for name in chosen:
        spec = zoo.get_spec(name)
        choice = Choice(name=name, include_top=True, size=spec.input_size, default_size=spec.input_size,
                        channels=spec.channels)
        model = build(choice)
        if model is not None:
            summaries[spec.display_name] = summary_for(choice.key, model)
    if len(summaries) < 2:
        return
    rows = [{
        t("explorer.col_model"): label_, t("explorer.m_params"): s.total_params,
        t("explorer.m_trainable"): s.trainable_params, t("explorer.m_macs"): fmt_macs(s.macs),
        t("explorer.m_size"): round(s.size_mb, 1), t("explorer.col_depth_w"): s.depth_weighted,
        t("explorer.col_depth_all"): s.depth_all, t("explorer.col_fc_share"): round(100 * s.fc_share, 1),
        t("explorer.col_input"): "×".join(str(d) for d in (s.input_shape or ())[1:]),
    } for label_, s in summaries.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
        t("explorer.m_params"): st.column_config.NumberColumn(format="localized"),
        t("explorer.m_trainable"): st.column_config.NumberColumn(format="localized"),
    })
    lang = current_lang()
    key = "|".join(f"{n}-{zoo.get_spec(n).input_size}-top" for n in chosen)
    _chart(_figure(key, lang, "compare_totals", "", summaries), "explorer_cmp_totals",
           t("explorer.explain_compare_totals"))
    _chart(_figure(key, lang, "cumulative", "", summaries), "explorer_cmp_cum", t("explorer.explain_compare_cumulative"))
    _chart(_figure(key, lang, "resolution", "", summaries), "explorer_cmp_res", t("explorer.explain_resolution"))
    _chart(_figure(key, lang, "fc_share", "", summaries), "explorer_cmp_fc", t("explorer.explain_compare_fc"))


def _request_host() -> str | None:
    try:
        return st.context.headers.get("Host")
    except Exception:  # no browser request (AppTest, bare mode)
        return None


def netron_tab(choice: Choice, model) -> None:
    status = netron_server.viewer_status()
    if not status.installed:
        st.error(t("explorer.netron_not_installed", error=status.error or "?"), icon=":material/error:")
        return
    if status.build_date is not None:
        built, expires = status.build_date.date().isoformat(), status.expires.date().isoformat()  # type: ignore[union-attr]
        st.caption(t("explorer.netron_version", version=status.version or "?", built=built, expires=expires))
        age = status.age_days() or 0
        if status.expired():
            st.warning(t("explorer.netron_expired", built=built, days=age, limit=netron_server.VIEWER_MAX_AGE_DAYS),
                       icon=":material/warning:")
        elif age >= netron_server.VIEWER_MAX_AGE_DAYS - 30:
            st.warning(t("explorer.netron_expires_soon", expires=expires), icon=":material/schedule:")
    st.info(t("explorer.netron_privacy"), icon=":material/privacy_tip:")
    flag = f"explorer_netron_on_{choice.key}"
    server = netron_server.get(choice.key)
    if server is None and not st.session_state.get(flag):
        if not st.button(t("explorer.netron_start"), key=f"explorer_netron_btn_{choice.key}", type="primary",
                         icon=":material/account_tree:"):
            st.caption(t("explorer.netron_start_help"))
            return
        st.session_state[flag] = True
    if server is None:
        try:
            with st.spinner(t("explorer.netron_starting")):
                server = netron_server.serve_model(model, choice.key)
        except UserFacingError as exc:
            st.error(error_message(exc), icon=":material/error:")
            return
        except Exception as exc:  # a Netron failure must leave the rest of the page working
            st.error(t("explorer.netron_failed", error=f"{type(exc).__name__}: {exc}"[:300]), icon=":material/error:")
            return
    request_host = _request_host()
    url = server.public_url(request_host)
    browser_host = (request_host or "").rsplit(":", 1)[0].strip("[]")
    if server.host in LOOPBACK and browser_host and browser_host not in LOOPBACK:
        st.warning(t("explorer.netron_remote_browser"), icon=":material/lan:")
    st.link_button(t("explorer.netron_open"), url, icon=":material/open_in_new:")
    st.caption(t("explorer.netron_url", url=url))
    st.iframe(url, height=NETRON_HEIGHT)
    if server.host in LOOPBACK:
        st.caption(t("explorer.netron_loopback"))


def downloads_tab(choice: Choice, model, summary) -> None:
    from cnnviz import charts  # heavy: plotly

    name = choice.name
    lang = current_lang()
    st.download_button(t("explorer.dl_summary"), _summary_text(choice.key, False, model),
                       file_name=f"{name}_summary.txt", mime="text/plain", on_click="ignore",
                       icon=":material/description:")
    st.download_button(t("explorer.dl_csv"), summary.to_csv(), file_name=f"{name}_layers.csv", mime="text/csv",
                       on_click="ignore", icon=":material/table:")
    fig = _figure(choice.key, lang, "params_per_layer", "linear", summary)
    st.download_button(t("explorer.dl_html"), lambda: charts.to_html(fig), file_name=f"{name}_params.html",
                       mime="text/html", on_click="ignore", icon=":material/bar_chart:")
    if charts.png_export_available():
        st.download_button(t("explorer.dl_png"), lambda: charts.to_png(fig), file_name=f"{name}_params.png",
                           mime="image/png", on_click="ignore", icon=":material/image:",
                           help=t("explorer.dl_png_help"))
    else:
        st.caption(t("explorer.dl_png_unavailable"))

    def keras_bytes() -> bytes:
        return netron_server.export_model(model, choice.key).read_bytes()

    st.download_button(t("explorer.dl_keras", size=f"{summary.size_mb:,.0f}"), keras_bytes,
                       file_name=f"{name}.keras", mime="application/octet-stream", on_click="ignore",
                       icon=":material/download:", help=t("explorer.dl_keras_help"))


# --------------------------------------------------------------------------- page

def render() -> None:
    """The whole explorer below the page title."""
    choice = pick_model()
    spec_header(choice.name)
    model = build(choice)
    if model is None:
        st.caption(t("explorer.build_failed_hint"))
        return
    summary = summary_for(choice.key, model)
    # Charts and files are titled with the display name ("ConvNeXtTiny", not "convnext_tiny").
    shown = replace(summary, name=zoo.get_spec(choice.name).display_name)
    st.caption(t("explorer.random_weights"), help=t("explorer.random_weights_help"))
    metrics(summary, choice.name)
    labels = [t(f"explorer.tab_{tab}") for tab in TABS]
    if st.session_state.get(TAB_KEY) not in labels:  # first visit, or the language changed
        st.session_state.pop(TAB_KEY, None)
    # Lazy tabs: only the open tab runs, so the summary text, the charts, a comparison
    # (which builds other models) and Netron (which exports a file) cost nothing unseen.
    tabs = dict(zip(TABS, st.tabs(labels, key=TAB_KEY, on_change="rerun")))
    if _open(tabs["summary"]):
        with tabs["summary"]:
            summary_tab(choice, model, summary)
    if _open(tabs["layers"]):
        with tabs["layers"]:
            layers_tab(choice, summary)
    if _open(tabs["charts"]):
        with tabs["charts"]:
            charts_tab(choice, shown)
    if _open(tabs["compare"]):
        with tabs["compare"]:
            compare_tab(choice.name)
    if _open(tabs["netron"]):
        with tabs["netron"]:
            netron_tab(choice, model)
    if _open(tabs["downloads"]):
        with tabs["downloads"]:
            downloads_tab(choice, model, shown)


def _open(tab) -> bool:
    # ``.open`` is None when the tabs do not track state (then every tab runs).
    return getattr(tab, "open", None) is not False
