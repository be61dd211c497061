"""Issue 22 in a real browser: a folder of class folders dropped on the Homework page (Playwright's
``set_input_files`` with the folder on the directory input), read with progress and released; a
~100 MB zip of photos accepted and trained on with a tiny budget; no "Folder on the server"
without configured roots."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image

from cnnviz.i18n import translate
from conftest import wait_for_app
from tests.test_browser_classify import shot

RUN_TIMEOUT = 900_000


def tr(key, **kw):
    return translate(key, "en", **kw)


COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (220, 220, 40), (200, 40, 200)]


def test_folder_upload_of_class_folders(streamlit_server, page, artifacts_dir, tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "my_photos"
    for c, col in enumerate(COLOURS):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(6):
            a = np.clip(np.array(col)[None, None] + rng.normal(0, 30, (120, 160, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(root / f"class{c}" / f"img{i}.jpg", quality=90)
    (root / "class0" / "notes.txt").write_text("not an image")
    page.goto(f"{streamlit_server.url}/homework?lang=en")
    wait_for_app(page)
    page.get_by_text(tr("homework.page.no_dataset")).wait_for()
    radio = page.locator('[data-testid="stRadio"]', has_text=tr("homework.page.source")).first.inner_text()
    assert tr("homework.page.source_folder") not in radio  # no roots configured: not offered
    assert tr("homework.page.source_directory") in radio
    page.get_by_text("What fits").first.wait_for()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(root)
    page.get_by_text(tr("homework.page.read_from", name="my_photos")).wait_for(timeout=180_000)
    wait_for_app(page)
    metrics = page.locator('[data-testid="stMetric"]')
    assert "5" in metrics.nth(0).inner_text() and "30" in metrics.nth(1).inner_text()
    assert "1" in metrics.nth(2).inner_text()
    shot(page, artifacts_dir / "homework-folder-upload-en.png")


def photo_zip(n_per_class: int = 5, side: tuple[int, int] = (2400, 1800)) -> bytes:
    """Noisy JPEGs of ~4 MB each: 25 of them make a zip of ~100 MB (JPEG does not compress in zip)."""
    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for c, col in enumerate(COLOURS):
            for i in range(n_per_class):
                a = np.clip(np.array(col)[None, None] + rng.normal(0, 60, (side[1], side[0], 3)), 0, 255).astype(np.uint8)
                b = io.BytesIO()
                Image.fromarray(a).save(b, "JPEG", quality=97)
                zf.writestr(f"phone/class{c}/IMG_{i:04d}.jpg", b.getvalue())
    return buf.getvalue()


def test_large_zip_accepted_and_trained_with_a_tiny_budget(streamlit_server, page, artifacts_dir, tmp_path):
    data = photo_zip()
    zip_path = tmp_path / "phone.zip"
    zip_path.write_bytes(data)
    size_mb = len(data) / 2**20
    print(f"zip: {size_mb:.0f} MB")
    assert size_mb > 90
    page.goto(f"{streamlit_server.url}/homework?lang=en")
    wait_for_app(page)
    page.get_by_text(tr("homework.page.source_upload")).click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(zip_path)  # > 50 MB: a path
    page.get_by_text(tr("homework.page.read_from", name="phone.zip")).wait_for(timeout=300_000)
    wait_for_app(page)
    metrics = page.locator('[data-testid="stMetric"]')
    assert "25" in metrics.nth(1).inner_text()
    shot(page, artifacts_dir / "homework-large-zip-en.png")
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
    page.get_by_text(tr("homework.page.random")).click()
    wait_for_app(page)
    page.get_by_role("button", name=tr("homework.page.run")).click()
    try:
        page.get_by_text(tr("homework.verdict.status_incomplete")).first.wait_for(timeout=RUN_TIMEOUT)
    except Exception:
        shot(page, artifacts_dir / "homework-large-zip-timeout-en.png")
        raise
    shot(page, artifacts_dir / "homework-large-zip-result-en.png")
