"""The one door for image bytes: decode safely into an RGB ``PIL.Image`` or say why not.

Students upload whatever their phone or laptop gives them (rotated 12 MP JPEGs,
screenshots with transparency, 16-bit TIFFs from a lab, a PDF renamed ``.jpg``...).
:func:`load_image` turns all of it into one thing the models and charts can use,
an upright 8-bit RGB image of bounded size, or raises :class:`ImageError` whose
message (English and Spanish, from the ``images`` catalog) tells the person what to
do. Each kind of failure has its own catalog key (``err.key``).

Safety rules, in order:

1. Bytes: nothing empty, nothing over :data:`MAX_UPLOAD_BYTES` (the same limit as
   ``server.maxUploadSize`` in ``.streamlit/config.toml``); a path is measured with
   ``stat`` before it is read.
2. Decoders: Pillow only ever runs the decoders in :data:`ALLOWED_FORMATS`
   (``Image.open(..., formats=...)``). PostScript/EPS (which would run Ghostscript),
   PDF, FITS and the many exotic formats are never opened; known ones are named in the
   refusal ("EPS files are not accepted") by looking at their magic bytes only.
3. Pixels: the size in the header is checked against :data:`MAX_PIXELS` *before*
   decoding, and so are the bytes the decode allocates (pixels × bytes per pixel of the mode,
   :data:`MAX_DECODE_BYTES`, lower for lossless formats: :data:`MAX_LOSSLESS_DECODE_BYTES`), and Pillow's ``DecompressionBombWarning`` is an error while we decode.
4. Anything a decoder throws on a damaged file becomes ``images.error.damaged`` (or
   ``images.error.unsupported_variant`` when Pillow says the variant is unsupported);
   no other exception type leaves :func:`load_image` for any input bytes.

Colour: EXIF orientation is applied; palette, grey, 1-bit, CMYK, LAB, 16/32-bit and
float images become 8-bit RGB (high-bit data stretched from its actual range, alpha
composited on white), and an embedded ICC profile (Adobe RGB, Display P3, print CMYK)
is converted to sRGB, so the model sees the colours a browser shows.

Geometry for the models lives here too: :func:`fit_and_crop` (the image as a model sees
it: shorter side → input size, centre crop) and :func:`image_digest` (a content hash that
keys result caches).

No TensorFlow and no Streamlit here.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageFile

try:
    from PIL import ImageCms
except ImportError:  # a Pillow built without LittleCMS: plain conversions instead
    ImageCms = None

from cnnviz.errors import UserFacingError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""Largest accepted file, in bytes: ``server.maxUploadSize = 20`` (MB) in ``.streamlit/config.toml``."""

MAX_PIXELS = 64_000_000
"""Hard limit on width × height read from the file header (64 megapixels).

Generous for phones (12–50 MP) and below Pillow's own warning threshold
(``Image.MAX_IMAGE_PIXELS`` ≈ 89 MP), so a crafted "decompression bomb" (a few KB of
compressed zeros declaring 100 000 × 100 000 pixels) is refused before any memory is
allocated for it.
"""

MAX_DECODE_BYTES = 192 * 1024 * 1024
"""Most bytes one decode may allocate (width × height × bytes per pixel of the file's mode, at the
JPEG draft scale when one applies): a 64 MP RGB JPEG decoded whole."""

MAX_LOSSLESS_DECODE_BYTES = 64 * 1024 * 1024
"""The same for every format but JPEG: a lossless file of a few KB may declare any size (an
8000×8000 RGBA PNG of 265 KB is 256 MB and seconds to decode), and no photo needs more than
16 MP RGBA / 21 MP RGB as PNG."""

_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3,
                    "RGBA": 4, "RGBa": 4, "RGBX": 4, "CMYK": 4, "I": 4, "F": 4, "I;16": 2, "I;16L": 2, "I;16B": 2,
                    "I;16N": 2, "I;16S": 2, "I;32": 4, "I;32B": 4}

DEFAULT_MAX_SIDE = 2048
"""Longest side of the returned image when ``max_side`` is not given: sharp on a
projector, and far more than any model input (224–299 px) needs."""

