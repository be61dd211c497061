"""Pretrained inference through the real weights cache, against a loopback HTTP server.

No real ImageNet weights can be downloaded on the development machines, so the test builds
a random MobileNetV3Small, writes its weights in the legacy Keras HDF5 layout the real
files use, serves that file and a 1000-class ``imagenet_class_index.json`` from
``http.server`` on 127.0.0.1, points ``CNNVIZ_WEIGHTS_MIRROR`` at it and puts the files'
MD5s in the cache's table. Everything from the URL to the model's answer is the code the app runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnviz import infer

MODEL = "mobilenetv3small"


def label_name(i: int) -> str:
    return f"thing_{i:03d}"  # underscores, as in the real index ("Egyptian_cat")


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).requests.append(self.path)
        super().do_GET()


class WeightsMirror:
    """A loopback mirror with one model's weights and the class index."""

    def __init__(self, root: Path, source_model):
        from cnnviz.zoo import pretrained

        self.root = root
        self.source_model = source_model
        top = pretrained.weights_file(MODEL, True)
        weights_path = root / top.mirror_path
        weights_path.parent.mkdir(parents=True)
        self._save_legacy_h5(source_model, weights_path)
        self.weights_md5 = hashlib.md5(weights_path.read_bytes()).hexdigest()
        self.top_record = dataclasses.replace(top, file_hash=self.weights_md5, hash_algo="")

        labels = pretrained.labels_file()
        labels_path = root / labels.mirror_path
        labels_path.parent.mkdir(parents=True)
        index = {str(i): [f"n{i:08d}", label_name(i)] for i in range(1000)}
        labels_path.write_text(json.dumps(index))
        self.labels_record = dataclasses.replace(labels, file_hash=hashlib.md5(labels_path.read_bytes()).hexdigest(),
                                                 hash_algo="")

        handler = type("Handler", (_Handler,), {"requests": []})
        self.handler = handler
        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a, **kw: handler(*a, directory=str(root), **kw))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _save_legacy_h5(model, path: Path) -> None:
        import h5py
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)

    @property
    def requests(self) -> list[str]:
        return self.handler.requests

    def activate(self, monkeypatch, cache_dir: Path) -> None:
        """Online, through this mirror, with a fresh cache and the served files' hashes."""
        from cnnviz import zoo
        from cnnviz.zoo import pretrained, registry

        monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(cache_dir))
        monkeypatch.delenv("CNNVIZ_OFFLINE", raising=False)
        monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", self.url)
        spec = zoo.get_spec(MODEL)
        weights = dataclasses.replace(spec.pretrained, top=self.top_record)
        monkeypatch.setitem(registry._SPECS, MODEL, dataclasses.replace(spec, pretrained=weights))
        monkeypatch.setattr(pretrained, "IMAGENET_CLASS_INDEX", self.labels_record)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def weights_mirror(tmp_path_factory, model_factory):
    mirror = WeightsMirror(tmp_path_factory.mktemp("mirror"), model_factory(MODEL))
    yield mirror
    mirror.close()


def photo(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8), "RGB")


def test_offline_without_cached_weights_says_so():
    from cnnviz import cache

    with pytest.raises(cache.OfflineError) as err:
        infer.load_predictor(MODEL, "imagenet")
    assert MODEL in str(err.value).lower() and err.value.message("es") != str(err.value)


