"""A user's own dataset in Labs: a zip of one folder per class, read by the homework intake
(its safety and its errors), fitted to the lab nets' 32×32×3, split per class with the seed;
trained through ``run_lab`` and the CLI, stored under the cache root by the page's uploader."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import all_text, app_test

from cnnviz import cache, cli, datasets, homework, labs
from cnnviz.i18n import translate

COLOURS = {"blue": (30, 40, 220), "green": (30, 200, 40), "red": (220, 30, 30)}
PAGE = "pages/labs.py"
SLOW = 600


def colour_zip(per_class: int = 30, seed: int = 0) -> bytes:
    """Three classes of noisy plain-colour pictures (sizes vary), inside one wrapping folder."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, rgb in COLOURS.items():
            for i in range(per_class):
                shape = (20 + i % 17, 24 + i % 11, 3)
                pixels = np.clip(np.array(rgb) + rng.normal(0, 30, shape), 0, 255).astype(np.uint8)
                out = io.BytesIO()
                Image.fromarray(pixels).save(out, "PNG")
                zf.writestr(f"colours/{name}/{i:03d}.png", out.getvalue())
    return buf.getvalue()


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "colours.zip"
    path.write_bytes(colour_zip())
    return path


# --------------------------------------------------------------------------- the data

def test_the_zip_is_fitted_to_32x32x3_and_split_per_class_with_the_seed(zip_path):
    d = labs.load_data(str(zip_path), seed=0, val_split=0.2)
    assert d.name == datasets.USER and d.class_names == ("blue", "green", "red")
    assert d.input_shape == (32, 32, 3) and d.x_train.dtype == np.float32
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    # stratified: every class gives the same share to each split (30 each: 6 test, 6 val, 18 train)
    for y, n in ((d.y_train, 18), (d.y_val, 6), (d.y_test, 6)):
        assert np.bincount(y, minlength=3).tolist() == [n, n, n]
    # the colour is what the pixels say: red images have the most red
    red = d.x_train[d.y_train == 2].mean(axis=(0, 1, 2))
    assert red[0] > 0.7 and red[1] < 0.3 and red[2] < 0.3
    again = labs.load_data(str(zip_path), seed=0, val_split=0.2)
    assert np.array_equal(again.x_train, d.x_train) and np.array_equal(again.y_val, d.y_val)
    other = labs.load_data(str(zip_path), seed=1, val_split=0.2)
    assert not np.array_equal(other.x_val, d.x_val)
    small = labs.load_data(str(zip_path), seed=0, subset=30)
    assert small.sizes()["train"] + small.sizes()["val"] == 30
    assert np.bincount(small.y_train, minlength=3).min() == np.bincount(small.y_train, minlength=3).max()
    assert d.settings["dataset"] == str(zip_path) and d.settings["source_name"] == "colours.zip"


def test_unusable_zips_get_the_intakes_clear_messages(tmp_path):
    not_zip = tmp_path / "photos.zip"
    not_zip.write_bytes(b"this is not a zip")
    with pytest.raises(homework.ArchiveError) as info:
        labs.load_data(str(not_zip))
    assert info.value.key == "homework.error.not_a_zip" and "photos.zip" in info.value.message("es")

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("only/one.png", b"not an image")
    one_class = tmp_path / "one.zip"
    one_class.write_bytes(buf.getvalue())
    with pytest.raises(homework.DatasetError) as info:
        labs.load_data(str(one_class))
    assert info.value.key == "homework.error.too_few_classes"

    with pytest.raises(homework.DatasetError) as info:  # before anything is queued or loaded
        labs.check_settings("mini-resnet", dataset=str(tmp_path / "missing.zip"))
    assert info.value.key == "homework.error.not_found"
    good = tmp_path / "good.zip"
    good.write_bytes(colour_zip(per_class=6))
    with pytest.raises(datasets.DatasetError) as info:
        labs.load_data(str(good), subset=1000)
    assert info.value.key == "datasets.error.subset_large" and "good.zip" in str(info.value)
    with pytest.raises(datasets.DatasetError) as info:
        labs.check_settings("mini-resnet", dataset=str(good), val_split=1.5)
    assert info.value.key == "datasets.error.val_split"


