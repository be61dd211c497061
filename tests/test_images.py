"""Image intake: cnnviz.images.load_image over Pillow's own test images and a generated
corpus, the scikit-image sample photos, and the shared Streamlit picker (AppTest).

Timing: no speed assertions (speed goes to reports); only a generous per-file bound
(HANG_BOUND_S) that catches a decoder stuck in a loop.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from cnnviz import images
from cnnviz.i18n import LANGS, catalog
from cnnviz.images import MAX_PIXELS, MAX_UPLOAD_BYTES, ImageError, decode_image, load_image

ROOT = Path(__file__).resolve().parents[1]
HANG_BOUND_S = 5.0  # per file; the real numbers (well under 1 s) are reported, not asserted

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


# --------------------------------------------------------------------------- helpers

def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def handmade_png(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose IHDR declares width×height (8-bit grey), with the given IDAT payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def refusal(data, **kwargs) -> ImageError:
    """The ImageError ``data`` raises (fails if it loads or raises anything else)."""
    with pytest.raises(ImageError) as info:
        load_image(data, **kwargs)
    err = info.value
    for lang in LANGS:  # the message renders in every language with these params
        assert err.message(lang).strip()
    return err


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    try:
        return fn(*args, **kwargs), time.perf_counter() - start
    except ImageError as exc:
        return exc, time.perf_counter() - start


def marked(size=(40, 20), mark=RED, background=BLUE) -> Image.Image:
    """A background image with an 8×8 mark in the top-left corner (to follow rotations)."""
    im = Image.new("RGB", size, background)
    im.paste(mark, (0, 0, 8, 8))
    return im


def close(a, b, tol=3) -> bool:
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b))


@pytest.fixture
def no_subprocess(monkeypatch):
    """Fail the test if anything (Ghostscript for EPS...) tries to start a process."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "check_call", refuse)


# --------------------------------------------------------------------------- (a) Pillow's test images

PILLOW_IMAGES = "testdata/pillow-images"


@pytest.fixture(scope="module")
def pillow_images(shared_dir) -> list[Path]:
    folder = shared_dir / PILLOW_IMAGES
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return sorted(p for p in folder.iterdir() if p.is_file())


def test_every_pillow_test_image_loads_as_rgb_or_is_refused(pillow_images, no_subprocess, capsys):
    assert len(pillow_images) >= 400, "the shared Pillow corpus looks incomplete"
    outcomes: dict[str, str] = {}
    durations: list[tuple[float, str]] = []
    others: list[str] = []
    for path in pillow_images:
        result, seconds = timed(decode_image, path)
        durations.append((seconds, path.name))
        if isinstance(result, ImageError):
            assert result.key.startswith("images.error."), path.name
            outcomes[path.name] = result.key
        elif isinstance(result, images.DecodedImage):
            im = result.image
            assert im.mode == "RGB" and im.width > 0 and im.height > 0, (path.name, im.mode, im.size)
            assert max(im.size) <= images.DEFAULT_MAX_SIDE, path.name
            im.getpixel((0, 0))  # the pixels are really there
            outcomes[path.name] = "ok"
        else:  # pragma: no cover - decode_image returns or raises ImageError
            others.append(f"{path.name}: {result!r}")
        assert seconds < HANG_BOUND_S, f"{path.name} took {seconds:.1f} s"
    assert others == []
    ok = sum(1 for v in outcomes.values() if v == "ok")
    durations.sort(reverse=True)
    with capsys.disabled():
        print(f"\n[pillow corpus] {len(pillow_images)} files: {ok} RGB, {len(pillow_images) - ok} refused; "
              f"slowest: " + ", ".join(f"{name} {s * 1000:.0f} ms" for s, name in durations[:3]))
    # Ordinary images of every accepted format do load (a regression that refuses
    # everything must fail here, not pass as "all ImageError").
    assert ok >= 350, f"only {ok} of {len(pillow_images)} loaded"
    for name in ("hopper.jpg", "hopper.png", "hopper.webp", "hopper.gif", "hopper.bmp", "hopper.tif",
                 "hopper.ppm", "hopper_256x256.ico", "hopper.Lab.tif", "hopper_16bit.pgm", "avif__hopper.avif"):
        if name in outcomes and name.endswith(".avif") and "AVIF" not in images.ALLOWED_FORMATS:
            continue
        assert outcomes.get(name) == "ok", (name, outcomes.get(name))
    # Known bad files get their specific message.
    expected = {
        "eps__1.eps": "images.error.format_not_allowed",
        "hopper.psd": "images.error.format_not_allowed",
        "decompression_bomb.gif": "images.error.too_many_pixels",
        "decompression_bomb.ico": "images.error.too_many_pixels",
        "bmp__b__reallybig.bmp": "images.error.too_many_pixels",
        "truncated_jpeg.jpg": "images.error.damaged",
        "truncated_image.png": "images.error.damaged",
        "zero_width.gif": "images.error.no_pixels",
        "bmp__b__badbitcount.bmp": "images.error.unsupported_variant",
    }
    assert {name: outcomes.get(name) for name in expected} == expected


