"""Shared fixtures: paths, artifacts, AppTest helpers, a live `streamlit run` server and a
real Chromium driven by Playwright.

Browser tests need a Chromium: the system one (Debian's `chromium` package, which
`.ci/run` installs) or Playwright's own download on an ordinary machine. Without
one they FAIL with a message saying how to install it: they never silently skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ARTIFACTS = Path(os.environ.get("CNNVIZ_TEST_ARTIFACTS", ROOT / "test-artifacts"))

# Tests never touch the user's models_cache/ nor the network.
os.environ.setdefault("CNNVIZ_LANG", "en")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the checkout (present in CI, absent in a user's clone)."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (it exists beside the checkout in CI only)")
    return SHARED


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test runs offline, on a cache away from the user's, unless it says otherwise.

    The cache is shared by the tests of one pytest worker (converted models are reused), so a test
    that writes runs uses run ids no other test file uses."""
    cache_dir = tmp_path_factory.getbasetemp() / "models_cache"
    cache_dir.mkdir(exist_ok=True)
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("CNNVIZ_OFFLINE", "1")
    monkeypatch.delenv("CNNVIZ_WEIGHTS_MIRROR", raising=False)


# --------------------------------------------------------------------------- AppTest

def app_test(page: str | None = None, *, lang: str = "en", query: dict | None = None, timeout: float = 120):
    """A finished AppTest run of ``page`` (a file relative to the project root, e.g.
    "pages/timeline.py"), or of the whole app (app.py: navigation + sidebar) when None.

    AppTest's ``switch_page`` runs a page script on its own, without app.py, so page
    tests run the page file directly; pages must therefore work standalone.

    Args:
        lang: UI language, passed as ``?lang=`` like a shared link.
        query: further query parameters (e.g. {"model": "resnet50"}).
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / (page or "app.py")), default_timeout=timeout)
    at.query_params["lang"] = lang
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    return at


def all_text(at) -> str:
    """Every visible text of an AppTest run, joined (for 'is this string shown' checks)."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "info", "warning",
                 "error", "success", "metric", "button", "expander", "tabs", "code", "radio",
                 "selectbox", "multiselect", "toggle", "checkbox", "slider", "text_input",
                 "number_input", "select_slider", "latex", "dataframe", "table"):
        try:
            elements = getattr(at, kind)
        except (AttributeError, KeyError, NotImplementedError):
            continue
        for el in elements:
            for attr in ("value", "label", "body"):
                v = getattr(el, attr, None)
                if isinstance(v, str):
                    parts.append(v)
    return "\n".join(parts)


# --------------------------------------------------------------------------- live server

def calibrate_bn(model, name: str, seed: int = 0) -> None:
    """Give random weights informative outputs: BatchNorm moving statistics from one forward pass.

    Fresh BatchNormalization statistics make every image's answer the same (a flat output);
    one batch of noise with momentum 0 and ``training=True`` makes the answers depend on the image.
    """
    import keras
    import numpy as np

    from cnnviz import zoo

    rng = np.random.default_rng(seed)
    x = zoo.preprocess_input(name, rng.uniform(0, 255, size=(4, *model.input_shape[1:])).astype("float32"))
    bns = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    old = [layer.momentum for layer in bns]
    for layer in bns:
        layer.momentum = 0.0
    try:
        model(x, training=True)
    finally:
        for layer, momentum in zip(bns, old):
            layer.momentum = momentum


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path):
        self.proc, self.port, self.log = proc, port, log
        self.url = f"http://127.0.0.1:{port}"

    def loaded_libraries(self) -> str:
        """The shared objects mapped into the server process (to check what it imported)."""
        return Path(f"/proc/{self.proc.pid}/maps").read_text()

    def tensorflow_loaded(self) -> bool:
        return "_pywrap_tensorflow" in self.loaded_libraries() or "libtensorflow" in self.loaded_libraries()


