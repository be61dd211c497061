"""Timeline: LeNet-5 to ConvNeXt (and ViT), every number with its source.

Reads ``?arch=<id>`` to open a card directly (shareable) and keeps it in the URL.
Needs no model: this page must never import TensorFlow.
"""

from __future__ import annotations

import streamlit as st

from cnnviz import timeline, ui
from cnnviz.ui import t
from cnnviz.ui.tables import md_cell, md_table
from cnnviz.ui.timeline import ARCH_KEY, CHART_KEY, open_arch, sync_url

SUMMARY_COLS = ("model", "params", "top1", "top5", "macs", "sources")
FULL_COLS = ("variant", "quantity", "value", "measures", "source")


lang = ui.current_lang()
try:
    tl = timeline.load()
except timeline.TimelineDataError as exc:  # a broken data file must not show a traceback
    st.error(ui.error_message(exc))
    st.stop()

arch = open_arch(tl)  # from ?arch= or a click on the chart, kept in the URL

st.title(t("timeline.title"))
st.markdown(t("timeline.intro"))

# ---- the three patterns of the course
st.subheader(t("timeline.patterns.header"))
for col, pattern in zip(st.columns(3), ("depth", "multipath", "efficiency")):
    with col:
        st.markdown(f"**{t(f'timeline.pattern.{pattern}.title')}**")
        st.markdown(t(f"timeline.pattern.{pattern}.text"))

# ---- the timeline itself
st.subheader(t("timeline.chart.header"))
st.caption(t("timeline.chart.caption"))
st.plotly_chart(timeline.timeline_figure(tl, lang, selected=arch.id), key=CHART_KEY, on_select="rerun",
                selection_mode="points", config={"displayModeBar": False})

# ---- the card
st.selectbox(t("timeline.pick.label"), tl.ids, key=ARCH_KEY, on_change=sync_url,
             format_func=lambda i: f"{tl.get(i).year} · {tl.get(i).name}")
paper = tl.sources[arch.paper]
with st.container(border=True):
    st.header(arch.name)
    st.caption(" · ".join([
        t("timeline.card.year_paper", year=arch.year, venue=paper.venue, paper_year=paper.year),
        t("timeline.card.theme", theme=t(f"timeline.theme.{arch.theme}")),
    ]))
    st.markdown(f"#### {t(f'arch.{arch.id}.innovation')}")
    st.markdown(t(f"arch.{arch.id}.description"))
    st.markdown(t("timeline.card.paper", title=paper.title, url=paper.url, authors=paper.authors))

    for note in tl.notes_for(arch.id):
        st.info(f"**{t('timeline.course_note.title')}** · {timeline.note_text(note, lang)}", icon=":material/school:")

    st.markdown(f"**{t('timeline.card.at_a_glance')}**")
    summary = timeline.summary_rows(tl, arch, lang)
    if summary:
        st.markdown(md_table([t(f"timeline.card.col.{c}") for c in SUMMARY_COLS],
                             [[row[c] for c in SUMMARY_COLS] for row in summary]))
    for line in timeline.other_benchmarks(tl, arch, lang):
        st.markdown(line)
    if arch.competition:
        comp = arch.competition
        st.markdown(t("timeline.card.competition", err=timeline.format_number(comp.top5_err, "top5_err"),
                      label=timeline.competition_label(comp, lang), source=timeline.source_label(tl, comp, lang)))
    with st.expander(t("timeline.card.all_numbers")):
        rows = [[*(row[c] for c in FULL_COLS[:-1]),
                 f"[{md_cell(row['source'])}]({row['url']})" if row["url"] else row["source"]]
                for row in timeline.card_rows(tl, arch, lang)]
        st.markdown(md_table([t(f"timeline.card.col.{c}") for c in FULL_COLS], rows, escape_last=False))
        st.caption(t("timeline.card.numbers_caption"))

    st.markdown(f"**{t('timeline.card.explore_header')}**")
    models = [*arch.zoo_models, *arch.course_models]
    if not models:
        st.caption(t("timeline.card.not_in_zoo"))
    for row_start in range(0, len(models), 4):
        for col, name in zip(st.columns(4), models[row_start:row_start + 4]):
            with col:
                label = (t("timeline.card.open_explorer", model=arch.display_name(name)) if name in arch.zoo_models
                         else t("timeline.card.course_model", model=name))
                ui.page_link("explorer", label, model=name)

# ---- charts and sources
bubble_tab, contest_tab, sources_tab = st.tabs(
    [t("timeline.tab.bubble"), t("timeline.tab.competition"), t("timeline.tab.sources")])
with bubble_tab:
    extra = st.checkbox(t("timeline.bubble.extra_data"), value=False, help=t("timeline.bubble.extra_help"),
                        key="timeline_extra_data")
    st.plotly_chart(timeline.bubble_figure(tl, lang, include_extra_data=extra), key="timeline_bubble",
                    config={"displayModeBar": False})
    st.caption(t("timeline.bubble.caption"))
with contest_tab:
    st.plotly_chart(timeline.competition_figure(tl, lang), key="timeline_competition",
                    config={"displayModeBar": False})
    st.caption(t("timeline.competition.caption"))
    st.info(f"**{t('timeline.course_note.title')}** · {timeline.note_text(tl.note('ilsvrc_top5_table'), lang)}",
            icon=":material/school:")
with sources_tab:
    st.caption(t("timeline.sources.caption"))
    entries = []
    for src in tl.used_sources():
        link_md = f" [{src.url}]({src.url})" if src.url else ""
        entries.append(f"- **{src.short}**: {src.citation(lang)}{link_md}")
    st.markdown("\n".join(entries))
