"""The Homework studio page under AppTest (no TensorFlow): the fine-tuning choice with its default
explained, the augmentation option, the offline weights panel and the download through the cache,
the random-weights label, and the settings that reach the run."""

from __future__ import annotations

import types

import pytest
from conftest import ROOT, all_text, app_test
from test_cache import cache_root, h5_bytes, pin, server  # noqa: F401 - fixtures

from cnnviz import homework
from cnnviz.i18n import translate
from cnnviz.zoo import pretrained

PAGE = "pages/homework.py"


def no_exception(at) -> None:
    assert [e.value for e in at.exception] == []


def with_demo(lang: str = "en"):
    at = app_test(PAGE, lang=lang)
    at.radio(key="homework_source").set_value("demo").run()
    no_exception(at)
    return at


def first_run(lang: str, **state):
    """One run with widget values already in the session. (A second AppTest run re-reads every
    radio through its format_func, which AppTest calls outside the page's run, in the default
    language: so Spanish pages are checked on their first run.)"""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    at.query_params["lang"] = lang
    for key, value in {"homework_source": "demo", **state}.items():
        at.session_state[key] = value
    at.run()
    no_exception(at)
    return at


@pytest.mark.parametrize("lang", ["en", "es"])
def test_spanish_and_english_choices_on_first_sight(lang):
    at = first_run(lang, homework_unfreeze="layers", homework_augment=True, homework_augment_crop=True)
    radio = at.radio(key="homework_unfreeze")
    assert radio.label == translate("homework.page.unfreeze", lang)
    assert list(radio.options) == [translate(f"homework.page.unfreeze_{m}", lang) for m in ("block", "stage", "layers")]
    assert not at.number_input(key="homework_unfreeze_n").disabled
    captions = [c.value for c in at.caption]
    assert translate("homework.page.unfreeze_explain", lang) in captions
    both = ", ".join(translate(f"homework.augment.{v}", lang) for v in ("flip", "crop"))
    assert translate("homework.page.augment_note", lang, factor=3, views=both) in captions
    assert at.checkbox(key="homework_augment").label == translate("homework.page.augment", lang)


def test_unfreeze_choice_with_the_default_explained():
    lang = "en"
    at = with_demo(lang)
    radio = at.radio(key="homework_unfreeze")
    assert radio.value == "block" and list(radio.options) == [translate(f"homework.page.unfreeze_{m}", lang)
                                                             for m in ("block", "stage", "layers")]
    assert radio.label == translate("homework.page.unfreeze", lang)
    captions = [c.value for c in at.caption]
    assert translate("homework.page.unfreeze_explain", lang) in captions
    assert at.number_input(key="homework_unfreeze_n").disabled  # N matters only for "last N layers"
    radio.set_value("layers").run()
    assert not at.number_input(key="homework_unfreeze_n").disabled
    at.number_input(key="homework_ft").set_value(0).run()  # no fine-tuning: nothing to choose
    assert at.radio(key="homework_unfreeze").disabled and at.number_input(key="homework_unfreeze_n").disabled


def test_augmentation_is_off_by_default_and_says_what_it_does():
    lang = "en"
    at = with_demo(lang)
    box = at.checkbox(key="homework_augment")
    assert box.value is False and box.label == translate("homework.page.augment", lang)
    assert not [c for c in at.checkbox if c.key == "homework_augment_crop"]
    box.check().run()
    flip = translate("homework.augment.flip", lang)
    assert translate("homework.page.augment_note", lang, factor=2, views=flip) in [c.value for c in at.caption]
    at.checkbox(key="homework_augment_crop").check().run()
    both = f"{flip}, {translate('homework.augment.crop', lang)}"
    assert translate("homework.page.augment_note", lang, factor=3, views=both) in [c.value for c in at.caption]