def start_streamlit(artifacts: Path, name: str, env_extra: dict | None = None, timeout: float = 90) -> StreamlitServer:
    port = free_port()
    log = artifacts / f"streamlit-{name}.log"
    # No warm pool unless a test asks (CNNVIZ_WARM_START=1): it loads four models at start.
    env = {**os.environ, "CNNVIZ_OFFLINE": "1", "CNNVIZ_WARM_START": "0", **(env_extra or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early ({proc.returncode}); see {log}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return StreamlitServer(proc, port, log)
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"streamlit did not become healthy in {timeout}s; see {log}")


def stop_streamlit(server: StreamlitServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="session")
def streamlit_server(artifacts_dir, tmp_path_factory):
    """One `streamlit run app.py` for the browser tests: offline, empty weights cache."""
    cache_dir = tmp_path_factory.mktemp("server_cache")
    server = start_streamlit(artifacts_dir, "session", {"CNNVIZ_CACHE_DIR": str(cache_dir)})
    yield server
    stop_streamlit(server)


def find_chromium() -> str | None:
    """A Chromium executable: CNNVIZ_CHROMIUM, the system one (cnnviz.loadtest's lookup), or Playwright's own."""
    from cnnviz.loadtest import find_chromium as system_chromium

    found = system_chromium()
    if found:
        return found
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
        if path and Path(path).exists():
            return path
    except Exception:
        pass
    return None


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    exe = find_chromium()
    if exe is None:
        pytest.fail(
            "No Chromium found for the browser tests. Install one: on Debian/Ubuntu "
            "`sudo apt-get install chromium`, elsewhere `python -m playwright install chromium`, "
            "or point CNNVIZ_CHROMIUM at a Chromium/Chrome executable.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


_LOG_NOISE = ("oneDNN custom operations", "cuda", "absl::InitializeLog", "XNNPACK delegate", "retracing")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test says what the page showed: its text and the server log's tail in the
    report (CI keeps only the output), a screenshot in the artifacts."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    pg = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if pg is not None:
        try:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / f"FAILED-{item.name[:80]}.png"), full_page=True)
            rep.sections.append(("page text at failure", pg.locator("body").inner_text(timeout=10_000)[-4000:]))
        except Exception as exc:  # the page itself may be gone
            rep.sections.append(("page text at failure", f"(unavailable: {exc})"))
    server = item.funcargs.get("streamlit_server") if hasattr(item, "funcargs") else None
    if server is not None:
        try:
            lines = [ln for ln in server.log.read_text(errors="replace").splitlines()
                     if ln.strip() and not any(n in ln for n in _LOG_NOISE)]
            rep.sections.append(("server log (tail)", "\n".join(lines[-60:])))
        except OSError:
            pass


def wait_for_app(pg, timeout: float = 180_000) -> None:
    """Wait until the app rendered through app.py (the sidebar's language switch is there)
    and Streamlit finished running the script (``stApp``'s ``data-test-script-state``)."""
    pg.wait_for_selector('[data-testid="stSidebar"] [data-testid="stRadio"]', timeout=timeout)
    pg.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " const state = app && app.getAttribute('data-test-script-state');"
        " return state && state !== 'running' && state !== 'initial'; }",
        timeout=timeout,
    )
    pg.wait_for_timeout(300)


def text_appears(pg, text: str, timeout: float = 300_000) -> None:
    """Wait until ``text`` is part of the page's visible text."""
    pg.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout)


def shoot(pg, path) -> None:
    """Screenshot once every image of the page has loaded (Streamlit serves them separately)."""
    pg.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)",
                         timeout=60_000)
    pg.screenshot(path=str(path))


# --------------------------------------------------------------------------- models

class _ModelFactory:
    """Builds each (name, weights=None, options) zoo model once per test session."""

    def __init__(self):
        self._models: dict = {}

    def __call__(self, name: str, **options):
        key = (name, tuple(sorted(options.items())))
        if key not in self._models:
            from cnnviz import zoo

            self._models[key] = zoo.create_model(name, weights=None, **options)
        return self._models[key]


@pytest.fixture(scope="session")
def model_factory():
    """`model_factory("resnet50")` → the random-weights model, shared by every test of the session."""
    return _ModelFactory()
