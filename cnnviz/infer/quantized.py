"""int8 LiteRT: the photos it is calibrated and measured on, and how its answers are compared with fp32.

Two quantized kinds (:data:`cnnviz.litert.QUANTS`): full-integer ``int8`` (engine
``"litert-int8"``: int8 weights *and* activations, float32 input and output with a quantize and a
dequantize step at the ends) and dynamic-range ``dynamic`` (engine ``"litert-dynamic"``: int8
weights, activations quantized on the fly, float kernels for what has no int8 kernel).

**The photos** (:func:`photo_names`): the natural photographs inside scikit-image's wheel —
the four sample photos of the Classify page plus motorcycles, a camera man, coins, the Moon,
a retina, a tissue stain, the Hubble deep field and four textures: :data:`PHOTOS`, offline on every
install. Synthetic pictures (chessboards, phantoms, logos, text) are left out.

**Calibration** (:func:`calibration_set`): full-integer quantization fixes every activation's
range from a representative set. Ours: :data:`CALIBRATION_PER_PHOTO` random crops (25–100 % of
the area, seeded) of every photo, half of them mirrored — many framings of real photos, the
statistics a student's upload has. **Evaluation** (:func:`evaluation_inputs`): each photo whole,
mirrored, its centre 60 % and that crop mirrored. The photos are the same (there are only 16),
the framings differ; calibration sets value ranges only, it does not fit the labels.

**Agreement** (:func:`agreement`): a quantized model is not held to fp32's tolerance (it
would always fail); it is measured: top-1 equal, int8's top-1 within fp32's top-3, top-5
overlap, and the same top-1 where fp32 is confident (p ≥ :data:`CONFIDENT`).
No TensorFlow here.
"""

from __future__ import annotations

import io
import tempfile
import uuid
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from cnnviz import fileio
from cnnviz.infer.prepare import preprocess_image

#: ``engine`` name → conversion kind of :mod:`cnnviz.litert`.
QUANT_OF_ENGINE = {"litert": "fp32", "litert-int8": "int8", "litert-dynamic": "dynamic"}
#: Natural photographs in ``skimage/data`` (grey ones are converted to RGB).
PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png",
          "motorcycle_right.png", "camera.png", "coins.png", "moon.png", "retina.jpg", "ihc.png",
          "hubble_deep_field.jpg", "brick.png", "grass.png", "gravel.png", "clock_motion.png")
CALIBRATION_PER_PHOTO = 8
#: fp32's top-1 probability from which it counts as confident (issue 21's target).
CONFIDENT = 0.3
CENTRE = 0.6


def photo_names() -> list[str]:
    """The :data:`PHOTOS` present in this scikit-image install."""
    root = resources.files("skimage") / "data"
    return [n for n in PHOTOS if (root / n).is_file()]


def load_photo(filename: str) -> Image.Image:
    """One photo of ``skimage/data`` as RGB."""
    with resources.as_file(resources.files("skimage") / "data" / filename) as path:
        with Image.open(path) as im:
            return im.convert("RGB")


def _crop(image: Image.Image, fx: float, fy: float, frac_w: float, frac_h: float) -> Image.Image:
    w, h = image.size
    cw, ch = max(8, int(w * frac_w)), max(8, int(h * frac_h))
    x, y = int((w - cw) * fx), int((h - ch) * fy)
    return image.crop((x, y, x + cw, y + ch))


def variants(image: Image.Image) -> list[tuple[str, Image.Image]]:
    """The evaluation framings of one photo: whole, mirrored, centre 60 %, centre mirrored."""
    centre = _crop(image, 0.5, 0.5, CENTRE, CENTRE)
    return [("whole", image), ("mirrored", ImageOps.mirror(image)), ("centre", centre),
            ("centre mirrored", ImageOps.mirror(centre))]


