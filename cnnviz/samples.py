"""One-click sample photos: the public-domain pictures that ship inside scikit-image.

They are in the scikit-image wheel itself (``skimage/data/*.png|jpg``), so they work
offline and on a fresh install, and every one is public domain or CC0 (credits in the
``images.credit.<name>`` catalog entries, from scikit-image's own docstrings). Each is
also an ImageNet-friendly subject, so the Classify page has something to recognise:
a tabby cat, an espresso cup, an astronaut, a rocket launch.

Files are read directly (``importlib.resources``) and go through
:func:`cnnviz.images.load_image` like any upload; ``skimage.data``'s loader functions
would import scikit-image's I/O stack (SciPy and friends, ~0.6 s) for the same pixels.
No TensorFlow, no Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from PIL import Image

from cnnviz.errors import UserFacingError
from cnnviz.images import DecodedImage, ImageError, decode_image


@dataclass(frozen=True)
class Sample:
    """A bundled photo.

    Attributes:
        name: registry key, also the i18n suffix (``images.sample.<name>``, ``images.credit.<name>``).
        filename: file inside ``skimage/data``.
        loader: the ``skimage.data`` function that returns the same picture (fallback, and
            documentation of where it comes from).
        size: (width, height) of the picture.
        source_url: where the photo was published.
        licence: short licence tag.
    """

    name: str
    filename: str
    loader: str
    size: tuple[int, int]
    source_url: str
    licence: str


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample("cat", "chelsea.png", "chelsea", (451, 300),
               "https://scikit-image.org/docs/stable/api/skimage.data.html#skimage.data.chelsea", "CC0-1.0"),
        Sample("coffee", "coffee.png", "coffee", (600, 400),
               "https://scikit-image.org/docs/stable/api/skimage.data.html#skimage.data.coffee", "CC0-1.0"),
        Sample("astronaut", "astronaut.png", "astronaut", (512, 512),
               "https://flic.kr/p/r9qvLn", "public domain (NASA)"),
        Sample("rocket", "rocket.jpg", "rocket", (640, 427),
               "https://www.flickr.com/photos/spacexphotos/16511594820/", "public domain (SpaceX)"),
    )
}


class SampleError(UserFacingError, KeyError):
    """An unknown sample name, or a sample missing from this scikit-image install."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message("en")


def list_samples() -> list[str]:
    """Names of the sample photos, in display order."""
    return list(SAMPLES)


def get_sample(name: str) -> Sample:
    """Metadata of sample ``name``.

    Raises:
        SampleError: ``images.error.sample_unknown`` (lists the valid names).
    """
    try:
        return SAMPLES[name]
    except (KeyError, TypeError):
        raise SampleError("images.error.sample_unknown", name=name, choices=", ".join(SAMPLES)) from None


def load_sample(name: str, *, max_side: int | None = None) -> Image.Image:
    """The sample photo ``name`` as an RGB image (offline: the file ships with scikit-image).

    Raises:
        SampleError: unknown name (``images.error.sample_unknown``) or the file is missing
            or unreadable in this install (``images.error.sample_unavailable``).
    """
    return decode_sample(name, max_side=max_side).image


def decode_sample(name: str, *, max_side: int | None = None) -> DecodedImage:
    """Like :func:`load_sample`, with the file's format, size and mode (as :func:`cnnviz.images.decode_image`)."""
    sample = get_sample(name)
    try:
        data = resources.files("skimage.data").joinpath(sample.filename).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return _load_via_skimage(sample, max_side)
    try:
        return decode_image(data, max_side=max_side)
    except ImageError as exc:
        raise SampleError("images.error.sample_unavailable", name=name, reason=exc.key) from None


def _load_via_skimage(sample: Sample, max_side: int | None) -> DecodedImage:
    """Through scikit-image's own loader (another scikit-image layout; may need its data cache)."""
    try:
        import skimage.data  # heavy: scikit-image's I/O stack (~0.6 s), a rare fallback

        array = getattr(skimage.data, sample.loader)()
    except Exception as exc:  # not installed, or the file would have to be downloaded
        raise SampleError("images.error.sample_unavailable", name=sample.name, reason=type(exc).__name__) from None
    return decode_image(Image.fromarray(array), max_side=max_side)
