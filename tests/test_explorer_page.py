"""The Architecture explorer page, driven headlessly with AppTest (both languages).

AppTest cannot click tabs; the page's tabs are lazy (``on_change="rerun"``, key
``explorer_tab``), so tests open a tab by setting that key to its label, as a click does.
Models are cached by ``st.cache_resource`` for the whole test process, so each is built once.
"""

from __future__ import annotations

import pytest

from cnnviz import HOMEWORK_MODELS, zoo
from cnnviz.i18n import translate
from conftest import all_text, app_test

PAGE = "pages/explorer.py"
TIMEOUT = 300  # the first run imports TensorFlow and builds a model on a shared 2-core box


def _metric(at, key: str, lang: str) -> str:
    label = translate(key, lang)
    return next(m.value for m in at.metric if m.label == label)


def _open_tab(at, tab: str, lang: str = "en"):
    at.session_state["explorer_tab"] = translate(f"explorer.tab_{tab}", lang)
    return at.run(timeout=TIMEOUT)


def _no_failures(at) -> None:
    assert [e.value for e in at.exception] == []
    assert [e.body for e in at.error] == []


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize("name", [*HOMEWORK_MODELS, "googlenet"])
def test_page_renders_each_model(name, lang):
    at = app_test(PAGE, lang=lang, query={"model": name}, timeout=TIMEOUT)
    _no_failures(at)
    spec = zoo.get_spec(name)
    assert at.title[0].value == translate("explorer.title", lang)
    assert at.selectbox[0].value == name
    assert _metric(at, "explorer.m_params", lang) == f"{spec.params:,}"
    text = all_text(at)
    assert translate("explorer.random_weights", lang) in text
    assert translate("explorer.macs_convention", lang) in text
    # The live model.summary() text is the first tab.
    assert f"Total params: {spec.params:,}" in at.code[0].value
    assert at.query_params["model"] == [name] or at.query_params["model"] == name


def test_query_param_preselects_convnext():
    at = app_test(PAGE, lang="en", query={"model": "convnexttiny"}, timeout=TIMEOUT)
    _no_failures(at)
    assert at.selectbox[0].value == "convnexttiny"
    assert _metric(at, "explorer.m_params", "en") == "28,589,128"
    assert _metric(at, "explorer.m_macs", "en") == "4.46 G"
    # The published figure is shown with its source next to the computed one.
    assert any("4.50 G" in c.value and "ConvNeXt" in c.value for c in at.caption)


def test_unknown_model_in_the_link_is_explained():
    at = app_test(PAGE, lang="es", query={"model": "resnet5O"}, timeout=TIMEOUT)
    assert [e.value for e in at.exception] == []
    assert any("resnet50" in w.body for w in at.warning)
    assert at.selectbox[0].value == "resnet50"  # the page still shows a model


def test_quick_pick_switches_model():
    at = app_test(PAGE, lang="en", query={"model": "resnet50"}, timeout=TIMEOUT)
    at.get("button_group")[0].set_value("mobilenetv3small").run(timeout=TIMEOUT)
    _no_failures(at)
    assert at.selectbox[0].value == "mobilenetv3small"
    assert _metric(at, "explorer.m_params", "en") == "2,554,968"


@pytest.mark.parametrize("lang", ["en", "es"])
def test_invalid_input_size_shows_the_message_not_a_traceback(lang):
    at = app_test(PAGE, lang=lang, query={"model": "resnet50"}, timeout=TIMEOUT)
    at.toggle(key="explorer_top").set_value(False).run(timeout=TIMEOUT)
    at.number_input(key="explorer_size").set_value(16).run(timeout=TIMEOUT)
    assert [e.value for e in at.exception] == []
    errors = [e.body for e in at.error]
    assert len(errors) == 1 and "32" in errors[0] and "16" in errors[0]
    assert errors[0] == zoo.InvalidModelOptions("zoo.error.input_too_small", model="ResNet50", min=32,
                                                got="16×16").message(lang)
    # The rest of the page stays usable: fix the size and the model appears.
    at.number_input(key="explorer_size").set_value(96).run(timeout=TIMEOUT)
    _no_failures(at)
    assert _metric(at, "explorer.m_params", lang) == "23,587,712"  # ResNet50 without its 1000-class head


def test_input_size_changes_macs_not_params():
    at = app_test(PAGE, lang="en", query={"model": "mobilenetv3small"}, timeout=TIMEOUT)
    at.toggle(key="explorer_top").set_value(False).run(timeout=TIMEOUT)
    base = _metric(at, "explorer.m_macs", "en")
    at.number_input(key="explorer_size").set_value(112).run(timeout=TIMEOUT)
    _no_failures(at)
    assert _metric(at, "explorer.m_macs", "en") != base


def test_fixed_size_models_say_so():
    at = app_test(PAGE, lang="en", query={"model": "alexnet"}, timeout=TIMEOUT)
    _no_failures(at)
    assert not at.number_input
    assert translate("explorer.input_fixed", "en", size="227×227") in all_text(at)
    assert _metric(at, "explorer.m_params", "en") == "62,378,344"