def evaluation_inputs(name: str, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """(N×H×W×3 float32 inputs of model ``name``, "photo · framing" of each) over every photo."""
    xs, tags = [], []
    for filename in photo_names():
        for tag, im in variants(load_photo(filename)):
            xs.append(preprocess_image(name, im, tuple(size))[0])
            tags.append(f"{filename.rsplit('.', 1)[0]} · {tag}")
    return np.stack(xs).astype(np.float32), tags


def calibration_set(name: str, size: tuple[int, int], per_photo: int = CALIBRATION_PER_PHOTO,
                    seed: int = 21) -> np.ndarray:
    """The representative set of a full-integer conversion: random crops (half mirrored) of every photo."""
    rng = np.random.default_rng(seed)
    xs = []
    for filename in photo_names():
        image = load_photo(filename)
        for i in range(per_photo):
            area = rng.uniform(0.25, 1.0)
            aspect = rng.uniform(0.75, 1.33)
            fw, fh = min(1.0, np.sqrt(area * aspect)), min(1.0, np.sqrt(area / aspect))
            im = _crop(image, rng.uniform(), rng.uniform(), fw, fh)
            if i % 2:
                im = ImageOps.mirror(im)
            xs.append(preprocess_image(name, im, tuple(size))[0])
    return np.stack(xs).astype(np.float32)


def calibration_file(name: str, size: tuple[int, int]) -> tuple[str, dict]:
    """:func:`calibration_set` written to a temporary ``.npy`` (the child reads it; the caller deletes it)."""
    data = calibration_set(name, size)
    buf = io.BytesIO()
    np.save(buf, data)
    path = Path(tempfile.gettempdir()) / f"cnnviz-calib-{name}-{uuid.uuid4().hex[:12]}.npy"
    fileio.write_bytes(path, buf.getvalue())
    info = {"inputs": int(data.shape[0]), "photos": len(photo_names()), "per_photo": CALIBRATION_PER_PHOTO,
            "what": "random crops (25-100 % of the area, half mirrored) of scikit-image's natural photos"}
    return str(path), info


def agreement(p_ref: np.ndarray, p_test: np.ndarray, tags: list[str] | None = None, *,
              confident: float = CONFIDENT) -> dict:
    """How often a quantized model answers like fp32 (``p_ref``) on N inputs (both N×C).

    Keys: ``n``; ``top1_same`` (count) and ``top1_rate``; ``in_top3`` / ``in_top3_rate`` (test's top-1
    among the reference's top-3); ``top5_overlap`` (mean share of top-5 classes in common);
    ``confident_n`` / ``confident_same`` (inputs where the reference's top-1 p ≥ ``confident``);
    ``finite``; ``max_abs_diff``; ``moved``: the inputs whose top-1 changed (tag, reference class and
    p, test class and p). It never refuses: it reports.
    """
    a = np.asarray(p_ref, np.float64).reshape(-1, np.shape(p_ref)[-1])
    b = np.asarray(p_test, np.float64).reshape(-1, np.shape(p_test)[-1])
    if a.shape != b.shape:
        raise ValueError(f"output shapes differ: {a.shape} vs {b.shape}")
    n = int(a.shape[0])
    tags = list(tags) if tags is not None else [str(i) for i in range(n)]
    finite = bool(np.all(np.isfinite(b)))
    b_safe = np.nan_to_num(b, nan=-1.0)
    ra, rb = np.argsort(-a, axis=1, kind="stable"), np.argsort(-b_safe, axis=1, kind="stable")
    top1_same = ra[:, 0] == rb[:, 0]
    in_top3 = np.array([rb[i, 0] in ra[i, :3] for i in range(n)], bool)
    overlap = np.array([len(set(ra[i, :5]) & set(rb[i, :5])) / 5 for i in range(n)])
    conf = a[np.arange(n), ra[:, 0]] >= confident
    moved = [{"input": tags[i], "fp32_class": int(ra[i, 0]), "fp32_p": float(a[i, ra[i, 0]]),
              "quant_class": int(rb[i, 0]), "quant_p": float(b_safe[i, rb[i, 0]])}
             for i in range(n) if not top1_same[i]]
    rate = lambda c: (float(c) / n) if n else None  # noqa: E731
    return {"n": n, "top1_same": int(top1_same.sum()), "top1_rate": rate(top1_same.sum()),
            "in_top3": int(in_top3.sum()), "in_top3_rate": rate(in_top3.sum()),
            "top5_overlap": float(overlap.mean()) if n else None,
            "confident_n": int(conf.sum()), "confident_same": int((conf & top1_same).sum()),
            "finite": finite, "max_abs_diff": float(np.max(np.abs(a - b_safe))) if n else None, "moved": moved}


def summary(report: dict) -> str:
    """One English line of an :func:`agreement` report (the CLI and the bench)."""
    if not report or not report.get("n"):
        return "no agreement measured"
    return (f"top-1 same {report['top1_same']}/{report['n']}, int8 top-1 in fp32 top-3 "
            f"{report['in_top3']}/{report['n']}, confident (p ≥ {CONFIDENT}) same "
            f"{report['confident_same']}/{report['confident_n']}, top-5 overlap {report['top5_overlap']:.0%}")


__all__ = ["CONFIDENT", "PHOTOS", "QUANT_OF_ENGINE", "agreement", "calibration_file", "calibration_set",
           "evaluation_inputs", "load_photo", "photo_names", "summary", "variants"]
