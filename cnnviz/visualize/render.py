"""Turning maps and kernels into pictures: colormaps, tiled grids, overlays, PNG bytes.

NumPy and Pillow only (no TensorFlow, no matplotlib, no kaleido), so pages can build
download files and overlays cheaply and tests can check pixels.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

# Anchor colours, interpolated linearly to 256 entries: viridis (perceptually uniform, readable
# in grayscale print: feature maps), a turbo-like rainbow (hot = red: Grad-CAM, as in the
# papers) and ColorBrewer's RdBu diverging scale (signed weights).
_ANCHORS = {
    "viridis": ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884",
                "#44bf70", "#7ad151", "#bddf26", "#fde725"],
    "turbo": ["#30123b", "#4145ab", "#4675ed", "#39a2fc", "#1bcfd4", "#24eca6", "#61fc6c",
              "#a4fc3b", "#d1e834", "#f3c63a", "#fe9b2d", "#f36315", "#d93806", "#b11901", "#7a0403"],
    "gray": ["#000000", "#ffffff"],
    # Diverging blue-white-red for signed values (kernels): zero is white.
    "rdbu": ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582",
             "#d6604d", "#b2182b", "#67001f"],
}
COLORMAPS = tuple(_ANCHORS)


def _hex(c: str) -> tuple[int, int, int]:
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def lut(name: str) -> np.ndarray:
    """A 256×3 uint8 lookup table for colormap ``name``."""
    if name not in _ANCHORS:
        raise ValueError(f"colormap must be one of {COLORMAPS}. Received: cmap={name!r}")
    anchors = np.array([_hex(c) for c in _ANCHORS[name]], dtype=np.float64)
    pos = np.linspace(0, 1, len(anchors))
    xs = np.linspace(0, 1, 256)
    table = np.stack([np.interp(xs, pos, anchors[:, k]) for k in range(3)], axis=1)
    return np.round(table).astype(np.uint8)


def colorize(a: np.ndarray, cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None,
             nan_color: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A 2-D array → H×W×3 uint8 through a colormap (NaN cells get ``nan_color``)."""
    a = np.asarray(a, dtype=np.float32)
    finite = np.isfinite(a)
    lo = float(np.min(a[finite])) if vmin is None and finite.any() else (vmin or 0.0)
    hi = float(np.max(a[finite])) if vmax is None and finite.any() else (vmax if vmax is not None else 1.0)
    span = hi - lo if hi > lo else 1.0
    idx = np.clip((np.where(finite, a, lo) - lo) / span * 255.0, 0, 255).astype(np.uint8)
    out = lut(cmap)[idx]
    out[~finite] = nan_color
    return out


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) for ``n`` tiles: ``cols`` if given, else as square as possible."""
    if n <= 0:
        return 0, 0
    cols = cols or math.ceil(math.sqrt(n))
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


def mosaic(tiles: np.ndarray, cols: int | None = None, pad: int = 1, normalize: str = "each") -> np.ndarray:
    """Tile N maps into one 2-D array separated by NaN gaps (for one Plotly heatmap or PNG).

    Args:
        tiles: N×H×W (channel-first maps) or N×H×W×3 (RGB, values in [0, 1]).
        cols: tiles per row (default: square-ish).
        pad: gap width in cells.
        normalize: "each" scales every tile to [0, 1] on its own (each channel's pattern is
            visible); "shared" uses one scale for all (their strengths compare); "none".
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    if tiles.ndim not in (3, 4):
        raise ValueError(f"tiles must be N×H×W or N×H×W×3. Received: shape={tiles.shape}")
    if normalize not in ("each", "shared", "none"):
        raise ValueError(f"normalize must be 'each', 'shared' or 'none'. Received: normalize={normalize!r}")
    n, h, w = tiles.shape[:3]
    if normalize != "none" and n:
        axes = tuple(range(1, tiles.ndim))
        if normalize == "each":
            lo, hi = tiles.min(axis=axes, keepdims=True), tiles.max(axis=axes, keepdims=True)
        else:
            lo, hi = tiles.min(), tiles.max()
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        tiles = np.where(hi - lo > 0, (tiles - lo) / span, 0.0)
    rows, cols = grid_shape(n, cols)
    extra = tiles.shape[3:]
    out = np.full((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, *extra), np.nan, np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = tiles[i]
    return out


def tile_index(rows_cols: tuple[int, int], tile_hw: tuple[int, int], pad: int, y: int, x: int) -> int | None:
    """Which tile a mosaic cell (y, x) belongs to (None on a gap)."""
    (rows, cols), (h, w) = rows_cols, tile_hw
    r, ry = divmod(int(y), h + pad)
    c, cx = divmod(int(x), w + pad)
    if ry >= h or cx >= w or r >= rows or c >= cols:
        return None
    return r * cols + c


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement (kernels of 3×3 pixels need it to be seen)."""
    factor = max(1, int(factor))
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def to_rgb8(a: np.ndarray, cmap: str = "viridis", nan_color=(255, 255, 255)) -> np.ndarray:
    """A mosaic (2-D with NaN gaps, or H×W×3 in [0, 1]) → uint8 RGB."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 2:
        return colorize(a, cmap, 0.0, 1.0, nan_color)
    rgb = np.clip(np.nan_to_num(a, nan=1.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    gaps = np.isnan(a).any(axis=-1)
    rgb[gaps] = nan_color
    return rgb


def overlay(image, heat: np.ndarray, alpha: float = 0.45, cmap: str = "turbo") -> np.ndarray:
    """A [0, 1] heatmap drawn over an RGB image, resized to the image (uint8 H×W×3).

    Where the heat is 0 the photo shows through almost untouched, so the eye goes to the
    hot regions; alpha grows with the heat.
    """
    base = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=np.float32)
    if base.ndim != 3 or base.shape[-1] != 3:
        raise ValueError(f"image must be H×W×3. Received: shape={base.shape}")
    h, w = base.shape[:2]
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != (h, w):
        heat = np.asarray(Image.fromarray(heat, mode="F").resize((w, h), Image.BILINEAR), dtype=np.float32)
    heat = np.clip(np.nan_to_num(heat), 0.0, 1.0)
    colors = lut(cmap)[(heat * 255).astype(np.uint8)].astype(np.float32)
    a = (alpha * (0.35 + 0.65 * heat))[..., None]
    return np.clip(base * (1 - a) + colors * a, 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray, *, max_side: int | None = None, min_side: int | None = None) -> bytes:
    """uint8 H×W×3 (or H×W) → PNG file bytes; optionally enlarged (nearest) to ``min_side``."""
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise ValueError(f"png_bytes expects uint8 pixels. Received: dtype={arr.dtype}")
    if min_side and min(arr.shape[:2]) < min_side:
        arr = upscale(arr, math.ceil(min_side / max(1, min(arr.shape[:2]))))
    img = Image.fromarray(arr)
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def stretch(img: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Contrast-stretch uint8 pixels so the ``low``–``high`` percentiles span 0–255.

    Activation-maximization images stay close to the grey they start from; stretched,
    their pattern is visible on a projector. Channels are stretched together (hues kept).
    """
    a = np.asarray(img, dtype=np.float32)
    lo, hi = np.percentile(a, [low, high])
    if hi - lo < 1e-6:
        return np.asarray(img, dtype=np.uint8)
    return np.clip((a - lo) * 255.0 / (hi - lo), 0, 255).astype(np.uint8)
