"""cnnviz.infer: predictors for the homework four (random weights), preprocessing equal to
Keras' own, device choice and its fallback, the busy lock, and the predict CLI.

Pretrained weights cannot be downloaded here: tests/test_infer_weights.py serves them from a
loopback HTTP server through the real cache code.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from PIL import Image

from cnnviz import HOMEWORK_MODELS, device, images, infer
from cnnviz.zoo import pretrained


def photo(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    """A deterministic, textured RGB picture (random weights do not care what it shows)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], axis=-1)
    noise = rng.normal(0, 20, size=base.shape)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype("uint8"), "RGB")


@pytest.fixture(scope="module")
def predictors(model_factory):
    """The homework four, random weights, sharing the session's models."""
    return {n: infer.load_predictor(n, None, model=model_factory(n), runs=3) for n in HOMEWORK_MODELS}


# --------------------------------------------------------------------------- predictions

@pytest.mark.parametrize("name", HOMEWORK_MODELS)
def test_predict_homework_model(predictors, name):
    p = predictors[name]
    assert p.device.kind == "CPU"
    assert p.input_size == (224, 224)
    result = p.predict(photo(), runs=4)
    assert result.model == name and result.weights is None and result.random_weights
    assert result.probs.shape == (1000,) and result.probs.dtype == np.float32
    assert abs(float(result.probs.sum(dtype=np.float64)) - 1.0) < 1e-3
    assert (result.probs >= 0).all()
    assert len(result.top5) == 5
    probs = [prob for _, prob, _ in result.top5]
    assert probs == sorted(probs, reverse=True)
    assert probs[0] == pytest.approx(float(result.probs.max()))
    for label, prob, index in result.top5:
        assert isinstance(index, int) and 0 <= index < 1000
        assert result.probs[index] == pytest.approx(prob)
        # Keras' class index is not in the (empty) cache: the names come from the installed package.
        assert label == pretrained.load_labels()[index].replace("_", " ") and not label.startswith("class ")
    assert result.labels_available
    assert result.runs == 4 and len(result.times_ms) == 4
    assert all(v > 0 for v in result.times_ms)
    assert result.inference_ms == pytest.approx(float(np.median(result.times_ms)))
    assert result.preprocess_ms > 0 and result.first_call_ms > 0 and p.load_ms > 0
    assert result.device == "CPU" and result.device_kind == "CPU"
    json.dumps(result.to_dict(include_probs=True))  # JSON-ready


def test_one_trace_per_model_and_default_runs(predictors):
    p = predictors["mobilenetv3small"]
    for size in [(300, 200), (50, 80), (1024, 768)]:
        p.predict(photo(*size))
    assert p.runner.fn.experimental_get_tracing_count() == 1  # the fixed input signature never retraces
    assert p.predict(photo()).runs == 3  # the predictor's default


def test_same_image_same_answer(predictors):
    p = predictors["efficientnetb0"]
    a, b = p.predict(photo(seed=1), runs=1), p.predict(photo(seed=1), runs=2)
    np.testing.assert_array_equal(a.probs, b.probs)


def test_params_and_size(predictors):
    assert predictors["resnet50"].params == 25_636_712  # shared/facts.md
    assert predictors["mobilenetv3small"].params == 2_554_968
    assert predictors["resnet50"].size_mb == pytest.approx(25_636_712 * 4 / 2**20)  # ≈ the Keras table's 98 MB


def test_labels_from_the_cache(predictors, monkeypatch):
    from cnnviz.zoo import pretrained

    names = [f"name_{i}" for i in range(1000)]
    monkeypatch.setattr(pretrained, "load_labels", lambda: names)
    result = predictors["mobilenetv3small"].predict(photo(), runs=1)
    assert result.labels_available
    assert [lbl for lbl, _, _ in result.top5] == [f"name {i}" for _, _, i in result.top5]  # "_" → " "