def test_an_upload_is_kept_once_under_the_cache_root_by_its_hash():
    data = colour_zip(per_class=6, seed=3)
    first = datasets.store_upload(data, "mine.zip")
    second = datasets.store_upload(data, "mine (copy).zip")
    assert first == second and first.parent == cache.cache_dir() / "derived" / "datasets" / "user"
    assert first.stem == hashlib.sha256(data).hexdigest() and first.read_bytes() == data
    assert first in datasets.stored_uploads() and datasets.user_label(first) == "mine (copy).zip"
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temp file left


# --------------------------------------------------------------------------- training on it

def test_run_lab_trains_on_the_zip_above_chance(zip_path):
    result = labs.run_lab("cifar-progression", dataset=str(zip_path), epochs=8, models=["cifar10_v2"],
                          val_split=0.25)
    m = result.models["cifar10_v2"]
    assert result.dataset == datasets.USER and result.class_names == ["blue", "green", "red"]
    assert result.settings["dataset"] == str(zip_path) and result.settings["source_name"] == "colours.zip"
    # per class of 30: round(30 × 0.2) = 6 test, round(30 × 0.25) = 8 validation, 16 train
    assert result.settings["val_split"] == 0.25 and result.settings["data_sizes"] == {"train": 48, "val": 24,
                                                                                     "test": 18}
    # chance is 1/3 on three balanced classes: demand a wide margin
    assert m["best_val_accuracy"] > 0.8 and m["test_accuracy"] > 0.7, m["history"]
    assert np.array(m["confusion"]).shape == (3, 3)
    json.dumps(result.to_dict())


def test_cli_trains_on_a_zip_path(zip_path, capsys):
    code = cli.main(["lab", "cifar-progression", "--dataset", str(zip_path), "--models", "cifar10_v1",
                     "--epochs", "1", "--val-split", "0.3", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "user" and out["settings"]["dataset"] == str(zip_path)
    assert out["settings"]["val_split"] == 0.3 and out["class_names"] == ["blue", "green", "red"]
    assert cli.main(["lab", "mini-resnet", "--dataset", str(zip_path.with_name("nope.zip"))]) == 1
    assert translate("homework.error.not_found", "en", path=str(zip_path.with_name("nope.zip"))) in \
        capsys.readouterr().err


# --------------------------------------------------------------------------- the page

def test_the_page_offers_an_own_zip_with_an_uploader(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))  # no zip uploaded before
    at = app_test(PAGE, lang="en", timeout=SLOW)  # AppTest formats options in English
    dataset = next(s for s in at.selectbox if s.key == "labs_dataset")
    assert translate("labs_ui.dataset.user", "en") in dataset.options
    dataset.set_value(datasets.USER).run(timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    # nothing uploaded yet: it says how, and cannot train
    assert any(translate("labs_ui.user_none", "en") in i.value for i in at.info), [i.value for i in at.info]
    assert next(b for b in at.button if b.key == "labs_train").disabled
    data = colour_zip(per_class=8, seed=5)
    at.file_uploader[0].upload("colores.zip", data, "application/zip").run(timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    pick = next(s for s in at.selectbox if s.key == "labs_user_pick")
    assert pick.value == str(datasets.uploads_dir() / f"{hashlib.sha256(data).hexdigest()}.zip")
    assert "colores.zip" in pick.options  # the picker names the upload by its own name, not its hash
    text = all_text(at)
    assert translate("datasets.desc.user", "en") in text
    assert len(at.image) >= 3  # a strip of samples per class, before training
    assert not next(b for b in at.button if b.key == "labs_train").disabled

    at.file_uploader[0].upload("roto.zip", b"PK\x03\x04 not really", "application/zip").run(timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    assert any("roto.zip" in e.value for e in at.error), [e.value for e in at.error]
    assert next(b for b in at.button if b.key == "labs_train").disabled
