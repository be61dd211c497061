"""The Classify page under AppTest: both languages, offline random-weights mode with the four
homework models, a corrupt upload then a good one, swapping a model, and the weights
download button against a loopback mirror."""

from __future__ import annotations

import csv
import html
import io
import re

import numpy as np
import pytest
from conftest import all_text, app_test
from PIL import Image
from test_litert import SMALL, store  # noqa: F401 - fixture
from test_infer_weights import weights_mirror  # noqa: F401 - fixture

from cnnviz import HOMEWORK_MODELS
from cnnviz.i18n import translate

PAGE = "pages/classify.py"
DISPLAY = ["ResNet50", "EfficientNetB0", "MobileNetV3Small", "ConvNeXtTiny"]
CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(autouse=True)
def tensorflow_answers(monkeypatch, request):
    """TensorFlow answers on these pages: with random weights it does anyway, and the trained
    reference (EfficientNet-Lite0, ImageNet weights from the install) would otherwise be converted
    to LiteRT again in every test's empty cache. Its LiteRT conversion and agreement are checked
    in tests/test_litert.py; the compare-engines test below keeps the server's default."""
    if "compare_engines" not in request.node.name:
        monkeypatch.setenv("CNNVIZ_ENGINE", "tf")


def png_bytes(width: int = 320, height: int = 240) -> bytes:
    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def no_exception(at) -> None:
    assert [e.value for e in at.exception] == []


def charts(at) -> list:
    """The top-5 blocks on the page (HTML bars inside a Markdown element)."""
    return [m for m in at.markdown if 'class="cnnviz-top5"' in m.value]


def pick_sample(at, index: int = 0):
    pills = [p for p in at.pills if p.key == "image.sample"]
    assert pills, "the sample-photo picker is missing"
    pills[0].set_value(pills[0].options[index]).run()
    return at


def markdown_text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_renders_without_an_image(lang):
    at = app_test(PAGE, lang=lang)
    no_exception(at)
    assert at.title[0].value == translate("classify.title", lang)
    text = all_text(at)
    assert translate("classify.no_image", lang) in text
    # One banner naming every model without cached weights (the cache is empty here).
    banner = translate("infer.weights.missing", lang, models=", ".join(DISPLAY))
    assert [w.value for w in at.warning] == [banner]
    toggle = [tg for tg in at.toggle if tg.label == translate("infer.weights.random_toggle", lang)]
    assert toggle and toggle[0].value is True and toggle[0].disabled  # locked on: nothing to load
    assert [sb.value for sb in at.selectbox] == list(HOMEWORK_MODELS)
    assert charts(at) == []


def test_sample_photo_four_columns_random_weights():
    at = pick_sample(app_test(PAGE, lang="en"))
    no_exception(at)
    # The four columns, and under them the trained reference whose weights ship with the install.
    assert len(charts(at)) == 5
    subheaders = [s.value for s in at.subheader]
    for name in DISPLAY + ["EfficientNet-Lite0"]:
        assert name in subheaders
    # Random weights are labelled on every result; the reference says where its weights come from.
    badge = translate("classify.random_badge", "en")
    assert markdown_text(at).count(badge) == 4
    assert markdown_text(at).count(translate("classify.installed_badge", "en")) == 1
    # Latency for each model, in ms, with the device.
    latencies = [m for m in at.metric if m.label == translate("classify.latency", "en")]
    assert len(latencies) == 5 and all(m.value.endswith(" ms") and float(m.value[:-3]) > 0 for m in latencies)
    captions = "\n".join(c.value for c in at.caption)
    assert captions.count("CPU · median of 1") == 5
    # The engine beside each latency, and why TensorFlow answers (random weights are not converted).
    assert captions.count(translate("classify.engine_line", "en", engine="TensorFlow · CPU")) == 5
    # Why TensorFlow answers: this module pins CNNVIZ_ENGINE=tf (see tensorflow_answers; the
    # random-weights reason itself is checked in tests/test_infer_plan.py and the browser test).
    assert captions.count(translate("infer.engine.why.setting", "en")) == 5
    assert "25.6 M parameters" in captions and "2.6 M parameters" in captions
    assert "Published ImageNet top-1: 81.3%" in captions and "67.4%" in captions
    # The image as each model sees it: four 224×224 views and the stated policy.
    assert len(at.image) >= 4
    assert translate("infer.policy.square", "en", size=224) in captions
    # Summary: confidence, agreement, fastest vs most accurate, the homework criterion.
    text = markdown_text(at)
    assert "Most confident:" in text and "Fastest here:" in text and "**ConvNeXtTiny**, 81.3%" in text
    assert translate("classify.summary.criterion", "en") in text
    assert translate("classify.summary.random_note", "en") in text
    assert "Trained reference (weights ship with the install): **EfficientNet-Lite0**" in text
    assert at.get("download_button")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_chelsea_is_a_cat_through_the_installed_model(lang):
    """Offline, nothing downloaded: the four columns have random weights, and the trained reference
    under them names a cat class for chelsea, with its badge, in the summary and in the CSV."""
    from cnnviz.zoo import pretrained

    at = pick_sample(app_test(PAGE, lang=lang), index=0)  # "cat": scikit-image's chelsea
    no_exception(at)
    names = pretrained.load_labels()
    cats = [names[i] for i in CAT_CLASSES]
    blocks = charts(at)
    assert len(blocks) == 5
    reference = next(m.value for m in at.markdown if translate("classify.installed_badge", lang) in m.value)
    assert reference == blocks[-1].value  # drawn last, under the four columns
    assert translate("classify.random_badge", lang) not in reference
    first = re.search(r'title="([^"]+)"', reference).group(1)  # the top-1 row of the bars
    assert html.unescape(first) in cats, reference
    summary = translate("classify.summary.reference", lang, model="EfficientNet-Lite0", label="@", prob="@")
    line = next(m for m in markdown_text(at).split("\n") if summary.split("@")[0] in m)
    assert f"“{html.unescape(first)}”" in line, line