PAGE_MAX_SIDE = 1024
"""Longest side of a picture the pages keep (Classify, Filters & activations): more than a preview
column, Grad-CAM's overlay or any model input (224–299 px) needs; a 12 MP phone JPEG then
decodes at 1/4 scale (JPEG draft)."""

DRAFT_SLACK = 0.8
"""A JPEG may be decoded at a DCT scale whose longest side is down to this share of ``max_side``
(``max_side`` is a ceiling, not a promise): 4032 px with ``max_side=1024`` decodes at 1/4 (1008 px)
rather than at 1/2 (2016 px, then resized)."""

# Pillow format id → name shown to people. Only these decoders ever run.
# Left out on purpose: EPS/PS (Ghostscript executes PostScript), PDF (not read by
# Pillow anyway), FITS/HDF5/GRIB/BUFR (scientific containers, not photos), TGA
# (no magic number: Pillow would "decode" any text file as garbage pixels), and the
# rarely used formats whose decoders see little real-world testing (PSD, DDS, FLI,
# SGI, SPIDER, IM, XPM, ...). People get a clear "save it as JPEG or PNG".
_ALLOWED: dict[str, str] = {
    "JPEG": "JPEG",
    "MPO": "JPEG (MPO)",  # multi-picture JPEG (phones, 3D cameras): comes through the JPEG entry
    "PNG": "PNG",  # includes APNG: the default image
    "WEBP": "WebP",
    "GIF": "GIF",  # first frame
    "BMP": "BMP",
    "DIB": "BMP",
    "TIFF": "TIFF",  # first page
    "PPM": "PPM/PGM/PBM",
    "ICO": "ICO",
    "PCX": "PCX",
    "AVIF": "AVIF",  # only when Pillow's AVIF plugin is built in
}
Image.init()
ALLOWED_FORMATS: tuple[str, ...] = tuple(f for f in _ALLOWED if f in Image.OPEN)
"""Pillow format ids :func:`load_image` decodes (AVIF only where the plugin exists)."""

# Extension → format, for the uploader's list (Streamlit prints it under the drop zone, so
# common spellings only; ".jfif" is what Chrome on Windows names saved JPEGs).
_EXTENSIONS = {"jpg": "JPEG", "jpeg": "JPEG", "jfif": "JPEG", "mpo": "JPEG", "png": "PNG", "apng": "PNG",
               "webp": "WEBP", "gif": "GIF", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF", "avif": "AVIF",
               "ppm": "PPM", "pgm": "PPM", "pbm": "PPM", "pnm": "PPM", "ico": "ICO", "pcx": "PCX"}
ACCEPTED_EXTENSIONS: tuple[str, ...] = tuple(ext for ext, fmt in _EXTENSIONS.items() if fmt in ALLOWED_FORMATS)
"""File extensions (lowercase, no dot) for the uploader's ``type=`` list."""

# Names of refused formats recognised by their magic bytes (never by opening them).
_REFUSED_NAMES = {
    "EPS": "EPS/PostScript",
    "JPEG2000": "JPEG 2000",
    "PSD": "Photoshop (PSD)",
    "FITS": "FITS",
    "DDS": "DDS",
    "ICNS": "ICNS",
    "CUR": "CUR",
    "FLI": "FLI/FLC",
    "SGI": "SGI",
    "SUN": "Sun Raster",
    "XPM": "XPM",
    "XBM": "XBM",
    "QOI": "QOI",
    "BLP": "BLP",
    "WMF": "WMF/EMF",
    "HDF5": "HDF5",
    "GRIB": "GRIB",
    "BUFR": "BUFR",
    "DCX": "DCX",
    "FTEX": "FTEX",
    "GBR": "GIMP brush",
    "MSP": "MSP",
    "PIXAR": "Pixar",
    "XVTHUMB": "XV thumbnail",
    "MCIDAS": "McIDAS",
    "MPEG": "MPEG",
}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"M4V ", b"M4A ", b"qt  ", b"3gp4", b"3gp5", b"3gp6",
                 b"3g2a", b"avc1", b"dash", b"crx "}

# ImageOps.exif_transpose's table (EXIF orientation → transpose), applied by hand so the
# (cheap) transpose runs on the downscaled image instead of the full-size decode.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Modes whose samples are wider than 8 bits: rescaled from their actual range.
_HIGH_BIT_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N", "I;16S", "I;32", "I;32B"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_RESIZE_FIRST_MODES = {"RGB", "L", "CMYK"}

