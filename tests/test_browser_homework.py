"""Homework studio in a real browser: upload a dataset zip, run with a tiny budget (one model,
random weights, 1 epoch, no fine-tuning, 96 px, the mirrored-view augmentation on), see the table and
the verdict, download the report."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image

from cnnviz.i18n import translate
from conftest import wait_for_app
from tests.test_browser_classify import shot, upload

RUN_TIMEOUT = 900_000  # TensorFlow's import + one small model; the CI machines are shared


def dataset_zip() -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for c, col in enumerate([(220, 40, 40), (40, 200, 40), (40, 40, 220), (220, 220, 40), (200, 40, 200)]):
            for i in range(5):
                a = np.clip(np.array(col)[None, None] + rng.normal(0, 30, (40, 40, 3)), 0, 255).astype(np.uint8)
                b = io.BytesIO()
                Image.fromarray(a).save(b, "PNG")
                zf.writestr(f"fruit/class{c}/img{i}.png", b.getvalue())
        zf.writestr("fruit/class0/notes.txt", "not an image")
    return buf.getvalue()


def tr(key, **kw):
    return translate(key, "en", **kw)


def test_upload_run_see_verdict_download_report(streamlit_server, page, artifacts_dir, tmp_path):
    page.goto(f"{streamlit_server.url}/homework?lang=en")
    wait_for_app(page)
    page.get_by_text(tr("homework.page.no_dataset")).wait_for()
    page.get_by_text(tr("homework.page.source_upload")).click()  # the zip uploader (the folder one comes first)
    wait_for_app(page)
    upload(page, "fruit.zip", dataset_zip(), "application/zip")
    page.get_by_text(tr("homework.report.refused", count=1)).wait_for(timeout=120_000)
    wait_for_app(page)
    metrics = page.locator('[data-testid="stMetric"]')
    assert "5" in metrics.nth(0).inner_text() and "25" in metrics.nth(1).inner_text()
    shot(page, artifacts_dir / "homework-dataset-en.png")

    for label in ("ResNet50", "EfficientNetB0", "ConvNeXtTiny"):
        page.locator('[data-testid="stMultiSelect"] .react-aria-ComboBox').get_by_role(
            "button", name=f"Remove {label}").click()
        wait_for_app(page)
    for key, value in (("homework.page.fe_epochs", "1"), ("homework.page.ft_epochs", "0")):
        box = page.locator('[data-testid="stNumberInput"]', has_text=tr(key)).locator("input")
        box.fill(value)
        box.press("Enter")
        wait_for_app(page)
    page.locator('[data-testid="stSelectbox"]', has_text=tr("homework.page.size")).locator("input").click()
    page.get_by_role("option", name="96 px").click()
    wait_for_app(page)
    page.get_by_text(tr("homework.page.unfreeze_explain")).wait_for()  # the default explained (disabled: no fine-tuning)
    page.get_by_text(tr("homework.page.augment")).click()
    wait_for_app(page)
    page.get_by_text(tr("homework.page.augment_note", factor=2, views=tr("homework.augment.flip"))).wait_for()
    page.get_by_text(tr("homework.page.random")).click()
    wait_for_app(page)
    page.get_by_text(tr("homework.random.banner")).first.wait_for()
    shot(page, artifacts_dir / "homework-settings-en.png")
    page.get_by_role("button", name=tr("homework.page.run")).click()

    page.wait_for_timeout(5000)
    shot(page, artifacts_dir / "homework-running-en.png")
    try:
        page.get_by_text(tr("homework.verdict.status_incomplete")).first.wait_for(timeout=RUN_TIMEOUT)
    except Exception:
        shot(page, artifacts_dir / "homework-timeout-en.png")
        raise
    wait_for_app(page)
    table = page.locator('[data-testid="stDataFrame"]').last
    table.wait_for()
    page.get_by_text(tr("homework.verdict.missing", models="ResNet50, EfficientNetB0, ConvNeXtTiny"),
                     exact=False).first.wait_for()
    shot(page, artifacts_dir / "homework-results-en.png")

    with page.expect_download() as info:
        page.get_by_role("button", name=tr("homework.page.dl_report")).click()
    path = tmp_path / "report.html"
    info.value.save_as(path)
    html = path.read_text(encoding="utf-8")
    assert "<td>MobileNetV3Small</td>" in html and tr("homework.random.banner") in html
    assert tr("homework.verdict.status_incomplete") in html and "class4" in html
    assert "Augmentation: horizontal flip." in html  # the report says how the run was configured
