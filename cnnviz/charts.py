"""Plotly figures of a model's structure, drawn from :class:`cnnviz.inspect.ModelSummary`.

Drawing never builds models (the summaries come from :mod:`cnnviz.inspect`) and nothing
here imports Streamlit or TensorFlow. Every label goes through the ``inspect.chart.*``
catalog entries, so each builder takes ``lang`` ("en" or "es").

Single-model figures: :func:`params_per_layer`, :func:`by_group`, :func:`treemap`,
:func:`cumulative_params`, :func:`resolution_channels`, :func:`fc_share`.
Compare mode takes ``{label: summary}``: :func:`compare_totals`, and
:func:`cumulative_params`, :func:`resolution_channels`, :func:`fc_share` also accept it.
"""

from __future__ import annotations

import math
import shutil
from typing import Mapping, Sequence, Union

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from cnnviz.graph import format_shape
from cnnviz.i18n import translate
from cnnviz.inspect import HEAD, STEM, LayerRow, ModelSummary

Summaries = Union[ModelSummary, Mapping[str, ModelSummary]]

FONT_SIZE = 14  # readable on a projector
HEIGHT = 460
# Fixed colours for the common layer types, so a colour means the same type in every chart.
TYPE_COLORS = {
    "Conv2D": "#1f77b4", "DepthwiseConv2D": "#17becf", "SeparableConv2D": "#9467bd", "Dense": "#d62728",
    "BatchNormalization": "#bcbd22", "LayerNormalization": "#8c564b", "Conv2DTranspose": "#e377c2",
    "Conv1D": "#2ca02c", "Conv3D": "#7f7f7f", "LayerScale": "#ff7f0e", "Normalization": "#aec7e8",
}
OTHER_COLORS = ["#ff9896", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#ffbb78"]
MODEL_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _tr(lang: str):
    return lambda key, **params: translate(key, lang, **params)


def _layout(fig: go.Figure, title: str, *, height: int = HEIGHT, legend: bool = True) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        template="plotly_white",
        font={"size": FONT_SIZE},
        height=height,
        margin={"l": 70, "r": 30, "t": 60, "b": 60},
        showlegend=legend,
        hoverlabel={"font_size": FONT_SIZE},
    )
    return fig


def _as_mapping(summaries: Summaries) -> dict[str, ModelSummary]:
    if isinstance(summaries, ModelSummary):
        return {summaries.name: summaries}
    return dict(summaries)


def type_colors(types: Sequence[str]) -> dict[str, str]:
    """A stable colour per layer type (known types fixed, others from a palette)."""
    out, extra = {}, 0
    for t in sorted(set(types)):
        if t in TYPE_COLORS:
            out[t] = TYPE_COLORS[t]
        else:
            out[t] = OTHER_COLORS[extra % len(OTHER_COLORS)]
            extra += 1
    return out