def test_layer_table_filters():
    at = app_test(PAGE, lang="en", query={"model": "resnet50"}, timeout=TIMEOUT)
    _open_tab(at, "layers")
    _no_failures(at)
    df = at.dataframe[0].value
    assert len(df) == 177 and df["params"].sum() == 25_636_712
    at.multiselect(key="explorer_types_resnet50-224-top").set_value(["Dense"]).run(timeout=TIMEOUT)
    df = at.dataframe[0].value
    assert list(df["name"]) == ["predictions"] and int(df["params"].iloc[0]) == 2_049_000
    at.multiselect(key="explorer_types_resnet50-224-top").set_value([]).run(timeout=TIMEOUT)
    at.multiselect(key="explorer_stages_resnet50-224-top").set_value(["conv5"]).run(timeout=TIMEOUT)
    at.text_input(key="explorer_search_resnet50-224-top").set_value("block3_3").run(timeout=TIMEOUT)
    df = at.dataframe[0].value
    assert list(df["name"]) == ["conv5_block3_3_conv", "conv5_block3_3_bn"]


def test_charts_tab_in_spanish():
    at = app_test(PAGE, lang="es", query={"model": "vgg16"}, timeout=TIMEOUT)
    _open_tab(at, "charts", "es")
    _no_failures(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 6
    text = all_text(at)
    assert translate("explorer.explain_resolution", "es") in text
    # VGG16's classroom point, computed from the model: ~89% of its parameters are in FC layers.
    assert translate("explorer.explain_fc_share", "es", share="89.4") in text


def test_compare_tab_homework_four():
    at = app_test(PAGE, lang="en", query={"model": "convnexttiny"}, timeout=TIMEOUT)
    _open_tab(at, "compare")
    _no_failures(at)
    assert at.multiselect(key="explorer_compare").value == ["convnexttiny", "resnet50"]
    at.button(key="explorer_compare_hw").click().run(timeout=TIMEOUT)
    _no_failures(at)
    table = at.dataframe[0].value
    assert list(table[translate("explorer.col_model", "en")]) == [
        "ResNet50", "EfficientNetB0", "MobileNetV3Small", "ConvNeXtTiny"]
    assert list(table[translate("explorer.m_params", "en")]) == [25_636_712, 5_330_571, 2_554_968, 28_589_128]
    assert len(at.get("plotly_chart")) == 4


def test_downloads_tab():
    from cnnviz import charts

    at = app_test(PAGE, lang="en", query={"model": "mobilenetv3small"}, timeout=TIMEOUT)
    _open_tab(at, "downloads")
    _no_failures(at)
    buttons = at.get("download_button")
    expected = 5 if charts.png_export_available() else 4
    assert len(buttons) == expected
    if expected == 4:
        assert translate("explorer.dl_png_unavailable", "en") in all_text(at)


def test_netron_tab_starts_a_loopback_server(monkeypatch, tmp_path):
    from cnnviz import netron_server

    monkeypatch.setenv("CNNVIZ_NETRON_DIR", str(tmp_path))
    monkeypatch.delenv("CNNVIZ_NETRON_HOST", raising=False)
    at = app_test(PAGE, lang="es", query={"model": "mobilenetv3small"}, timeout=TIMEOUT)
    _open_tab(at, "netron", "es")
    _no_failures(at)
    assert translate("explorer.netron_privacy", "es") in all_text(at)
    try:
        at.button(key="explorer_netron_btn_mobilenetv3small-224-top").click().run(timeout=TIMEOUT)
        _no_failures(at)
        server = netron_server.get("mobilenetv3small-224-top")
        assert server is not None and server.host == "127.0.0.1"
        iframe = [el for el in at.get("iframe")]
        assert iframe and iframe[0].proto.src == server.url
        assert translate("explorer.netron_url", "es", url=server.url) in all_text(at)
    finally:
        netron_server.stop_all()


def test_netron_failure_leaves_the_page_working(monkeypatch, tmp_path):
    from cnnviz import netron_server

    monkeypatch.setenv("CNNVIZ_NETRON_DIR", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_NETRON_HOST", "203.0.113.7")  # not an address of this machine
    at = app_test(PAGE, lang="en", query={"model": "mobilenetv3small"}, timeout=TIMEOUT)
    _open_tab(at, "netron")
    at.button(key="explorer_netron_btn_mobilenetv3small-224-top").click().run(timeout=TIMEOUT)
    assert [e.value for e in at.exception] == []
    assert any("203.0.113.7" in e.body for e in at.error)
    assert _metric(at, "explorer.m_params", "en") == "2,554,968"  # the rest of the page is there
    netron_server.stop_all()


def test_expired_netron_viewer_is_announced_with_the_fix(monkeypatch):
    import datetime as dt

    from cnnviz import netron_server

    built = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=200)
    monkeypatch.setattr(netron_server, "viewer_status",
                        lambda: netron_server.ViewerStatus(installed=True, version="9.3.3", build_date=built))
    at = app_test(PAGE, lang="es", query={"model": "mobilenetv3small"}, timeout=TIMEOUT)
    _open_tab(at, "netron", "es")
    _no_failures(at)
    warnings = [w.body for w in at.warning]
    assert any("pip install -U netron" in w and "200" in w for w in warnings)


def test_missing_netron_leaves_the_page_working(monkeypatch):
    from cnnviz import netron_server

    monkeypatch.setattr(netron_server, "viewer_status",
                        lambda: netron_server.ViewerStatus(installed=False, error="ImportError: no netron"))
    at = app_test(PAGE, lang="en", query={"model": "mobilenetv3small"}, timeout=TIMEOUT)
    _open_tab(at, "netron")
    assert [e.value for e in at.exception] == []
    assert any("pip install netron" in e.body for e in at.error)
    assert not at.button  # no start button without Netron
    assert _metric(at, "explorer.m_params", "en") == "2,554,968"