def test_eps_files_are_refused_by_name_without_ghostscript(pillow_images, no_subprocess):
    eps = [p for p in pillow_images if p.suffix == ".eps"]
    assert eps
    for path in eps:
        err = refusal(path)
        assert err.key == "images.error.format_not_allowed"
        assert "EPS" in err.params["format"]
        assert "EPS" in str(err) and "not accepted" in str(err)


@pytest.mark.parametrize("ext", ["jpg", "webp"])
def test_exif_orientation_files_come_out_upright(pillow_images, ext):
    """Pillow's hopper_orientation_N files all show the same upright picture as hopper.png."""
    folder = pillow_images[0].parent
    reference = np.asarray(Image.open(folder / "hopper.png").convert("RGB"), dtype=np.float32)
    for n in range(2, 9):
        decoded = decode_image(folder / f"hopper_orientation_{n}.{ext}")
        assert decoded.orientation == n
        diff = np.abs(np.asarray(decoded.image, dtype=np.float32) - reference).mean()
        assert diff < 10, f"orientation {n}: mean difference {diff:.1f} from the upright picture"


def test_16_bit_and_lab_files_match_the_8_bit_picture(pillow_images):
    folder = pillow_images[0].parent
    grey = np.asarray(Image.open(folder / "hopper.png").convert("L").convert("RGB"), dtype=np.float32)
    sixteen = np.asarray(load_image(folder / "hopper_16bit.pgm"), dtype=np.float32)
    assert np.abs(sixteen - grey).mean() < 3
    colour = np.asarray(Image.open(folder / "hopper.png").convert("RGB"), dtype=np.float32)
    lab = np.asarray(load_image(folder / "hopper.Lab.tif"), dtype=np.float32)
    assert np.abs(lab - colour).mean() < 5


# --------------------------------------------------------------------------- (b) generated corpus: modes

def test_rgb_passes_through_unchanged():
    im = Image.effect_noise((64, 48), 60).convert("RGB")
    out = load_image(encode(im, "PNG"))
    assert out.mode == "RGB" and out.size == (64, 48)
    assert out.tobytes() == im.tobytes()


def test_palette_without_transparency_keeps_its_colours():
    im = Image.new("P", (10, 10), 1)
    im.putpalette([0, 0, 0, 12, 200, 34] + [0, 0, 0] * 254)
    out = load_image(encode(im, "PNG"))
    assert out.mode == "RGB" and out.getpixel((5, 5)) == (12, 200, 34)


def test_palette_with_transparency_is_composited_on_white():
    im = Image.new("P", (10, 10), 1)
    im.putpalette([0, 0, 0, 12, 200, 34] + [0, 0, 0] * 254)
    im.putpixel((0, 0), 0)
    out = load_image(encode(im, "PNG", transparency=0))  # index 0 (black) is transparent
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((5, 5)) == (12, 200, 34)
    gif = load_image(encode(im, "GIF", transparency=0))
    assert gif.getpixel((0, 0)) == WHITE and gif.getpixel((5, 5)) == (12, 200, 34)


def test_rgba_transparent_pixels_become_white_and_opaque_ones_stay():
    im = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    im.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black: must look white
    im.putpixel((1, 0), (0, 0, 0, 128))  # half-transparent black: mid grey
    out = load_image(encode(im, "PNG"))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == WHITE
    assert close(out.getpixel((1, 0)), (127, 127, 127), tol=2)
    assert out.getpixel((4, 4)) == RED
    webp = load_image(encode(im, "WEBP", lossless=True))
    assert webp.getpixel((0, 0)) == WHITE and webp.getpixel((4, 4)) == RED


@pytest.mark.parametrize("mode", ["L", "1"])
def test_grey_and_bilevel(mode):
    im = Image.new("L", (16, 16), 0)
    im.paste(255, (8, 0, 16, 16))
    if mode == "L":
        im.putpixel((0, 0), 77)
    im = im.convert(mode)
    out = load_image(encode(im, "PNG"))
    assert out.mode == "RGB"
    assert out.getpixel((12, 5)) == WHITE and out.getpixel((3, 5)) == (0, 0, 0)
    if mode == "L":
        assert out.getpixel((0, 0)) == (77, 77, 77)