def test_pretrained_inference_through_the_cache(weights_mirror, monkeypatch, tmp_path):
    from cnnviz.zoo import pretrained

    weights_mirror.activate(monkeypatch, tmp_path / "cache")
    pretrained.fetch_labels()
    predictor = infer.load_predictor(MODEL, "imagenet", runs=2)

    # The served file went through the cache and is what the model now holds.
    (entry,) = pretrained.status([MODEL])
    assert entry.state == "cached" and entry.path.parent == tmp_path / "cache"
    for ours, theirs in zip(predictor.model.get_weights(), weights_mirror.source_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)

    # Same weights, same answers as the model they were saved from.
    reference = infer.load_predictor(MODEL, None, model=weights_mirror.source_model, runs=1)
    image = photo()
    result = predictor.predict(image)
    np.testing.assert_allclose(result.probs, reference.predict(image).probs, atol=1e-6)
    assert result.weights == "imagenet" and not result.random_weights
    assert abs(float(result.probs.sum()) - 1) < 1e-3 and result.runs == 2
    assert result.preprocess_ms > 0 and result.inference_ms > 0 and result.first_call_ms > 0

    # Labels decoded from the served class index ("thing_281" → "thing 281").
    assert result.labels_available
    for label, _, index in result.top5:
        assert label == label_name(index).replace("_", " ")

    # A second predictor uses the cached file: no new request.
    served = list(weights_mirror.requests)
    infer.load_predictor(MODEL, "imagenet", runs=1)
    assert weights_mirror.requests == served
    assert sum(path.endswith(".h5") for path in served) == 1


def test_predict_cli_with_pretrained_weights(weights_mirror, monkeypatch, tmp_path, capsys):
    from cnnviz.cli import main

    weights_mirror.activate(monkeypatch, tmp_path / "cache")
    from cnnviz.zoo import pretrained

    pretrained.fetch_labels()
    path = tmp_path / "photo.png"
    photo(1).save(path)
    assert main(["predict", str(path), "--models", MODEL, "--json", "--runs", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    (row,) = data["results"]
    assert data["weights"] == "imagenet" and row["weights"] == "imagenet" and row["labels_available"]
    assert row["top5"][0]["label"] == label_name(row["top5"][0]["index"]).replace("_", " ")


def test_predict_cli_offline_explains(tmp_path, capsys):
    from cnnviz.cli import main

    path = tmp_path / "photo.png"
    photo(2).save(path)
    assert main(["predict", str(path), "--models", MODEL, "--runs", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--random-weights" in err and "Traceback" not in err


def test_litert_answers_like_tensorflow_with_served_weights(tmp_path_factory, monkeypatch, tmp_path):
    """Weights served by the loopback mirror, through the cache, converted from the cached file."""
    from conftest import calibrate_bn
    from test_litert import sample_images

    from cnnviz import litert, zoo
    from cnnviz.zoo import pretrained

    source = zoo.create_model(MODEL, weights=None)
    calibrate_bn(source, MODEL)  # informative outputs: agreeing on a flat 1/1000 would prove nothing
    mirror = WeightsMirror(tmp_path_factory.mktemp("mirror-litert"), source)
    try:
        mirror.activate(monkeypatch, tmp_path / "cache")
        pretrained.fetch_labels()
        lite = infer.load_predictor(MODEL, "imagenet", runs=1)  # auto: converts the cached file, once
        assert lite.engine.id == "litert" and lite.engine.requested == "auto"
        assert lite.engine.converted_s is not None
        assert lite.engine.check["agree"] and not lite.engine.check["flat"]
        reference = infer.load_predictor(MODEL, "imagenet", engine="tf", runs=1)
        for image in sample_images():
            a, b = reference.predict(image), lite.predict(image)
            # Each photo's tolerance from its own computation (TensorFlow's float32 error on it).
            exact = litert.exact_output(reference.model, reference.preprocess(image))
            atol = litert.tolerance(litert.gap_error(a.probs, exact), float(np.max(a.probs)))
            ok, reason, _ = litert.agree(a.probs, b.probs, atol=atol)
            assert ok, reason
            assert [i for _, _, i in a.top5] == [i for _, _, i in b.top5]
            assert b.labels_available and b.top5[0][0] == label_name(b.top5[0][2]).replace("_", " ")

        # A restarted server: the conversion and its verdict come from the cache; TensorFlow
        # builds nothing.
        def no_conversion(*args, **kwargs):
            raise AssertionError("the converter must not run")

        monkeypatch.setattr(litert, "convert_in_subprocess", no_conversion)
        again = infer.load_predictor(MODEL, "imagenet", runs=1)
        assert again.engine.id == "litert" and again.tf_engine is None and again.built_model is None
        assert again.params == source.count_params()
    finally:
        mirror.close()
