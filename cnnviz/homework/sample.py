"""The offline demo dataset: five classes of real, distinct pictures that ship with scikit-learn.

scikit-learn's wheel carries the UCI handwritten digits (1,797 real 8×8 scans by 43 writers).
Digits 0–4, :data:`PER_CLASS` scans each, upscaled to 64 × 64 px PNGs in one folder per class:
a zip in the exact layout a student uploads, so the demo goes through the same intake.
It is a *demo*: these are not photos, and ImageNet models are not made for 8×8 scans; the
page and the report say so. Built in memory; nothing is downloaded.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image

DIGITS = (0, 1, 2, 3, 4)
PER_CLASS = 20
SIDE = 64
NAME = "demo-digits.zip"
CLASS_NAMES = ("zero", "one", "two", "three", "four")


def sample_zip(per_class: int = PER_CLASS, side: int = SIDE) -> bytes:
    """The demo dataset as zip bytes: ``<class>/<digit>_<index>.png``."""
    from sklearn.datasets import load_digits  # heavy-ish: scikit-learn, only when the demo is asked for

    digits = load_digits()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for digit, cls in zip(DIGITS, CLASS_NAMES):
            idx = np.flatnonzero(digits.target == digit)[:per_class]
            for i in idx:
                pixels = (255 - digits.images[i] * (255 / 16)).clip(0, 255).astype(np.uint8)  # dark ink on white
                im = Image.fromarray(pixels, "L").resize((side, side), Image.Resampling.BILINEAR).convert("RGB")
                out = io.BytesIO()
                im.save(out, "PNG")
                zf.writestr(f"{cls}/{cls}_{int(i):04d}.png", out.getvalue())
    return buf.getvalue()


def load_sample():
    """The demo dataset, loaded through :func:`cnnviz.homework.load_dataset` and marked as a demo."""
    from cnnviz.homework.intake import load_dataset

    ds = load_dataset(sample_zip(), name=NAME)
    ds.demo = True
    ds.description = "homework.sample.description"
    return ds
