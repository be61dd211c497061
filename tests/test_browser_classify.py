"""The Classify page in a real Chromium against `streamlit run app.py` (offline, empty cache):
upload a phone-like photo of a cat through the page's file input, see four result columns with a
top-5 chart and a latency each, and the trained reference (EfficientNet-Lite0, its weights ship
with the install) naming a cat class; upload a corrupt file, see the message; then a good photo works.
Screenshots go to the test artifacts folder."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import wait_for_app
from PIL import Image

from cnnviz.i18n import translate

pytestmark = pytest.mark.browser

# The first visit builds and compiles four models on a shared 2-core machine.
LOAD_TIMEOUT = 240_000


def phone_photo(rotate: bool = True) -> bytes:
    """A JPEG like a phone's: a sample photo, 1600×1200, stored sideways with an EXIF rotation."""
    from cnnviz import samples

    img = samples.load_sample(samples.list_samples()[0]).convert("RGB").resize((1600, 1200))
    exif = Image.Exif()
    if rotate:
        img = img.transpose(Image.Transpose.ROTATE_90)  # stored sideways...
        exif[0x0112] = 6  # ...and EXIF says "rotate 90° clockwise to view" (orientation 6)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=88, exif=exif)
    return buf.getvalue()


def wait_for_results(page, count: int = 4) -> None:
    page.wait_for_function(
        f"() => document.querySelectorAll('.cnnviz-top5').length >= {count}"
        " && document.querySelectorAll('[data-testid=\"stMetric\"]').length >= " + str(count),
        timeout=LOAD_TIMEOUT,
    )
    wait_for_app(page, timeout=LOAD_TIMEOUT)