def _fmt_int(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _macs_g(value: int | None) -> float | None:
    return None if value is None else value / 1e9


# --------------------------------------------------------------------------- single model

def params_per_layer(summary: ModelSummary, *, lang: str = "en", log_y: bool = False) -> go.Figure:
    """Bar per layer with weights (x: position in the network), coloured by layer type."""
    tr = _tr(lang)
    rows = [r for r in summary.layers if r.params > 0]
    colors = type_colors([r.type for r in rows])
    fig = go.Figure()
    for layer_type in sorted({r.type for r in rows}, key=lambda t: -sum(r.params for r in rows if r.type == t)):
        members = [r for r in rows if r.type == layer_type]
        fig.add_trace(go.Bar(
            x=[r.index for r in members], y=[r.params for r in members], name=layer_type,
            marker_color=colors[layer_type],
            customdata=[[r.name, r.block, _fmt_shape(r), _fmt_int(r.macs)] for r in members],
            hovertemplate=(f"<b>%{{customdata[0]}}</b> ({layer_type})<br>{tr('inspect.chart.params')}: %{{y:,}}"
                           f"<br>{tr('inspect.chart.block')}: %{{customdata[1]}}"
                           f"<br>{tr('inspect.chart.output')}: %{{customdata[2]}}"
                           f"<br>MACs: %{{customdata[3]}}<extra></extra>"),
        ))
    fig.update_layout(barmode="overlay", bargap=0.1, legend_title_text=tr("inspect.chart.type"))
    fig.update_xaxes(title_text=tr("inspect.chart.layer_index"))
    fig.update_yaxes(title_text=tr("inspect.chart.params"), type="log" if log_y else "linear")
    return _layout(fig, tr("inspect.chart.params_per_layer_title", model=summary.name))


def _fmt_shape(row: LayerRow) -> str:
    return format_shape(row.output_shape)


def by_group(summary: ModelSummary, *, level: str = "stage", lang: str = "en") -> go.Figure:
    """Parameters (top) and MACs (bottom) per stage or per block, in network order."""
    if level not in ("stage", "block"):
        raise ValueError(f"level must be 'stage' or 'block'; got level={level!r}")
    tr = _tr(lang)
    groups = summary.by_stage() if level == "stage" else summary.by_block()
    names = [g.name for g in groups]
    stage_names = list(dict.fromkeys(g.stage for g in groups))
    palette = {s: MODEL_COLORS[i % len(MODEL_COLORS)] for i, s in enumerate(stage_names)}
    colors = [palette[g.stage] for g in groups]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=(tr("inspect.chart.params_m"), tr("inspect.chart.macs_g")))
    custom = [[g.stage, g.layers, _fmt_int(g.params), _fmt_int(g.macs)] for g in groups]
    fig.add_trace(go.Bar(x=names, y=[g.params / 1e6 for g in groups], marker_color=colors, customdata=custom,
                         name=tr("inspect.chart.params"),
                         hovertemplate=(f"<b>%{{x}}</b><br>{tr('inspect.chart.params')}: %{{customdata[2]}}"
                                        f"<br>{tr('inspect.chart.stage')}: %{{customdata[0]}}"
                                        f"<br>{tr('inspect.chart.layers')}: %{{customdata[1]}}<extra></extra>")),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[_macs_g(g.macs) for g in groups], marker_color=colors, customdata=custom,
                         name="MACs",
                         hovertemplate=(f"<b>%{{x}}</b><br>MACs: %{{customdata[3]}}"
                                        f"<br>{tr('inspect.chart.stage')}: %{{customdata[0]}}<extra></extra>")),
                  row=2, col=1)
    fig.update_xaxes(type="category", row=2, col=1)
    fig.update_xaxes(type="category", row=1, col=1)
    title_key = "inspect.chart.by_stage_title" if level == "stage" else "inspect.chart.by_block_title"
    return _layout(fig, tr(title_key, model=summary.name), height=HEIGHT + 120, legend=False)


def treemap(summary: ModelSummary, *, lang: str = "en", value: str = "params") -> go.Figure:
    """Parameters (or MACs) nested stage → block → layer; area is proportional to the value."""
    if value not in ("params", "macs"):
        raise ValueError(f"value must be 'params' or 'macs'; got value={value!r}")
    tr = _tr(lang)
    ids, labels, parents, values = [], [], [], []
    stage_tot: dict[str, int] = {}
    block_tot: dict[tuple[str, str], int] = {}
    leaves = []
    for r in summary.layers:
        v = r.params if value == "params" else (r.macs or 0)
        if v <= 0:
            continue
        stage_tot[r.stage] = stage_tot.get(r.stage, 0) + v
        block_tot[(r.stage, r.block)] = block_tot.get((r.stage, r.block), 0) + v
        leaves.append((r, v))
    for stage, v in stage_tot.items():
        ids.append(f"s:{stage}"), labels.append(stage), parents.append(""), values.append(v)
    for (stage, block), v in block_tot.items():
        if block == stage:  # "head" is both: skip the duplicate level
            continue
        ids.append(f"b:{stage}/{block}"), labels.append(block), parents.append(f"s:{stage}"), values.append(v)
    for r, v in leaves:
        parent = f"s:{r.stage}" if r.block == r.stage else f"b:{r.stage}/{r.block}"
        ids.append(f"l:{r.index}"), labels.append(r.name), parents.append(parent), values.append(v)
    fig = go.Figure(go.Treemap(
        ids=ids, labels=labels, parents=parents, values=values, branchvalues="total", maxdepth=3,
        hovertemplate="<b>%{label}</b><br>%{value:,}<br>%{percentRoot:.1%}<extra></extra>",
        texttemplate="%{label}<br>%{percentRoot:.1%}",
    ))
    key = "inspect.chart.treemap_params_title" if value == "params" else "inspect.chart.treemap_macs_title"
    fig = _layout(fig, tr(key, model=summary.name), height=HEIGHT + 140, legend=False)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return fig