def test_wrong_label_count_falls_back_to_numbers(predictors, monkeypatch):
    from cnnviz.zoo import pretrained

    monkeypatch.setattr(pretrained, "load_labels", lambda: ["only", "three", "names"])
    result = predictors["mobilenetv3small"].predict(photo(), runs=1)
    assert not result.labels_available and result.top5[0][0].startswith("class ")


@pytest.mark.parametrize("runs", [0, -1, 101, 2.5, "3", True])
def test_invalid_runs(predictors, runs):
    with pytest.raises(infer.InvalidRunsError) as err:
        predictors["mobilenetv3small"].predict(photo(), runs=runs)
    assert repr(runs) in str(err.value) and "1 to 100" in str(err.value)
    assert "1 a 100" in err.value.message("es")


def test_not_an_image(predictors):
    with pytest.raises(infer.NotAnImageError) as err:
        predictors["mobilenetv3small"].predict(np.zeros((224, 224, 3)))
    assert "ndarray" in str(err.value) and "load_image" in str(err.value)


def test_bad_weights_value():
    with pytest.raises(infer.InvalidWeightsError) as err:
        infer.load_predictor("mobilenetv3small", "imagenet21k")
    assert "'imagenet21k'" in str(err.value)


def test_unknown_model_lists_close_matches():
    from cnnviz import zoo

    with pytest.raises(zoo.UnknownModelError) as err:
        infer.load_predictor("resnet5", None)
    assert "resnet50" in str(err.value)


def test_logits_model_gets_a_softmax():
    import keras

    logits = keras.applications.MobileNetV3Small(weights=None, classifier_activation=None, input_shape=(96, 96, 3))
    p = infer.Predictor("mobilenetv3small", None, model=logits, runs=1)
    assert p.applied_softmax and p.input_size == (96, 96)
    result = p.predict(photo())
    assert abs(float(result.probs.sum()) - 1.0) < 1e-3


def test_broken_output_is_refused(predictors, monkeypatch):
    p = predictors["mobilenetv3small"]
    monkeypatch.setattr(p.runner, "fn", lambda x: _Fake(np.full((1, 1000), 0.5, np.float32)))
    with pytest.raises(infer.BadProbabilitiesError) as err:
        p.predict(photo(), runs=1)
    assert "500" in str(err.value)


class _Fake:
    def __init__(self, value):
        self.value = value

    def numpy(self):
        return self.value


# --------------------------------------------------------------------------- preprocessing

FAMILIES = {
    # registry name: (keras.applications module, input size)
    "resnet50": ("resnet50", 224),
    "vgg16": ("vgg16", 224),
    "mobilenetv2": ("mobilenet_v2", 224),
    "inceptionv3": ("inception_v3", 299),
    "xception": ("xception", 299),
    "densenet121": ("densenet", 224),
    "efficientnetb0": ("efficientnet", 224),
    "mobilenetv3small": ("mobilenet_v3", 224),
    "convnexttiny": ("convnext", 224),
    "resnet50v2": ("resnet_v2", 224),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_preprocessing_matches_keras(name):
    import importlib

    module, size = FAMILIES[name]
    keras_pre = importlib.import_module(f"keras.applications.{module}").preprocess_input
    image = photo(500, 375, seed=3)
    ours = infer.preprocess_image(name, image, (size, size))
    pixels = np.asarray(images.fit_and_crop(image, (size, size)), np.float32)[None]
    theirs = np.asarray(keras_pre(pixels.copy()))
    assert ours.shape == (1, size, size, 3) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def test_prepare_image_gives_the_view_and_the_batch_of_predict():
    image = photo(500, 375, seed=4)
    view, batch = infer.prepare_image("resnet50", image, (224, 224))
    assert view.size == (224, 224) and view.tobytes() == images.fit_and_crop(image, (224, 224)).tobytes()
    assert batch.shape == (1, 224, 224, 3) and batch.dtype == np.float32 and batch.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(batch, infer.preprocess_image("resnet50", image, (224, 224)))


def test_resize_policy_is_stated_in_both_languages():
    assert "224 px" in infer.resize_policy((224, 224), "en") and "224×224" in infer.resize_policy((224, 224), "en")
    assert "lado corto" in infer.resize_policy((299, 299), "es")


# --------------------------------------------------------------------------- device

class _FakeGPU:
    name = "/physical_device:GPU:0"
    device_type = "GPU"


@pytest.fixture
def fake_gpu(monkeypatch):
    """TensorFlow 'sees' a GPU with the details the test sets (the machine has none)."""
    import tensorflow as tf

    details = {"device_name": "NVIDIA Tesla T4", "compute_capability": (7, 5)}
    real = tf.config.list_physical_devices

    def list_devices(kind=None):
        return [_FakeGPU()] if kind == "GPU" else real(kind)

    monkeypatch.setattr(tf.config, "list_physical_devices", list_devices)
    monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda dev: details)
    monkeypatch.delenv("CNNVIZ_FORCE_CPU", raising=False)
    return details