def test_reruns_reuse_results():
    at = pick_sample(app_test(PAGE, lang="en"))
    first = [m.value for m in at.metric]
    at.run()  # nothing changed: the cached predictions, same timings
    no_exception(at)
    assert [m.value for m in at.metric] == first


def test_spanish_results():
    at = pick_sample(app_test(PAGE, lang="es"), index=1)
    no_exception(at)
    assert len(charts(at)) == 5
    text = markdown_text(at)
    assert text.count(translate("classify.random_badge", "es")) == 4
    assert "El más rápido aquí" in text and "Criterio de la tarea" in text
    assert "mediana de 1" in "\n".join(c.value for c in at.caption)


def test_corrupt_upload_then_a_good_one():
    at = app_test(PAGE, lang="en")
    at.file_uploader[0].upload("holiday.jpg", b"this is a text file, not a photo", "image/jpeg").run()
    no_exception(at)
    assert at.error, "a corrupt file must show a message"
    assert charts(at) == []
    at.file_uploader[0].upload("good.png", png_bytes(), "image/png").run()
    no_exception(at)
    assert not at.error
    assert len(charts(at)) == 5


def test_any_pretrained_model_can_replace_a_column():
    at = app_test(PAGE, lang="en")
    options = at.selectbox[1].options
    assert "DenseNet121" in options or "densenet121" in options
    assert not any(o.lower().startswith("lenet") for o in options)  # only models with ImageNet weights
    at.selectbox[1].set_value("mobilenetv2").run()
    pick_sample(at, index=2)
    no_exception(at)
    subheaders = [s.value for s in at.subheader]
    assert "MobileNetV2" in subheaders and "EfficientNetB0" not in subheaders
    assert "Published ImageNet top-1: 71.3%" in "\n".join(c.value for c in at.caption)


def test_comparison_csv_and_summary():
    from cnnviz import comparison as view
    from cnnviz.infer import Prediction

    def column(name, display, family, ms, top):
        probs = np.full(1000, 1 / 1000, np.float32)
        pred = Prediction(name, display, "imagenet", [(f"thing {top}", 0.5, top)] + [(f"class {i}", 0.001, i)
                          for i in range(4)], probs, 1.0, ms, [ms], 1, 900.0, "CPU", "CPU", (224, 224), True, 1.0)
        return view.Column(name, display, family, "imagenet", prediction=pred, params=1000, size_mb=1.0,
                           device_label="CPU")

    columns = [column("resnet50", "ResNet50", "ResNet", 90.0, 281),
               column("mobilenetv3small", "MobileNetV3Small", "MobileNet", 10.0, 281),
               column("convnexttiny", "ConvNeXtTiny", "ConvNeXt", 400.0, 285)]
    rows = list(csv.DictReader(io.StringIO(view.comparison_csv(columns).decode("utf-8-sig"))))
    assert [r["model"] for r in rows] == ["ResNet50", "MobileNetV3Small", "ConvNeXtTiny"]
    assert rows[1]["inference ms (median)"] == "10.0" and rows[0]["published top-1 %"] == "74.9"
    assert rows[0]["weights"] == "ImageNet" and rows[0]["top1 class"] == "thing 281"
    lines = view.summary_lines(columns)
    assert "Fastest here: **MobileNetV3Small**, 10.0 ms per image on CPU." in lines
    assert "ResNet50, MobileNetV3Small agree on “thing 281”." in lines
    assert any(line.startswith("Speed: :green[:material/check_circle:]") for line in lines)
    assert any(line.startswith("Accuracy: :green[:material/check_circle:]") and "ConvNeXtTiny" in line for line in lines)
    assert not any("random weights" in line for line in lines)


