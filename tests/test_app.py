"""The app shell: navigation, language switch (persisting in the URL), sidebar, and the
promise that pages needing no model never load TensorFlow."""

from __future__ import annotations

import json
import os
import pkgutil
import stat
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, all_text, app_test, start_streamlit, stop_streamlit, wait_for_app
from cnnviz import device
from cnnviz.i18n import translate


@pytest.mark.parametrize("lang", ["en", "es"])
def test_app_runs_in_both_languages(lang):
    at = app_test(lang=lang)
    assert not at.exception, at.exception
    assert at.session_state["lang"] == lang
    text = all_text(at)
    assert translate("common.language", lang) in text
    assert translate("common.footer", lang) in text
    # the sidebar tells the compute device without importing TensorFlow
    assert translate("common.device_cpu", lang, forced="") in text or "GPU" in text


def _switch_script():
    import streamlit as st

    from cnnviz import ui

    ui.language_switch()
    st.title(ui.t("nav.home"))


def test_language_switch_changes_strings_and_url():
    """The sidebar switch (as app.py renders it) turns strings Spanish and writes ?lang=es.

    (AppTest re-runs only the page script after the first run of an st.navigation app,
    so the switch is driven here through the same widget function on its own.)"""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_switch_script, default_timeout=30)
    at.query_params["lang"] = "en"
    at.run()
    assert at.title[0].value == translate("nav.home", "en")
    at.sidebar.radio[0].set_value("es").run()
    assert not at.exception
    assert at.title[0].value == translate("nav.home", "es")
    assert at.sidebar.radio[0].label == translate("common.language", "es")
    qp = at.query_params["lang"]
    assert (qp[0] if isinstance(qp, list) else qp) == "es"


def test_unknown_lang_in_url_falls_back_to_default():
    at = app_test(lang="xx")
    assert not at.exception
    assert at.session_state["lang"] == "en"


#: Modules that may not be imported in a light process, each with the reason. Every other
#: module under cnnviz/ (found by walking the package, so new ones are covered) must import
#: without TensorFlow.
NOT_LIGHT = {
    "cnnviz.__main__": "runs the CLI on import (prints the help and exits)",
    "cnnviz.zoo.layers": "defines custom Keras layers, so it imports keras and TensorFlow; the zoo loads it "
                         "only when it builds a model",
    "cnnviz.labs.builders": "the labs' own Keras networks (pooling/strided, separable, SE); loaded when a lab "
                            "builds its models",
    "cnnviz.labs.run": "trains the lab's models (Keras); cnnviz.labs loads it only inside run_lab",
    "cnnviz.training.fit": "the Keras side of a run (tf.data pipeline, the callback bridge); loaded by the worker "
                           "thread when a run starts",
    "cnnviz.homework.transfer": "trains Keras models (imported by cnnviz.homework.run when called)",
}
#: Modules the walk must find (the public surface): a walk that finds nothing proves nothing.
MUST_FIND = ("cnnviz.cache", "cnnviz.cli", "cnnviz.device", "cnnviz.errors", "cnnviz.i18n", "cnnviz.images",
             "cnnviz.infer", "cnnviz.samples", "cnnviz.timeline", "cnnviz.ui", "cnnviz.ui.models",
             "cnnviz.visualize", "cnnviz.zoo")


def _cnnviz_modules() -> list[str]:
    import cnnviz

    def broken(name: str) -> None:
        raise  # a package that fails to import must fail this test, not vanish from it

    return sorted(m.name for m in pkgutil.walk_packages(cnnviz.__path__, "cnnviz.", onerror=broken))


