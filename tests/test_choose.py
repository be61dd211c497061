"""Pick by constraint: qualification, the Pareto front, latencies measured here and kept,
and the page in both languages (nothing invented: unmeasured models say so)."""

from __future__ import annotations

import json

import pytest
from conftest import app_test

from cnnviz import cache, choose
from cnnviz.i18n import translate

PAGE = "pages/choose.py"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))


def test_pareto_front():
    pts = [("a", 10, 70), ("b", 20, 75), ("c", 15, 69), ("d", 30, 74), ("e", 40, 80), ("f", 10, 65)]
    assert choose.pareto_front(pts) == ["a", "b", "e"]
    assert choose.pareto_front([]) == []


def _cand(**kw):
    base = dict(name="m", display_name="M", family="F", top1=75.0, source="paper", params=5_000_000,
                latency_ms={"tf": 20.0}, weights={"tf": "random"})
    base.update(kw)
    return choose.Candidate(**base)


def test_qualifies():
    c = _cand()
    assert c.size_mb == pytest.approx(5e6 * 4 / 2**20)
    assert choose.qualifies(c, "tf", max_ms=25, min_top1=70, max_mb=50) is True
    assert choose.qualifies(c, "tf", max_ms=15, min_top1=70, max_mb=50) is False
    assert choose.qualifies(c, "tf", max_ms=25, min_top1=80, max_mb=50) is False
    assert choose.qualifies(c, "tf", max_ms=25, min_top1=70, max_mb=10) is False
    assert choose.qualifies(c, "litert", max_ms=25, min_top1=70, max_mb=50) is None  # never measured
    assert choose.qualifies(_cand(top1=None), "tf", max_ms=25, min_top1=70, max_mb=50) is False


def test_nothing_measured_nothing_invented():
    cands = choose.candidates("en")
    assert cands and all(c.latency_ms == {} for c in cands)
    resnet = next(c for c in cands if c.name == "resnet50")
    assert resnet.top1 is not None and resnet.source and resnet.params == 25_636_712


def test_measure_keeps_latencies_on_disk():
    results = choose.measure(["mobilenetv3small"], "tf", runs=2)
    assert isinstance(results["mobilenetv3small"], float) and results["mobilenetv3small"] > 0
    data = json.loads(choose.store_path().read_text())
    row = data["models"]["mobilenetv3small"]["tf"]
    assert row["weights"] == "random" and row["runs"] == 2 and row["ms"] == results["mobilenetv3small"]
    c = next(c for c in choose.candidates() if c.name == "mobilenetv3small")
    assert c.latency("tf") == results["mobilenetv3small"] and c.latency("litert") is None
    assert any(s.file_name == choose.FILE for s in cache.derived_status(choose.KIND))
    cache.clear_derived(choose.KIND)
    assert choose.load_measurements() == {}


def _fake_measurements():
    models = {"mobilenetv3small": {"tf": {"ms": 12.0, "weights": "random", "runs": 5}},
              "resnet50": {"tf": {"ms": 80.0, "weights": "random", "runs": 5}},
              "convnexttiny": {"tf": {"ms": 300.0, "weights": "random", "runs": 5}}}
    path = choose.store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": choose.machine_id(), "models": models}))


@pytest.mark.parametrize("lang", ["en", "es"])
def test_page_unmeasured_then_measured(lang):
    at = app_test(PAGE, lang=lang)
    assert not at.exception
    assert at.title[0].value == translate("choose.title", lang)
    engine = translate("infer.engine.litert", lang, device="CPU")
    assert translate("choose.none_measured", lang, engine=engine) in [i.value for i in at.info]
    table = at.dataframe[0].value
    assert set(table[translate("choose.col.latency", lang)]) == {translate("choose.not_measured", lang)}

    _fake_measurements()
    at = app_test(PAGE, lang=lang)
    at.radio(key="choose_engine").set_value("tf").run()
    at.slider(key="choose_ms").set_value(100).run()
    at.slider(key="choose_top1").set_value(70.0).run()
    assert not at.exception
    success = [s.value for s in at.success]
    assert success and "ResNet50" in success[0]  # 80 ms, 76 % beats MobileNetV3Small's 68 %
    table = at.dataframe[0].value
    front = table[table[translate("choose.col.front", lang)] == translate("choose.verdict.yes", lang)]
    assert set(front[translate("choose.col.model", lang)]) == {"MobileNetV3Small", "ResNet50", "ConvNeXtTiny"}