def test_top5_bars_are_escaped_html_in_one_line():
    """The top-5 as HTML bars: five rows, most probable first, labels escaped (ImageNet has
    "jack-o'-lantern"), widths clamped to 0–100 %, the weights' colour, no blank line (Markdown
    would end the HTML block there)."""
    from cnnviz import comparison as view
    from cnnviz.infer import Prediction

    top5 = [("<b>jack-o'-lantern</b>", 0.7, 607), ("tabby & co", 0.2, 281)] + [(f"c{i}", 0.03, i) for i in range(3)]
    pred = Prediction("resnet50", "ResNet50", "imagenet", top5, np.full(1000, 1e-3, np.float32), 1.0, 10.0, [10.0], 1,
                      900.0, "CPU", "CPU", (224, 224), True, 1.0)
    html = view.top5_html(pred, random_weights=False)
    assert "\n" not in html and html.startswith('<div class="cnnviz-top5"')
    assert html.count('role="listitem"') == 5
    assert "&lt;b&gt;jack-o&#x27;-lantern&lt;/b&gt;" in html and "<b>" not in html and "tabby &amp; co" in html
    assert html.index("jack-o") < html.index("tabby") < html.index(">c0<")
    assert "width:70.00%" in html and "70.0%" in html and view.BAR_COLORS["imagenet"] in html
    assert view.BAR_COLORS["random"] in view.top5_html(pred, random_weights=True)
    labels_off = Prediction("resnet50", "ResNet50", None, top5, pred.probs, 1.0, 10.0, [10.0], 1, 900.0, "CPU", "CPU",
                            (224, 224), False, 1.0)
    assert translate("infer.class_n", "en", index=607) in view.top5_html(labels_off, random_weights=True)


def test_streamlit_does_not_collect_garbage_after_every_run():
    """Streamlit's default runs gc.collect(2) after every script run; with TensorFlow and four
    models loaded that held the GIL ~0.5 s per rerun, for every student on the server."""
    import tomllib

    from conftest import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


def test_download_button_fetches_missing_weights(weights_mirror, monkeypatch, tmp_path):
    """Offline banner → download through the cache (loopback mirror) → real weights and labels."""
    weights_mirror.activate(monkeypatch, tmp_path / "cache")
    at = app_test(PAGE, lang="en")
    for sb in at.selectbox:
        sb.set_value("mobilenetv3small")
    at.run()
    assert [w.value for w in at.warning] == [translate("infer.weights.missing", "en", models="MobileNetV3Small")]
    download = [b for b in at.button if b.label == translate("infer.weights.download", "en", n=1)]
    download[0].click().run()
    no_exception(at)
    assert not at.warning and not at.error  # nothing missing any more: no banner
    pick_sample(at)
    no_exception(at)
    text = markdown_text(at)
    assert text.count(translate("classify.imagenet_badge", "en")) == 4
    assert translate("classify.random_badge", "en") not in text
    # Class names, never numbers: they ship with the install now, so the download fetched weights only.
    import html as html_mod

    from cnnviz.zoo import pretrained

    names = pretrained.load_labels()
    assert names and sum(f">{html_mod.escape(n)}<" in text for n in names) >= 5
    assert "agree" not in text  # one model in four columns: no agreement claims