# Pillow's own bomb check (in open, and on frames inside GIF/ICO/TIFF files) raises an error above
# twice its MAX_IMAGE_PIXELS and only warns below: set once here so that its error threshold is
# exactly MAX_PIXELS. The explicit checks (header, bytes of the decode, size after load) come
# first; no decode relies on a warning turned into an error, so no decode swaps process-wide
# warning filters (warnings.catch_warnings is not thread-safe) and no lock serializes decodes:
# every session decodes at once, each within its byte budget.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2
# Between MAX_PIXELS / 2 and MAX_PIXELS Pillow only warns ("could be decompression bomb"): a 48 MP
# phone photo is not one, and the checks above decide. One filter, added once at import.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

ImageSource = Union[bytes, bytearray, memoryview, str, os.PathLike, BinaryIO, Image.Image]


class ImageError(UserFacingError, ValueError):
    """An image that cannot be used, with a message the person can act on.

    ``key`` is one of ``images.error.*``; ``params`` fill the message.
    """


@dataclass
class DecodedImage:
    """An image ready for the models, plus what the file looked like.

    Attributes:
        image: upright RGB image, longest side ≤ ``max_side``.
        format: format name as shown to people ("JPEG", "PNG", ...); "" for an in-memory image.
        original_size: (width, height) of the picture as it appears (after EXIF rotation),
            before any downscaling.
        original_mode: Pillow mode of the file's pixels ("RGB", "P", "I;16", "CMYK"...).
        orientation: EXIF orientation that was applied (1 = none).
        animated: True if the file has more frames/pages (only the first one is used).
        resized: True if the image was downscaled to fit ``max_side``.
        byte_size: size of the file in bytes (0 for an in-memory image).
    """

    image: Image.Image
    format: str
    original_size: tuple[int, int]
    original_mode: str
    orientation: int = 1
    animated: bool = False
    resized: bool = False
    byte_size: int = 0


# --------------------------------------------------------------------------- public API

def load_image(data: ImageSource, *, max_side: int | None = None) -> Image.Image:
    """Decode an uploaded or local image into an upright RGB ``PIL.Image``.

    Args:
        data: the file's bytes, a path (``str``/``os.PathLike``), a binary file-like
            object (e.g. Streamlit's ``UploadedFile``) or an already open ``PIL.Image``.
        max_side: longest side of the result; larger images are downscaled with a
            Lanczos filter. A JPEG is decoded directly at 1/2, 1/4 or 1/8 scale when that
            still covers ``max_side`` (a 12 MP photo for a 512 px view decodes ~5× faster).
            Default :data:`DEFAULT_MAX_SIDE`.

    Returns:
        An RGB image (mode ``"RGB"``, both sides ≥ 1).

    Raises:
        ImageError: empty, too large (bytes or pixels), not an image, a refused format,
            damaged or truncated, or no pixels. ``err.key`` says which.
    """
    return decode_image(data, max_side=max_side).image


def decode_image(data: ImageSource, *, max_side: int | None = None) -> DecodedImage:
    """Like :func:`load_image`, but also report the original size, mode, format and EXIF rotation."""
    max_side = _check_max_side(max_side)
    if isinstance(data, Image.Image):
        fmt = getattr(data, "format", None) or ""
        return _guarded(lambda: _finish(data, fmt=_ALLOWED.get(fmt, fmt), max_side=max_side, byte_size=0), b"")
    raw = read_bytes(data)
    return _guarded(lambda: _decode_raw(raw, max_side), raw)


