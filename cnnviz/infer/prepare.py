"""Image → model input (resize + crop, the family's preprocessing) and class names for people.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
from PIL import Image

from cnnviz import zoo
from cnnviz.i18n import translate
from cnnviz.images import fit_and_crop
from cnnviz.zoo import pretrained

#: Top-k shown everywhere.
TOP_K = 5

#: Resized views kept for reuse: (id of the photo, size) → (weak reference to the photo, view).
_VIEWS: dict[tuple[int, tuple[int, int]], tuple[weakref.ref, Image.Image]] = {}
_VIEWS_LOCK = threading.Lock()
_VIEWS_MAX = 32


def model_view(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """:func:`cnnviz.images.fit_and_crop` of ``image`` to ``size``, done once per photo and size.

    The four homework models all take 224×224: resizing a 12 MP photo once instead of four
    times matters when a model answers in 2 ms. The view is remembered while the photo object
    lives (a weak reference: a new upload is a new object, never a stale hit).
    """
    size = (int(size[0]), int(size[1]))
    key = (id(image), size)
    with _VIEWS_LOCK:
        hit = _VIEWS.get(key)
        if hit is not None and hit[0]() is image:
            return hit[1]
    view = fit_and_crop(image, size)
    try:
        ref = weakref.ref(image)
    except TypeError:  # not weak-referenceable: do not cache
        return view
    with _VIEWS_LOCK:
        for k in [k for k, (r, _) in _VIEWS.items() if r() is None]:
            del _VIEWS[k]
        while len(_VIEWS) >= _VIEWS_MAX:
            del _VIEWS[next(iter(_VIEWS))]
        _VIEWS[key] = (ref, view)
    return view


def prepare_image(name: str, image: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, np.ndarray]:
    """(the image as model ``name`` sees it, the 1×H×W×3 float32 batch it takes).

    :func:`model_view` (fit and crop to ``size`` (H, W), shared by the models of that size),
    then the family's ``preprocess_input`` (:func:`cnnviz.zoo.preprocess_input`).
    """
    view = model_view(image, size)
    batch = zoo.preprocess_input(name, np.asarray(view, dtype=np.float32)[None])
    return view, np.ascontiguousarray(batch, dtype=np.float32)


def preprocess_image(name: str, image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """PIL image → the 1×H×W×3 float32 batch model ``name`` takes (see :func:`prepare_image`)."""
    return prepare_image(name, image, size)[1]


def resize_policy(size: tuple[int, int], lang: str = "en") -> str:
    """The resize/crop policy as one sentence for the user."""
    h, w = size
    if h == w:
        return translate("infer.policy.square", lang, size=h)
    return translate("infer.policy.rect", lang, h=h, w=w)


def label_for(index: int, labels: list[str] | None) -> str:
    """A class name for people ("tabby", "Egyptian cat"), or "class N" without labels."""
    if labels is not None and 0 <= index < len(labels):
        return str(labels[index]).replace("_", " ")
    return f"class {index}"


def class_labels(classes: int = 1000) -> list[str] | None:
    """ImageNet class names from the cache, if present and matching a ``classes``-way classifier."""
    if classes != 1000:
        return None
    try:
        labels = pretrained.load_labels()
    except Exception:  # a corrupt index means "no labels", never a failed prediction
        return None
    if not labels or len(labels) != classes:
        return None
    return list(labels)


def top_k(probs: np.ndarray, labels: list[str] | None, k: int = TOP_K) -> list[tuple[str, float, int]]:
    """The ``k`` most probable classes, most probable first (ties: lower index first)."""
    k = min(k, probs.shape[0])
    order = np.argsort(-probs, kind="stable")[:k]
    return [(label_for(int(i), labels), float(probs[i]), int(i)) for i in order]


