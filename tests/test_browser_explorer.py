"""The Architecture explorer in a real Chromium against `streamlit run app.py`: open ResNet50 from a
link, read its totals and charts, open its layer graph in the embedded Netron (whose server must
answer with the exported model), then ConvNeXtTiny in Spanish compared with ResNet50.
Screenshots go to the test artifacts folder."""

from __future__ import annotations

import io
import json
import re
import urllib.request
import zipfile

import pytest

from conftest import wait_for_app
from cnnviz.i18n import translate

pytestmark = pytest.mark.browser

FIRST_LOAD_MS = 240_000  # TensorFlow import + first model build in the server, on a shared 2-core box


def shot(page, artifacts_dir, name: str, anchor=None) -> None:
    if anchor is not None:
        anchor.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts_dir / f"explorer-{name}.png"), full_page=False)


def open_tab(page, label: str) -> None:
    page.get_by_role("tab", name=label).click()
    wait_for_app(page, timeout=FIRST_LOAD_MS)


def fetch(url: str, timeout: float = 60) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def test_resnet50_totals_charts_and_netron(streamlit_server, page, artifacts_dir):
    page.goto(streamlit_server.url + "/explorer?model=resnet50&lang=en")
    wait_for_app(page, timeout=FIRST_LOAD_MS)
    page.get_by_text("25,636,712", exact=True).first.wait_for(timeout=FIRST_LOAD_MS)
    assert page.get_by_role("heading", name=translate("explorer.title", "en")).is_visible()
    # The totals render one after another: wait for the MACs too (a loaded CI box shows them later).
    page.get_by_text("3.86 G", exact=True).first.wait_for(timeout=60_000)
    assert page.get_by_text("3.86 G", exact=True).first.is_visible()
    summary = page.locator('[data-testid="stCode"]').first
    assert "conv5_block3_out" in summary.inner_text()
    shot(page, artifacts_dir, "resnet50-top")

    open_tab(page, translate("explorer.tab_charts", "en"))
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.nth(5).locator(".main-svg").first.wait_for(timeout=60_000)
    assert charts.count() == 6
    # The bars of the first chart are drawn (one trace per layer type).
    assert charts.first.locator(".barlayer .trace").count() == 3
    shot(page, artifacts_dir, "resnet50-params-per-layer", charts.first)
    shot(page, artifacts_dir, "resnet50-treemap", charts.nth(2))
    shot(page, artifacts_dir, "resnet50-resolution", charts.nth(4))

    open_tab(page, translate("explorer.tab_netron", "en"))
    page.get_by_role("button", name=translate("explorer.netron_start", "en")).click()
    iframe = page.locator('iframe[src^="http://127.0.0.1:"]')
    iframe.wait_for(timeout=120_000)
    src = iframe.get_attribute("src")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", src)

    # Netron's own server answers with the exported model, and only under /data/.
    index = fetch(src).decode("utf-8")
    served = re.search(r'<meta name="file" content="/data/([^"]+)">', index).group(1)
    assert served == "resnet50.keras"
    data = fetch(src + "data/" + served, timeout=120)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        config = json.loads(archive.read("config.json"))
        assert "model.weights.h5" in archive.namelist()
    assert config["config"]["name"] == "resnet50"
    assert any(layer["config"]["name"] == "conv5_block3_out" for layer in config["config"]["layers"])

    # The viewer itself loads in the iframe: accept its cookie notice, then the graph appears.
    frame = page.frame_locator('iframe[src^="http://127.0.0.1:"]')
    accept = frame.get_by_text("Accept", exact=True)
    try:
        accept.wait_for(timeout=30_000)
        accept.click()
    except Exception:
        pass  # no notice (consent cookie already set)
    frame.locator("#canvas .node").first.wait_for(timeout=180_000)
    # With names off (Netron's default) a node's box shows its type ("Conv2D") and carries its
    # name as the SVG <title> of that box: the graph drawn is ResNet50's, down to the layer.
    named = frame.locator("#canvas .node title").filter(has_text=re.compile(r"^conv1_conv$"))
    named.first.wait_for(state="attached", timeout=60_000)
    assert named.count() >= 1
    shot(page, artifacts_dir, "resnet50-netron", iframe)


def test_convnext_in_spanish_compared_with_resnet50(streamlit_server, page, artifacts_dir):
    page.goto(streamlit_server.url + "/explorer?model=convnexttiny&lang=es")
    wait_for_app(page, timeout=FIRST_LOAD_MS)
    page.get_by_text("28,589,128", exact=True).first.wait_for(timeout=FIRST_LOAD_MS)
    assert page.get_by_text(translate("explorer.m_macs", "es")).first.is_visible()
    shot(page, artifacts_dir, "convnext-es-top")

    open_tab(page, translate("explorer.tab_charts", "es"))
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.nth(1).locator(".main-svg").first.wait_for(timeout=60_000)
    shot(page, artifacts_dir, "convnext-es-stages", charts.nth(1))

    open_tab(page, translate("explorer.tab_compare", "es"))
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for(timeout=FIRST_LOAD_MS)
    page.locator('[data-testid="stPlotlyChart"]').nth(3).locator(".main-svg").first.wait_for(timeout=60_000)
    shot(page, artifacts_dir, "convnext-es-compare", table)
    shot(page, artifacts_dir, "convnext-es-compare-charts", page.locator('[data-testid="stPlotlyChart"]').first)