def read_bytes(data: bytes | bytearray | memoryview | str | os.PathLike | BinaryIO) -> bytes:
    """The file's bytes, refusing empty and over-limit files before reading more than the limit.

    Raises:
        ImageError: ``images.error.not_found``, ``images.error.unreadable``,
            ``images.error.empty`` or ``images.error.too_large``.
        TypeError: ``data`` is none of the accepted types (a programming error).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    elif isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        try:
            size = os.stat(path).st_size
            if not os.path.isfile(path):
                raise ImageError("images.error.unreadable", path=path, reason="not a file")
            _check_byte_size(size)
            with open(path, "rb") as fh:
                raw = fh.read(MAX_UPLOAD_BYTES + 1)
        except FileNotFoundError:
            raise ImageError("images.error.not_found", path=path) from None
        except OSError as exc:  # permissions, a directory, an I/O error
            raise ImageError("images.error.unreadable", path=path, reason=exc.strerror or type(exc).__name__) from None
    elif hasattr(data, "read"):
        size = getattr(data, "size", None)  # Streamlit's UploadedFile knows it without reading
        if isinstance(size, int):
            _check_byte_size(size)
        try:
            if hasattr(data, "seek"):
                data.seek(0)
            raw = data.read(MAX_UPLOAD_BYTES + 1)
        except Exception as exc:  # a closed or broken stream
            raise ImageError("images.error.unreadable", path=getattr(data, "name", "?"),
                             reason=type(exc).__name__) from None
        if isinstance(raw, str):
            raise TypeError(f"load_image needs a binary stream, got a text stream: {data!r}")
        raw = bytes(raw or b"")
    else:
        raise TypeError("load_image takes bytes, a path, a binary file-like object or a PIL image. "
                        f"Received: data of type {type(data).__name__}")
    _check_byte_size(len(raw))
    return raw


def identify_refused_format(head: bytes) -> str | None:
    """Name of a known but refused format from the first bytes of a file, else None.

    Looks only at magic numbers (Pillow's ``_accept`` checks of the formats we do not
    decode, plus a few common non-image files); never runs a decoder.
    """
    if head.startswith(b"%PDF-"):
        return "PDF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        compatible = {head[i:i + 4] for i in range(16, min(len(head), 64), 4)}
        if brand in _HEIF_BRANDS or (brand in {b"mif1", b"msf1"} and compatible & _HEIF_BRANDS):
            return "HEIC"
        if brand in (b"avif", b"avis"):  # only reached when Pillow lacks its AVIF plugin
            return "AVIF"
        if brand in _VIDEO_BRANDS:
            return "MP4/MOV" if brand != b"crx " else "Canon RAW (CR3)"
    text_head = head[:1024].lstrip().lower()
    if text_head.startswith(b"<svg") or (text_head.startswith(b"<?xml") and b"<svg" in text_head):
        return "SVG"
    if head.startswith(b"gimp xcf"):
        return "GIMP XCF"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "WebM/MKV"
    for fmt, name in _REFUSED_NAMES.items():
        entry = Image.OPEN.get(fmt)
        accept = entry[1] if entry else None
        if accept is None:  # formats without a magic number cannot be told apart from noise
            continue
        try:
            verdict = accept(head[:16])
        except Exception:
            continue
        if verdict and not isinstance(verdict, str):  # a str is Pillow's "looks like it, but unsupported"
            return name
    return None


# --------------------------------------------------------------------------- internals

def _check_max_side(max_side: int | None) -> int:
    if max_side is None:
        return DEFAULT_MAX_SIDE
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1:
        raise ValueError(f"max_side must be a positive integer or None. Received: max_side={max_side!r}")
    return max_side


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}"


def _check_byte_size(size: int) -> None:
    if size == 0:
        raise ImageError("images.error.empty")
    if size > MAX_UPLOAD_BYTES:
        raise ImageError("images.error.too_large", size_mb=_mb(size), limit_mb=f"{MAX_UPLOAD_BYTES // (1024 * 1024)}")


def _too_many_pixels(width: int, height: int) -> ImageError:
    err = ImageError("images.error.too_many_pixels", width=width, height=height,
                     megapixels=f"{width * height / 1e6:.1f}", limit=f"{MAX_PIXELS / 1e6:.0f}")
    return err


def _guarded(decode, raw: bytes) -> DecodedImage:
    """Run ``decode()``, mapping every failure to an ImageError (no lock, no process-wide state changed)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # process-global: a truncated file would "load" half grey
        raise RuntimeError("cnnviz.images needs PIL.ImageFile.LOAD_TRUNCATED_IMAGES = False "
                           "(something in this process set it to True)")
    if Image.MAX_IMAGE_PIXELS is None or 2 * Image.MAX_IMAGE_PIXELS > MAX_PIXELS:
        raise RuntimeError("cnnviz.images needs PIL.Image.MAX_IMAGE_PIXELS ≤ MAX_PIXELS / 2 "
                           "(something in this process raised or removed Pillow's bomb limit)")
    try:
        return decode()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's own check (in open, or on a frame inside an ICO/GIF/TIFF): only the count is known.
        raise ImageError("images.error.too_many_pixels", width=None, height=None,
                         megapixels=_pixels_from(exc), limit=f"{MAX_PIXELS / 1e6:.0f}") from None
    except Exception as exc:  # any decoder failure on damaged, truncated or crafted input
        raise _decoder_failure(exc, raw) from None


