"""Cold-start comparison: how long a fresh `streamlit run app.py` takes to show the Home
page in a real browser, next to a hello-world Streamlit app measured the same way.

Used by ``python -m cnnviz coldstart`` (not a ``bench`` section). Needs Playwright and a Chromium (the test
requirements); nothing here is imported by the app.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # cnnviz/bench/coldstart.py → the checkout
HELLO = 'import streamlit as st\nst.title("Hello")\nst.write("world")\n'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(script: Path, cwd: Path) -> tuple[subprocess.Popen, str, float]:
    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=cwd, env={**os.environ, "CNNVIZ_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < 60:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1):
                return proc, url, t0
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{script} did not start")


def _time_to_render(browser, script: Path, cwd: Path, selector: str) -> float:
    proc, url, t0 = _serve(script, cwd)
    try:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector(selector, timeout=60_000)
        elapsed = time.perf_counter() - t0
        page.close()
        return elapsed
    finally:
        proc.terminate()
        proc.wait(10)


def measure(repeats: int = 3, chromium: str | None = None) -> dict[str, float]:
    """Median seconds from process start to first rendered page: hello world vs cnnviz Home."""
    from playwright.sync_api import sync_playwright  # heavy: browser driver (test requirement)

    exe = chromium or os.environ.get("CNNVIZ_CHROMIUM") or "/usr/bin/chromium"
    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    hello_times, app_times = [], []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        hello = Path(tmp) / "hello.py"
        hello.write_text(HELLO)
        browser = p.chromium.launch(executable_path=exe, headless=True, args=args)
        for _ in range(repeats):  # interleaved, so machine noise hits both alike
            hello_times.append(_time_to_render(browser, hello, Path(tmp), "h1"))
            app_times.append(_time_to_render(browser, ROOT / "app.py", ROOT,
                                             '[data-testid="stSidebar"] [data-testid="stRadio"]'))
        browser.close()
    hello_s, app_s = statistics.median(hello_times), statistics.median(app_times)
    return {"hello_world_s": hello_s, "cnnviz_home_s": app_s, "ratio": app_s / hello_s, "repeats": repeats}
