"""A person's path through Home and Timeline in a real Chromium against `streamlit run app.py`:
open Home, switch the language to Español in the sidebar, open the Timeline from the navigation,
pick an architecture (from the list and by clicking its point on the chart) and read its card.
Screenshots go to the test artifacts folder."""

from __future__ import annotations

import pytest

from conftest import wait_for_app
from cnnviz import timeline
from cnnviz.i18n import translate

pytestmark = pytest.mark.browser


def shot(page, artifacts_dir, name: str, anchor=None) -> None:
    if anchor is not None:
        anchor.scroll_into_view_if_needed()
        page.wait_for_timeout(400)
    page.screenshot(path=str(artifacts_dir / f"timeline-{name}.png"))


def open_select(page, select) -> None:
    """Open a selectbox's option list (after a page switch the first click may only focus it)."""
    for _ in range(3):
        select.click()
        try:
            page.get_by_role("option").first.wait_for(timeout=3_000)
            return
        except Exception:
            continue
    raise AssertionError("the selectbox did not open its option list")


def test_home_language_switch_timeline_and_card(streamlit_server, page, artifacts_dir):
    page.goto(streamlit_server.url + "/?lang=en")
    wait_for_app(page)
    assert page.get_by_role("heading", name=translate("home.title", "en")).is_visible()
    assert page.get_by_text("ResNet50", exact=True).first.is_visible()  # the homework table
    shot(page, artifacts_dir, "home-en")

    # Language switch in the sidebar: every string of the page turns Spanish, the URL says so.
    page.locator('[data-testid="stSidebar"] [data-testid="stRadio"]').get_by_text("Español").click()
    page.wait_for_url("**lang=es**")
    wait_for_app(page)
    page.get_by_role("heading", name=translate("home.title", "es")).wait_for()
    assert page.get_by_text(translate("home.guide.header", "es")).is_visible()
    assert page.get_by_text(translate("home.title", "en")).count() == 0
    shot(page, artifacts_dir, "home-es")

    # Open the timeline from the navigation: still Spanish.
    page.locator('[data-testid="stSidebarNav"]').get_by_text(translate("nav.timeline", "es")).click()
    page.wait_for_url("**/timeline**")
    wait_for_app(page)
    page.get_by_role("heading", name=translate("timeline.title", "es")).wait_for()
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator(".scatterlayer .trace").first.wait_for()
    shot(page, artifacts_dir, "timeline-es", chart)

    # Pick an architecture from the list: its card opens and the URL can be shared.
    open_select(page, page.locator('[data-testid="stSelectbox"]').first)
    tl = timeline.load()
    effnet = tl.get("efficientnet")
    page.get_by_role("option", name=f"{effnet.year} · {effnet.name}").click()
    page.wait_for_url("**arch=efficientnet**")
    wait_for_app(page)
    card_title = page.get_by_role("heading", name="EfficientNet", exact=True)
    card_title.wait_for()
    assert page.get_by_text(translate("arch.efficientnet.innovation", "es")).is_visible()
    explorer = page.locator('a[href*="explorer"][href*="model=efficientnetb0"]')
    assert explorer.count() >= 1 and "lang=es" in explorer.first.get_attribute("href")
    shot(page, artifacts_dir, "card-efficientnet-es", card_title)

    # Click VGG's point on the timeline chart: its card opens.
    # (Plotly takes clicks on its drag layer and finds the nearest point: click at the marker's spot.)
    depth_points = chart.locator(".scatterlayer .trace").nth(timeline.THEMES.index("depth")).locator(".points path")
    depth_ids = [a.id for a in tl.architectures if a.theme == "depth"]
    box = depth_points.nth(depth_ids.index("vgg")).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**arch=vgg**")
    wait_for_app(page)
    card_title = page.get_by_role("heading", name="VGG", exact=True)
    card_title.wait_for()
    assert page.get_by_text(translate("arch.vgg.innovation", "es")).is_visible()
    shot(page, artifacts_dir, "card-vgg-es-clicked", card_title)

    # The other two charts and the sources are one click away.
    page.get_by_role("tab", name=translate("timeline.tab.competition", "es")).click()
    contest = page.locator('[data-testid="stPlotlyChart"]').nth(2)
    contest.locator(".scatterlayer .trace").first.wait_for()
    shot(page, artifacts_dir, "challenge-es", contest)
    page.get_by_role("tab", name=translate("timeline.tab.bubble", "es")).click()
    bubbles = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    bubbles.locator(".scatterlayer .trace").first.wait_for()
    shot(page, artifacts_dir, "bubbles-es", bubbles)
    assert not page.locator('[data-testid="stException"]').count()