def _decoder_failure(exc: BaseException, raw: bytes) -> ImageError:
    """The message for a decoder exception: an unsupported variant of a format we read
    ("Unsupported BMP bitfields layout", a TIFF pixel layout Pillow lacks) or a damaged file."""
    fmt = allowed_format_of(raw[:16])
    text = str(exc).lower()
    if fmt and not isinstance(exc, MemoryError) and ("unsupported" in text or "unknown" in text
                                                      or "not supported" in text):
        return ImageError("images.error.unsupported_variant", format=fmt)
    return ImageError("images.error.damaged")


def allowed_format_of(head: bytes) -> str | None:
    """Display name of the accepted format whose magic number ``head`` starts with, else None."""
    for fmt in ALLOWED_FORMATS:
        accept = Image.OPEN[fmt][1]
        if accept is None:
            continue
        try:
            verdict = accept(head[:16])
        except Exception:
            continue
        if verdict and not isinstance(verdict, str):
            return _ALLOWED[fmt]
    return None


def _header_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF or BMP header without decoding (for files Pillow refuses)."""
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", head[6:10])
        if head.startswith(b"BM") and len(head) >= 26:
            w, h = struct.unpack("<ii", head[18:26])
            return w, abs(h)
    except struct.error:
        return None
    return None


def _pixels_from(exc: Exception) -> str:
    """Megapixels from Pillow's bomb message "Image size (N pixels) exceeds limit ..."."""
    words = str(exc).replace("(", " ").split()
    for word in words:
        if word.isdigit():
            return f"{int(word) / 1e6:.1f}"
    return "?"


def _decode_raw(raw: bytes, max_side: int) -> DecodedImage:
    """Open with the allowed decoders only, check the header, decode (JPEG: at reduced scale)."""
    try:
        im = Image.open(io.BytesIO(raw), formats=list(ALLOWED_FORMATS))
    except Image.UnidentifiedImageError:
        raise _unidentified(raw) from None
    except Image.DecompressionBombError:
        size = _header_size(raw[:32])  # say the size where the header tells it
        if size is None:
            raise
        raise _too_many_pixels(*size) from None
    fmt = _ALLOWED.get(im.format or "", im.format or "")

    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageError("images.error.no_pixels", width=width, height=height)
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(width, height)

    animated = False
    try:
        animated = bool(getattr(im, "is_animated", False))
    except Exception:  # a broken second frame: the first one may still be fine
        animated = False
    if animated:
        im.seek(0)

    original_mode = im.mode
    drafted = False
    if im.format in ("JPEG", "MPO") and max(width, height) > max_side:
        # Decode directly at 1/2, 1/4 or 1/8 scale (libjpeg DCT scaling): the result is still
        # at least DRAFT_SLACK × max_side on its longest side, and a big photo decodes several
        # times faster (a 12 MP phone photo at 1/4: ~25 ms instead of ~250 ms here).
        scale = max_side * DRAFT_SLACK / max(width, height)
        drafted = im.draft(None, (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))) is not None
    _check_decode_bytes(im, fmt)
    im.load()
    # A draft shrinks the decode, not the picture; other formats may load another size
    # than the header said (an ICO picks its largest icon), so measure again.
    full_size = (width, height) if drafted else im.size
    return _finish(im, fmt=fmt, max_side=max_side, byte_size=len(raw), full_size=full_size,
                   original_mode=original_mode, animated=animated)