def test_grey_with_alpha_is_composited_on_white():
    im = Image.new("LA", (4, 4), (0, 255))
    im.putpixel((0, 0), (0, 0))
    out = load_image(encode(im, "PNG"))
    assert out.getpixel((0, 0)) == WHITE and out.getpixel((2, 2)) == (0, 0, 0)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_becomes_the_right_rgb(fmt):
    im = Image.new("CMYK", (32, 32), (255, 0, 0, 0))  # pure cyan ink
    im.paste((0, 0, 0, 255), (16, 0, 32, 32))  # pure black ink
    data = encode(im, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = load_image(data)
    assert out.mode == "RGB"
    assert close(out.getpixel((4, 4)), (0, 255, 255), tol=6)
    assert close(out.getpixel((24, 4)), (0, 0, 0), tol=6)


def test_adobe_inverted_cmyk_jpeg_is_not_a_negative():
    """Photoshop writes CMYK JPEGs inverted with an Adobe marker; Pillow undoes it on read.
    A correct intake must not invert again: light paper stays light."""
    im = Image.new("CMYK", (16, 16), (0, 0, 0, 0))  # no ink: white paper
    data = encode(im, "JPEG", quality=95)
    assert b"Adobe" in data[:200]
    out = load_image(data)
    assert min(out.getpixel((8, 8))) > 240


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_gradient_is_rescaled_not_clipped(fmt):
    """A 12-bit-ish gradient (1000..5000) in a 16-bit file spans the whole 0..255 range."""
    ramp = np.linspace(1000, 5000, 256).round().astype(np.uint16)
    arr = np.tile(ramp, (8, 1))
    im = Image.fromarray(arr)
    assert im.mode.startswith("I;16")
    data = encode(im, fmt)
    assert Image.open(io.BytesIO(data)).mode in ("I;16", "I;16B", "I", "I;16L")
    out = np.asarray(load_image(data))[:, :, 0]
    row = out[4].astype(int)
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row) >= 0), "the ramp must stay monotonic"
    assert 120 <= row[128] <= 135, "mid-grey in the middle (a clip at 255 would give 255)"
    assert len(np.unique(row)) > 200, "the gradient keeps its steps"


def test_16_bit_big_endian_and_32_bit_and_float():
    ramp = np.linspace(0, 1, 100, dtype=np.float32)
    for arr in (np.tile((ramp * 40000 + 100).astype(">u2"), (4, 1)),  # I;16B
                np.tile((ramp * 1e6 - 5e5).astype(np.int32), (4, 1)),  # I (signed 32-bit)
                np.tile(ramp * 2 - 1, (4, 1))):  # F in [-1, 1]
        im = Image.fromarray(arr)
        data = encode(im, "TIFF")
        row = np.asarray(load_image(data))[2, :, 0].astype(int)
        assert (row[0], row[-1]) == (0, 255), im.mode
        assert np.all(np.diff(row) >= 0), im.mode
        assert 120 <= row[50] <= 135, im.mode


def test_ycbcr_hsv_lab_are_converted():
    rgb = Image.new("RGB", (8, 8), (200, 30, 60))
    for mode in ("YCbCr", "HSV"):
        out = load_image(rgb.convert(mode))
        assert close(out.getpixel((1, 1)), (200, 30, 60), tol=4), mode
    # Pillow's LAB stores L* = 0..100 as 0..255 and a*, b* offset by 128: neutral white/black.
    lab = Image.new("LAB", (8, 8), (255, 128, 128))
    lab.paste((0, 128, 128), (0, 0, 4, 8))
    out = load_image(encode(lab, "TIFF"))
    assert min(out.getpixel((6, 1))) > 245 and max(out.getpixel((1, 1))) < 10


# --------------------------------------------------------------------------- (b) geometry