def test_offline_weights_panel_says_which_and_how(monkeypatch):
    at = with_demo()
    text = all_text(at)
    assert translate("homework.page.weights_missing", "en",
                     models="ResNet50, EfficientNetB0, MobileNetV3Small, ConvNeXtTiny") in text
    hint = translate("homework.page.offline_hint", "en", names=" ".join(homework.HOMEWORK_FOUR))
    assert hint in [c.value for c in at.caption] and "cache prefetch --notop resnet50" in hint
    assert at.button(key="homework_download").disabled  # offline: the button cannot download
    assert not [b for b in at.button if b.key == "homework_run_button"]  # no weights, no random: no Run


def test_settings_reach_the_run_and_random_bases_are_labelled(monkeypatch):
    calls = []

    def fake_start(manager, ds, models, **settings):
        calls.append({"dataset": ds.name, "models": list(models), **settings})
        return types.SimpleNamespace(run_id="homework-fake")

    monkeypatch.setattr(homework, "start", fake_start)
    at = with_demo()
    at.toggle(key="homework_random").set_value(True).run()
    banner = translate("homework.random.banner", "en")
    assert banner in [e.value for e in at.error]
    at.multiselect(key="homework_models").set_value(["mobilenetv3small"]).run()
    at.radio(key="homework_unfreeze").set_value("layers").run()
    at.number_input(key="homework_unfreeze_n").set_value(12).run()
    at.checkbox(key="homework_augment").check().run()
    at.button(key="homework_run_button").click().run()
    no_exception(at)
    from cnnviz import owners

    assert calls == [{"dataset": "demo-digits.zip", "models": ["mobilenetv3small"], "fe_epochs": 10, "ft_epochs": 10,
                      "image_size": None, "random_weights": True, "unfreeze": 12, "augment": "flip",
                      "owner": owners.owner_id(at.session_state["owner_token"])}]  # the run is this session's
    # The page followed the new run (an id not in the generated shape: dropped unread, not echoed).
    assert translate("labs_ui.run_not_found", "en") in [e.value for e in at.error]


def test_download_goes_through_the_cache(server, monkeypatch, tmp_path):  # noqa: F811 - fixture
    data = h5_bytes(tmp_path, 40_000)
    record = pin(monkeypatch, "mobilenetv3small", data, include_top=False)
    server.serve(record, data)
    at = with_demo()
    at.multiselect(key="homework_models").set_value(["mobilenetv3small"]).run()
    assert not at.button(key="homework_download").disabled  # online: it can
    assert translate("homework.page.offline_hint", "en", names="mobilenetv3small") not in all_text(at)
    at.button(key="homework_download").click().run()
    no_exception(at)
    assert pretrained.weights_file("mobilenetv3small", False).path.read_bytes() == data
    assert translate("homework.page.weights_ok", "en") in [s.value for s in at.success]
    assert [e.state for e in pretrained.status(["mobilenetv3small"], include_top=False)] == ["cached"]
    assert any(b.key == "homework_run_button" for b in at.button)


def test_a_failed_homework_from_an_earlier_server_says_why_in_the_ui_language():
    from cnnviz.training import store

    run_id = "20200101-000003-homework-dddddd"
    d = store.run_dir(run_id)
    from cnnviz import owners

    token = owners.new_token()  # the student who ran it opens it from her own address (?me=)
    store.write_json(d / "settings.json", {"run_id": run_id, "kind": "homework", "title": "homework",
                                           "params": {"models": ["mobilenetv3small"]}, "created": 1577836803,
                                           "owner": owners.owner_id(token)})
    error = store.TrainingError("training.error.disk_full", path=str(d))
    store.write_json(d / store.MARKER, {"status": "failed", "finished": 1577836900, "error": str(error),
                                        **store.error_fields(error)})
    stranger = app_test(PAGE, lang="es", query={"run": run_id})  # another session: nothing of it
    assert [e.value for e in stranger.error] == [translate("labs_ui.run_not_found", "es")]
    at = app_test(PAGE, lang="es", query={"run": run_id, "me": token})
    no_exception(at)
    assert any(e.value == translate("training.error.disk_full", "es", path=str(d)) for e in at.error), \
        [e.value for e in at.error]
