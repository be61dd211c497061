"""The Labs page in a real Chromium against `streamlit run app.py` (offline, digits):
start a lab, see the live curve grow, switch pages and come back (the run goes on), reload
the browser (``?run=`` reattaches), see the finished run's confusion matrix, then open the
trained network in Filters & activations and see its learned first-layer filters; then, in Spanish, train on an
uploaded zip of class folders with the TensorBoard option and download its logs. Screenshots go to the test artifacts
folder."""

from __future__ import annotations

import re

import pytest
from conftest import shoot, text_appears, wait_for_app

from cnnviz.i18n import translate

pytestmark = pytest.mark.browser

LOAD_TIMEOUT = 300_000
TRAIN_TIMEOUT = 900_000   # a tiny run on 2 shared cores, TensorFlow import included (6 min seen under load 14)


def set_number(page, label: str, value: int) -> None:
    box = page.locator('[data-testid="stNumberInput"]').filter(has_text=label).first.locator("input")
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page, timeout=LOAD_TIMEOUT)


def progress_text(page) -> str:
    return page.locator('[data-testid="stProgress"]').first.inner_text()


def test_train_watch_switch_reload_and_read_the_results(streamlit_server, page, artifacts_dir):
    tr = lambda key, **kw: translate(key, "en", **kw)  # noqa: E731
    page.set_viewport_size({"width": 1400, "height": 3200})  # Streamlit scrolls inside the app: a tall window
    page.goto(f"{streamlit_server.url}/labs?lang=en&lab=mini-resnet")
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    text_appears(page, tr("labs.mini_resnet.title"))
    set_number(page, tr("labs_ui.epochs"), 3)
    set_number(page, tr("labs_ui.subset"), 300)  # long enough to watch live (the lab trains at 16 px now)
    shoot(page, artifacts_dir / "labs-settings-en.png")

    page.get_by_role("button", name=tr("labs_ui.train"), exact=True).click()
    text_appears(page, tr("labs_ui.elapsed"))
    assert "run=" in page.url
    run_id = re.search(r"run=([^&]+)", page.url).group(1)
    # the live curve: a plotly chart that keeps growing (the progress line moves on)
    page.wait_for_selector('[data-testid="stProgress"]', timeout=TRAIN_TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=TRAIN_TIMEOUT)
    first = progress_text(page)
    # the progress line moves on, or the run already finished (then the bar gives way to the results)
    page.wait_for_function("t => { const p = document.querySelector('[data-testid=\"stProgress\"]');"
                           " return !p || p.innerText !== t; }", arg=first, timeout=TRAIN_TIMEOUT)
    shoot(page, artifacts_dir / "labs-live-en.png")

    # switch page and come back: the run went on and the page reattaches
    page.get_by_role("link", name=translate("nav.home", "en")).first.click()
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    page.get_by_role("link", name=translate("nav.labs", "en")).first.click()
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    page.wait_for_function("t => document.body.innerText.includes(t[0]) || document.body.innerText.includes(t[1])",
                           arg=[tr("labs_ui.elapsed"), tr("labs_ui.confusion")], timeout=LOAD_TIMEOUT)
    assert run_id in page.url

    # a browser reload: only the URL is left, it reattaches
    page.reload()
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    text_appears(page, tr("labs_ui.confusion"), timeout=TRAIN_TIMEOUT)
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    body = page.locator("body").inner_text()
    assert tr("labs_ui.per_class") in body and tr("labs_ui.grid") in body
    assert page.locator('[data-testid="stAlert"]').filter(has_text="Error").count() == 0
    shoot(page, artifacts_dir / "labs-finished-en.png")

    # the trained network's learned filters in Filters & activations — a new page load, so the link
    # carries the student's own token (a run's model is private to its owner)
    me = re.search(r"[?&]me=([^&]+)", page.url).group(1)
    page.goto(f"{streamlit_server.url}/visualize?lang=en&tab=filters&model=run:{run_id}/miniresnet&me={me}")
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    text_appears(page, "trained in Labs")
    text_appears(page, "Filters 0–")
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    assert translate("visualize.filters.random_note", "en") not in page.locator("body").inner_text()
    shoot(page, artifacts_dir / "labs-trained-filters-en.png")


def test_own_zip_trains_with_tensorboard_logs_to_download(streamlit_server, page, artifacts_dir, tmp_path):
    import zipfile

    from test_labs_user_zip import colour_zip

    tr = lambda key, **kw: translate(key, "es", **kw)  # noqa: E731
    data = tmp_path / "colores.zip"
    data.write_bytes(colour_zip(per_class=12))
    page.set_viewport_size({"width": 1400, "height": 3200})
    page.goto(f"{streamlit_server.url}/labs?lang=es&lab=mini-resnet")
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=tr("labs_ui.dataset")).first
    box.click()
    page.get_by_role("option", name=tr("labs_ui.dataset.user"), exact=True).click()
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    text_appears(page, tr("labs_ui.user_upload"))
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(data))
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    text_appears(page, tr("datasets.desc.user"))
    # Once stored, the uploader is emptied (Streamlit's copy released) and the picker of stored zips
    # names the upload by its own file name (a selectbox shows its value in an input).
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text=tr("labs_ui.user_stored")).first
    picker.wait_for(timeout=LOAD_TIMEOUT)
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=\"stSelectbox\"] input'))"
                           ".some(i => i.value === 'colores.zip')", timeout=LOAD_TIMEOUT)
    set_number(page, tr("labs_ui.epochs"), 1)
    page.locator('[data-testid="stMultiSelect"]').filter(has_text=tr("labs_ui.callbacks")).first.click()
    page.get_by_role("option", name="TensorBoard", exact=True).click()
    page.keyboard.press("Escape")
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    text_appears(page, "pip install tensorboard")  # writing needs no package; viewing does, and the page says so
    shoot(page, artifacts_dir / "labs-own-zip-es.png")

    page.get_by_role("button", name=tr("labs_ui.train"), exact=True).click()
    text_appears(page, tr("labs_ui.confusion"), timeout=TRAIN_TIMEOUT)
    wait_for_app(page, timeout=LOAD_TIMEOUT)
    body = page.locator("body").inner_text()
    assert "colores.zip" in body and "TensorBoard" in body
    page.get_by_text(tr("labs_ui.tensorboard"), exact=True).click()
    text_appears(page, "tensorboard --logdir")
    with page.expect_download(timeout=LOAD_TIMEOUT) as info:
        page.get_by_role("button", name=tr("labs_ui.tensorboard_download")).click()
    saved = tmp_path / "logs.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as zf:
        names = zf.namelist()
    assert any(n.startswith("tensorboard/miniresnet/train/events.out.tfevents") for n in names), names
    assert any(n.startswith("tensorboard/miniresnet/validation/events.out.tfevents") for n in names), names
    shoot(page, artifacts_dir / "labs-tensorboard-es.png")
