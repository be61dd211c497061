"""The Filters & activations page in a real Chromium against `streamlit run app.py`
(offline, empty cache: random weights): upload a photo through the page's file input,
see the feature-map grid, pick a layer by block, walk through the depth, look at the
filters, then open the Grad-CAM tab and see four overlays. Screenshots go to the test
artifacts folder."""

from __future__ import annotations

import io

import pytest
from conftest import shoot, text_appears, wait_for_app

from cnnviz.i18n import translate

pytestmark = pytest.mark.browser

# The first visit imports TensorFlow, builds models and traces gradient functions on a
# shared 2-core machine.
LOAD_TIMEOUT = 300_000


def photo() -> bytes:
    from cnnviz import samples

    img = samples.load_sample("cat").convert("RGB").resize((900, 600))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_for_app(page, timeout=LOAD_TIMEOUT)


def test_upload_pick_layer_then_gradcam(streamlit_server, page, artifacts_dir):
    page.set_viewport_size({"width": 1400, "height": 2600})  # Streamlit scrolls inside the app: a tall window
    page.goto(f"{streamlit_server.url}/visualize?lang=en")
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    text_appears(page, translate("visualize.no_image", "en"))

    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
        {"name": "my_cat.jpg", "mimeType": "image/jpeg", "buffer": photo()})
    text_appears(page, "Layer 1 of")
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2",  # grid + one channel
                           timeout=LOAD_TIMEOUT)
    body = page.locator("body").inner_text()
    assert "112×112×64" in body and "one forward pass" in body

    # Clicking a tile of the grid enlarges that channel.
    grid = page.locator(".js-plotly-plot").first.bounding_box()
    x, y = grid["x"] + grid["width"] / 2 + 10, grid["y"] + grid["height"] / 2
    page.mouse.move(x, y)
    page.locator(".hovertext").first.wait_for(timeout=30_000)
    hovered = page.locator(".hovertext").first.text_content().split()[-1]
    page.mouse.click(x, y)
    text_appears(page, f"Channel {hovered}: 112×112", timeout=60_000)   # the enlarged channel's title
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    assert page.locator('[data-testid="stNumberInput"] input').nth(1).input_value() == hovered
    shoot(page, artifacts_dir / "visualize-maps-conv1-en.png")

    choose(page, "Block", "conv3 · conv3_block4")
    text_appears(page, "28×28×512")
    assert "conv3_block4_out" in page.locator("body").inner_text()
    shoot(page, artifacts_dir / "visualize-maps-conv3-en.png")

    page.get_by_role("tab", name=translate("visualize.tab.depth", "en")).click()
    text_appears(page, "conv5_block3_out · 7×7×2048")
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    shoot(page, artifacts_dir / "visualize-depth-en.png")

    page.get_by_role("tab", name=translate("visualize.tab.filters", "en")).click()
    text_appears(page, "Filters 0–63 of 64.")
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    shoot(page, artifacts_dir / "visualize-filters-en.png")

    page.get_by_role("tab", name=translate("visualize.tab.gradcam", "en")).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stImageCaption\"], [data-testid=\"caption\"]')]"
        ".filter(e => e.innerText.startsWith('Explains:')).length >= 4", timeout=LOAD_TIMEOUT)
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    body = page.locator("body").inner_text()
    for name in ("ResNet50", "EfficientNetB0", "MobileNetV3Small", "ConvNeXtTiny"):
        assert name in body
    assert body.count(translate("visualize.random_badge", "en")) >= 4
    assert page.locator('[data-testid="stAlert"]').filter(has_text="Error").count() == 0
    shoot(page, artifacts_dir / "visualize-gradcam-en.png")
