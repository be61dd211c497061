"""The timeline's three Plotly figures (the timeline itself, accuracy vs size, the ImageNet
challenge) and the points they draw. The only part of :mod:`cnnviz.timeline` that imports
Plotly; the package loads it on first use, so code that draws nothing (Home) never loads it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import plotly.graph_objects as go

from cnnviz.i18n import translate
from cnnviz.timeline.model import THEMES, Architecture, Competition, Figure, Timeline, Variant, preferred_top1
from cnnviz.timeline.text import competition_label, format_figure, format_number, metric_label, source_label

#: Okabe–Ito colours: distinguishable for colour-blind viewers and on a washed-out projector.
THEME_COLORS = {
    "foundations": "#7F7F7F",
    "depth": "#0072B2",
    "multipath": "#009E73",
    "efficiency": "#D55E00",
    "attention": "#CC79A7",
    "modernization": "#E69F00",
}


# --------------------------------------------------------------------------- chart data

@dataclass(frozen=True)
class BubblePoint:
    arch: Architecture
    variant: Variant
    params: Figure
    top1: Figure
    macs: Figure | None

    @property
    def headline(self) -> bool:
        return self.variant.name == self.arch.headline


def bubble_points(tl: Timeline, *, include_extra_data: bool = False) -> list[BubblePoint]:
    """Variants with both a parameter count and an ImageNet top-1 accuracy.

    Errors are never turned into accuracies here, and results that needed extra
    pre-training data (ViT on JFT-300M) are left out unless asked for.
    """
    points = []
    for arch in tl.architectures:
        for variant in arch.variants:
            params, top1 = variant.get("params"), preferred_top1(variant)
            if params is None or top1 is None or (top1.extra_data and not include_extra_data):
                continue
            points.append(BubblePoint(arch, variant, params, top1, variant.get("macs")))
    return points


def competition_points(tl: Timeline) -> list[tuple[Architecture, Competition]]:
    return sorted(((a, a.competition) for a in tl.architectures if a.competition),
                  key=lambda p: (p[1].year, -p[1].top5_err))


# --------------------------------------------------------------------------- Plotly figures

_FONT = dict(size=16)


def _wrap(text: str, width: int = 60) -> str:
    """Plotly hover labels do not wrap: break long sentences with <br>."""
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "<br>".join(lines)


def _x_positions(archs: Iterable[Architecture], gap_after: int) -> dict[str, float]:
    """Years on the x axis, except entries before ``gap_after`` are pulled in next to it so that
    1998–2011 (no entry) does not eat half the chart; their tick keeps the real year."""
    positions = {}
    early = [a for a in archs if a.year < gap_after]
    for k, arch in enumerate(sorted(early, key=lambda a: a.year, reverse=True)):
        positions[arch.id] = gap_after - 2 - 0.9 * k
    return positions


def timeline_figure(tl: Timeline, lang: str, selected: str | None = None):
    """Entries as labelled markers: x = year, one lane per theme; ``customdata`` = entry id
    (for click-to-select). The gap before 2012 is compressed and marked; ViT's arrival is shaded."""
    archs = tl.architectures
    first_modern = min((a.year for a in archs if a.year >= 2010), default=2012)
    early_x = _x_positions(archs, first_modern)
    lane = {theme: len(THEMES) - 1 - i for i, theme in enumerate(THEMES)}  # foundations on top

    # Entries sharing a lane and a year are spread vertically, labels pointing away from each
    # other; lone entries alternate their label above/below along the lane so that neighbours
    # one year apart (AlexNet, ZFNet) do not collide.
    pos: dict[str, tuple[float, float, str]] = {}
    lane_count: dict[str, int] = {}
    for arch in archs:
        group = [a for a in archs if a.theme == arch.theme and a.year == arch.year]
        x = early_x.get(arch.id, arch.year)
        if len(group) > 1:
            k = group.index(arch)
            y = lane[arch.theme] + 0.2 - 0.4 * k / (len(group) - 1)
            side = "top center" if k == 0 else "bottom center" if k == len(group) - 1 else "middle right"
        else:
            y = lane[arch.theme]
            side = "top center" if lane_count.get(arch.theme, 0) % 2 == 0 else "bottom center"
        lane_count[arch.theme] = lane_count.get(arch.theme, 0) + 1
        pos[arch.id] = (x, y, side)

    fig = go.Figure()
    params_label = translate("timeline.quantity.params", lang)
    for theme in THEMES:
        members = [a for a in archs if a.theme == theme]
        if not members:
            continue
        hover = []
        for a in members:
            head = a.headline_variant
            params = head.get("params")
            params_text = f"{format_figure(params)} ({head.name})" if params else translate("common.na", lang)
            paper = tl.sources[a.paper]
            hover.append(
                f"<b>{a.name}</b> · {a.year}<br>{paper.short}, {paper.venue} {paper.year}<br><br>"
                f"{_wrap(translate(f'arch.{a.id}.innovation', lang))}<br><br>{params_label}: {params_text}"
                f"<br><i>{translate('timeline.chart.click_hint', lang)}</i>"
            )
        fig.add_trace(go.Scatter(
            x=[pos[a.id][0] for a in members], y=[pos[a.id][1] for a in members],
            mode="markers+text", name=translate(f"timeline.theme.{theme}", lang),
            text=[a.name.split(" (")[0] for a in members], textposition=[pos[a.id][2] for a in members],
            customdata=[a.id for a in members], hovertext=hover, hoverinfo="text",
            marker=dict(size=18, color=THEME_COLORS[theme], line=dict(width=1, color="#111111")),
            textfont=dict(size=15),
        ))
    chosen = next((a for a in archs if a.id == selected), None)
    if chosen is not None:  # a ring around the entry whose card is open
        fig.add_trace(go.Scatter(
            x=[pos[chosen.id][0]], y=[pos[chosen.id][1]], mode="markers", showlegend=False, hoverinfo="skip",
            customdata=[chosen.id], name=chosen.name,
            marker=dict(size=34, color="rgba(0,0,0,0)", line=dict(width=4, color="#111111")),
        ))

    modern_years = sorted({a.year for a in archs if a.year >= first_modern})
    ticks = [(x, str(a.year)) for a in archs if (x := early_x.get(a.id)) is not None]
    ticks += [(y, str(y)) for y in range(modern_years[0], modern_years[-1] + 1)] if modern_years else []
    if early_x:
        gap_years = first_modern - max(a.year for a in archs if a.id in early_x)
        fig.add_vline(x=first_modern - 1.3, line=dict(dash="dot", color="#888888"))
        fig.add_annotation(x=first_modern - 1.3, y=(len(THEMES) - 1) / 2, showarrow=False, textangle=-90,
                           xshift=-12, text=translate("timeline.chart.gap", lang, years=gap_years),
                           font=dict(size=13, color="#555555"))
    vit = next((a for a in archs if a.id == "vit"), None)
    if vit is not None:
        fig.add_vrect(x0=vit.year - 0.45, x1=(modern_years[-1] if modern_years else vit.year) + 0.6,
                      fillcolor=THEME_COLORS["attention"], opacity=0.08, line_width=0)
        fig.add_annotation(x=vit.year - 0.4, y=-0.75, xanchor="left", showarrow=False,
                           text=translate("timeline.chart.transformers", lang), font=dict(size=13, color="#7a3e64"))
    fig.update_layout(
        font=_FONT, height=520, margin=dict(l=10, r=10, t=40, b=10), hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, title_text=""),
        clickmode="event+select", plot_bgcolor="white",
    )
    fig.update_xaxes(tickvals=[t[0] for t in ticks], ticktext=[t[1] for t in ticks], showgrid=True, gridcolor="#eeeeee",
                     range=[min(t[0] for t in ticks) - 0.9, max(t[0] for t in ticks) + 0.9], fixedrange=True)
    fig.update_yaxes(tickvals=[lane[t] for t in THEMES], ticktext=[translate(f"timeline.theme.{t}", lang) for t in THEMES],
                     range=[-1.0, len(THEMES) - 0.2], showgrid=False, zeroline=False, fixedrange=True)
    return fig


