"""int8 LiteRT (issue 21): the engine names, the agreement report, the honest peak, and real
conversions of a small model to both int8 kinds (full-integer and dynamic-range)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnviz import infer, litert
from cnnviz.bench import machine
from cnnviz.i18n import translate
from cnnviz.infer import quantized

SMALL = "cifar10_v1"  # 15k parameters, 32×32: converts in seconds
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- names and labels

def test_engine_names_and_plans():
    assert {"litert-int8", "litert-dynamic"} <= set(infer.ENGINES)
    for engine, quant in (("litert", "fp32"), ("litert-int8", "int8"), ("litert-dynamic", "dynamic")):
        plan = infer.plan_load("mobilenetv3small", "imagenet", engine=engine)
        assert plan.engine == "litert" and plan.quant == quant and plan.forced and plan.engine_id == engine
    assert infer.plan_load("mobilenetv3small", "imagenet", engine="tf").quant == "fp32"
    with pytest.raises(infer.InvalidEngineError):
        infer.plan_load("mobilenetv3small", "imagenet", engine="int8")


def test_the_server_setting_moves_auto_to_int8(monkeypatch):
    monkeypatch.setenv(infer.ENGINE_ENV, "litert-int8")
    plan = infer.plan_load("mobilenetv3small", None)
    assert plan.engine == "litert" and plan.quant == "int8" and not plan.forced


def test_engine_labels_say_what_changed():
    assert "int8" in infer.engine_label("litert-int8", "CPU", "en") and "full-integer" in infer.engine_label(
        "litert-int8", "CPU", "en")
    assert "entero completo" in infer.engine_label("litert-int8", "CPU", "es")
    assert "dynamic-range" in infer.engine_label("litert-dynamic", "CPU", "en")
    assert "rango dinámico" in infer.engine_label("litert-dynamic", "CPU", "es")
    assert infer.engine_label("litert", "CPU", "en") == "LiteRT · XNNPACK · CPU"
    assert "litert-int8" in translate("infer.error.engine_value", "es", engine="x")


def test_conversion_stems_keep_the_kinds_apart():
    stems = {q: litert.stem("m", "w0123456789abcdef0", q) for q in litert.QUANTS}
    assert len(set(stems.values())) == 3 and "-int8-" in stems["int8"] and "-dynamic-" in stems["dynamic"]
    assert "-int8" not in stems["fp32"]
    with pytest.raises(ValueError):
        litert.stem("m", "w0", "int4")


# --------------------------------------------------------------------------- agreement

def test_agreement_reports_instead_of_refusing():
    ref = np.array([[0.6, 0.2, 0.1, 0.05, 0.05, 0.0],    # confident; test agrees
                    [0.25, 0.24, 0.2, 0.15, 0.1, 0.06],  # unsure; test's top-1 is ref's 3rd
                    [0.5, 0.3, 0.1, 0.05, 0.03, 0.02],   # confident; test's top-1 is ref's 5th
                    [0.2, 0.2, 0.2, 0.2, 0.1, 0.1]])
    test = np.array([[0.5, 0.3, 0.1, 0.05, 0.05, 0.0],
                     [0.2, 0.2, 0.3, 0.15, 0.1, 0.05],
                     [0.1, 0.1, 0.1, 0.1, 0.5, 0.1],
                     [0.3, 0.2, 0.2, 0.1, 0.1, 0.1]])
    r = quantized.agreement(ref, test, ["a", "b", "c", "d"])
    assert r["n"] == 4 and r["top1_same"] == 2 and r["top1_rate"] == 0.5
    assert r["in_top3"] == 3 and r["confident_n"] == 2 and r["confident_same"] == 1
    assert [m["input"] for m in r["moved"]] == ["b", "c"] and r["moved"][1]["quant_class"] == 4
    assert r["finite"] and 0 < r["top5_overlap"] <= 1
    assert "top-1 same 2/4" in quantized.summary(r) and "confident (p ≥ 0.3) same 1/2" in quantized.summary(r)
    bad = quantized.agreement(ref, np.full_like(test, np.nan))
    assert not bad["finite"]
    with pytest.raises(ValueError):
        quantized.agreement(ref, test[:, :5])


def test_photo_sets():
    names = quantized.photo_names()
    assert len(names) >= 12 and "chelsea.png" in names
    xs, tags = quantized.evaluation_inputs(SMALL, (32, 32))
    assert xs.shape == (4 * len(names), 32, 32, 3) and xs.dtype == np.float32 and len(tags) == len(xs)
    cal = quantized.calibration_set(SMALL, (32, 32))
    assert cal.shape[0] == quantized.CALIBRATION_PER_PHOTO * len(names)
    assert np.array_equal(cal, quantized.calibration_set(SMALL, (32, 32)))  # seeded
    assert not np.array_equal(cal[: len(xs)], xs[: len(cal)])  # other framings than the evaluation's


# --------------------------------------------------------------------------- the honest peak

def test_peak_share_is_never_above_100_percent():
    peak = {"gflops_median": 200.0, "source": "numpy-blas"}
    assert machine.peak_share(100.0, peak) == 0.5
    assert machine.peak_share(300.0, peak) == 1.0
    assert machine.peak_share(None, peak) is None and machine.peak_share(10.0, {}) is None
    honest = machine.honest_peak(peak, {"ResNet50 litert": 330.0, "MobileNet litert": 50.0})
    assert honest["gflops_median"] == 330.0 and honest["source"] == "ResNet50 litert (above every matmul)"
    assert honest["matmul"] == {"source": "numpy-blas", "gflops_median": 200.0}
    shares = [machine.peak_share(r, honest) for r in (330.0, 50.0)]
    assert shares == [1.0, pytest.approx(50 / 330)]
    assert machine.honest_peak(peak, {"x": 150.0}) == peak  # below the matmul: unchanged
    i8 = machine.honest_peak({"gops_median": 100.0}, {"y": 120.0}, "gops_median")
    assert i8["gops_median"] == 120.0


# --------------------------------------------------------------------------- real conversions

@pytest.mark.slow
@pytest.mark.parametrize("engine,quant", [("litert-int8", "int8"), ("litert-dynamic", "dynamic")])
def test_a_small_model_converts_to_int8(engine, quant):
    from cnnviz import samples

    fp32 = infer.load_predictor(SMALL, None, engine="litert", runs=1)
    q = infer.load_predictor(SMALL, None, engine=engine, runs=1)
    assert q.engine.id == engine and q.engine.is_litert and q.engine.is_quantized
    p = q.predict(samples.load_sample("cat"))
    assert p.engine == engine and abs(float(p.probs.sum()) - 1) < 1e-3
    files = sorted(litert.folder().glob(f"{SMALL}-*-{quant}-*.tflite"))
    assert len(files) == 1 and q.model_bytes == files[0].stat().st_size
    assert q.model_bytes < fp32.model_bytes  # int8 weights: about a quarter of fp32's
    meta = json.loads(files[0].with_suffix(".json").read_text())
    assert meta["quant"] == quant and meta["bytes"] == q.model_bytes
    if quant == "int8":
        assert meta["calibration"]["inputs"] == quantized.CALIBRATION_PER_PHOTO * len(quantized.photo_names())
    check = q.engine.check
    assert check["quantized"] and check["agree"] and check["atol"] is None
    assert check["agreement"]["n"] == 4 * len(quantized.photo_names())
    again = infer.load_predictor(SMALL, None, model=q.model, engine=engine, runs=1)
    assert again.engine.id == engine


@pytest.mark.slow
def test_cli_predict_engine_litert_int8(tmp_path):
    from cnnviz import samples

    img = tmp_path / "cat.png"
    samples.load_sample("cat").save(img)
    env = {**__import__("os").environ, "CNNVIZ_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-m", "cnnviz", "predict", str(img), "--models", SMALL,
                          "--random-weights", "--engine", "litert-int8", "--json", "--runs", "2"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    row = json.loads(out.stdout)["results"][0]
    assert row["engine"] == "litert-int8" and "int8" in row["engine_label"]
    assert row["engine_check"]["quantized"] and row["model_bytes"] > 0


# --------------------------------------------------------------------------- the compare view's int8 columns

@pytest.mark.parametrize("lang", ["en", "es"])
def test_compare_table_int8_columns(lang, monkeypatch):
    from types import SimpleNamespace

    from cnnviz.ui import classify

    monkeypatch.setattr(classify, "current_lang", lambda: lang)
    monkeypatch.setattr(classify, "t", lambda key, **kw: translate(key, lang, **kw))

    def pred(engine, ms, top):
        probs = np.zeros(10, np.float32)
        probs[top] = 1.0
        return SimpleNamespace(engine=engine, device_kind="CPU", inference_ms=ms, top1=(f"c{top}", 1.0, top),
                               top5=[(f"c{top}", 1.0, top)], probs=probs, labels_available=False)

    row = classify.EngineRow("m", "M", tf=pred("tf", 10.0, 3), lite=pred("litert", 4.0, 3),
                             int8=pred("litert-int8", 2.0, 5), sizes={"litert": 20e6, "litert-int8": 5.2e6},
                             int8_check={"n": 64, "top1_same": 60, "in_top3": 64})
    (cells,) = classify.engine_rows_table([row])
    assert cells[translate("classify.engines.col.int8_speedup", lang)] == 2.0
    assert cells[translate("classify.engines.col.int8_same", lang)] == translate("classify.engines.no", lang)
    assert cells[translate("classify.engines.col.sizes", lang)] == "20.0 → 5.2"
    assert "60/64" in cells[translate("classify.engines.col.int8_photos", lang)]
    int8_col = translate("classify.engines.col.int8", lang, engine=infer.engine_label("litert-int8", "CPU", lang))
    assert cells[int8_col] == 2.0 and "int8" in int8_col
