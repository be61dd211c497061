"""The Ray Serve application (cnnviz.serving.ray_app) and its HTTP client (cnnviz.serving.remote): a
local Ray (num_cpus capped) serves a classify request with the same answer as in-process; the app falls back to in-process inference, with a banner, when the
inference URL is dead. Ray comes from requirements-serve.txt (part of requirements-dev.txt)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import calibrate_bn, free_port

from cnnviz.serving import ray_app
from cnnviz.serving.remote import InferenceClient, RemoteInferenceError


def calibrated_mobilenet():
    """Random-weights MobileNetV3Small whose answers depend on the image."""
    from cnnviz import zoo

    model = zoo.create_model("mobilenetv3small", weights=None)
    calibrate_bn(model, "mobilenetv3small", seed=1)
    return model


@pytest.fixture(scope="module")
def ray_url(tmp_path_factory):
    pytest.importorskip("ray", reason="Ray Serve is the optional extra: pip install -r requirements-serve.txt")
    from cnnviz import infer

    model = calibrated_mobilenet()
    weights = tmp_path_factory.mktemp("ray") / "mobilenet.weights.h5"
    model.save_weights(str(weights))
    local = infer.load_predictor("mobilenetv3small", None, model=model, runs=1)
    url = ray_app.serve_local(["mobilenetv3small"], weights={"mobilenetv3small": str(weights)}, port=free_port(),
                            num_cpus=2, replica_cpus=1)
    yield url, local
    ray_app.shutdown_local()


def test_local_ray_workers_get_this_checkout_and_the_cnnviz_settings(monkeypatch):
    """Ray does not pass the driver's environment to its workers: CNNVIZ_ENGINE=litert on the
    command line must reach the replicas (they answered with TensorFlow before)."""
    monkeypatch.setenv("CNNVIZ_ENGINE", "litert")
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", "/somewhere/cache")
    monkeypatch.setenv("UNRELATED_SECRET", "x")
    env = ray_app.replica_env("/checkout")
    assert env["CNNVIZ_ENGINE"] == "litert" and env["CNNVIZ_CACHE_DIR"] == "/somewhere/cache"
    assert env["PYTHONPATH"].split(":")[0] == "/checkout" and "UNRELATED_SECRET" not in env


def test_cluster_config_can_choose_the_engine(monkeypatch):
    seen = {}
    monkeypatch.setattr(ray_app, "build_app", lambda name, weights, **kw: seen.update(name=name, weights=weights, **kw))
    ray_app.app_builder({"model": "resnet50", "engine": "litert"})
    assert seen["name"] == "resnet50" and seen["weights"] == "auto" and seen["engine"] == "litert"
    ray_app.app_builder({"model": "resnet50"})
    assert seen["engine"] == "auto"


def test_ray_serve_answers_like_in_process(ray_url):
    from cnnviz import loadtest

    url, local = ray_url
    client = InferenceClient(url)
    assert client.healthy()
    for i in range(2):
        image = loadtest.student_photo(i, size=300)
        remote = client.classify("mobilenetv3small", image)
        here = local.predict(image, runs=1)
        assert remote.model == "mobilenetv3small" and remote.weights is None
        assert [c for _, _, c in remote.top5] == [c for _, _, c in here.top5]
        np.testing.assert_allclose(remote.probs, here.probs, rtol=0, atol=1e-5)
    # A student's broken upload comes back as an actionable error (400 + message), not a crash.
    import json
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(urllib.request.Request(f"{url}/mobilenetv3small", data=b"not an image",
                                                      method="POST"), timeout=60)
    assert info.value.code == 400
    assert json.loads(info.value.read().decode())["key"].startswith("images.")


def test_client_on_a_dead_url_raises_a_user_facing_error():
    from PIL import Image

    client = InferenceClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    assert not client.healthy()
    with pytest.raises(RemoteInferenceError) as info:
        client.classify("mobilenetv3small", Image.new("RGB", (32, 32)))
    assert "unreachable" in str(info.value) and "inaccesible" not in str(info.value)


def _fallback_script():
    import streamlit as st
    from PIL import Image

    from cnnviz.ui.models import classify_image

    class Fake:
        name = "mobilenetv3small"
        display_name = "MobileNetV3Small"
        weights = None
        device = None
        engine_id = "tf"

        def predict(self, image, runs=1):
            return f"in-process answer for {image.size}"

    st.write(classify_image(Fake(), Image.new("RGB", (40, 30)), digest="d"))


def test_app_falls_back_in_process_with_a_banner_when_the_url_is_dead(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from cnnviz.i18n import translate

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("CNNVIZ_INFERENCE_URL", url)
    at = AppTest.from_function(_fallback_script, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("in-process answer for (40, 30)" in m.value for m in at.markdown)
    banner = translate("serving.remote_down", "en", url=url, error="X").split("(")[0]
    assert any(w.value.startswith(banner) for w in at.warning), [w.value for w in at.warning]
