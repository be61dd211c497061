"""The homework run's two training choices, parsed and validated once: what fine-tuning unfreezes
and which augmentation views the training images get. Light (NumPy + Pillow, no TensorFlow), so
the page, the CLI and the reproduce script share one reading of each choice.

**Unfreeze.** ``"block"`` (the default) unfreezes the base's last block (ResNet50's conv5_block3,
ConvNeXtTiny's last block, EfficientNetB0's block7a, MobileNetV3Small's last bottleneck);
``"stage"`` its whole last stage, the layers at its final resolution (7×7 at 224 px). The top
holds the most task-specific features, while earlier layers keep ImageNet's generic edges and
textures that a small dataset would only overfit. Why the block by default: on a 2-core CPU the
last stage costs several times more per epoch (ConvNeXtTiny's ~45 s per epoch on 175 images,
its last block a third of that), and with ~50 images per class the extra weights mostly
overfit (Keras' transfer-learning guide: on a small dataset, fine-tune only the top). ``N``
unfreezes at least the last N layers (the cut moves down to the nearest point every path goes through, so the
frozen part stays a model of its own whose output can be cached).

**Augmentation** (off by default). Each view is a *fixed* extra copy of every training image:
``"flip"`` mirrors it left–right; ``"crop"`` takes one seeded random crop of
:data:`CROP_FRACTION` of each side and scales it back. Because the views are fixed (not redrawn
every epoch), the frozen base's features — and, in fine-tuning, the activations below the first
unfrozen layer — are computed once per image *and per view*: the issue's feature cache stays
valid and no full forward pass per epoch is needed. Validation and test images are never
augmented. Per-epoch random augmentation would force the full pass through the base on every
epoch (tens of times slower on a laptop CPU) and is not offered.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from PIL import Image

from cnnviz.errors import UserFacingError

UNFREEZE_MODES = ("block", "stage")
UNFREEZE_DEFAULT = "block"
AUGMENT_VIEWS = ("flip", "crop")
CROP_FRACTION = 0.875
"""Side of the random crop, as a fraction of the image's side (a small crop: 7/8)."""


class OptionError(UserFacingError, ValueError):
    """A training choice that cannot be read (echoes the value and what is accepted)."""


def parse_unfreeze(value: str | int | None) -> str | int:
    """``"block"`` (also None/""), ``"stage"``, or a positive number of layers (an int or its digits)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == ""):
        return UNFREEZE_DEFAULT
    if isinstance(value, str) and value.strip().lower() in UNFREEZE_MODES:
        return value.strip().lower()
    if isinstance(value, bool):
        raise OptionError("homework.error.unfreeze", value=value)
    try:
        n = int(str(value).strip())
    except ValueError:
        raise OptionError("homework.error.unfreeze", value=value) from None
    if n < 1:
        raise OptionError("homework.error.unfreeze", value=value)
    return n


def parse_augment(value: bool | str | Iterable[str] | None) -> tuple[str, ...]:
    """The augmentation views: None/False/"" → none; True → ("flip",); "flip", "crop", "flip,crop"
    or a sequence of those names → them, in :data:`AUGMENT_VIEWS` order."""
    if value is None or value is False or value == "" or value == "none":
        return ()
    if value is True:
        return ("flip",)
    names = value.split(",") if isinstance(value, str) else list(value)
    names = {str(n).strip().lower() for n in names if str(n).strip()}
    unknown = names - set(AUGMENT_VIEWS)
    if unknown or not names:
        raise OptionError("homework.error.augment", value=value, choices=", ".join(AUGMENT_VIEWS))
    return tuple(v for v in AUGMENT_VIEWS if v in names)


def augment_label(views: Iterable[str]) -> str:
    """The views as settings keep them: "flip,crop", or "" for none."""
    return ",".join(views)


def crop_view(x: np.ndarray, seed: int = 0, fraction: float = CROP_FRACTION) -> np.ndarray:
    """One seeded random crop of ``fraction`` of each side per image, scaled back (bilinear).

    Args:
        x: N×H×W×3 uint8.
    """
    n, h, w = x.shape[:3]
    ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
    rng = np.random.default_rng(seed)
    tops, lefts = rng.integers(0, h - ch + 1, n), rng.integers(0, w - cw + 1, n)
    out = np.empty_like(x)
    for i in range(n):
        patch = Image.fromarray(x[i, tops[i]:tops[i] + ch, lefts[i]:lefts[i] + cw])
        out[i] = np.asarray(patch.resize((w, h), Image.Resampling.BILINEAR))
    return out


def augment_views(x: np.ndarray, views: Iterable[str], seed: int = 0) -> np.ndarray:
    """The training images followed by each view of all of them: (1 + len(views))·N images,
    so the labels are ``np.tile(y, 1 + len(views))``."""
    out = [x]
    for view in views:
        if view == "flip":
            out.append(x[:, :, ::-1].copy())
        elif view == "crop":
            out.append(crop_view(x, seed))
        else:
            raise OptionError("homework.error.augment", value=view, choices=", ".join(AUGMENT_VIEWS))
    return np.concatenate(out) if len(out) > 1 else x