def cumulative_params(summaries: Summaries, *, lang: str = "en", relative: bool | None = None) -> go.Figure:
    """Cumulative parameters (millions) against depth (layers with weights).

    With several models, depth is shown in percent of each network (``relative``) so a
    50-layer and a 150-layer network can be read on one axis.
    """
    tr = _tr(lang)
    models = _as_mapping(summaries)
    relative = len(models) > 1 if relative is None else relative
    fig = go.Figure()
    for k, (label, s) in enumerate(models.items()):
        rows = [r for r in s.layers if r.params > 0]
        xs, ys, acc = [], [], 0
        for i, r in enumerate(rows, 1):
            acc += r.params
            xs.append(100 * i / len(rows) if relative else i)
            ys.append(acc / 1e6)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", name=label, line={"width": 3, "color": MODEL_COLORS[k % len(MODEL_COLORS)]},
            customdata=[[r.name, r.block] for r in rows],
            hovertemplate=(f"<b>{label}</b><br>%{{customdata[0]}} (%{{customdata[1]}})"
                           f"<br>{tr('inspect.chart.params_m')}: %{{y:.2f}}<extra></extra>"),
        ))
    fig.update_xaxes(title_text=tr("inspect.chart.depth_pct" if relative else "inspect.chart.depth"))
    fig.update_yaxes(title_text=tr("inspect.chart.cum_params_m"), rangemode="tozero")
    title = tr("inspect.chart.cumulative_title", model=", ".join(models))
    return _layout(fig, title, legend=len(models) > 1)


def _shape4(shape) -> tuple | None:
    shape = shape[0] if isinstance(shape, list) and shape else shape
    if shape is not None and len(shape) == 4 and shape[1] is not None:
        return tuple(shape)
    return None


def _spatial_points(s: ModelSummary, relative: bool) -> tuple[list, list, list, list]:
    """(x, height, channels, label) at the input and at the output of every block.

    Block outputs, not every layer: inside a bottleneck the channels go 256 → 64 → 256, a
    zigzag that hides the stage-to-stage staircase this chart is about.
    """
    n = max(1, len(s.layers) - 1)
    points = []
    first = _shape4(s.input_shape)
    if first is not None:
        points.append((0, first[1], first[3], "input"))
    for g in s.by_block():
        shape = _shape4(g.output_shape)
        if shape is not None:
            points.append((g.last_index, shape[1], shape[3], g.name))
    points.sort(key=lambda p: p[0])
    xs = [100 * p[0] / n if relative else p[0] for p in points]
    return xs, [p[1] for p in points], [p[2] for p in points], [p[3] for p in points]


def resolution_channels(summaries: Summaries, *, lang: str = "en", relative: bool | None = None) -> go.Figure:
    """Spatial size (top) and channels (bottom) of the input and of every block's output.

    The course's pattern: resolution goes down by steps while channels go up.
    """
    tr = _tr(lang)
    models = _as_mapping(summaries)
    relative = len(models) > 1 if relative is None else relative
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=(tr("inspect.chart.resolution"), tr("inspect.chart.channels")))
    for k, (label, s) in enumerate(models.items()):
        xs, hs, cs, names = _spatial_points(s, relative)
        color = MODEL_COLORS[k % len(MODEL_COLORS)]
        fig.add_trace(go.Scatter(x=xs, y=hs, mode="lines+markers", line={"shape": "hv", "width": 3, "color": color},
                                 name=label, legendgroup=label, customdata=names,
                                 hovertemplate=f"<b>{label}</b><br>%{{customdata}}<br>%{{y}}×%{{y}}<extra></extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=xs, y=cs, mode="lines+markers", line={"shape": "hv", "width": 3, "color": color},
                                 name=label, legendgroup=label, showlegend=False, customdata=names,
                                 hovertemplate=(f"<b>{label}</b><br>%{{customdata}}<br>"
                                                f"{tr('inspect.chart.channels')}: %{{y}}<extra></extra>")),
                      row=2, col=1)
    # Log axes with a tick at every power of two: halving and doubling are equal steps.
    fig.update_yaxes(type="log", dtick=math.log10(2), title_text=tr("inspect.chart.pixels"), row=1, col=1)
    fig.update_yaxes(type="log", dtick=math.log10(2), title_text=tr("inspect.chart.channels"), row=2, col=1)
    fig.update_xaxes(title_text=tr("inspect.chart.depth_pct" if relative else "inspect.chart.layer_index"),
                     row=2, col=1)
    title = tr("inspect.chart.resolution_title", model=", ".join(models))
    return _layout(fig, title, height=HEIGHT + 120, legend=len(models) > 1)


