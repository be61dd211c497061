"""The "pick by constraint" page in a real Chromium: first nothing measured (and it says so),
then with latencies measured on this machine, the chart, the answer and the Pareto front.
Screenshots go to the test artifacts folder."""

from __future__ import annotations

import json

import pytest
from conftest import start_streamlit, stop_streamlit, wait_for_app

from cnnviz import cache, choose
from cnnviz.i18n import translate

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(artifacts_dir, tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("choose_cache")
    srv = start_streamlit(artifacts_dir, "choose", {"CNNVIZ_CACHE_DIR": str(cache_dir)})
    srv.cache_dir = cache_dir
    yield srv
    stop_streamlit(srv)


def _write_measurements(cache_dir) -> None:
    models = {"mobilenetv3small": {"litert": {"ms": 2.4, "weights": "random", "runs": 5}},
              "efficientnetb0": {"litert": {"ms": 8.8, "weights": "random", "runs": 5}},
              "resnet50": {"litert": {"ms": 45.0, "weights": "random", "runs": 5}},
              "convnexttiny": {"litert": {"ms": 86.5, "weights": "random", "runs": 5}}}
    path = cache_dir / cache.DERIVED / choose.KIND / choose.FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": choose.machine_id(), "models": models}))


def test_choose_by_constraint(server, page, artifacts_dir):
    page.goto(f"{server.url}/choose?lang=en")
    wait_for_app(page)
    engine = translate("infer.engine.litert", "en", device="CPU")
    page.get_by_text(translate("choose.none_measured", "en", engine=engine)).wait_for()
    page.screenshot(path=str(artifacts_dir / "choose-unmeasured-en.png"), full_page=True)

    _write_measurements(server.cache_dir)
    page.goto(f"{server.url}/choose?lang=es")
    wait_for_app(page)
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    body = page.locator("body").inner_text()
    # Default constraints: ≤ 100 ms, ≥ 70 % top-1, ≤ 100 MB: EfficientNetB0 (77.1 %) and ResNet50
    # (74.9 %, 98 MB) qualify, ConvNeXtTiny is too big (109 MB): the answer is EfficientNetB0.
    assert "EfficientNetB0" in page.locator('[data-testid="stAlert"]').first.inner_text()
    assert translate("choose.title", "es") in body
    page.screenshot(path=str(artifacts_dir / "choose-measured-es.png"), full_page=True)