def _check_decode_bytes(im: Image.Image, fmt: str) -> None:
    """Refuse a decode that would allocate more than its budget (bytes of the mode, not pixels)."""
    w, h = im.size  # after a JPEG draft: the size that is decoded
    per_pixel = _BYTES_PER_PIXEL.get(im.mode, 4)
    if im.mode == "P":  # a palette image is converted to RGB(A) at full size before resizing
        per_pixel = 4 if im.info.get("transparency") is not None else 3
    need = w * h * per_pixel
    limit = MAX_DECODE_BYTES if im.format in ("JPEG", "MPO") else MAX_LOSSLESS_DECODE_BYTES
    if need > limit:
        raise ImageError("images.error.too_much_memory", format=fmt, width=w, height=h, mode=im.mode,
                         need_mb=f"{need / 2**20:.0f}", limit_mb=f"{limit // 2**20}")


def _unidentified(raw: bytes) -> ImageError:
    """Why no allowed decoder took the file: a refused format, an empty or odd variant of an
    accepted one, or not an image at all."""
    name = identify_refused_format(raw[:1024])
    if name == "HEIC":
        return ImageError("images.error.heic")
    if name:
        return ImageError("images.error.format_not_allowed", format=name)
    size = _header_size(raw[:32])
    if size is not None and (size[0] <= 0 or size[1] <= 0):
        return ImageError("images.error.no_pixels", width=size[0], height=size[1])
    fmt = allowed_format_of(raw[:16])
    if fmt:
        return ImageError("images.error.unsupported_variant", format=fmt)
    return ImageError("images.error.not_an_image",
                      formats=", ".join(dict.fromkeys(_ALLOWED[f] for f in ALLOWED_FORMATS)))


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
        value = int(value)
    except Exception:  # broken EXIF must never cost the picture
        return 1
    return value if value in _ORIENTATION else 1