def bubble_figure(tl: Timeline, lang: str, *, include_extra_data: bool = False):
    """Top-1 accuracy vs parameters (log x); marker area ∝ MACs, hollow when MACs are unknown.

    One colour per theme; only headline variants carry a text label (alternating above and
    below so close neighbours stay readable on a projector), the rest shows on hover.
    """
    points = bubble_points(tl, include_extra_data=include_extra_data)
    max_macs = max((p.macs.value for p in points if p.macs), default=1.0)
    # Labels of close neighbours (ResNet50 / ResNet50V2, Xception / InceptionV3): the higher one's
    # goes above it, the lower one's beside it, on the side away from its neighbour.
    labelled = [p for p in points if p.headline]
    label_side: dict[int, str] = {}
    for p in labelled:
        for other in labelled:
            if other is not p and abs(math.log10(other.params.value / p.params.value)) < 0.15 \
                    and abs(other.top1.value - p.top1.value) < 2.0:
                if p.top1.value >= other.top1.value:
                    label_side[id(p)] = "top center"
                else:
                    label_side[id(p)] = "middle right" if p.params.value > other.params.value else "middle left"
    q = {k: translate(f"timeline.quantity.{k}", lang) for k in ("params", "top1", "macs")}
    na = translate("common.na", lang)

    def hover(p: BubblePoint) -> str:
        macs = f"{format_figure(p.macs)} ({source_label(tl, p.macs, lang)})" if p.macs else na
        return (f"<b>{p.variant.name}</b> ({p.arch.name}, {p.arch.year})<br>"
                f"{q['top1']}: {format_figure(p.top1)} ({source_label(tl, p.top1, lang)})<br>"
                f"<i>{_wrap(metric_label(p.top1, lang), 70)}</i><br>"
                f"{q['params']}: {format_figure(p.params)} ({source_label(tl, p.params, lang)})<br>"
                f"{q['macs']}: {macs}")

    fig = go.Figure()
    for theme in THEMES:
        for with_macs in (True, False):
            members = [p for p in points if p.arch.theme == theme and (p.macs is not None) == with_macs]
            if not members:
                continue
            fig.add_trace(go.Scatter(
                x=[p.params.value for p in members], y=[p.top1.value for p in members],
                mode="markers+text", name=translate(f"timeline.theme.{theme}", lang), legendgroup=theme,
                showlegend=with_macs or not any(p.arch.theme == theme and p.macs for p in points),
                text=[p.variant.name if p.headline else "" for p in members],
                textposition=[label_side.get(id(p), "top center") for p in members],
                customdata=[p.arch.id for p in members], hovertext=[hover(p) for p in members], hoverinfo="text",
                marker=dict(
                    size=[12 + 48 * math.sqrt(p.macs.value / max_macs) if p.macs else 12 for p in members],
                    symbol="circle" if with_macs else "circle-open", color=THEME_COLORS[theme],
                    opacity=0.75 if with_macs else 1.0, line=dict(width=2, color=THEME_COLORS[theme])),
                textfont=dict(size=13),
            ))
    if any(p.macs is None for p in points):  # legend entry explaining the hollow markers
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=translate("timeline.bubble.no_macs", lang),
                                 marker=dict(size=12, symbol="circle-open", color="#555555", line=dict(width=2)),
                                 hoverinfo="skip"))
    fig.update_layout(
        font=_FONT, height=560, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, title_text=""),
    )
    fig.update_xaxes(type="log", title_text=translate("timeline.bubble.x", lang), gridcolor="#eeeeee")
    fig.update_yaxes(title_text=translate("timeline.bubble.y", lang), gridcolor="#eeeeee", ticksuffix="%")
    return fig


