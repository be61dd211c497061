"""The homework's verdict follows the numbers; the report names every model with its numbers."""

from __future__ import annotations

import csv
import io

import pytest

from cnnviz.homework import report, verdict
from cnnviz.homework.script import reproduce_script


def entry(fe, ft, ms, params=1000):
    return {"fe_accuracy": fe, "ft_accuracy": ft, "fe_val_accuracy": fe - 0.05, "ft_val_accuracy": None if ft is None else ft - 0.05,
            "inference_ms": ms, "params": params, "trainable_params_fe": 10,
            "trainable_params_ft": 500, "train_seconds": 12.5, "confusion": [[2, 0], [1, 1]],
            "fe_history": {"accuracy": [0.4, 0.6], "val_accuracy": [0.5, 0.55]},
            "ft_history": {"accuracy": [0.7], "val_accuracy": [0.6]}, "times": {"fe_train_s": 1.0},
            "unfreeze": {"first_unfrozen": "x", "cut_after": "y", "layers": ["x"]}}


def four(**over):
    models = {"resnet50": entry(0.70, 0.80, 90.0, 25_000_000), "efficientnetb0": entry(0.75, 0.85, 40.0, 4_000_000),
              "mobilenetv3small": entry(0.60, 0.70, 12.0, 1_000_000), "convnexttiny": entry(0.80, 0.90, 100.0, 28_000_000)}
    for k, v in over.items():
        models[k] = v
    return models


def test_met_when_convnext_most_accurate_and_mobilenet_fastest():
    v = verdict.evaluate(four(), test_images=20)
    assert v["status"] == "met" and v["accuracy_winner"] == "convnexttiny" and v["speed_winner"] == "mobilenetv3small"
    assert v["baseline"]["accuracy"] == 0.80
    text = verdict.text(v, "en")
    assert text.startswith("Criterion met.") and "ConvNeXtTiny was the most accurate (90.0%" in text
    assert "MobileNetV3Small was the fastest (12.0 ms" in text and "EfficientNetB0 +5.0" in text
    assert any("20 test images" in c for c in verdict.caveats(v, "en"))


def test_not_met_says_why():
    v = verdict.evaluate(four(resnet50=entry(0.70, 0.95, 10.0)))
    assert v["status"] == "not_met" and not v["accuracy_ok"] and not v["speed_ok"]
    text = verdict.text(v, "en")
    assert "ResNet50 was the most accurate (95.0%), not ConvNeXtTiny (90.0%) nor EfficientNetB0 (85.0%)" in text
    assert "ResNet50 was faster (10.0 ms per image) than MobileNetV3Small (12.0 ms)" in text
    assert verdict.text(v, "es").startswith("Criterio no cumplido.")


def test_tie_counts_and_phase1_is_the_fallback():
    v = verdict.evaluate(four(resnet50=entry(0.70, 0.90, 90.0)))
    assert v["status"] == "met" and set(v["accuracy_winner"]) == {"resnet50", "convnexttiny"}
    v = verdict.evaluate(four(efficientnetb0=entry(0.99, None, 40.0)))
    assert v["accuracy_winner"] == "efficientnetb0" and v["status"] == "met"


def test_incomplete_without_the_four():
    models = four()
    del models["convnexttiny"]
    v = verdict.evaluate(models, random_weights=True)
    assert v["status"] == "incomplete" and "ConvNeXtTiny" in verdict.text(v, "en")
    assert v["caveats"][0]["key"] == "homework.caveat.random"


@pytest.mark.parametrize("lang", ["en", "es"])
def test_report_names_every_model_with_its_numbers(lang):
    models = four()
    data = {"models": models, "verdict": verdict.evaluate(models, test_images=20), "class_names": ["a", "b"],
            "settings": {"fe_epochs": 2, "ft_epochs": 1, "seed": 0, "models": list(models), "random_weights": False,
                         "dropout": 0.2, "fe_learning_rate": 1e-3, "ft_learning_rate": 1e-5, "batch_size": 16,
                         "inference_runs": 10, "unfreeze": "stage"},
            "dataset": {"name": "mine.zip", "images": 40, "counts": {"a": 20, "b": 20}, "refused": []},
            "split": {"train": ["a/1.png"], "val": ["a/2.png"], "test": ["b/3.png"]}, "device": "CPU", "seconds": 42}
    html = report.render_html(data, lang)
    assert html.startswith("<!DOCTYPE html>") and f"lang='{lang}'" in html
    outside = html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a namespace name, not a fetch
    assert "http://" not in outside and "https://" not in outside and "<script" not in html  # self-contained
    for name, display in [("resnet50", "ResNet50"), ("efficientnetb0", "EfficientNetB0"),
                          ("mobilenetv3small", "MobileNetV3Small"), ("convnexttiny", "ConvNeXtTiny")]:
        m = models[name]
        row = f"<tr><td>{display}</td><td>{100 * m['fe_val_accuracy']:.1f}%</td><td>{100 * m['fe_accuracy']:.1f}%</td>" \
              f"<td>{100 * m['ft_val_accuracy']:.1f}%</td><td>{100 * m['ft_accuracy']:.1f}%</td><td>{m['params']:,}</td>"
        assert row in html, row
        assert f"<td>{m['inference_ms']:.1f}</td>" in html
    status = "Criterion met." if lang == "en" else "Criterio cumplido."
    assert f"<b>{status}</b>" in html and html.count("<svg") >= 6
    rows = list(csv.DictReader(io.StringIO(report.table_csv(data))))
    assert [r["model"] for r in rows] == list(models)
    assert float(rows[3]["ft_accuracy"]) == 0.90 and float(rows[2]["inference_ms"]) == 12.0
    script = reproduce_script(data)
    compile(script, "reproduce.py", "exec")
    assert "keras.applications" in script and "b/3.png" in script