def _finish(im: Image.Image, *, fmt: str, max_side: int, byte_size: int, full_size: tuple[int, int] | None = None,
            original_mode: str | None = None, animated: bool = False) -> DecodedImage:
    """Orientation, conversion to RGB and downscaling of a loaded image.

    ``full_size`` is the picture's real resolution when ``im`` was decoded smaller (JPEG draft).
    """
    size = full_size or im.size
    if size[0] <= 0 or size[1] <= 0 or im.width <= 0 or im.height <= 0:
        raise ImageError("images.error.no_pixels", width=size[0], height=size[1])
    if size[0] * size[1] > MAX_PIXELS:
        raise _too_many_pixels(*size)
    orientation = _orientation(im)
    resized = max(im.size) > max_side
    if resized:
        scale = max_side / max(size)  # relative to the file's size, not to a JPEG draft's
        target = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    if resized and im.mode in _RESIZE_FIRST_MODES:
        # Photos: shrink first, so colour management runs on 4 MP instead of 12.
        rgb = to_rgb(im.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0))
    else:
        # Palette, 1-bit, alpha and high-bit images are converted first (resampling palette
        # indices or un-composited alpha gives wrong colours), to "L" when they are grey, so
        # a big scanned page is resampled as one channel instead of three.
        rgb = _to_8bit(im)
        if resized:
            rgb = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        rgb = rgb.convert("RGB") if rgb.mode != "RGB" else rgb
    if orientation != 1:
        rgb = rgb.transpose(_ORIENTATION[orientation])
    upright = (size[1], size[0]) if orientation in (5, 6, 7, 8) else tuple(size)
    return DecodedImage(image=rgb, format=fmt, original_size=upright, original_mode=original_mode or im.mode,
                        orientation=orientation, animated=animated, resized=resized, byte_size=byte_size)


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, faithfully.

    - palette with transparency, LA, RGBA, premultiplied alpha: composited on white
      (transparent areas become white, as they look in a browser);
    - CMYK: through the embedded ICC profile when there is one (Pillow already undoes
      the inverted Adobe CMYK of Photoshop JPEGs), else Pillow's naive formula;
    - RGB with a non-sRGB ICC profile (Display P3, Adobe RGB): converted to sRGB;
    - 16/32-bit integer and float: the actual range [min, max] is stretched to 0..255,
      so 12-bit data in a 16-bit file is neither dark nor clipped;
    - 1, L, P, YCbCr, LAB, HSV, RGBX...: Pillow's (or LittleCMS') conversion.
    """
    out = _to_8bit(im)
    return out if out.mode == "RGB" else out.convert("RGB")


def _to_8bit(im: Image.Image) -> Image.Image:
    """``im`` as 8-bit "L" (grey sources) or "RGB", with the rules of :func:`to_rgb`."""
    mode = im.mode
    if mode == "L":
        return im
    if mode == "1":
        return im.convert("L")
    if mode in _HIGH_BIT_MODES:
        return _rescale_high_bit(im)
    if mode in ("RGB", "CMYK"):
        return _apply_icc(im)
    if mode == "P":
        if "transparency" in im.info:
            return _composite_on_white(im.convert("RGBA"))
        return im.convert("RGB")
    if mode in _ALPHA_MODES:
        return _composite_on_white(im.convert("RGBA"))
    if mode == "LAB":
        return _lab_to_rgb(im)
    return im.convert("RGB")


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _rescale_high_bit(im: Image.Image) -> Image.Image:
    """A single-channel 16/32-bit or float image as 8-bit "L", stretched from its actual range."""
    a = np.asarray(im)
    if a.dtype.byteorder not in ("=", "|"):
        a = a.astype(a.dtype.newbyteorder("="))
    a = a.astype(np.float32, copy=False)
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, np.nan)
    lo = float(np.nanmin(a)) if finite.any() else 0.0
    hi = float(np.nanmax(a)) if finite.any() else 0.0
    if hi > lo:
        out = (a - lo) * (255.0 / (hi - lo))
    else:  # a flat image: keep its level within the nominal range of its type
        nominal = 65535.0 if im.mode.startswith("I;16") else (1.0 if im.mode == "F" and 0.0 <= lo <= 1.0 else 255.0)
        out = np.full(a.shape, min(max(lo / nominal * 255.0, 0.0), 255.0), dtype=np.float32)
    out = np.nan_to_num(out, nan=0.0)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="L")


def _lab_to_rgb(im: Image.Image) -> Image.Image:
    if ImageCms is None:
        return im.convert("RGB")
    try:
        transform = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                            "LAB", "RGB")
        return ImageCms.applyTransform(im, transform)
    except Exception:  # no LittleCMS: Pillow's plain conversion
        return im.convert("RGB")


def _apply_icc(im: Image.Image) -> Image.Image:
    """RGB or CMYK → sRGB through the embedded ICC profile (Display P3, Adobe RGB, print CMYK).

    Without a usable profile: RGB is returned as is, CMYK goes through Pillow's formula.
    """
    profile = im.info.get("icc_profile")
    if profile and ImageCms is not None:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            if im.mode == "RGB" and _is_srgb(src):
                return im
            out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if out is not None and out.mode == "RGB":
                return out
        except Exception:  # a broken or mismatched profile: fall back to the plain conversion
            pass
    return im if im.mode == "RGB" else im.convert("RGB")


def _is_srgb(profile) -> bool:
    try:
        desc = (ImageCms.getProfileDescription(profile) or "").lower()
    except Exception:
        return False
    return "srgb" in desc or "iec61966" in desc.replace("-", "").replace(" ", "")


# --------------------------------------------------------------------------- geometry

def fit_and_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The image as the model sees it: scaled to cover ``size`` (H, W), then center-cropped.

    For a square input this is "shorter side → input size, then center crop". The
    aspect ratio is kept; nothing is padded or stretched.

    Args:
        image: an RGB ``PIL.Image``.
        size: (height, width) of the model input.

    Returns:
        A new RGB ``PIL.Image`` of exactly width×height.
    """
    target_h, target_w = int(size[0]), int(size[1])
    if image.mode != "RGB":
        image = image.convert("RGB")
    w, h = image.size
    scale = max(target_w / w, target_h / h)
    new_w, new_h = max(target_w, round(w * scale)), max(target_h, round(h * scale))
    # reducing_gap: Pillow first shrinks by an integer factor (box filter), then resamples;
    # a 12 MP photo costs a few ms instead of ~100 with the same visual quality.
    resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=3.0)
    left, top = (new_w - target_w) // 2, (new_h - target_h) // 2
    return resized.crop((left, top, left + target_w, top + target_h))


def image_digest(image: Image.Image) -> str:
    """A short content hash of a PIL image (size, mode and pixels), for result caches."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.mode}:{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()