def test_gradcam_section_behind_a_switch():
    at = app_test(PAGE, lang="en")
    for sb in at.selectbox:
        sb.set_value("mobilenetv3small")  # one model, four columns: one cheap heat map
    pick_sample(at)
    no_exception(at)
    switch = [tg for tg in at.toggle if tg.label == translate("classify.gradcam_toggle", "en")]
    assert switch and switch[0].value is False
    images_before = len(at.image)
    switch[0].set_value(True).run()
    no_exception(at)
    assert not at.error
    assert translate("visualize.gradcam.section_title", "en") in [s.value for s in at.subheader]
    assert len(at.image) > images_before  # the overlay


def test_reruns_keep_compiled_models_warm(monkeypatch):
    """Streamlit's runner calls keras.backend.clear_session() after every run, which clears
    TensorFlow's kernel cache and makes every model's next call re-instantiate (0.5–1.5 s).
    cnnviz.ui.weights turns that off; reruns must not clear Keras state."""
    import keras
    from streamlit.runtime.scriptrunner import script_runner

    import cnnviz.ui.weights  # noqa: F401 - installs the fix

    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **kw: calls.append(1))
    assert getattr(script_runner._clean_problem_modules, "cnnviz_keeps_keras", False)
    at = pick_sample(app_test(PAGE, lang="en"))
    at.run()
    no_exception(at)
    assert calls == []


@pytest.mark.parametrize("lang", ["en", "es"])
def test_compare_engines_shows_both_timings(store, lang):  # noqa: F811 - fixture
    from cnnviz.ui.models import get_model

    # The page's random MobileNetV3Small gets the session's calibrated weights, whose
    # conversion is copied into the cache: the page finds it and converts nothing.
    page_model = get_model(SMALL, None)
    original = page_model.get_weights()
    page_model.set_weights(store.model(SMALL).get_weights())
    try:
        store.install(SMALL)
        at = app_test(PAGE, lang=lang)
        for sb in at.selectbox:
            sb.set_value(SMALL)
        at.toggle(key="classify_engines").set_value(True)
        pick_sample(at.run())
        no_exception(at)
        assert translate("classify.engines.title", lang) in [s.value for s in at.subheader]
        (table,) = [d.value for d in at.dataframe if translate("classify.engines.col.speedup", lang) in d.value.columns]
        tf_col = translate("classify.engines.col.tf", lang, engine=translate("infer.engine.tf", lang, device="CPU"))
        lite_col = translate("classify.engines.col.lite", lang,
                             engine=translate("infer.engine.litert", lang, device="CPU"))
        assert len(table) == 1 and float(table[tf_col][0]) > 0 and float(table[lite_col][0]) > 0
        assert table[translate("classify.engines.col.same", lang)][0] == translate("classify.engines.yes", lang)
        assert translate("classify.engines.lesson", lang) in markdown_text(at)
    finally:
        page_model.set_weights(original)


def test_the_reference_is_left_out_of_speed_accuracy_and_the_criterion():
    from cnnviz import comparison as view
    from cnnviz.infer import Prediction

    def column(name, display, family, ms, top, weights, reference=False):
        probs = np.full(1000, 1 / 1000, np.float32)
        pred = Prediction(name, display, weights, [(f"thing {top}", 0.9, top)] + [(f"class {i}", 0.001, i)
                          for i in range(4)], probs, 1.0, ms, [ms], 1, 900.0, "CPU", "CPU", (224, 224), True, 1.0)
        return view.Column(name, display, family, weights, prediction=pred, params=1000, size_mb=1.0,
                           device_label="CPU", reference=reference)

    columns = [column("resnet50", "ResNet50", "ResNet", 90.0, 1, None),
               column("mobilenetv3small", "MobileNetV3Small", "MobileNet", 10.0, 2, None),
               column("efficientnetlite0", "EfficientNet-Lite0", "EfficientNet", 5.0, 281, "imagenet", True)]
    lines = view.summary_lines(columns)
    assert "Trained reference (weights ship with the install): **EfficientNet-Lite0** says “thing 281” with 90.0%." in lines
    assert "Fastest here: **MobileNetV3Small**, 10.0 ms per image on CPU." in lines  # not the 5 ms reference
    assert any(line.startswith("Accuracy:") and "ResNet50" in line for line in lines)
    rows = list(csv.DictReader(io.StringIO(view.comparison_csv(columns).decode("utf-8-sig"))))
    assert [r["weights"] for r in rows] == ["random (meaningless)"] * 2 + ["ImageNet (ships with the install)"]
    assert rows[2]["published top-1 %"] not in ("", None)  # Lite0's published top-1 from architectures.json