OTHERS_DX = 0.18  # "other results" sit just right of their year so they do not hide the winner


def competition_figure(tl: Timeline, lang: str):
    """ImageNet challenge top-5 error by year: winners joined by a line, other reported results
    (second place, paper results) as separate markers, and 2012's best non-CNN entry."""
    pts = competition_points(tl)
    winners = [(a, c) for a, c in pts if c.rank == 1]
    others = [(a, c) for a, c in pts if c.rank != 1]
    fig = go.Figure()

    def hover(a: Architecture, c: Competition) -> str:
        return (f"<b>{a.name}</b> · {format_number(c.top5_err, 'top5_err')}<br>{competition_label(c, lang)}"
                f"<br>{source_label(tl, c, lang)}")

    fig.add_trace(go.Scatter(
        x=[c.year for _, c in winners], y=[c.top5_err for _, c in winners], mode="lines+markers+text",
        name=translate("timeline.competition.winners", lang), customdata=[a.id for a, _ in winners],
        text=[f"{a.name.split(' (')[0]} {format_number(c.top5_err, 'top5_err')}" for a, c in winners],
        textposition="top right", hovertext=[hover(a, c) for a, c in winners], hoverinfo="text",
        marker=dict(size=16, color=THEME_COLORS["depth"]), line=dict(width=3, color=THEME_COLORS["depth"]),
    ))
    fig.add_trace(go.Scatter(
        x=[c.year + OTHERS_DX for _, c in others], y=[c.top5_err for _, c in others], mode="markers+text",
        name=translate("timeline.competition.others", lang), customdata=[a.id for a, _ in others],
        text=[f"{a.name.split(' (')[0]} {format_number(c.top5_err, 'top5_err')}" for a, c in others],
        textposition="bottom right", hovertext=[hover(a, c) for a, c in others], hoverinfo="text",
        marker=dict(size=13, color="#555555", symbol="diamond"),
    ))
    runner = [(a, c) for a, c in pts if c.runner_up_err]
    if runner:
        fig.add_trace(go.Scatter(
            x=[c.year for _, c in runner], y=[c.runner_up_err for _, c in runner], mode="markers+text",
            name=translate("timeline.competition.non_cnn", lang),
            text=[format_number(c.runner_up_err, "top5_err") for _, c in runner], textposition="middle right",
            hovertext=[translate("timeline.competition.non_cnn_hover", lang, year=c.year,
                                 err=format_number(c.runner_up_err, "top5_err"), source=source_label(tl, c, lang))
                       for _, c in runner],
            hoverinfo="text", marker=dict(size=13, color="#999999", symbol="x"),
        ))
    years = [c.year for _, c in pts]
    fig.update_layout(
        font=_FONT, height=480, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, title_text=""),
    )
    fig.update_xaxes(dtick=1, range=[min(years) - 0.5, max(years) + 1.2], gridcolor="#eeeeee",
                     title_text=translate("timeline.competition.x", lang))
    top = max([c.top5_err for _, c in pts] + [c.runner_up_err for _, c in runner])
    fig.update_yaxes(range=[0, top * 1.15], ticksuffix="%", gridcolor="#eeeeee",
                     title_text=translate("timeline.competition.y", lang))
    return fig