def test_one_device_type_and_select_device_still_importable_from_infer():
    # cnnviz.device owns the type and the choice; infer re-exports both (scripts use them).
    assert infer.select_device is device.select_device and infer.Device is device.Device
    assert type(device.probe()) is device.Device and device.CPU.label("en") == "CPU"


def test_cpu_when_no_gpu(monkeypatch):
    monkeypatch.delenv("CNNVIZ_FORCE_CPU", raising=False)
    dev = infer.select_device()
    assert dev.kind == "CPU" and dev.tf_name == "/CPU:0" and not dev.mixed_precision and not dev.forced_cpu
    assert dev.label("en") == "CPU"


def test_gpu_detected_with_mixed_precision(fake_gpu):
    dev = infer.select_device()
    assert dev.is_gpu and dev.name == "NVIDIA Tesla T4" and dev.tf_name == "/GPU:0"
    assert dev.compute_capability == (7, 5) and dev.mixed_precision
    assert dev.label("en").startswith("GPU NVIDIA Tesla T4") and "mixed precision" in dev.label("en")
    assert "precisión mixta" in dev.label("es")


def test_old_gpu_gets_no_mixed_precision(fake_gpu):
    fake_gpu["compute_capability"] = (6, 1)  # Pascal: no tensor cores
    dev = infer.select_device()
    assert dev.is_gpu and not dev.mixed_precision


def test_force_cpu_env_and_argument(fake_gpu, monkeypatch):
    assert infer.select_device(force_cpu=True).forced_cpu
    monkeypatch.setenv("CNNVIZ_FORCE_CPU", "1")
    dev = infer.select_device()
    assert dev.kind == "CPU" and dev.forced_cpu and dev.label("en") == "CPU (forced)"


def test_broken_driver_means_cpu(monkeypatch):
    import tensorflow as tf

    def boom(kind=None):
        raise RuntimeError("CUDA driver version is insufficient")

    monkeypatch.setattr(tf.config, "list_physical_devices", boom)
    monkeypatch.delenv("CNNVIZ_FORCE_CPU", raising=False)
    dev = infer.select_device()
    assert dev.kind == "CPU" and "insufficient" in dev.fallback


def test_gpu_that_does_not_run_falls_back_to_cpu(fake_gpu, model_factory):
    """TensorFlow claims a GPU but places the ops on the CPU: the predictor says CPU, not GPU."""
    dev = infer.select_device()
    p = infer.load_predictor("mobilenetv3small", None, model=model_factory("mobilenetv3small"), device=dev, runs=1)
    assert p.device.kind == "CPU" and p.device.fallback and not p.device.mixed_precision
    assert p.device.label("en") == "CPU (the GPU could not be used)"
    result = p.predict(photo())
    assert result.device_kind == "CPU" and abs(float(result.probs.sum()) - 1) < 1e-3


def test_mixed_precision_build_falls_back_and_restores_policy(fake_gpu):
    import keras

    dev = infer.select_device()
    assert dev.mixed_precision
    p = infer.load_predictor("mobilenetv3small", None, device=dev, runs=1)
    assert p.device.kind == "CPU" and p.device.fallback
    assert p.model.dtype_policy.name == "float32"  # rebuilt for the CPU in float32
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert p.predict(photo()).probs.dtype == np.float32


