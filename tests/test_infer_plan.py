"""cnnviz.infer.plan: the one decision of how a model loads (device, engine, reason, page model,
conversion), the result records (frozen LoadedModel, Prediction.from_dict), and the one engine and
model labels. No model is built here: the plan is cheap by design."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from cnnviz import device, infer, litert
from cnnviz.infer import plan as plan_module
from cnnviz.model_labels import model_label


@pytest.fixture
def cpu_machine(monkeypatch):
    """A machine without a GPU, with LiteRT installed, and no CNNVIZ_ENGINE/FORCE_CPU setting."""
    monkeypatch.delenv("CNNVIZ_ENGINE", raising=False)
    monkeypatch.delenv("CNNVIZ_FORCE_CPU", raising=False)
    monkeypatch.setattr(plan_module, "probe", lambda: device.CPU)
    monkeypatch.setattr(litert, "runtime", lambda: (object, "ai-edge-litert"))


def test_imagenet_on_a_cpu_tries_litert_without_a_page_model(cpu_machine):
    plan = infer.plan_load("resnet50", "imagenet")
    assert plan.device == device.CPU and plan.engine == "litert" and plan.why_key is None
    assert plan.reason("en") is None and not plan.forced
    assert not plan.page_model  # LiteRT converts the cached ImageNet file itself


def test_random_weights_stay_on_tensorflow_and_say_why(cpu_machine):
    plan = infer.plan_load("resnet50", None)
    assert plan.engine == "tf" and plan.why_key == "infer.engine.why.random" and plan.page_model
    assert plan.reason("en") == infer.Engine("tf", "CPU", "tensorflow", why_key=plan.why_key).reason("en")
    assert not plan.needs_conversion()  # TensorFlow answers: nothing to convert


def test_the_server_setting_moves_auto(cpu_machine, monkeypatch):
    monkeypatch.setenv("CNNVIZ_ENGINE", "tf")
    assert infer.plan_load("resnet50", "imagenet").why_key == "infer.engine.why.setting"
    monkeypatch.setenv("CNNVIZ_ENGINE", "litert")
    random = infer.plan_load("resnet50", None)
    assert random.engine == "litert"
    assert random.needs_conversion()  # random weights built for this load: always a new conversion
    monkeypatch.setenv("CNNVIZ_ENGINE", "nonsense")  # refused, naming the variable and what it accepts
    from cnnviz.settings import SettingError

    with pytest.raises(SettingError) as err:
        infer.server_engine()
    assert all(word in str(err.value) for word in ("CNNVIZ_ENGINE", "nonsense", "litert"))


def test_a_gpu_keeps_tensorflow_unless_litert_is_forced(cpu_machine):
    gpu = device.Device("GPU", "NVIDIA T4", "/GPU:0", compute_capability=(7, 5), mixed_precision=True)
    auto = infer.plan_load("resnet50", "imagenet", device=gpu)
    assert auto.engine == "tf" and auto.why_key == "infer.engine.why.gpu"
    assert not auto.page_model  # mixed precision needs a model built for that device
    forced = infer.plan_load("resnet50", "imagenet", device=gpu, engine="litert")
    assert forced.engine == "litert" and forced.forced and forced.litert_device == device.CPU


def test_litert_missing_is_a_reason_and_forced_litert_an_error(cpu_machine, monkeypatch):
    def missing():
        raise litert.LiteRTUnavailable("no ai-edge-litert")

    monkeypatch.setattr(litert, "runtime", missing)
    plan = infer.plan_load("mobilenetv3small", "imagenet")
    assert plan.engine == "tf" and plan.why_key == "infer.engine.why.unavailable"
    assert "no ai-edge-litert" in plan.reason("en")
    assert not infer.conversion_needed("mobilenetv3small", "imagenet", engine="litert")
    with pytest.raises(infer.EngineUnavailableError):
        infer.load_predictor("mobilenetv3small", "imagenet", engine="litert")


def test_engine_tf_never_converts_and_bad_arguments_are_refused(cpu_machine):
    assert infer.plan_load("resnet50", "imagenet", engine="tf").engine == "tf"
    assert not infer.conversion_needed("resnet50", None, engine="tf")
    with pytest.raises(infer.InvalidEngineError):
        infer.plan_load("resnet50", "imagenet", engine="onnx")
    with pytest.raises(infer.InvalidWeightsError):
        infer.plan_load("resnet50", "/tmp/x.h5")


def test_imagenet_weights_not_cached_need_the_download_first(cpu_machine):
    # The test cache is empty: the load downloads first (and may fail); no conversion is promised.
    assert not infer.plan_load("mobilenetv3small", "imagenet").needs_conversion()


def test_a_cpu_only_plan_does_not_import_tensorflow():
    code = ("import sys; from cnnviz import infer; p = infer.plan_load('resnet50', None, engine='auto'); "
            "print(p.device.kind, 'tensorflow' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k not in ("CNNVIZ_FORCE_CPU", "CNNVIZ_ENGINE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    kind, tf_loaded = out.stdout.split()
    assert kind == "GPU" or tf_loaded == "False"  # on a CPU-only machine the plan needs no TensorFlow


def test_loaded_model_is_immutable_and_prediction_round_trips():
    record = infer.LoadedModel(infer.Engine("tf", "CPU", "tensorflow"), (224, 224), 1000, device.CPU, 12.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.classes = 10
    probs = np.full(1000, 1e-3, np.float32)
    p = infer.Prediction("resnet50", "ResNet50", None, [("class 0", 1e-3, 0)], probs, 1.0, 2.0, [2.0, 2.1], 2, 30.0,
                         "CPU", "CPU", (224, 224), False, 1.0, "litert", "LiteRT · XNNPACK · CPU", None)
    back = infer.Prediction.from_dict(p.to_dict(include_probs=True))
    assert back.to_dict(include_probs=True) == p.to_dict(include_probs=True)
    assert back.engine == "litert" and back.weights is None and back.input_size == (224, 224)


def test_one_engine_label_and_one_model_label():
    assert infer.engine_label("litert", "CPU", "en") == "LiteRT · XNNPACK · CPU"
    assert infer.engine_label("tf", "GPU", "en") == infer.Engine("tf", "GPU", "tensorflow").label("en")
    assert model_label("resnet50") == "ResNet50"
    assert model_label("resnet50", detail=True) == "ResNet · ResNet50 (2015) ★"
    assert model_label("with_se", "en") == "With SE"
    assert model_label("with_se", "es") != "with_se"
    assert model_label("my_notebook_net") == "my_notebook_net"