def shot(page, path) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so grow the
    viewport to the content's height first."""
    height = page.evaluate(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight); }""")
    page.set_viewport_size({"width": 1400, "height": int(min(max(1000, height + 40), 7000))})
    page.wait_for_timeout(800)  # charts re-layout
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def upload(page, name: str, data: bytes, mime: str) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
        {"name": name, "mimeType": mime, "buffer": data})


def test_upload_photo_then_corrupt_then_good(streamlit_server, page, artifacts_dir):
    page.goto(f"{streamlit_server.url}/classify?lang=en")
    wait_for_app(page)
    page.get_by_text(translate("classify.no_image", "en")).wait_for()
    shot(page, artifacts_dir / "classify-empty-en.png")

    upload(page, "IMG_2041.jpg", phone_photo(), "image/jpeg")
    wait_for_results(page, count=5)  # the four columns + the trained reference
    assert page.locator('.cnnviz-top5').count() == 5
    # Every column's top-5: five labelled bars with their percentages, drawn as HTML.
    first = page.locator('.cnnviz-top5').first
    assert first.locator('[role="listitem"]').count() == 5 and "%" in first.inner_text()
    metrics = page.locator('[data-testid="stMetric"]')
    assert metrics.count() == 5
    for i in range(5):
        text = metrics.nth(i).inner_text()
        assert "Inference" in text and " ms" in text
    body = page.locator("body").inner_text()
    for name in ("ResNet50", "EfficientNetB0", "MobileNetV3Small", "ConvNeXtTiny"):
        assert name in body
    assert body.count(translate("classify.random_badge", "en")) >= 4  # offline: labelled on every random result
    # The trained reference, offline: the photo is chelsea (scikit-image's cat), and Lite0 says so.
    assert translate("classify.reference_title", "en") in body and translate("classify.installed_badge", "en") in body
    reference = page.locator('.cnnviz-top5').nth(4).inner_text().lower()
    assert any(cat in reference for cat in ("egyptian mau", "tabby", "tiger cat", "a cat having a striped coat")), reference
    assert "CPU · median of 1" in body
    # Each latency names its engine (random weights: TensorFlow, and the page says why).
    assert body.count(translate("classify.engine_line", "en", engine="TensorFlow · CPU")) >= 4
    assert translate("infer.engine.why.random", "en") in body
    # The EXIF rotation was applied: the photo is upright (landscape) again.
    assert "IMG_2041.jpg · JPEG · 1600 × 1200 px" in body and "EXIF orientation 6" in body
    shot(page, artifacts_dir / "classify-results-en.png")

    upload(page, "broken.jpg", b"\xff\xd8\xff\xe0 definitely not the rest of a JPEG", "image/jpeg")
    page.locator('[data-testid="stAlert"]').filter(has_text="damaged").or_(
        page.locator('[data-testid="stAlert"]').filter(has_text="not an image")).first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert page.locator('.cnnviz-top5').count() == 0
    shot(page, artifacts_dir / "classify-corrupt-en.png")

    upload(page, "good.png", _png(), "image/png")
    wait_for_results(page, count=5)
    assert page.locator('.cnnviz-top5').count() == 5
    assert "damaged" not in page.locator("body").inner_text()


def test_spanish_with_a_sample(streamlit_server, page, artifacts_dir):
    page.goto(f"{streamlit_server.url}/classify?lang=es")
    wait_for_app(page)
    page.get_by_role("tab", name=translate("images.input.tab_samples", "es")).click()
    page.get_by_role("radio", name=translate("images.sample.astronaut", "es")).click()  # a pill
    wait_for_results(page)
    body = page.locator("body").inner_text()
    assert translate("classify.results_title", "es") in body
    assert body.count(translate("classify.random_badge", "es")) >= 4
    assert "Criterio de la tarea" in body
    shot(page, artifacts_dir / "classify-sample-es.png")


def _png() -> bytes:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:300, 0:400]
    arr = np.stack([xx % 256, yy % 256, rng.integers(0, 256, size=xx.shape)], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_compare_engines_shows_both_timings(streamlit_server, page, artifacts_dir):
    """Issue 12: one photo through TensorFlow and LiteRT, both timings and the same answers on screen.

    Every column is set to MobileNetV3Small so the page converts one model (random weights: the
    conversion is of those very weights), not four."""
    page.goto(f"{streamlit_server.url}/classify?lang=en")
    wait_for_app(page)
    for n in range(1, 5):
        box = page.locator('[data-testid="stSelectbox"]').filter(has_text=translate("classify.model_n", "en", n=n))
        box.click()
        page.get_by_role("option", name="MobileNetV3Small", exact=True).click()
        wait_for_app(page)
    page.get_by_text(translate("classify.settings", "en")).click()
    page.get_by_text(translate("classify.engines.toggle", "en")).click()
    wait_for_app(page)
    page.get_by_role("tab", name=translate("images.input.tab_samples", "en")).click()
    page.get_by_role("radio", name=translate("images.sample.astronaut", "en")).click()
    page.get_by_text(translate("classify.engines.title", "en")).wait_for(timeout=LOAD_TIMEOUT)
    page.get_by_text("Together:").wait_for(timeout=LOAD_TIMEOUT)  # the summary line under the table
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    body = page.locator("body").inner_text()
    summary = next(line for line in body.splitlines() if line.startswith("Together:"))
    assert "with TensorFlow" in summary and "with LiteRT" in summary
    assert "the same top-5 for 1 of 1 models" in summary
    table = page.locator('[data-testid="stDataFrame"]').last
    table.wait_for()
    shot(page, artifacts_dir / "classify-compare-engines-en.png")
    # The columns name both engines (the glide-data-grid draws cells on a canvas; headers are in the DOM too).
    headers = page.evaluate("() => Array.from(document.querySelectorAll('[data-testid=\"stDataFrame\"] [role=\"columnheader\"]')).map(e => e.textContent)")
    joined = " | ".join(headers)
    assert "TensorFlow · CPU ms" in joined and "LiteRT · XNNPACK · CPU ms" in joined, joined
