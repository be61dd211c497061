"""The warm pool and readiness (cnnviz.serving.pool, cnnviz.ui.server_hooks): progress written to the
status file, and a fresh server that warms its models before any page visit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
from conftest import ROOT, start_streamlit, stop_streamlit, wait_for_app

from cnnviz.i18n import translate
from cnnviz.serving import pool as serving


class Quick:
    """A predictor stand-in the warm pool can load and warm in no time."""

    display_name = "Quick"
    device = SimpleNamespace(is_gpu=False)

    def predict(self, image, runs=1):
        return "ok"


def test_warm_pool_reports_progress_and_writes_its_status(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path))
    gate = threading.Event()
    loaded: list[str] = []

    def loader(name, weights):
        gate.wait(30)
        if name == "broken":
            raise RuntimeError("no such file")
        loaded.append(name)
        return Quick()

    pool = serving.WarmPool(loader, ("a", "broken", "c"), {"a": None, "broken": None, "c": "imagenet"}).start()
    first = serving.read_status()
    assert first is not None and first["ready"] is False and first["total"] == 3 and first["loaded"] == 0
    gate.set()
    assert pool.join(60)
    final = serving.read_status()
    assert final["loaded"] == 2 and final["done"] and not final["ready"]
    states = {m["name"]: (m["state"], m["weights"]) for m in final["models"]}
    assert states == {"a": ("ready", "random"), "broken": ("error", "random"), "c": ("ready", "imagenet")}
    assert "no such file" in next(m["error"] for m in final["models"] if m["name"] == "broken")


def test_warm_pool_holds_until_the_first_page_is_drawn_or_its_wait_ends(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path))
    called = threading.Event()

    def loader(name, weights):
        called.set()
        return Quick()

    drawn = threading.Event()
    pool = serving.WarmPool(loader, ("a",), {"a": None}, write_status=False, hold=drawn, hold_s=60).start()
    assert not called.wait(0.5), "the warm start began before the first page was drawn"
    assert pool.readiness()["loaded"] == 0
    drawn.set()
    assert pool.join(60) and called.is_set() and pool.ready
    # Nobody opens a page: it begins after its wait, no later.
    called.clear()
    late = serving.WarmPool(loader, ("a",), {"a": None}, write_status=False, hold=threading.Event(), hold_s=0.2)
    assert late.start().join(60) and called.is_set()


def test_the_server_warms_the_classify_pages_trained_reference_with_its_defaults(monkeypatch):
    """Offline (random weights for the four), the Classify page shows EfficientNet-Lite0 under the
    columns: the server warms it too, so the first class after a start does not wait for its
    conversion; an explicit CNNVIZ_WARM_MODELS is warmed as written."""
    from cnnviz import HOMEWORK_MODELS
    from cnnviz.ui import server_hooks

    monkeypatch.delenv("CNNVIZ_WARM_MODELS", raising=False)
    names, weights = server_hooks.warm_plan()
    assert names == (*HOMEWORK_MODELS, "efficientnetlite0")
    assert weights["efficientnetlite0"] == "imagenet" and all(weights[n] is None for n in HOMEWORK_MODELS)
    monkeypatch.setenv("CNNVIZ_WARM_MODELS", "mobilenetv3small")
    assert server_hooks.warm_plan() == (("mobilenetv3small",), {"mobilenetv3small": None})


def test_the_warm_start_imports_what_pages_share_before_any_model(monkeypatch, tmp_path):
    """The warm pool's thread imports pandas and Plotly whole before TensorFlow (no half-imported
    module for a page importing them at the same time), after the first page is drawn."""
    from cnnviz.ui import server_hooks

    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path))
    order: list[str] = []
    drawn = threading.Event()
    pool = serving.WarmPool(lambda n, w: order.append(f"load {n}") or (_ for _ in ()).throw(RuntimeError("x")),
                            ("a",), {"a": None}, write_status=False, hold=drawn, hold_s=60,
                            prepare=lambda: order.append("imports")).start()
    assert not pool.join(0.3) and order == []
    drawn.set()
    assert pool.join(60) and order == ["imports", "load a"]
    assert {"pandas", "plotly.graph_objects"} <= set(server_hooks.FIRST_IMPORTS)
    monkeypatch.setenv("CNNVIZ_WARM_MODELS", "x")
    seen = {}
    monkeypatch.setattr(serving, "warm_start", lambda loader, names, weights, **kw: seen.update(kw))
    server_hooks.start_warm_pool()
    assert seen["prepare"] is server_hooks.first_imports and seen["hold_s"] == server_hooks.FIRST_PAGE_WAIT_S
    src = (ROOT / "app.py").read_text(encoding="utf-8")
    assert src.index("navigation.run()") < src.index("server_hooks.page_drawn()")


# --------------------------------------------------------------------------- a fresh server

@pytest.mark.browser
def test_fresh_server_is_not_ready_then_ready_without_a_page_visit(artifacts_dir, tmp_path, browser):
    """`streamlit run app.py` (offline, empty cache: random weights) warms its models at start:
    `python -m cnnviz status --url` says not ready, then ready, before any browser connects;
    then the sidebar says the models are ready and a photo gets its answer."""
    env = {"CNNVIZ_CACHE_DIR": str(tmp_path / "cache"), "CNNVIZ_WARM_START": "1",
           "CNNVIZ_WARM_MODELS": "mobilenetv3small"}
    server = start_streamlit(artifacts_dir, "warm-start", env)
    try:
        cmd = [sys.executable, "-m", "cnnviz", "status", "--url", server.url, "--json"]
        first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert first.returncode == 3, first.stdout + first.stderr
        data = json.loads(first.stdout)
        assert data["ready"] is False and data["total"] == 1
        waited = subprocess.run(cmd + ["--wait", "400"], cwd=ROOT, capture_output=True, text=True, timeout=460)
        assert waited.returncode == 0, waited.stdout + waited.stderr
        ready = json.loads(waited.stdout)
        assert ready["ready"] and ready["loaded"] == 1
        assert ready["models"][0] == {**ready["models"][0], "name": "mobilenetv3small", "weights": "random",
                                      "state": "ready"}
        # The status file under the cache root says the same (`python -m cnnviz status`, no URL).
        local = subprocess.run([sys.executable, "-m", "cnnviz", "status"], cwd=ROOT, capture_output=True, text=True,
                               timeout=60, env={**__import__("os").environ, **env})
        assert local.returncode == 0 and local.stdout.startswith("ready: 1/1"), local.stdout
        with urllib.request.urlopen(server.url + "/_stcore/health", timeout=10) as r:
            assert r.status == 200

        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
        pg = context.new_page()
        pg.set_default_timeout(120_000)
        pg.goto(server.url + "/classify?lang=en")
        wait_for_app(pg)
        assert pg.get_by_text(translate("serving.ready", "en", loaded=1, total=1)).count() >= 1
        pg.screenshot(path=str(artifacts_dir / "serving-ready-sidebar.png"))
        context.close()
    finally:
        stop_streamlit(server)


@pytest.mark.browser
def test_every_page_opens_again_and_again_while_the_server_warms(artifacts_dir, tmp_path, browser):
    """The first students of a class open pages while the four models warm: no page shows an
    exception, and the server log has no half-imported module (issue 23: 4 of 11 fresh starts
    showed "partially initialized module 'pandas'" on the Timeline)."""
    from cnnviz import ui

    env = {"CNNVIZ_CACHE_DIR": str(tmp_path / "cache"), "CNNVIZ_WARM_START": "1"}
    server = start_streamlit(artifacts_dir, "warm-pages", env)
    try:
        context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
        pg = context.new_page()
        pg.set_default_timeout(180_000)
        warming_during: list[str] = []
        for round_ in range(2):
            for page_id in ui.PAGES:
                try:  # 200 once ready, 503 while warming: the body says which
                    with urllib.request.urlopen(server.url + "/api/cnnviz/status", timeout=30) as r:
                        status = json.loads(r.read())
                except urllib.error.HTTPError as err:
                    status = json.loads(err.read())
                if not status["done"]:
                    warming_during.append(page_id)
                path = "" if page_id == "home" else page_id
                pg.goto(f"{server.url}/{path}?lang=en")
                wait_for_app(pg)
                errors = pg.locator('[data-testid="stException"]')
                assert errors.count() == 0, (round_, page_id, errors.first.inner_text())
                assert pg.get_by_text("This app has encountered an error").count() == 0, (round_, page_id)
        pg.screenshot(path=str(artifacts_dir / "warm-pages-last.png"))
        context.close()
        # The check proves something only if pages were opened while the models warmed.
        assert len(warming_during) >= 3, warming_during
        log = server.log.read_text(encoding="utf-8", errors="replace")
        assert "partially initialized module" not in log and "Traceback" not in log, log[-3000:]
    finally:
        stop_streamlit(server)
