"""EfficientNet-Lite0 with the ImageNet weights that ship with the install: what the trained network
answers, the restricted unpickler, the pinned hash, and ImageNet class names offline.

Thresholds (measured on this build, see the lite0 branch's report): chelsea's cat classes
(281-285) get 0.89 of the probability and espresso 0.94 on coffee with the settled conventions
(TF "same" padding, BatchNorm eps 1e-3, (x - 127) / 128). A wrong input normalization
(ImageNet mean/std) drops them to 0.84 and 0.84, so the bounds 0.85 and 0.90 tell it apart;
random weights give ~0.001 per class.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from cnnviz import infer, samples, zoo
from cnnviz.zoo import installed, pretrained
from cnnviz.zoo.torch_weights import (
    MAGIC_NUMBER, PROTOCOL_VERSION, TorchWeightsError, UnsafePickleError, read_state_dict,
)

NAME = "efficientnetlite0"
CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug


@pytest.fixture(scope="session")
def lite_predictor(tmp_path_factory):
    """One TensorFlow predictor with the converted ImageNet weights, offline, for the session."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("lite0_cache")
    mp.setenv("CNNVIZ_CACHE_DIR", str(folder))
    mp.setenv("CNNVIZ_OFFLINE", "1")
    try:
        predictor = infer.load_predictor(NAME, weights="imagenet", engine="tf")
        predictor.cache_folder = folder  # where its converted weights went
        yield predictor
    finally:
        mp.undo()


# --------------------------------------------------------------------------- the restricted unpickler

def test_reads_the_installed_state_dict():
    sd = read_state_dict(installed.source_path(NAME))
    assert len(sd) == 296
    assert sum(v.size for v in sd.values()) == 4_694_073
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3) and sd["_conv_stem.weight"].dtype == np.float32
    assert sd["_fc.weight"].shape == (1000, 1280)
    assert sd["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert sd["_bn0.num_batches_tracked"].dtype == np.int64 and sd["_bn0.num_batches_tracked"].shape == ()
    assert all(np.all(np.isfinite(v)) for v in sd.values())
    assert np.all(sd["_bn1.running_var"] > 0)


def _legacy_file(path: Path, obj_pickle: bytes) -> Path:
    with open(path, "wb") as f:
        pickle.dump(MAGIC_NUMBER, f, protocol=2)
        pickle.dump(PROTOCOL_VERSION, f, protocol=2)
        pickle.dump({"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
        f.write(obj_pickle)
        pickle.dump([], f, protocol=2)
    return path


class _RunsAShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Evaluates:
    def __reduce__(self):
        return eval, ("1 + 1",)


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", "torch._utils._rebuild_tensor"])
def test_refuses_any_other_global_and_never_runs_it(tmp_path, payload):
    marker = tmp_path / "ran"
    if payload == "os.system":
        obj = {"_conv_stem.weight": _RunsAShell(marker)}
        data = pickle.dumps(obj, protocol=2)
    elif payload == "builtins.eval":
        data = pickle.dumps({"w": _Evaluates()}, protocol=2)
    else:  # a real torch name, but not one this reader allows
        data = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor\nq\x02)Rq\x03s."
    path = _legacy_file(tmp_path / "evil.pth", data)
    with pytest.raises(UnsafePickleError) as info:
        read_state_dict(path)
    assert "Refused" in str(info.value)
    if payload == "os.system":
        assert "system" in str(info.value)
    assert not marker.exists()


def test_refuses_a_global_in_the_header_too(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_RunsAShell(marker), protocol=2))  # where the magic number goes
    with pytest.raises(UnsafePickleError):
        read_state_dict(path)
    assert not marker.exists()


def test_not_a_legacy_file(tmp_path):
    (tmp_path / "zip.pth").write_bytes(b"PK\x03\x04rest")
    (tmp_path / "short.pth").write_bytes(pickle.dumps(MAGIC_NUMBER, protocol=2))
    for name in ("zip.pth", "short.pth"):
        with pytest.raises(TorchWeightsError):
            read_state_dict(tmp_path / name)


# --------------------------------------------------------------------------- the pinned hash

def test_a_file_with_another_hash_is_refused(tmp_path, monkeypatch):
    tampered = tmp_path / "efficientnet-lite0-57934424.pth"
    shutil.copyfile(installed.source_path(NAME), tampered)
    with open(tampered, "r+b") as f:
        f.seek(-4, os.SEEK_END)
        f.write(b"\x00\x00\x80\x7f")  # the last float becomes +inf: same size, other hash
    monkeypatch.setattr(installed, "source_path", lambda name: tampered)
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))  # no conversion made by an earlier test
    with pytest.raises(installed.InstalledWeightsHashError) as info:
        pretrained.fetch_weights(NAME)
    assert zoo.get_spec(NAME).installed.sha256 in str(info.value)
    assert not installed.converted_path(NAME).exists()
    assert pretrained.status([NAME], verify=True)[0].state == "corrupt"