@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_imageops(orientation):
    """Every EXIF orientation gives exactly what ImageOps.exif_transpose gives (lossless PNG)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(marked(), "PNG", exif=exif.tobytes())
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    decoded = decode_image(data)
    assert decoded.orientation == orientation
    assert decoded.image.size == expected.size
    assert decoded.image.tobytes() == expected.tobytes()


def test_exif_orientation_6_jpeg_is_rotated_clockwise():
    """A phone held upright stores a landscape frame with orientation 6 (rotate 90° clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(marked((40, 20)), "JPEG", quality=95, exif=exif.tobytes())
    decoded = decode_image(data)
    out = decoded.image
    assert out.size == (20, 40), "width and height swapped"
    assert decoded.original_size == (20, 40)
    # The stored top-left corner is the displayed top-right corner after a clockwise turn.
    assert close(out.getpixel((16, 3)), RED, tol=40)
    assert close(out.getpixel((3, 3)), BLUE, tol=40)
    assert close(out.getpixel((16, 36)), BLUE, tol=40)


def test_broken_exif_does_not_cost_the_picture():
    exif = Image.Exif()
    exif[0x0112] = 9  # not an orientation
    out = decode_image(encode(marked(), "JPEG", exif=exif.tobytes()))
    assert out.orientation == 1 and out.image.size == (40, 20)
    data = bytearray(encode(marked(), "JPEG", exif=Image.Exif().tobytes()))
    start = data.find(b"Exif\x00\x00")
    assert start > 0
    data[start + 6:start + 14] = b"\xff" * 8  # garbage TIFF header inside the EXIF block
    assert load_image(bytes(data)).size == (40, 20)


def test_animated_gif_and_apng_give_the_first_frame():
    frames = [Image.new("RGB", (20, 20), RED), Image.new("RGB", (20, 20), BLUE)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(gif)
    assert decoded.animated and decoded.image.getpixel((10, 10)) == RED
    apng = encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    decoded = decode_image(apng)
    assert decoded.animated and decoded.image.getpixel((10, 10)) == RED


def test_multipage_tiff_gives_the_first_page():
    pages = [Image.new("RGB", (10, 10), RED), Image.new("RGB", (10, 10), BLUE)]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert load_image(data).getpixel((5, 5)) == RED


def test_one_pixel_image():
    out = load_image(encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"))
    assert out.size == (1, 1) and out.getpixel((0, 0)) == (1, 2, 3)


def test_very_wide_image_is_downscaled_keeping_its_aspect():
    wide = encode(Image.new("RGB", (10000, 10), RED), "PNG")
    out = decode_image(wide)
    assert out.image.size == (2048, 2) and out.resized and out.original_size == (10000, 10)
    assert load_image(wide, max_side=20000).size == (10000, 10)
    assert load_image(wide, max_side=100).size == (100, 1)


def test_big_jpeg_is_downscaled_with_draft_to_the_exact_size():
    im = Image.linear_gradient("L").resize((3000, 1000)).convert("RGB")
    data = encode(im, "JPEG", quality=90)
    for side, expected in ((2048, (2048, 683)), (1000, (1000, 333)), (300, (300, 100))):
        out = load_image(data, max_side=side)
        assert out.size == expected
        # The gradient survives (a wrong crop or box from the draft would shift it).
        assert out.getpixel((expected[0] // 2, 0))[0] < 20 and out.getpixel((expected[0] // 2, expected[1] - 1))[0] > 235


def test_other_accepted_formats_load():
    im = marked((30, 20))
    for fmt, params in (("BMP", {}), ("PPM", {}), ("PCX", {}), ("ICO", {"sizes": [(30, 20)]}),
                        ("WEBP", {"lossless": True}), ("TIFF", {"compression": "tiff_lzw"})):
        out = load_image(encode(im, fmt, **params))
        assert out.mode == "RGB" and close(out.getpixel((2, 2)), RED, tol=10), fmt


def test_a_pil_image_and_a_file_like_and_a_path_are_accepted(tmp_path):
    im = marked()
    assert load_image(im).tobytes() == im.tobytes()
    data = encode(im, "PNG")
    assert load_image(io.BytesIO(data)).tobytes() == im.tobytes()
    path = tmp_path / "x.png"
    path.write_bytes(data)
    assert load_image(path).tobytes() == im.tobytes()
    assert load_image(str(path)).tobytes() == im.tobytes()


# --------------------------------------------------------------------------- model geometry: fit_and_crop, image_digest

def test_fit_and_crop_keeps_the_center():
    # Left third red, middle green, right third blue: the square crop must be all green.
    arr = np.zeros((200, 600, 3), np.uint8)
    arr[:, :200, 0] = 255
    arr[:, 200:400, 1] = 255
    arr[:, 400:, 2] = 255
    crop = np.asarray(images.fit_and_crop(Image.fromarray(arr), (224, 224)))
    assert crop.shape == (224, 224, 3)
    inner = crop[:, 8:-8].astype(int)  # away from the bilinear seam
    assert (inner[..., 1] > 250).all() and (inner[..., 0] < 5).all() and (inner[..., 2] < 5).all()


@pytest.mark.parametrize("size", [(1, 1), (10, 3000), (3000, 10), (224, 224), (4032, 3024)])
def test_fit_and_crop_any_shape(size):
    out = images.fit_and_crop(Image.new("RGB", size, (10, 20, 30)), (299, 299))
    assert out.size == (299, 299) and out.mode == "RGB"
    assert np.asarray(out)[150, 150].tolist() == [10, 20, 30]


def test_fit_and_crop_converts_modes():
    out = images.fit_and_crop(Image.new("L", (300, 300), 128), (224, 224))
    assert out.mode == "RGB"


def test_image_digest_follows_content_mode_and_size():
    a = Image.new("RGB", (32, 16), (10, 20, 30))
    assert images.image_digest(a) == images.image_digest(a.copy())
    assert len(images.image_digest(a)) == 32
    b = a.copy()
    b.putpixel((31, 15), (10, 20, 31))
    assert images.image_digest(b) != images.image_digest(a)
    assert images.image_digest(a.convert("RGBA")) != images.image_digest(a)
    assert images.image_digest(Image.new("RGB", (16, 32), (10, 20, 30))) != images.image_digest(a)


# --------------------------------------------------------------------------- (b) refusals, each with its own key

def test_zero_bytes(tmp_path):
    assert refusal(b"").key == "images.error.empty"
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert refusal(tmp_path / "empty.jpg").key == "images.error.empty"
    assert refusal(io.BytesIO(b"")).key == "images.error.empty"


def test_text_renamed_jpg(tmp_path, no_subprocess):
    path = tmp_path / "notes.jpg"
    path.write_text("Apuntes de clase: las CNN usan convoluciones.\n" * 20, encoding="utf-8")
    err = refusal(path)
    assert err.key == "images.error.not_an_image"
    assert "JPEG" in err.params["formats"] and "EPS" not in err.params["formats"]
    assert refusal(b"\x00" * 100).key == "images.error.not_an_image"


@pytest.mark.parametrize("head, name", [
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n", "EPS"),
    (b"\xc5\xd0\xd3\xc6" + b"\x00" * 60, "EPS"),  # DOS EPS binary header
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    (b"8BPS\x00\x01" + b"\x00" * 40, "PSD"),
    (b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 40, "JPEG 2000"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "MP4"),
])
def test_refused_formats_are_named_without_running_their_decoder(head, name, no_subprocess, monkeypatch):
    from PIL import EpsImagePlugin

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: pytest.fail("Ghostscript ran"))
    err = refusal(head + b"\x00" * 200)
    assert err.key == "images.error.format_not_allowed"
    assert name in err.params["format"]


def test_heic_gets_its_own_advice():
    head = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100
    assert refusal(head).key == "images.error.heic"
    head = b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf" + b"\x00" * 100
    assert refusal(head).key == "images.error.heic"


def test_truncated_jpeg_and_png_are_damaged():
    photo = Image.effect_noise((256, 256), 80).convert("RGB")
    for fmt in ("JPEG", "PNG"):
        data = encode(photo, fmt)
        err = refusal(data[: len(data) // 2])
        assert err.key == "images.error.damaged", fmt
    corrupt = bytearray(encode(photo, "PNG"))
    corrupt[100:400] = b"\x00" * 300  # inside IDAT: zlib stream broken
    assert refusal(bytes(corrupt)).key == "images.error.damaged"


def test_bomb_with_a_huge_header_is_refused_before_decoding():
    # 100 000 × 100 000 grey pixels declared, 10 KB of compressed zeros: a classic bomb.
    bomb = handmade_png(100_000, 100_000, zlib.compress(b"\x00" * 1_000_000, 9))
    assert len(bomb) < 20_000
    result, seconds = timed(load_image, bomb)
    assert isinstance(result, ImageError) and result.key == "images.error.too_many_pixels"
    assert seconds < HANG_BOUND_S


def test_over_our_pixel_limit_is_refused_from_the_header_with_its_size(monkeypatch):
    from PIL import ImageFile

    def no_decoding(self):
        raise RuntimeError("pixels were decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)  # would surface as "damaged"
    width, height = 9000, 8000  # 72 MP: above MAX_PIXELS, where Pillow's own check stops too (set by images)
    assert width * height > MAX_PIXELS >= 2 * Image.MAX_IMAGE_PIXELS
    err = refusal(handmade_png(width, height, zlib.compress(b"\x00" * 10_000)))
    assert err.key == "images.error.too_many_pixels"
    assert (err.params["width"], err.params["height"]) == (width, height)
    assert "72.0" in str(err) and "64" in str(err)


def test_pillow_written_compressible_bomb_is_refused():
    """A real (Pillow-written) 8100 × 8100 PNG of one colour: 65.6 MP in ~70 KB."""
    data = encode(Image.new("1", (8100, 8100)), "PNG", optimize=True)
    assert len(data) < 1_000_000
    assert refusal(data).key == "images.error.too_many_pixels"


def test_over_size_file_is_refused_before_reading_it_all(tmp_path):
    big = b"\xff\xd8\xff" + b"\x00" * (MAX_UPLOAD_BYTES + 1)
    err = refusal(big)
    assert err.key == "images.error.too_large" and err.params["limit_mb"] == "20"
    path = tmp_path / "big.jpg"
    path.write_bytes(big)
    assert refusal(path).key == "images.error.too_large"

    class Upload(io.BytesIO):  # like Streamlit's UploadedFile: knows its size
        size = MAX_UPLOAD_BYTES + 5

        def read(self, *args):
            raise AssertionError("read although the size is known to be over the limit")

    assert refusal(Upload(b"x")).key == "images.error.too_large"
    assert load_image(encode(Image.new("RGB", (4, 4)), "PNG"))  # exactly-under files are fine


def test_zero_size_image():
    assert refusal(handmade_png(0, 10)).key == "images.error.no_pixels"
    assert refusal(Image.new("RGB", (0, 5))).key == "images.error.no_pixels"


def test_unsupported_variant_of_an_accepted_format():
    data = bytearray(encode(Image.new("RGB", (4, 4)), "BMP"))
    data[28:30] = struct.pack("<H", 7)  # 7 bits per pixel: no such BMP
    err = refusal(bytes(data))
    assert err.key == "images.error.unsupported_variant" and err.params["format"] == "BMP"


def test_missing_path_and_directory(tmp_path):
    assert refusal(tmp_path / "nope.jpg").key == "images.error.not_found"
    assert refusal(tmp_path).key == "images.error.unreadable"


def test_programming_errors_are_not_disguised():
    with pytest.raises(TypeError, match="Received: data of type int"):
        load_image(42)
    with pytest.raises(ValueError, match="max_side=0"):
        load_image(b"abc", max_side=0)


def test_every_refusal_has_its_own_key_and_message():
    keys = {k for k in catalog("en") if k.startswith("images.error.")}
    source = (ROOT / "cnnviz" / "images.py").read_text(encoding="utf-8")
    used = {k for k in keys if f'"{k}"' in source}
    intake_keys = {k for k in keys if not k.startswith("images.error.sample_")}
    assert used == intake_keys, f"catalog keys not raised by cnnviz.images: {intake_keys - used}"
    messages = [catalog("en")[k] for k in intake_keys]
    assert len(set(messages)) == len(messages), "two failures share one message"
    assert issubclass(ImageError, ValueError)


def test_generated_corpus_each_file_within_the_bound(tmp_path):
    """One pass over every kind of generated input, timing each (reported, bound only)."""
    corpus = {
        "rgb.jpg": encode(Image.effect_noise((640, 480), 50).convert("RGB"), "JPEG"),
        "p.png": encode(Image.new("P", (64, 64)), "PNG"),
        "rgba.png": encode(Image.new("RGBA", (64, 64)), "PNG"),
        "i16.png": encode(Image.fromarray(np.arange(4096, dtype=np.uint16).reshape(64, 64)), "PNG"),
        "wide.png": encode(Image.new("RGB", (10000, 10)), "PNG"),
        "bomb.png": handmade_png(100_000, 100_000, zlib.compress(b"\x00" * 100_000)),
        "truncated.jpg": encode(Image.effect_noise((512, 512), 50).convert("RGB"), "JPEG")[:5000],
        "text.jpg": b"not an image\n" * 100,
        "empty.jpg": b"",
        "eps.jpg": b"%!PS-Adobe-3.0 EPSF-3.0\n" + b"%" * 100,
    }
    for name, data in corpus.items():
        (tmp_path / name).write_bytes(data)
        _, seconds = timed(load_image, tmp_path / name)
        assert seconds < HANG_BOUND_S, f"{name}: {seconds:.1f} s"


# --------------------------------------------------------------------------- 12 MP phone photo

def test_12_megapixel_rotated_phone_photo(capsys):
    """4000 × 3000 JPEG with EXIF orientation 6, as a phone writes it: upright, downscaled."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:3000, 0:4000]
    pixels = np.stack([x / 4000 * 255, y / 3000 * 255, (x + y) % 256], -1) + rng.normal(0, 12, (3000, 4000, 3))
    im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    im.paste(RED, (0, 0, 200, 200))  # mark the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(im, "JPEG", quality=90, exif=exif.tobytes())
    assert len(data) < MAX_UPLOAD_BYTES
    decoded, seconds = timed(decode_image, data)
    assert isinstance(decoded, images.DecodedImage)
    out = decoded.image
    assert decoded.original_size == (3000, 4000) and decoded.orientation == 6
    # JPEG draft: decoded at 1/2 scale (2000 px ≥ DRAFT_SLACK × 2048), not at full size then resized.
    assert out.size == (1500, 2000) and out.mode == "RGB"
    assert close(out.getpixel((1500 - 30, 30)), RED, tol=40), "stored top-left → displayed top-right"
    small, seconds_small = timed(decode_image, data, max_side=512)
    assert small.image.size == (375, 500)  # 1/8 scale: 500 px ≥ 0.8 × 512
    exact, _ = timed(decode_image, data, max_side=1800)  # 1/2 gives 2000 > 1800: resized down to the ceiling
    assert exact.image.size == (1350, 1800)
    with capsys.disabled():
        print(f"\n[12 MP JPEG, orientation 6, {len(data) / 1e6:.1f} MB] load_image: {seconds * 1000:.0f} ms "
              f"(max_side 2048), {seconds_small * 1000:.0f} ms (max_side 512)")
    assert seconds < HANG_BOUND_S


# --------------------------------------------------------------------------- (c) samples

def test_samples_are_bundled_rgb_and_load_offline(monkeypatch):
    import socket
    from importlib import resources

    from cnnviz import samples

    monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: pytest.fail("network used"))
    assert samples.list_samples() == ["cat", "coffee", "astronaut", "rocket"]
    for name in samples.list_samples():
        spec = samples.get_sample(name)
        assert resources.files("skimage.data").joinpath(spec.filename).is_file(), "must ship in the wheel"
        im = samples.load_sample(name)
        assert im.mode == "RGB" and im.size == spec.size
        assert np.asarray(im).std() > 20, "a real photo, not a blank"
        for lang in LANGS:
            assert catalog(lang)[f"images.sample.{name}"]
            assert "scikit-image" in catalog(lang)[f"images.credit.{name}"]
    assert samples.load_sample("cat", max_side=100).size == (100, 67)


def test_sample_pixels_match_scikit_image():
    import skimage.data

    from cnnviz import samples

    for name, loader in (("cat", skimage.data.chelsea), ("coffee", skimage.data.coffee),
                         ("astronaut", skimage.data.astronaut)):
        assert np.array_equal(np.asarray(samples.load_sample(name)), loader()), name


def test_colour_profiles_are_applied_like_a_browser_does():
    """rocket.jpg is tagged Adobe RGB (1998): shown as sRGB (as browsers do), not as raw numbers
    (as skimage.data.rocket() returns them)."""
    from importlib import resources

    from PIL import ImageCms

    from cnnviz import samples

    raw = Image.open(io.BytesIO(resources.files("skimage.data").joinpath("rocket.jpg").read_bytes()))
    profile = ImageCms.ImageCmsProfile(io.BytesIO(raw.info["icc_profile"]))
    assert "Adobe RGB" in ImageCms.getProfileDescription(profile)
    expected = ImageCms.profileToProfile(raw, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    ours = samples.load_sample("rocket")
    assert ours.tobytes() == expected.tobytes()
    assert ours.tobytes() != raw.convert("RGB").tobytes()
    # An sRGB-tagged image is left exactly as it is.
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im = Image.effect_noise((32, 32), 60).convert("RGB")
    assert load_image(encode(im, "PNG", icc_profile=srgb)).tobytes() == im.tobytes()


def test_unknown_sample():
    from cnnviz.samples import SampleError, load_sample

    with pytest.raises(SampleError) as info:
        load_sample("dog")
    assert info.value.key == "images.error.sample_unknown"
    assert "cat" in str(info.value) and "dog" in str(info.value)


def test_intake_never_imports_tensorflow_or_streamlit():
    code = ("import sys, cnnviz.images, cnnviz.samples; cnnviz.samples.load_sample('cat');"
            "cnnviz.images.load_image(open(sys.argv[1], 'rb').read());"
            "bad = [m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    sample = Path(__import__("skimage").__file__).parent / "data" / "coffee.png"
    proc = subprocess.run([sys.executable, "-c", code, str(sample)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- (d) the Streamlit picker

PICKER_SCRIPT = """
import streamlit as st
from cnnviz.ui.image_input import image_input

if st.session_state.get("elsewhere"):
    st.text("another page")
else:
    result = image_input("img", preview=False)
    if result is not None:
        image, label = result
        st.text(f"RESULT {label} {image.size[0]}x{image.size[1]} {image.mode}")
"""


@pytest.fixture
def picker(tmp_path):
    from streamlit.testing.v1 import AppTest

    from cnnviz.ui import image_input as module

    module._decode_bytes.clear()
    module._decode_sample.clear()
    script = tmp_path / "picker.py"
    script.write_text(textwrap.dedent(PICKER_SCRIPT), encoding="utf-8")

    def make(lang="en"):
        at = AppTest.from_file(str(script), default_timeout=60)
        at.query_params["lang"] = lang
        at.run()
        assert not at.exception, at.exception
        return at

    return make


def texts(at) -> list[str]:
    return [t.value for t in at.text]


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def test_picker_upload_good_then_corrupt_then_good(picker):
    at = picker("en")
    assert catalog("en")["images.input.none"] in captions(at)
    assert not at.error
    good = encode(marked((300, 200)), "PNG")
    at.file_uploader[0].set_value(("photo.png", good, "image/png")).run()
    assert texts(at) == ["RESULT photo.png 300x200 RGB"]
    assert "photo.png · PNG · 300 × 200 px · RGB" in captions(at)

    at.file_uploader[0].set_value(("broken.png", good[: len(good) // 2], "image/png")).run()
    assert not at.exception
    assert [e.value for e in at.error] == [catalog("en")["images.error.damaged"]]
    assert texts(at) == []

    at.file_uploader[0].set_value(("photo.png", good, "image/png")).run()
    assert not at.error and texts(at) == ["RESULT photo.png 300x200 RGB"]


def test_picker_in_spanish_shows_spanish_errors_and_captions(picker):
    at = picker("es")
    at.file_uploader[0].set_value(("apuntes.jpg", b"esto no es una foto\n" * 10, "image/jpeg")).run()
    assert at.error[0].value.startswith("Este archivo no es una imagen")
    exif = Image.Exif()
    exif[0x0112] = 6
    at.file_uploader[0].set_value(("movil.jpg", encode(marked((40, 20)), "JPEG", exif=exif.tobytes()),
                                   "image/jpeg")).run()
    assert texts(at) == ["RESULT movil.jpg 20x40 RGB"]
    assert "enderezada (orientación EXIF 6)" in captions(at)


def test_picker_sample_camera_and_last_choice_wins(picker):
    at = picker("en")
    at.pills[0].set_value("cat").run()
    assert texts(at) == ["RESULT Cat 451x300 RGB"]
    assert "Stefan van der Walt" in captions(at)

    upload = encode(marked((50, 40)), "PNG")
    at.file_uploader[0].set_value(("mine.png", upload, "image/png")).run()
    assert texts(at) == ["RESULT mine.png 50x40 RGB"]
    assert at.pills[0].value is None, "the sample is deselected when a file is uploaded"

    assert not at.camera_input, "no camera widget (no browser prompt) until the toggle is on"
    at.toggle[0].set_value(True).run()
    at.camera_input[0].set_value(("image.jpg", encode(marked((64, 48)), "JPEG"), "image/jpeg")).run()
    assert texts(at) == ["RESULT Camera photo 64x48 RGB"]
    assert at.file_uploader[0].value is None, "the uploader is cleared when a photo is taken"

    at.pills[0].set_value("rocket").run()
    assert texts(at) == ["RESULT Rocket 640x427 RGB"]


def test_picker_remembers_the_choice_across_pages_and_decodes_once(picker, monkeypatch):
    from cnnviz.ui import image_input as module

    calls = []
    real = images.decode_image
    monkeypatch.setattr(images, "decode_image", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = picker("en")
    at.file_uploader[0].set_value(("mine.png", encode(marked((50, 40)), "PNG"), "image/png")).run()
    assert texts(at) == ["RESULT mine.png 50x40 RGB"]
    at.run()
    at.run()
    assert len(calls) == 1, "reruns reuse the cached decode"

    at.session_state["elsewhere"] = True  # the widget is not drawn: like visiting another page
    at.run()
    assert texts(at) == ["another page"]
    at.session_state["elsewhere"] = False
    at.run()
    assert texts(at) == ["RESULT mine.png 50x40 RGB"]
    assert len(calls) == 1
    assert module is not None


def test_a_decode_never_waits_for_another_sessions_decode(monkeypatch):
    """Thirty students decode at once: a small JPEG is not held behind a slow lossless decode
    (there was one lock for every decode, to guard process-wide warning filters)."""
    import threading
    import warnings

    entered, release = threading.Event(), threading.Event()
    real_load = images.ImageFile.ImageFile.load

    def slow_load(self):  # the big PNG's decode stops half-way until the small one is done
        if self.size == (3000, 2000):
            entered.set()
            release.wait(60)
        return real_load(self)

    monkeypatch.setattr(images.ImageFile.ImageFile, "load", slow_load)
    filters = list(warnings.filters)
    big = encode(Image.new("RGB", (3000, 2000), (10, 200, 30)), "PNG")
    small = encode(Image.new("RGB", (64, 48), (200, 10, 30)), "JPEG")
    out: dict[str, object] = {}
    slow = threading.Thread(target=lambda: out.setdefault("big", decode_image(big, max_side=512)))
    slow.start()
    try:
        assert entered.wait(60), "the big decode never started"
        fast = threading.Thread(target=lambda: out.setdefault("small", decode_image(small)))
        fast.start()
        fast.join(30)
        assert not fast.is_alive() and "small" in out, "the small JPEG waited for the big PNG's decode"
        assert slow.is_alive() and "big" not in out  # it really was still decoding
        assert warnings.filters == filters  # nothing process-wide was swapped meanwhile
    finally:
        release.set()
        slow.join(60)
    assert out["big"].original_size == (3000, 2000) and out["small"].image.size == (64, 48)