def test_light_modules_import_without_tensorflow():
    found = _cnnviz_modules()
    assert set(MUST_FIND) <= set(found), sorted(set(MUST_FIND) - set(found))
    assert set(NOT_LIGHT) <= set(found), f"stale exclusions: {sorted(set(NOT_LIGHT) - set(found))}"
    light = [m for m in found if m not in NOT_LIGHT]
    # One fresh interpreter; the check after each import names the module that loaded TensorFlow.
    code = textwrap.dedent("""
        import importlib, json, sys
        names = json.loads(sys.argv[1])
        for name in names:
            importlib.import_module(name)  # no try: a module that vanished or breaks must fail
            loaded = [m for m in ("tensorflow", "keras") if m in sys.modules]
            if loaded:
                print("HEAVY:" + name + ":" + ",".join(loaded))
                sys.exit(0)
        print("LIGHT:%d" % len(names))
    """)
    out = subprocess.run([sys.executable, "-c", code, json.dumps(light)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HEAVY:" not in out.stdout, out.stdout
    assert out.stdout.strip() == f"LIGHT:{len(light)}", out.stdout


# --------------------------------------------------------------------------- device probe

def _fake_nvidia_smi(tmp_path, output: str, code: int = 0) -> None:
    exe = tmp_path / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\necho '{output}'\nexit {code}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_device_probe_reads_nvidia_smi(tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path, "NVIDIA T4, 15360")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CNNVIZ_FORCE_CPU", raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False) if "tensorflow" in sys.modules else None
    device._nvidia_smi.cache_clear()
    try:
        info = device.probe()
        assert info.is_gpu and info.name == "NVIDIA T4" and info.memory_mb == 15360
        monkeypatch.setenv("CNNVIZ_FORCE_CPU", "1")
        assert device.probe() == device.CPU
    finally:
        device._nvidia_smi.cache_clear()


def test_device_probe_reads_compute_capability(tmp_path, monkeypatch):
    """What an H200 answered (device run of tools/gpu_check.py): compute 9.0 → mixed precision in the label;
    a driver too old for the compute_cap field is asked again without it."""
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CNNVIZ_FORCE_CPU", raising=False)
    monkeypatch.delenv("CNNVIZ_MIXED_PRECISION", raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False) if "tensorflow" in sys.modules else None
    exe = tmp_path / "nvidia-smi"
    for script, cc, mixed in (
        ("echo 'NVIDIA H200, 143771, 9.0'", (9, 0), True),
        ('case "$*" in *compute_cap*) echo \'Field "compute_cap" is not a valid field\'; exit 2;; esac\n'
         "echo 'Tesla K80, 11441'", None, False),
        ("echo 'Tesla P100-PCIE-16GB, 16280, 6.0'", (6, 0), False),
    ):
        exe.write_text(f"#!/bin/sh\n{script}\n")
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
        device._nvidia_smi.cache_clear()
        try:
            info = device.probe()
            assert info.is_gpu and info.compute_capability == cc and info.mixed_precision is mixed, script
        finally:
            device._nvidia_smi.cache_clear()
    exe.write_text("#!/bin/sh\necho 'NVIDIA H200, 143771, 9.0'\n")
    try:
        assert device.probe().label("en") == "GPU NVIDIA H200 (140 GB, " + translate("infer.device.mixed", "en") + ")"
    finally:
        device._nvidia_smi.cache_clear()


def test_device_probe_falls_back_to_cpu_when_nvidia_smi_fails(tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path, "NVIDIA-SMI has failed", code=9)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False) if "tensorflow" in sys.modules else None
    device._nvidia_smi.cache_clear()
    try:
        assert device.probe() == device.CPU
    finally:
        device._nvidia_smi.cache_clear()


def test_cli_without_command_prints_help():
    out = subprocess.run([sys.executable, "-m", "cnnviz"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("info", "cache", "predict", "bench", "models"):
        assert command in out.stdout


# --------------------------------------------------------------------------- real browser

@pytest.mark.browser
def test_home_and_timeline_never_load_tensorflow(browser, artifacts_dir, tmp_path):
    """A fresh `streamlit run app.py`: open Home and Timeline in a real browser, switch the
    language; the server process must not have mapped TensorFlow's libraries."""
    server = start_streamlit(artifacts_dir, "no-tensorflow", {"CNNVIZ_CACHE_DIR": str(tmp_path)})
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        # A teacher's shared deep link is the very first request of this fresh server:
        # it must render through app.py (sidebar, language switch), in Spanish.
        pg.goto(server.url + "/timeline?lang=es")
        wait_for_app(pg)
        assert pg.get_by_text(translate("common.footer", "es")).count() >= 1
        assert pg.get_by_text(translate("nav.timeline", "es")).count() >= 1
        pg.screenshot(path=str(artifacts_dir / "app-timeline-es.png"), full_page=False)
        pg.goto(server.url + "/?lang=en")
        wait_for_app(pg)
        assert pg.get_by_text(translate("common.footer", "en")).count() >= 1
        # switching the language in the sidebar turns the strings Spanish and writes ?lang=es
        pg.locator('[data-testid="stSidebar"] [data-testid="stRadio"]').get_by_text("Español").click()
        pg.wait_for_url("**lang=es**")
        wait_for_app(pg)
        assert pg.get_by_text(translate("common.footer", "es")).count() >= 1
        pg.screenshot(path=str(artifacts_dir / "app-home-es.png"), full_page=False)
        context.close()
        assert not server.tensorflow_loaded(), "TensorFlow was loaded by a page that needs no model"
    finally:
        stop_streamlit(server)


def test_busy_default_port_picks_another(artifacts_dir, tmp_path):
    """`streamlit run app.py` with Streamlit's default port taken serves on the next free one."""
    import re
    import socket
    import time
    import urllib.request

    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 8501))
        blocker.listen(1)
    except OSError:
        pass  # already busy: just as good for this test
    log = artifacts_dir / "streamlit-busy-port.log"
    env = {**os.environ, "CNNVIZ_CACHE_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1",
         "--server.headless", "true"], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and port is None:
            assert proc.poll() is None, log.read_text()
            m = re.search(r"URL: http://127\.0\.0\.1:(\d+)", log.read_text())
            port = int(m.group(1)) if m else None
            time.sleep(0.2)
        assert port is not None and port != 8501, log.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(10)
        blocker.close()