def test_a_missing_package_is_a_cache_error(monkeypatch, tmp_path):
    from cnnviz import cache

    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))  # no conversion made by an earlier test
    monkeypatch.setattr(installed.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(cache.CacheError):
        pretrained.fetch_weights(NAME)
    assert pretrained.status([NAME])[0].state == "missing"


def test_installed_weights_are_listed_but_not_cache_records():
    assert NAME in pretrained.pretrained_models() and zoo.get_spec(NAME).has_imagenet_weights
    assert pretrained.installed_models() == [NAME]
    assert all(r.name != NAME for r in pretrained.all_records())
    assert pretrained.records([NAME]) == []
    assert pretrained.weights_file(NAME).file_hash == zoo.get_spec(NAME).installed.sha256


# --------------------------------------------------------------------------- what the network answers

def test_lite_preprocessing():
    x = zoo.preprocess_input(NAME, np.array([[[0.0, 127.0, 255.0]]]))
    np.testing.assert_allclose(x, [[[-127 / 128, 0.0, 1.0]]])  # (x - 127) / 128


def test_chelsea_is_a_cat(lite_predictor):
    pred = lite_predictor.predict(samples.load_sample("cat"))
    top = pred.top5
    assert top[0][2] in CAT_CLASSES, top
    assert sum(float(pred.probs[i]) for i in CAT_CLASSES) >= 0.85, top
    assert pred.labels_available and not any(label.startswith("class ") for label, _, _ in top)


def test_coffee_is_espresso(lite_predictor):
    pred = lite_predictor.predict(samples.load_sample("coffee"))
    label, p, index = pred.top5[0]
    assert index in COFFEE_CLASSES and label == "espresso", pred.top5
    assert p >= 0.90, pred.top5


def test_converted_once_into_derived(lite_predictor, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(lite_predictor.cache_folder))
    top, notop = installed.converted_path(NAME, True), installed.converted_path(NAME, False)
    assert top.is_file() and notop.is_file()
    assert top.parent.parent.name == "derived"
    features = zoo.create_model(NAME, weights="imagenet", include_top=False)
    assert tuple(features.output.shape[1:]) == (7, 7, 1280)


# --------------------------------------------------------------------------- class names offline

def test_labels_offline_from_the_package():
    labels = pretrained.installed_labels()
    assert labels is not None and len(labels) == 1000 and len(set(labels)) == 1000
    assert labels[281] == "tabby cat" and labels[967] == "espresso"
    assert (labels[657], labels[744]) == ("missile", "projectile")
    assert (labels[836], labels[837]) == ("sunglass", "sunglasses")
    assert pretrained.keras_labels() is None  # the test cache is empty
    assert pretrained.load_labels() == labels
    assert infer.class_labels(1000) == labels


def _keras_index() -> Path | None:
    for folder in (Path.home() / ".keras" / "models", Path(__file__).resolve().parents[1] / "models_cache"):
        path = folder / "imagenet_class_index.json"
        if path.is_file():
            return path
    return None


@pytest.mark.skipif(_keras_index() is None, reason="Keras' imagenet_class_index.json is not on this machine")
def test_package_order_agrees_with_keras_index():
    index = json.loads(_keras_index().read_text(encoding="utf-8"))
    assert [index[str(i)][0] for i in range(1000)] == pretrained.installed_wnids()