# --------------------------------------------------------------------------- concurrency

def test_busy_predictor_says_so_instead_of_hanging(predictors):
    p = predictors["mobilenetv3small"]
    old = p.busy_timeout
    p.busy_timeout = 0.2
    assert p._lock.acquire()
    try:
        with pytest.raises(infer.BusyError) as err:
            p.predict(photo(), runs=1)
        assert "busy" in str(err.value) and "MobileNetV3Small" in str(err.value)
        assert "ocupado" in err.value.message("es")
    finally:
        p._lock.release()
        p.busy_timeout = old
    assert p.predict(photo(), runs=1).runs == 1  # free again


def test_concurrent_predictions_are_serialised_and_correct(predictors):
    p = predictors["mobilenetv3small"]
    images = [photo(seed=s) for s in range(4)]
    expected = [p.predict(img, runs=1).probs for img in images]
    results: dict[int, np.ndarray] = {}
    errors = []

    def work(i):
        try:
            results[i] = p.predict(images[i % 4], runs=2).probs
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    for i in range(8):
        np.testing.assert_allclose(results[i], expected[i % 4], atol=1e-6)


# --------------------------------------------------------------------------- CLI

def test_predict_cli_random_weights_json(tmp_path, capsys):
    from cnnviz.cli import main

    path = tmp_path / "photo.jpg"
    photo(800, 600).save(path, quality=90)
    code = main(["predict", str(path), "--models", "mobilenetv3small", "--random-weights", "--json", "--runs", "2"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["weights"] == "random" and data["image_size"] == [800, 600]
    (row,) = data["results"]
    assert row["model"] == "mobilenetv3small" and row["runs"] == 2 and len(row["top5"]) == 5
    assert abs(row["prob_sum"] - 1) < 1e-3 and row["inference_ms"] > 0 and row["params"] == 2_554_968
    assert "224" in row["resize_policy"]


def test_predict_cli_text_and_errors(tmp_path, capsys):
    from cnnviz.cli import main

    path = tmp_path / "photo.png"
    photo(300, 300).save(path)
    assert main(["predict", str(path), "--models", "mobilenetv3small", "--random-weights", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "MobileNetV3Small" in out and "RANDOM weights" in out and "median of 1" in out

    assert main(["predict", str(path), "--models", "resnet5", "--random-weights"]) == 1
    assert "resnet50" in capsys.readouterr().err  # close match suggested, no traceback

    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a picture")
    assert main(["predict", str(bad), "--models", "mobilenetv3small", "--random-weights"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err

    assert main(["predict", str(path), "--models", "mobilenetv3small", "--random-weights", "--runs", "0"]) == 1
    assert "runs=0" in capsys.readouterr().err


def test_bench_cli_json(capsys):
    from cnnviz.cli import main

    code = main(["bench", "--models", "mobilenetv3small", "--runs", "3", "--repeat", "2", "--json", "--no-extras",
                 "--no-page"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = report["models"]
    assert row["model"] == "mobilenetv3small" and row["weights"] == "random"  # nothing cached here
    for key in ("app_ms", "bare_ms", "predict_ms", "ratio_app_bare", "ratio_predict_app", "first_call_ms"):
        assert row[key] > 0, key
    assert row["params"] == 2_554_968
    if row["macs"] is not None:  # cnnviz.inspect present: GFLOP/s against the measured peak
        assert row["gflops"] > 0 and 0 < row["peak_share"]
    assert report["matmul_peak"]["gflops"] > 0
    assert report["memory"]["traces_per_model"] == {"mobilenetv3small": 1}
    assert report["memory"]["peak_rss_mb"] >= report["memory"]["rss_before_repeat_mb"] > 0
    up = report["upload_to_results"]
    assert up["median_total_ms"] >= up["median_inference_sum_ms"] > 0
