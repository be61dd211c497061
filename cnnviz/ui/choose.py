"""The "pick by constraint" page: constraints, the accuracy-vs-latency chart with its Pareto
front, the table of models, and the button that measures latencies on this machine.

Model logic lives in :mod:`cnnviz.choose`; this module only draws.
"""

from __future__ import annotations

import plotly.graph_objects as go  # Streamlit itself loads Plotly: nothing heavy added
import streamlit as st

from cnnviz import choose
from cnnviz.infer import engine_label
from cnnviz.ui import current_lang, t

def engine_name(engine: str) -> str:
    return engine_label(engine, "CPU", current_lang())


def constraints(key: str = "choose") -> dict:
    """The student's constraints: latency budget (ms), minimum top-1 (%), memory limit (MB), engine."""
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        max_ms = st.slider(t("choose.budget"), 1, 1000, 100, step=1, key=f"{key}_ms", help=t("choose.budget_help"))
    with c2:
        min_top1 = st.slider(t("choose.min_top1"), 50.0, 90.0, 70.0, step=0.5, key=f"{key}_top1")
    with c3:
        max_mb = st.slider(t("choose.max_mb"), 5, 600, 100, step=5, key=f"{key}_mb", help=t("choose.max_mb_help"))
    with c4:
        engine = st.radio(t("choose.engine"), list(choose.ENGINES), format_func=engine_name, key=f"{key}_engine")
    return {"max_ms": float(max_ms), "min_top1": float(min_top1), "max_mb": float(max_mb), "engine": engine}


def measure_panel(cands: list[choose.Candidate], engine: str, key: str = "choose") -> None:
    """Pick models and measure their latency here, with progress (kept on disk)."""
    unmeasured = [c.name for c in cands if c.latency(engine) is None]
    names = {c.name: c.display_name for c in cands}
    with st.expander(t("choose.measure_title"), icon=":material/timer:", expanded=bool(unmeasured)):
        st.caption(t("choose.measure_help", engine=engine_name(engine)))
        picked = st.multiselect(t("choose.measure_models"), list(names), default=unmeasured[:4],
                                format_func=names.get, key=f"{key}_measure_pick")
        if st.button(t("choose.measure_button", n=len(picked)), disabled=not picked, key=f"{key}_measure_go",
                     icon=":material/play_arrow:"):
            bar = st.progress(0.0)
            current = {"name": "", "i": 0, "n": max(len(picked), 1)}

            def progress(name: str, i: int, n: int) -> None:
                current.update(name=name, i=i, n=max(n, 1))
                bar.progress(i / max(n, 1), text=t("choose.measuring", model=names.get(name, name), i=i + 1, n=n)
                             if name else t("choose.measured"))

            def converting(stage: str, fraction: float) -> None:  # a first LiteRT conversion
                bar.progress(min(1.0, (current["i"] + fraction) / current["n"]),
                             text=t(f"infer.engine.stage.{stage}", model=names.get(current["name"], current["name"])))

            results = choose.measure(picked, engine, progress=progress, convert_progress=converting)
            failed = {n: r for n, r in results.items() if isinstance(r, Exception)}
            for n, exc in failed.items():
                st.error(t("choose.measure_failed", model=names.get(n, n), reason=str(exc)))
            if not failed:
                st.rerun()


def chart(cands: list[choose.Candidate], c: dict):
    """Accuracy (published top-1) against measured latency; qualifying models highlighted, front joined."""
    engine = c["engine"]
    measured = [x for x in cands if x.latency(engine) is not None and x.top1 is not None]
    fig = go.Figure()
    ok = [x for x in measured if choose.qualifies(x, engine, **_limits(c))]
    no = [x for x in measured if x not in ok]
    for group, name, color in ((no, t("choose.legend.out"), "#B0B0B0"), (ok, t("choose.legend.in"), "#2E8B57")):
        fig.add_trace(go.Scatter(
            x=[x.latency(engine) for x in group], y=[x.top1 for x in group], mode="markers+text",
            text=[x.display_name for x in group], textposition="top center", name=name,
            marker=dict(size=[8 + (x.size_mb or 0) ** 0.5 for x in group], color=color, line=dict(width=1)),
            hovertemplate="%{text}: %{x:.1f} ms, %{y:.1f}%<extra></extra>"))
    front = choose.pareto_front((x.name, x.latency(engine), x.top1) for x in measured)
    pts = {x.name: x for x in measured}
    fig.add_trace(go.Scatter(x=[pts[n].latency(engine) for n in front], y=[pts[n].top1 for n in front],
                             mode="lines", name=t("choose.legend.front"), line=dict(dash="dot", color="#C0392B")))
    fig.add_vline(x=c["max_ms"], line_dash="dash", line_color="#888")
    fig.add_hline(y=c["min_top1"], line_dash="dash", line_color="#888")
    fig.update_layout(height=460, margin=dict(l=0, r=8, t=8, b=8),
                      xaxis=dict(title=t("choose.axis.latency", engine=engine_name(engine)), type="log"),
                      yaxis=dict(title=t("choose.axis.top1"), ticksuffix="%"),
                      legend=dict(orientation="h", y=-0.18))
    return fig, front


def _limits(c: dict) -> dict:
    return {"max_ms": c["max_ms"], "min_top1": c["min_top1"], "max_mb": c["max_mb"]}


def table_rows(cands: list[choose.Candidate], c: dict, front: list[str]) -> list[dict]:
    engine = c["engine"]
    rows = []
    for x in sorted(cands, key=lambda x: (x.latency(engine) is None, x.latency(engine) or 0)):
        verdict = choose.qualifies(x, engine, **_limits(c))
        ms = x.latency(engine)
        rows.append({
            t("choose.col.model"): x.display_name,
            t("choose.col.top1"): x.top1,
            t("choose.col.source"): x.source,
            t("choose.col.latency"): round(ms, 1) if ms is not None else t("choose.not_measured"),
            t("choose.col.size"): round(x.size_mb, 1) if x.size_mb is not None else None,
            t("choose.col.verdict"): (t("choose.verdict.yes") if verdict else t("choose.verdict.unknown")
                                      if verdict is None else t("choose.verdict.no")),
            t("choose.col.front"): t("choose.verdict.yes") if x.name in front else "",
        })
    return rows


def render() -> None:
    import pandas as pd  # heavy: pandas, only on this page

    c = constraints()
    cands = choose.candidates(current_lang())
    measure_panel(cands, c["engine"])
    measured = [x for x in cands if x.latency(c["engine"]) is not None]
    if not measured:
        st.info(t("choose.none_measured", engine=engine_name(c["engine"])), icon=":material/timer_off:")
    fig, front = chart(cands, c)
    st.plotly_chart(fig, width="stretch", config={"displayModeBar": False}, key="choose_chart")
    winners = [x for x in cands if choose.qualifies(x, c["engine"], **_limits(c))]
    if winners:
        best = max(winners, key=lambda x: x.top1 or 0)
        st.success(t("choose.answer", n=len(winners), model=best.display_name, top1=f"{best.top1:.1f}",
                     ms=f"{best.latency(c['engine']):.1f}"), icon=":material/check_circle:")
    else:
        st.warning(t("choose.answer_none"), icon=":material/block:")
    st.dataframe(pd.DataFrame(table_rows(cands, c, front)), hide_index=True, width="stretch")
    st.caption(t("choose.footnote"))
