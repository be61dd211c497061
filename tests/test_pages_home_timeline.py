"""Home and Timeline pages, run headlessly with AppTest in both languages: no exception, the
key elements are there (guide, homework table, timeline, card, both charts, sources), a shared
``?arch=`` link opens its card, and a Spanish run shows Spanish strings."""

from __future__ import annotations

import pytest

from conftest import all_text, app_test
from cnnviz import HOMEWORK_MODELS, timeline
from cnnviz.i18n import LANGS, translate

OTHER = {"en": "es", "es": "en"}


def links(at) -> list[str]:
    """Where the page's links point: Streamlit page links, or their plain-Markdown fallback
    when the page runs without app.py's navigation (as in AppTest)."""
    out = []
    for el in at.get("page_link"):
        proto = el.proto
        out.append(f"{proto.page}?{proto.query_string}" if getattr(proto, "query_string", "") else proto.page)
    out += [m.value for m in at.markdown if "](/" in m.value]
    return out


# --------------------------------------------------------------------------- Home

@pytest.mark.parametrize("lang", LANGS)
def test_home_runs_and_shows_its_parts(lang):
    at = app_test("pages/home.py", lang=lang)
    assert not at.exception, at.exception
    assert at.title[0].value == translate("home.title", lang)
    text = all_text(at)
    for key in ("home.uses.header", "home.use.demo.title", "home.use.classify.title", "home.use.layers.title",
                "home.guide.header", "home.homework.header", "home.table.caption"):
        assert translate(key, lang) in text, key
    assert translate("home.guide.default", lang) in text
    assert translate("home.guide.vit", lang) in text
    assert translate(f"home.title", OTHER[lang]) not in text
    assert not at.error and not at.warning


def test_home_homework_table_has_sourced_numbers():
    at = app_test("pages/home.py", lang="es")
    table = next(m.value for m in at.markdown if translate("home.table.params", "es") in m.value)
    tl = timeline.load()
    for name in HOMEWORK_MODELS:
        row = timeline.model_summary(tl, name, "es")
        assert f"| **{row['model']}** | {translate(f'home.role.{name}', 'es')} | {row['params']} | {row['top1']} |" in table
        assert row["sources"] and row["sources"] in table
    for expected in ("25.6\u00a0M", "74.9%", "5.33\u00a0M", "77.1%", "2.55\u00a0M", "67.4%", "28.6\u00a0M", "81.3%"):
        assert expected in table


def test_home_links_every_page_and_carries_the_language():
    at = app_test("pages/home.py", lang="es")
    targets = " ".join(links(at))
    for page_id in ("timeline", "explorer", "classify", "visualize"):
        assert page_id in targets, page_id
    assert "lang=es" in targets


# --------------------------------------------------------------------------- Timeline

@pytest.mark.parametrize("lang", LANGS)
def test_timeline_runs_with_charts_card_and_sources(lang):
    at = app_test("pages/timeline.py", lang=lang)
    assert not at.exception, at.exception
    assert at.title[0].value == translate("timeline.title", lang)
    assert len(at.get("plotly_chart")) == 3  # timeline, accuracy-vs-size bubbles, ImageNet challenge
    tl = timeline.load()
    picker = at.selectbox(key="timeline_arch")
    assert picker.options == [f"{a.year} · {a.name}" for a in tl.architectures]
    assert picker.value == "resnet"
    text = all_text(at)
    for key in ("timeline.patterns.header", "timeline.pattern.depth.title", "timeline.pattern.multipath.title",
                "timeline.pattern.efficiency.title", "timeline.card.at_a_glance", "arch.resnet.innovation",
                "arch.resnet.description", "timeline.bubble.caption", "timeline.competition.caption",
                "timeline.sources.caption"):
        assert translate(key, lang) in text, key
    assert "ResNet" in [h.value for h in at.header]
    assert "3.57%" in text and "25.6\u00a0M (25,636,712)" in text  # the full sourced table
    for src in tl.used_sources():
        assert src.citation(lang) in text, src.id
    assert [t.label for t in at.tabs] == [translate(f"timeline.tab.{k}", lang) for k in ("bubble", "competition", "sources")]
    assert translate("timeline.title", OTHER[lang]) not in text


def test_timeline_spanish_shows_spanish_strings():
    at = app_test("pages/timeline.py", lang="es")
    text = all_text(at)
    assert "Línea de tiempo" in text and "Nota sobre el material del curso" in text
    assert "Fuentes" in text and "Exactitud top-1" in text
    assert translate("arch.resnet.innovation", "en") not in text


@pytest.mark.parametrize("arch_id", ["resnet", "mobilenetv2", "vit", "lenet5"])
def test_arch_in_the_url_preselects_its_card(arch_id):
    at = app_test("pages/timeline.py", lang="es", query={"arch": arch_id})
    assert not at.exception, at.exception
    arch = timeline.load().get(arch_id)
    assert at.selectbox(key="timeline_arch").value == arch_id
    assert arch.name in [h.value for h in at.header]
    text = all_text(at)
    assert translate(f"arch.{arch_id}.description", "es") in text
    for note in timeline.load().notes_for(arch_id):
        assert translate("timeline.course_note.title", "es") in text
        assert timeline.note_text(note, "es") in text


def test_lenet_card_shows_its_mnist_result_as_such():
    at = app_test("pages/timeline.py", lang="en", query={"arch": "lenet5"})
    text = all_text(at)
    assert "LeNet-5 · Top-1 error: 0.95%. MNIST test set (handwritten digits), not ImageNet" in text


def test_mobilenetv2_card_shows_the_se_correction():
    at = app_test("pages/timeline.py", lang="en", query={"arch": "mobilenetv2"})
    infos = " ".join(i.value for i in at.info)
    assert "MobileNetV2 (Sandler et al., 2018) has none" in infos
    assert "expands the channels" in infos


def test_unknown_arch_in_the_url_warns_and_opens_the_default():
    at = app_test("pages/timeline.py", lang="en", query={"arch": "resnet9000"})
    assert not at.exception
    assert at.warning and "resnet9000" in at.warning[0].value and "convnext" in at.warning[0].value
    assert at.selectbox(key="timeline_arch").value == "resnet"


def test_picking_an_architecture_opens_its_card_and_updates_the_url():
    at = app_test("pages/timeline.py", lang="en")
    at.selectbox(key="timeline_arch").select("efficientnet").run()
    assert not at.exception
    assert "EfficientNet" in [h.value for h in at.header]
    assert translate("arch.efficientnet.innovation", "en") in all_text(at)
    qp = at.query_params["arch"]
    assert (qp[0] if isinstance(qp, list) else qp) == "efficientnet"
    assert any("model=efficientnetb0" in target for target in links(at))


def test_vit_card_says_it_is_not_in_the_zoo():
    at = app_test("pages/timeline.py", lang="en", query={"arch": "vit"})
    assert translate("timeline.card.not_in_zoo", "en") in all_text(at)
    assert not any("model=" in target for target in links(at))


def test_explorer_links_preselect_each_model_of_the_entry():
    at = app_test("pages/timeline.py", lang="es", query={"arch": "resnet"})
    targets = [t for t in links(at) if "explorer" in t]
    for name in timeline.load().get("resnet").zoo_models + ("miniresnet",):
        assert any(f"model={name}" in t and "lang=es" in t for t in targets), name


def test_extra_data_toggle_redraws_without_error():
    at = app_test("pages/timeline.py", lang="en")
    at.checkbox(key="timeline_extra_data").check().run()
    assert not at.exception
    assert at.checkbox(key="timeline_extra_data").value is True