def fc_share(summaries: Summaries, *, lang: str = "en") -> go.Figure:
    """Share of the parameters in fully connected layers: a donut for one model, bars for several."""
    tr = _tr(lang)
    models = _as_mapping(summaries)
    if len(models) == 1:
        (label, s), = models.items()
        fig = go.Figure(go.Pie(
            labels=[tr("inspect.chart.fc"), tr("inspect.chart.not_fc")],
            values=[s.fc_params, s.total_params - s.fc_params], hole=0.55, sort=False,
            marker={"colors": ["#d62728", "#1f77b4"]}, textinfo="percent+label",
            hovertemplate="%{label}: %{value:,}<extra></extra>",
        ))
        fig.update_layout(annotations=[{"text": f"{100 * s.fc_share:.1f}%", "showarrow": False,
                                        "font": {"size": 26}}])
        return _layout(fig, tr("inspect.chart.fc_title", model=label), legend=False)
    labels = list(models)
    fig = go.Figure(go.Bar(
        x=labels, y=[100 * s.fc_share for s in models.values()],
        marker_color=[MODEL_COLORS[k % len(MODEL_COLORS)] for k in range(len(labels))],
        text=[f"{100 * s.fc_share:.1f}%" for s in models.values()], textposition="outside",
        customdata=[[_fmt_int(s.fc_params), _fmt_int(s.total_params)] for s in models.values()],
        hovertemplate="<b>%{x}</b><br>%{customdata[0]} / %{customdata[1]}<extra></extra>",
    ))
    fig.update_yaxes(title_text=tr("inspect.chart.fc_pct"), range=[0, 105])
    return _layout(fig, tr("inspect.chart.fc_title", model=", ".join(labels)), legend=False)


# --------------------------------------------------------------------------- compare

def compare_totals(summaries: Mapping[str, ModelSummary], *, lang: str = "en") -> go.Figure:
    """Parameters (millions) and MACs (billions) of several models side by side."""
    tr = _tr(lang)
    labels = list(summaries)
    colors = [MODEL_COLORS[k % len(MODEL_COLORS)] for k in range(len(labels))]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(tr("inspect.chart.params_m"), tr("inspect.chart.macs_g")))
    params = [s.total_params / 1e6 for s in summaries.values()]
    macs = [_macs_g(s.macs) for s in summaries.values()]
    fig.add_trace(go.Bar(x=labels, y=params, marker_color=colors, text=[f"{p:.1f}" for p in params],
                         textposition="outside", hovertemplate="<b>%{x}</b><br>%{y:.2f} M<extra></extra>"),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=labels, y=macs, marker_color=colors,
                         text=["n/a" if m is None else f"{m:.2f}" for m in macs], textposition="outside",
                         hovertemplate="<b>%{x}</b><br>%{y:.3f} G<extra></extra>"), row=1, col=2)
    top_p = max(params or [1]) * 1.18
    top_m = max([m for m in macs if m is not None] or [1]) * 1.18
    fig.update_yaxes(range=[0, top_p], row=1, col=1)
    fig.update_yaxes(range=[0, top_m], row=1, col=2)
    return _layout(fig, tr("inspect.chart.compare_title"), legend=False)


def all_figures(summary: ModelSummary, *, lang: str = "en") -> dict[str, go.Figure]:
    """Every single-model figure the explorer shows (used by the benchmark too)."""
    return {
        "params_per_layer": params_per_layer(summary, lang=lang),
        "by_stage": by_group(summary, level="stage", lang=lang),
        "by_block": by_group(summary, level="block", lang=lang),
        "treemap": treemap(summary, lang=lang),
        "cumulative": cumulative_params(summary, lang=lang),
        "resolution": resolution_channels(summary, lang=lang),
        "fc_share": fc_share(summary, lang=lang),
    }


# --------------------------------------------------------------------------- export

def to_html(fig: go.Figure) -> str:
    """A standalone HTML page of ``fig`` (plotly.js embedded: opens offline, e.g. in class)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def find_chrome() -> str | None:
    """The Chrome/Chromium Kaleido would use for PNG export, or None (cheap: no launch)."""
    try:
        from choreographer.browsers.chromium import Chromium  # optional: Kaleido's browser finder

        path = Chromium.find_browser(skip_local=False)
        if path:
            return str(path)
    except Exception:  # choreographer's API moved or is absent: fall back to PATH
        pass
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def png_export_available() -> bool:
    """Whether :func:`to_png` can work here: Kaleido installed and a Chrome to drive."""
    try:
        import kaleido  # noqa: F401  # optional: PNG export
    except Exception:
        return False
    return find_chrome() is not None


def to_png(fig: go.Figure, *, width: int = 1400, height: int | None = None, scale: float = 1.0) -> bytes:
    """PNG bytes of ``fig`` through Kaleido (starts a headless Chrome: seconds, not ms)."""
    return pio.to_image(fig, format="png", width=width, height=height or fig.layout.height or HEIGHT, scale=scale)


__all__ = [
    "params_per_layer", "by_group", "treemap", "cumulative_params", "resolution_channels", "fc_share",
    "compare_totals", "all_figures", "to_html", "to_png", "png_export_available", "type_colors",
    "STEM", "HEAD",
]
