"""The Filters & activations page's building blocks.

The page computes every drawable layer's maps for the image in ONE forward pass
(:func:`all_maps`, cached by model build and image content), so walking the layer
picker from ``conv1`` to the last stage never runs the model again. Layers are grouped
by the explorer's blocks and stages (:func:`cnnviz.inspect.summarize`), with their
output shapes. Everything drawn here comes from :mod:`cnnviz.visualize`; this module
only lays it out. Importing it does not import TensorFlow.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotly.graph_objects as go  # Streamlit itself loads Plotly: nothing heavy added
import streamlit as st
from PIL import Image

from cnnviz import HOMEWORK_MODELS, visualize, zoo
from cnnviz import inspect as cinspect
from cnnviz.images import image_digest
from cnnviz.ui import error_message, t
from cnnviz.ui.gradcam import side_by_side
from cnnviz.ui.models import load_model, model_input
from cnnviz.ui.runs import trained_options
from cnnviz.visualize import render
from cnnviz.zoo import pretrained

TABS = ("maps", "depth", "filters", "actmax", "gradcam")
PER_PAGE = (16, 36, 64)
ORDERS = ("index", "mean", "max")
#: Largest tile edge sent to the browser in the interactive grid (cells = tiles × edge²).
GRID_TILE_PX = 64
#: Maps cached at once (float16: ResNet50 ~70 MB per image, ResNet152 ~200 MB).
MAX_MAP_SETS = 3
AM_STEPS = (16, 32, 64, 128, 256)

K_LAYER = "vis_layer_name"          # the canonical chosen layer (not a widget)
K_BLOCK_W = "vis_block"             # block selectbox
K_LAYER_W = "vis_layer"             # layer selectbox
K_GRADCAM_MODELS = "vis_gradcam_models"
K_AM_STOP = "vis_am_stop"
K_AM_PARTIAL = "vis_am_partial"


# --------------------------------------------------------------------------- models

def model_options() -> list[str]:
    """Every zoo model that takes images: the homework four first, then the models whose
    ImageNet weights ship with the install (EfficientNet-Lite0), then the rest."""
    first = [n for n in HOMEWORK_MODELS if n in zoo.list_models()]
    first += [n for n in pretrained.installed_models() if n not in first]
    return first + [n for n in zoo.list_models() if n not in first]


def model_picker(key: str = "vis_model") -> str:
    """A zoo name, or "run:<run_id>/<model>" for a network trained in Labs (listed last)."""
    trained = trained_options()
    options = model_options() + list(trained)
    wanted = str(st.query_params.get("model", ""))
    wanted = wanted if wanted in trained else wanted.lower()
    if key not in st.session_state and wanted in options:
        st.session_state[key] = wanted
    labels = {n: " · ".join(str(x) for x in (zoo.get_spec(n).display_name, zoo.get_spec(n).year) if x)
              for n in options if n not in trained} | trained
    return st.selectbox(t("visualize.model"), options, key=key, format_func=labels.__getitem__,
                        help=t("visualize.model_help"))


def gradcam_models() -> list[str]:
    """The models of the Grad-CAM tab (its multiselect's last value; default the homework four)."""
    value = st.session_state.get(K_GRADCAM_MODELS)
    return list(value) if value else list(HOMEWORK_MODELS)


# --------------------------------------------------------------------------- layers

@dataclass(frozen=True)
class LayerOption:
    name: str
    type: str
    shape: tuple          # (None, H, W, C)
    block: str
    stage: str
    index: int            # position among the drawable layers

    @property
    def shape_text(self) -> str:
        return "×".join(str(d) for d in self.shape[1:])


@dataclass(frozen=True)
class LayerCatalog:
    options: list[LayerOption]
    blocks: list[str]                         # in graph order
    by_block: dict[str, list[str]]
    by_name: dict[str, LayerOption]

    def neighbour(self, name: str, step: int) -> str:
        names = [o.name for o in self.options]
        i = names.index(name) if name in names else 0
        return names[max(0, min(len(names) - 1, i + step))]


@st.cache_resource(max_entries=16, show_spinner=False)
def layer_catalog(name: str, weights: str | None, model_id: int, _model) -> LayerCatalog:
    """Drawable layers grouped by the explorer's blocks (same names as the Explorer page)."""
    nodes = visualize.map_layers(_model)
    rows, parents = {}, {}
    try:
        for row in cinspect.summarize(_model).layers:
            rows[row.name] = row
            if row.parent:
                parents[row.parent] = row  # the last layer of a nested model (ConvNeXt's stem)
    except Exception:  # the explorer's grouping is a nicety: fall back to resolution stages
        rows, parents = {}, {}
    options = []
    for i, node in enumerate(nodes):
        row = rows.get(node.op_name) or parents.get(node.op_name) or rows.get(node.layer_name)
        stage = row.stage if row is not None else f"{node.shape[1]}×{node.shape[2]}"
        block = row.block if row is not None else stage
        options.append(LayerOption(node.name, node.type, node.shape, block, stage, i))
    by_block: dict[str, list[str]] = {}
    for o in options:
        by_block.setdefault(o.block, []).append(o.name)
    return LayerCatalog(options, list(by_block), by_block, {o.name: o for o in options})


def _set_layer(name: str) -> None:
    st.session_state[K_LAYER] = name


def _on_block(catalog: LayerCatalog) -> None:
    block = st.session_state.get(K_BLOCK_W)
    if block in catalog.by_block:
        _set_layer(catalog.by_block[block][-1])  # a block's output: what the next block sees


def _on_layer() -> None:
    _set_layer(st.session_state.get(K_LAYER_W))


def _step(catalog: LayerCatalog, step: int) -> None:
    _set_layer(catalog.neighbour(st.session_state.get(K_LAYER, ""), step))


def layer_picker(catalog: LayerCatalog, model_label: str) -> LayerOption:
    """Block → layer selectboxes with ◀ ▶ steps; a name the model lacks resets to its first layer."""
    current = st.session_state.get(K_LAYER)
    if current not in catalog.by_name:
        if current:
            st.toast(t("visualize.layer_reset", layer=current, model=model_label), icon=":material/restart_alt:")
        current = catalog.options[0].name
        _set_layer(current)
    option = catalog.by_name[current]
    # Widgets follow the canonical choice (set before they are created in this run).
    st.session_state[K_BLOCK_W] = option.block
    st.session_state[K_LAYER_W] = option.name
    stage_of_block = {b: catalog.by_name[catalog.by_block[b][0]].stage for b in catalog.blocks}
    block_labels = {b: b if stage_of_block[b] == b else f"{stage_of_block[b]} · {b}" for b in catalog.blocks}
    layer_labels = {o.name: f"{o.name} · {o.type} · {o.shape_text}" for o in catalog.options}
    c_prev, c_block, c_layer, c_next = st.columns([1, 4, 6, 1], vertical_alignment="bottom")
    with c_prev:
        st.button("◀", key="vis_prev", on_click=_step, args=(catalog, -1), help=t("visualize.prev_layer"),
                  disabled=option.index == 0, width="stretch")
    with c_block:
        st.selectbox(t("visualize.block"), catalog.blocks, key=K_BLOCK_W, format_func=block_labels.__getitem__,
                     on_change=_on_block, args=(catalog,))
    with c_layer:
        st.selectbox(t("visualize.layer"), catalog.by_block[option.block], key=K_LAYER_W,
                     format_func=layer_labels.__getitem__, on_change=_on_layer,
                     help=t("visualize.layer_help"))
    with c_next:
        st.button("▶", key="vis_next", on_click=_step, args=(catalog, 1), help=t("visualize.next_layer"),
                  disabled=option.index == len(catalog.options) - 1, width="stretch")
    st.caption(t("visualize.layer_position", i=option.index + 1, n=len(catalog.options), shape=option.shape_text,
                 stage=option.stage))
    return option


def depth_hint(option: LayerOption, n: int) -> str:
    """What a layer at this depth tends to detect, as the course puts it (seed 002)."""
    frac = option.index / max(1, n - 1)
    if frac < 0.2:
        return t("visualize.hint.early")
    if frac < 0.6:
        return t("visualize.hint.middle")
    return t("visualize.hint.late")


# --------------------------------------------------------------------------- maps (one pass)

@dataclass
class MapSet:
    maps: dict[str, np.ndarray]      # float16 H×W×C per drawable layer
    ms: float                        # the forward pass, in ms (first pass includes tracing)
    mb: float


@st.cache_resource(max_entries=MAX_MAP_SETS, show_spinner=False)
def all_maps(name: str, weights: str | None, model_id: int, digest: str, _model, _x) -> MapSet:
    """Every drawable layer's maps for one image, from one forward pass (cached per model build + image)."""
    t0 = time.perf_counter()
    maps = visualize.all_feature_maps(_model, _x)
    ms = (time.perf_counter() - t0) * 1000.0
    small = {}
    for k, v in maps.items():
        a = v.astype(np.float16)  # half the memory; plenty of precision for pictures and rankings
        a.setflags(write=False)   # shared across sessions: nobody may modify it
        small[k] = a
    return MapSet(small, ms, sum(a.nbytes for a in small.values()) / 2**20)


def _shrink(tiles: np.ndarray, max_px: int) -> np.ndarray:
    """N×H×W tiles box-downsampled so the longer side is at most ``max_px`` (display only)."""
    n, h, w = tiles.shape
    scale = max_px / max(h, w)
    if scale >= 1:
        return tiles
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    return np.stack([np.asarray(Image.fromarray(tile, mode="F").resize((nw, nh), Image.BOX)) for tile in
                     tiles.astype(np.float32)])


def channel_order(fmap: np.ndarray, order: str) -> np.ndarray:
    if order == "index":
        return np.arange(fmap.shape[-1])
    return visualize.rank_channels(fmap, order)


def grid_figure(fmap: np.ndarray, channels: Sequence[int], cols: int):
    """One Plotly heatmap of the chosen channels, tiled, each on its own colour scale."""
    tiles = np.moveaxis(fmap[..., list(channels)], -1, 0).astype(np.float32)
    tiles = _shrink(tiles, GRID_TILE_PX)
    mos = render.mosaic(tiles, cols=cols, pad=1, normalize="each")
    ids = render.mosaic(np.stack([np.full(tiles.shape[1:], c, np.float32) for c in channels]), cols=cols, pad=1,
                        normalize="none")
    fig = go.Figure(go.Heatmap(
        z=np.round(mos, 3), customdata=ids, colorscale="Viridis", showscale=False, zmin=0, zmax=1,
        hovertemplate=t("visualize.maps.channel") + " %{customdata:.0f}<extra></extra>", hoverongaps=False))
    h, w = tiles.shape[1:]
    rows, cols = render.grid_shape(len(channels), cols)
    # Height from the mosaic's aspect ratio at ~900 px of width, so tiles stay square.
    height = int(min(900, max(240, 900 * mos.shape[0] / mos.shape[1]))) + 20
    tile_px = 0.9 * (height - 20) / rows
    # Heatmaps are not selectable in Streamlit; one invisible square marker per tile is,
    # so a click on a tile selects its channel.
    xs = [(i % cols) * (w + 1) + (w - 1) / 2 for i in range(len(channels))]
    ys = [(i // cols) * (h + 1) + (h - 1) / 2 for i in range(len(channels))]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", customdata=list(channels),
                             marker=dict(symbol="square", size=max(6, int(tile_px)), opacity=0.0),
                             hovertemplate=t("visualize.maps.channel") + " %{customdata}<extra></extra>"))
    fig.update_layout(
        margin=dict(l=0, r=0, t=18, b=0), height=height, showlegend=False, dragmode=False, clickmode="event+select",
        xaxis=dict(visible=False, constrain="domain"), yaxis=dict(visible=False, autorange="reversed",
                                                                  scaleanchor="x"),
        plot_bgcolor="white", paper_bgcolor="white")
    for i, c in enumerate(channels):
        r, k = divmod(i, cols)
        fig.add_annotation(x=k * (w + 1) + w / 2 - 0.5, y=r * (h + 1) - 0.5, text=str(c), showarrow=False,
                           yshift=7, font=dict(size=10, color="#444"))
    return fig


def grid_png(fmap: np.ndarray, channels: Sequence[int], cols: int) -> bytes:
    """The same grid as a PNG at full resolution (small maps enlarged so every cell is visible)."""
    tiles = np.moveaxis(fmap[..., list(channels)], -1, 0).astype(np.float32)
    factor = max(1, math.ceil(48 / max(tiles.shape[1:])))
    if factor > 1:
        tiles = np.stack([render.upscale(tile, factor) for tile in tiles])
    return render.png_bytes(render.to_rgb8(render.mosaic(tiles, cols=cols, pad=2, normalize="each")))


def channel_figure(channel_map: np.ndarray, title: str):
    fig = go.Figure(go.Heatmap(z=channel_map.astype(np.float32), colorscale="Viridis",
                               hovertemplate="(%{x}, %{y}): %{z:.3f}<extra></extra>"))
    fig.update_layout(margin=dict(l=0, r=0, t=30, b=0), height=340, title=dict(text=title, font=dict(size=13)),
                      xaxis=dict(visible=False, constrain="domain"),
                      yaxis=dict(visible=False, autorange="reversed", scaleanchor="x"))
    return fig


def _clicked_channel(event, fmap_shape: tuple, channels: Sequence[int], cols: int) -> int | None:
    """The channel of a clicked grid cell, if the chart reported a click."""
    try:
        points = event.selection.points if event is not None else []
    except AttributeError:
        return None
    if not points:
        return None
    p = points[0]
    custom = p.get("customdata")
    if isinstance(custom, (int, float)) and not math.isnan(custom):
        return int(custom)
    h, w = fmap_shape[:2]
    if max(h, w) > GRID_TILE_PX:
        s = GRID_TILE_PX / max(h, w)
        h, w = max(1, round(h * s)), max(1, round(w * s))
    idx = render.tile_index(render.grid_shape(len(channels), cols), (h, w), 1, p.get("y", -1), p.get("x", -1))
    return int(channels[idx]) if idx is not None and idx < len(channels) else None


def maps_tab(mapset: MapSet, option: LayerOption, catalog: LayerCatalog, view, *, random_weights: bool) -> None:
    """Feature-map grid of the chosen layer, paging, and one channel enlarged over the image."""
    fmap = mapset.maps[option.name]
    n_ch = fmap.shape[-1]
    st.info(depth_hint(option, len(catalog.options)), icon=":material/lightbulb:")
    if random_weights:
        st.caption(t("visualize.maps.random_note"))
    c1, c2, c3 = st.columns([3, 2, 2])
    with c1:
        order = st.segmented_control(t("visualize.maps.order"), list(ORDERS), default="index", key="vis_order",
                                     format_func={o: t(f"visualize.maps.order_{o}") for o in ORDERS}.__getitem__,
                                     help=t("visualize.maps.order_help")) or "index"
    with c2:
        per_page = st.selectbox(t("visualize.maps.per_page"), PER_PAGE, index=1, key="vis_per_page")
    pages = max(1, math.ceil(n_ch / per_page))
    with c3:
        # One page widget per (layer, page size): a stored page number can never exceed this layer's pages.
        page = st.number_input(t("visualize.maps.page", pages=pages), 1, pages, 1,
                               key=f"vis_page_{option.name}_{per_page}", disabled=pages == 1)
    ranked = channel_order(fmap.astype(np.float32), order)
    start = (int(page) - 1) * per_page
    channels = [int(c) for c in ranked[start: start + per_page]]
    cols = math.ceil(math.sqrt(len(channels) * 1.5)) if len(channels) > 4 else len(channels)
    st.caption(t("visualize.maps.showing", first=start + 1, last=start + len(channels), total=n_ch,
                 layer=option.name, shape=option.shape_text))
    event = st.plotly_chart(grid_figure(fmap, channels, cols), key=f"vis_grid_{option.name}_{order}_{page}",
                            on_select="rerun", selection_mode="points", config={"displayModeBar": False})
    clicked = _clicked_channel(event, fmap.shape, channels, cols)
    st.download_button(t("visualize.download_png"), grid_png(fmap, channels, cols),
                       file_name=f"{option.name}-channels-{channels[0]}-{channels[-1]}.png", mime="image/png",
                       icon=":material/download:", key="vis_grid_download", on_click="ignore")

    st.subheader(t("visualize.maps.enlarge_title"))
    key = f"vis_channel_{option.name}"
    if clicked is not None:
        st.session_state[key] = clicked
    if not isinstance(st.session_state.get(key), int) or not 0 <= st.session_state[key] < n_ch:
        st.session_state[key] = channels[0]
    channel = int(st.number_input(t("visualize.maps.channel_pick", last=n_ch - 1), min_value=0, max_value=n_ch - 1,
                                  step=1, key=key, help=t("visualize.maps.channel_pick_help")))
    cmap = fmap[..., channel].astype(np.float32)
    stats = visualize.channel_stats(fmap.astype(np.float32)).row(channel)
    rank = int(np.where(visualize.rank_channels(fmap.astype(np.float32), "mean") == channel)[0][0]) + 1
    left, right = st.columns(2)
    with left:
        lo, hi = float(cmap.min()), float(cmap.max())
        norm = (cmap - lo) / (hi - lo) if hi > lo else np.zeros_like(cmap)
        st.image(render.overlay(view, norm, alpha=0.6, cmap="viridis"), width=380,
                 caption=t("visualize.maps.overlay_caption", channel=channel, layer=option.name))
    with right:
        st.plotly_chart(channel_figure(cmap, t("visualize.maps.channel_title", channel=channel,
                                                h=cmap.shape[0], w=cmap.shape[1])),
                        key="vis_channel_fig", config={"displayModeBar": False})
    st.caption(t("visualize.maps.stats", mean=f"{stats['mean']:.3f}", max=f"{stats['max']:.3f}",
                 active=f"{100 * stats['active']:.0f}", rank=rank, total=n_ch))


def depth_tab(mapset: MapSet, catalog: LayerCatalog, model) -> None:
    """One representative map per stage: resolution shrinks, channels grow, features abstract."""
    st.markdown(t("visualize.depth.intro"))
    stage_of = {o.name: o.stage for o in catalog.options}
    # A pooling layer that ends a stage opens the next one, as in the ResNet paper's Table 1
    # ("3×3 max pool, stride 2" heads conv2_x): the first stage then shows its full resolution.
    for o, nxt in zip(catalog.options, catalog.options[1:]):
        if o.type in {"MaxPooling2D", "AveragePooling2D"} and nxt.stage != o.stage:
            stage_of[o.name] = nxt.stage
    steps = visualize.depth_walk(model, mapset.maps, lambda node: stage_of.get(node.name))
    if not steps:
        st.info(t("visualize.depth.none"))
        return
    per_row = min(len(steps), 5)
    images = []
    for row_start in range(0, len(steps), per_row):
        for step, col in zip(steps[row_start: row_start + per_row], st.columns(per_row)):
            m = step.fmap.astype(np.float32)
            lo, hi = float(m.min()), float(m.max())
            norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
            # Nearest-neighbour enlargement to one display size: a 7×7 map looks blocky on purpose.
            factor = max(1, math.ceil(224 / max(m.shape)))
            img = render.upscale(render.colorize(norm, "viridis", 0.0, 1.0), factor)
            images.append(img)
            with col:
                st.image(img, width="stretch",
                         caption=t("visualize.depth.caption", stage=step.stage, layer=step.layer,
                                   shape="×".join(str(d) for d in step.shape), channel=step.channel))
    st.caption(t("visualize.depth.how_to_read"))
    same = [np.asarray(Image.fromarray(im).resize((224, 224), Image.NEAREST)) for im in images]
    st.download_button(t("visualize.download_png"), render.png_bytes(side_by_side(same)),
                       file_name="through-the-depth.png", mime="image/png", icon=":material/download:",
                       key="vis_depth_download", on_click="ignore")


# --------------------------------------------------------------------------- filters

def _kernel_png(view) -> np.ndarray:
    """A FilterView as uint8 RGB (tiles enlarged so 3×3 kernels can be seen)."""
    tiles = view.tiles
    if view.kind == "rgb":
        factor = max(1, math.ceil(36 / max(tiles.shape[1:3])))
        big = np.stack([render.upscale(tile, factor) for tile in tiles])
        return render.to_rgb8(render.mosaic(big, cols=min(16, len(big)), pad=2, normalize="none"))
    if view.kind == "pointwise":
        factor = max(1, math.ceil(320 / max(tiles.shape)))
        return render.upscale(render.colorize(tiles, "rdbu", 0.0, 1.0), factor)
    if view.kind == "slices":
        n, m, kh, kw = tiles.shape
        flat = tiles.reshape(n * m, kh, kw)
        cols = m
    else:
        flat, cols = tiles, min(16, len(tiles))
    factor = max(1, math.ceil(28 / max(flat.shape[1:])))
    big = np.stack([render.upscale(tile, factor) for tile in flat])
    return render.to_rgb8(render.mosaic(big, cols=cols, pad=2, normalize="none"), cmap="rdbu")


def filters_tab(model, name: str, *, random_weights: bool) -> None:
    layers = visualize.kernel_layers(model)
    if not layers:
        st.info(t("visualize.filters.none"))
        return
    labels = {k.name: f"{k.name} · {t(f'visualize.filters.kind_{k.kind}')} · {'×'.join(map(str, k.kernel_shape))}"
              for k in layers}
    names = [k.name for k in layers]
    if st.session_state.get("vis_filter_layer") not in names:
        first = visualize.first_conv_layer(model)
        st.session_state["vis_filter_layer"] = first.name if first else names[0]
    chosen = st.selectbox(t("visualize.filters.layer"), names, key="vis_filter_layer",
                          format_func=labels.__getitem__)
    info = next(k for k in layers if k.name == chosen)
    per = 64 if info.kind in ("rgb", "depthwise") else 16
    pages = max(1, math.ceil(info.filters / per))
    page = st.number_input(t("visualize.maps.page", pages=pages), 1, pages, 1, key=f"vis_filter_page_{chosen}",
                           disabled=pages == 1)
    try:
        spec = zoo.get_spec(name)
        bgr = spec.preprocessing == "caffe"
    except Exception:
        bgr = False
    try:
        view = visualize.filters(model, chosen, start=(int(page) - 1) * per, max_filters=per, max_inputs=16,
                                 bgr=bgr)
    except visualize.VisualizeError as exc:
        st.error(error_message(exc))
        return
    st.markdown(t(f"visualize.filters.explain_{view.kind}"))
    if view.kind == "rgb" and bgr:
        st.caption(t("visualize.filters.bgr_note"))
    if random_weights:
        st.caption(t("visualize.filters.random_note"))
    img = _kernel_png(view)
    st.image(img, width=min(1100, max(240, img.shape[1])),
             caption=t("visualize.filters.caption", first=view.start, last=view.start + view.shown - 1,
                       total=view.total_filters, inputs=min(16, view.total_inputs), total_inputs=view.total_inputs)
             if view.kind in ("slices", "pointwise") else
             t("visualize.filters.caption_simple", first=view.start, last=view.start + view.shown - 1,
               total=view.total_filters))
    st.download_button(t("visualize.download_png"), render.png_bytes(img), file_name=f"{chosen}-filters.png",
                       mime="image/png", icon=":material/download:", key="vis_filters_download",
                       on_click="ignore")


# --------------------------------------------------------------------------- activation maximization

def _stop() -> None:
    st.session_state[K_AM_STOP] = True


def actmax_tab(model, name: str, weights: str | None, option: LayerOption) -> None:
    """Gradient ascent on an image for one channel of the chosen layer, with progress and a stop button."""
    st.markdown(t("visualize.am.intro"))
    n_ch = option.shape[-1]
    c1, c2 = st.columns(2)
    with c1:
        channel = int(st.number_input(t("visualize.am.channel", layer=option.name, last=n_ch - 1), 0, n_ch - 1, 0,
                                      key=f"vis_am_channel_{option.name}"))
    with c2:
        steps = st.select_slider(t("visualize.am.steps"), AM_STEPS, value=64, key="vis_am_steps",
                                 help=t("visualize.am.steps_help"))
    try:
        preprocessing = zoo.get_spec(name).preprocessing
    except Exception:
        preprocessing = "none"
    run_key = (name, weights, option.name, channel, steps)
    b1, b2, _ = st.columns([1, 1, 4])
    start = b1.button(t("visualize.am.start"), key="vis_am_start", type="primary", icon=":material/play_arrow:")
    b2.button(t("visualize.am.stop"), key="vis_am_stop_button", on_click=_stop, icon=":material/stop:")
    partial = st.session_state.get(K_AM_PARTIAL)
    results = st.session_state.setdefault("vis_am_results", {})
    if start:
        st.session_state[K_AM_STOP] = False
        bar = st.progress(0.0, text=t("visualize.am.running", step=0, steps=steps))
        preview = st.empty()
        t0 = time.perf_counter()

        def on_step(i: int, n: int, value: float, image) -> bool:
            rate = i / max(1e-9, time.perf_counter() - t0)
            bar.progress(i / n, text=t("visualize.am.progress", step=i, steps=n, value=f"{value:.3f}",
                                       rate=f"{rate:.1f}"))
            if image is not None:
                st.session_state[K_AM_PARTIAL] = {"key": run_key, "image": image, "step": i, "steps": n}
                preview.image(render.stretch(image), width=336, caption=t("visualize.am.preview", step=i, steps=n))
            return not st.session_state.get(K_AM_STOP, False)

        try:
            result = visualize.activation_maximization(model, option.name, channel, steps=steps,
                                                       preprocessing=preprocessing, callback=on_step,
                                                       cache_key=(weights, id(model)))
        except visualize.VisualizeError as exc:
            st.error(error_message(exc))
            return
        bar.empty()
        preview.empty()
        results[run_key] = result
        while len(results) > 12:  # a session keeps its last dozen pictures
            results.pop(next(iter(results)))
    result = results.get(run_key)
    if result is not None:
        _show_actmax(result)
    elif st.session_state.get(K_AM_STOP) and partial and partial.get("key") == run_key:
        # The stop click interrupted the run (Streamlit reruns at once): show the last preview.
        st.warning(t("visualize.am.stopped", step=partial["step"], steps=partial["steps"]), icon=":material/stop:")
        st.image(render.stretch(partial["image"]), width=336)
    else:
        st.caption(t("visualize.am.idle"))
    if weights is None:
        st.caption(t("visualize.am.random_note"))


def _show_actmax(result) -> None:
    left, right = st.columns([1, 1])
    with left:
        shown = render.stretch(result.image)
        st.image(shown, width=336, caption=t("visualize.am.caption", layer=result.layer, channel=result.channel,
                                             steps=result.steps_done))
        st.download_button(t("visualize.download_png"), render.png_bytes(shown),
                           file_name=f"{result.layer}-channel{result.channel}.png", mime="image/png",
                           icon=":material/download:", key="vis_am_download", on_click="ignore")
    with right:
        fig = go.Figure(go.Scatter(y=result.values, x=list(range(1, len(result.values) + 1)), mode="lines"))
        fig.update_layout(height=260, margin=dict(l=0, r=0, t=30, b=0),
                          title=dict(text=t("visualize.am.chart_title"), font=dict(size=13)),
                          xaxis_title=t("visualize.am.chart_x"), yaxis_title=t("visualize.am.chart_y"))
        st.plotly_chart(fig, key="vis_am_chart", config={"displayModeBar": False})
        st.caption(t("visualize.am.summary", before=f"{result.initial_value:.3f}", after=f"{result.final_value:.3f}",
                     rate=f"{result.steps_per_second:.1f}"))
    if result.stopped:
        st.warning(t("visualize.am.stopped", step=result.steps_done, steps=result.steps), icon=":material/stop:")


# --------------------------------------------------------------------------- the page

def tabs():
    """The five tabs, lazily run (only the open one computes), ``?tab=`` picks the first one."""
    labels = {k: t(f"visualize.tab.{k}") for k in TABS}
    wanted = str(st.query_params.get("tab", "")).lower()
    default = labels.get(wanted)
    containers = st.tabs([labels[k] for k in TABS], key="vis_tab", on_change="rerun", default=default)
    return dict(zip(TABS, containers))


def is_open(tab) -> bool:
    """True for the selected tab (and for every tab where tab state is not tracked)."""
    return getattr(tab, "open", None) is not False


def prepare(image, name: str, weights: str | None):
    """(model, the image as it sees it, preprocessed input, digest) or None after an error was shown."""
    model = load_model(name, weights)
    if model is None:
        return None
    try:
        view, x = model_input(image, name, model)
    except Exception as exc:
        st.error(error_message(exc))
        return None
    return model, view, x, image_digest(view)
