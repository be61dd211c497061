"""The Filters & activations page, driven headlessly (AppTest) in both languages.

Models run with random weights (the test cache is empty and offline); Streamlit's
caches are per process, so the homework models and their Grad-CAM functions are built
once for the whole module.
"""

from __future__ import annotations

import re

import pytest

from conftest import app_test

PAGE = "pages/visualize.py"
SLOW = 900  # seconds: first runs build models and trace gradient functions on 2 shared cores


def pick_sample(at, index: int = 0):
    pills = [p for p in at.pills if p.key == "image.sample"]
    assert pills, "the sample-photo picker is missing"
    pills[0].set_value(pills[0].options[index]).run(timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def selectbox(at, key):
    return next(s for s in at.selectbox if s.key == key)


@pytest.mark.parametrize("lang, hint", [("en", "Pick an image"), ("es", "Elige una imagen")])
def test_without_an_image_the_page_asks_for_one(lang, hint):
    at = app_test(PAGE, lang=lang, timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    assert any(hint in i.value for i in at.info)
    assert selectbox(at, "vis_model").value == "resnet50"   # the homework four come first


@pytest.mark.parametrize("lang, layer_word", [("en", "Layer 1 of"), ("es", "Capa 1 de")])
def test_sample_image_layer_picker_and_grid(lang, layer_word):
    at = pick_sample(app_test(PAGE, lang=lang, timeout=SLOW))
    text = captions(at)
    assert any(c.startswith(layer_word) and "112×112×64" in c for c in text), text
    assert selectbox(at, "vis_layer").value == "conv1_conv"
    charts = [e for e in at.main if getattr(e, "type", "") == "plotly_chart"]
    assert charts, "the feature-map grid is missing"
    assert any(b.key == "vis_grid_download" for b in at.get("download_button"))
    passes = [c for c in text if re.search(r"(forward pass|sola pasada) \(\d+ ms", c)]
    assert passes, text

    # Jump to a block: its output layer is shown, and the model does not run again
    # (the one-pass timing is the cached one, unchanged).
    selectbox(at, "vis_block").set_value("conv3_block4").run(timeout=SLOW)
    assert not at.exception
    assert selectbox(at, "vis_layer").value == "conv3_block4_out"
    assert any("28×28×512" in c for c in captions(at))
    assert [c for c in captions(at) if c in passes] == passes

    # Paging through 512 channels, then a bigger page size: no stale page number breaks it.
    next(n for n in at.number_input if n.key == "vis_page_conv3_block4_out_36").set_value(15).run(timeout=SLOW)
    assert any(("Channels 505–512 of 512" in c) or ("Canales 505–512 de 512" in c) for c in captions(at))
    selectbox(at, "vis_per_page").set_value(64).run(timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    assert any(("Channels 1–64 of 512" in c) or ("Canales 1–64 de 512" in c) for c in captions(at))

    # ▶ walks one layer deeper.
    next(b for b in at.button if b.key == "vis_next").click().run(timeout=SLOW)
    assert selectbox(at, "vis_layer").value.startswith("conv4_block1")


def test_switching_model_resets_a_layer_it_does_not_have():
    at = pick_sample(app_test(PAGE, lang="en", timeout=SLOW))
    selectbox(at, "vis_block").set_value("conv5_block3").run(timeout=SLOW)
    assert selectbox(at, "vis_layer").value == "conv5_block3_out"
    selectbox(at, "vis_model").set_value("mobilenetv3small").run(timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    assert selectbox(at, "vis_layer").value == "conv"            # MobileNetV3Small's first layer
    assert any("conv5_block3_out" in tst.value for tst in at.toast)


@pytest.mark.slow
@pytest.mark.parametrize("lang, word", [("en", "Explains:"), ("es", "Explica:")])
def test_gradcam_tab_shows_the_four_homework_models(lang, word):
    at = pick_sample(app_test(PAGE, lang=lang, query={"tab": "gradcam"}, timeout=SLOW), index=1)
    overlays = [cap for img in at.image for cap in img.captions if cap.startswith(word)]
    assert len(overlays) == 4, overlays
    targets = " ".join(captions(at))
    for layer in ("conv5_block3_out", "top_activation", "convnext_tiny_stage_3_block_2_out"):
        assert layer in targets
    assert not at.error


@pytest.mark.parametrize("lang", ["en", "es"])
def test_filters_tab_needs_no_image(lang):
    at = app_test(PAGE, lang=lang, query={"tab": "filters"}, timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    assert selectbox(at, "vis_filter_layer").value == "conv1_conv"
    caps = [cap for img in at.image for cap in img.captions]
    assert any(("Filters 0–63 of 64" in c) or ("Filtros 0–63 de 64" in c) for c in caps), caps
    selectbox(at, "vis_filter_layer").set_value("conv2_block1_2_conv").run(timeout=SLOW)
    caps = [cap for img in at.image for cap in img.captions]
    assert any("16" in c and "64" in c for c in caps)


def test_through_the_depth_tab():
    at = pick_sample(app_test(PAGE, lang="en", query={"tab": "depth"}, timeout=SLOW))
    caps = [cap for img in at.image for cap in img.captions]
    stages = [c for c in caps if " · channel " in c]
    assert len(stages) == 5, caps      # conv1 … conv5 of ResNet50
    assert stages[0].startswith("conv1") and "7×7×2048" in stages[-1]


def test_activation_maximization_runs_from_the_page():
    at = app_test(PAGE, lang="en", query={"tab": "actmax"}, timeout=SLOW)
    next(s for s in at.select_slider if s.key == "vis_am_steps").set_value(16).run(timeout=SLOW)
    next(b for b in at.button if b.key == "vis_am_start").click().run(timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    summary = [c for c in captions(at) if c.startswith("Mean activation of the channel")]
    assert summary, captions(at)
    before, after = (float(v) for v in re.findall(r"(-?\d+\.\d+) on", summary[0])[:2])
    assert after > before
    assert any("16 steps" in cap for img in at.image for cap in img.captions)


@pytest.mark.slow
def test_gradcam_one_class_for_every_model():
    at = pick_sample(app_test(PAGE, lang="en", query={"tab": "gradcam"}, timeout=SLOW), index=1)
    next(tg for tg in at.toggle if tg.key == "vis_gradcam_same_class").set_value(True).run(timeout=SLOW)
    # The class names ship with the install: the picker lists them (281 is "tabby").
    next(n for n in at.selectbox if n.key == "vis_gradcam_class").set_value(281).run(timeout=SLOW)
    assert not at.exception, [e.value for e in at.exception]
    overlays = [cap for img in at.image for cap in img.captions if cap.startswith("Explains:")]
    assert len(overlays) == 4 and all("tabby" in cap for cap in overlays), overlays
