"""Homework transfer learning on served weights: learning is real, fine-tuning touches only what it
says, the feature cache changes nothing, and a background run keeps its deliverables on disk.

ImageNet weights cannot be downloaded here: the test saves a random ResNet50 (no top) in the
legacy HDF5 layout of the real file, serves it from a loopback HTTP server, points
``CNNVIZ_WEIGHTS_MIRROR`` at it and puts its MD5 in the spec. ResNet50's random features keep
colour apart (MobileNetV3's random ones are ~1e-10 and would teach nothing), and at 64 px it is quick.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import math
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnnviz import homework

MODEL = "resnet50"
COLORS = [(220, 30, 30), (30, 200, 30), (30, 30, 220)]


def learnable_zip(per_class: int = 12) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for c, col in enumerate(COLORS):
            for i in range(per_class):
                a = np.clip(np.array(col)[None, None] + rng.normal(0, 35, (48, 48, 3)), 0, 255).astype(np.uint8)
                b = io.BytesIO()
                Image.fromarray(a).save(b, "PNG")
                zf.writestr(f"colour{c}/img{i}.png", b.getvalue())
    return buf.getvalue()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def trained_models() -> tuple[dict, object]:
    """A dict and the ``on_trained`` callback that fills it: model name → its live Keras objects."""
    kept: dict = {}
    return kept, kept.__setitem__


@pytest.fixture(scope="module")
def served(tmp_path_factory, model_factory):
    """Run everything heavy once, online through the loopback mirror, with a fresh cache."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    from cnnviz import zoo
    from cnnviz.training import RunManager
    from cnnviz.zoo import pretrained, registry

    root = tmp_path_factory.mktemp("mirror")
    source = model_factory(MODEL, include_top=False)
    record = pretrained.weights_file(MODEL, False)
    path = root / record.mirror_path
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    served_record = dataclasses.replace(record, file_hash=hashlib.md5(path.read_bytes()).hexdigest(), hash_algo="")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: _Quiet(*a, directory=str(root), **k))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cache_dir = tmp_path_factory.mktemp("cache")
    out = {"source": {w.path: np.array(w) for w in source.weights}, "cache_dir": cache_dir}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_CACHE_DIR", str(cache_dir))
        mp.delenv("CNNVIZ_OFFLINE", raising=False)
        mp.setenv("CNNVIZ_WEIGHTS_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
        spec = zoo.get_spec(MODEL)
        mp.setitem(registry._SPECS, MODEL, dataclasses.replace(
            spec, pretrained=dataclasses.replace(spec.pretrained, notop=served_record)))
        ds = homework.load_dataset(learnable_zip())
        out["dataset"] = ds
        manager = RunManager(persist=True)
        out["trained"] = {key: trained_models() for key in ("result", "cached", "full", "aug_cached", "aug_full")}
        run = homework.start(manager, ds, [MODEL], fe_epochs=40, ft_epochs=1, image_size=64, inference_runs=2,
                             on_trained=out["trained"]["result"][1])
        assert run.wait(900), "the homework run did not finish"
        assert run.error is None, run.error_detail
        out["run"], out["result"] = run, run.returned
        out["manager"] = manager
        cached = homework.run(ds, [MODEL], fe_epochs=3, ft_epochs=0, image_size=64, inference_runs=1, seed=3,
                              on_trained=out["trained"]["cached"][1])
        full = homework.run(ds, [MODEL], fe_epochs=3, ft_epochs=0, image_size=64, inference_runs=1, seed=3,
                            on_trained=out["trained"]["full"][1], cache_features=False)
        out["cached"], out["full"] = cached, full
        # augmentation on: a mirrored view of every training image, both phases, cached vs the full pass
        aug = dict(fe_epochs=3, ft_epochs=1, image_size=64, inference_runs=1, seed=3, augment="flip")
        events: list[dict] = []
        out["aug_cached"] = homework.run(ds, [MODEL], on_progress=events.append,
                                         on_trained=out["trained"]["aug_cached"][1], **aug)
        out["aug_full"] = homework.run(ds, [MODEL], cache_features=False, on_trained=out["trained"]["aug_full"][1],
                                       **aug)
        out["aug_events"] = events
    server.shutdown()
    server.server_close()
    return out


def test_phase1_learns_on_served_weights(served):
    entry = served["result"].models[MODEL]
    assert entry["fe_accuracy"] >= 0.8  # chance is 1/3 on the 6 test images
    assert entry["trainable_params_fe"] == 2048 * 3 + 3  # the head's dense only
    assert entry["params"] == 23_587_712 + 2048 * 3 + 3
    assert entry["inference_ms"] > 0 and entry["train_seconds"] > 0
    assert np.array(entry["confusion"]).sum() == len(served["result"].split["test"])


def test_unfreeze_points_of_the_homework_models():
    """"block" (default), "stage" and N layers cut where the docs say, at a trunk tensor."""
    from cnnviz.homework import transfer
    from cnnviz import graph

    base = transfer.build_base(MODEL, True, (224, 224))
    walk = graph.walk(base)
    for mode, cut_after in (("block", "conv5_block2_out"), ("stage", "conv4_block6_out")):
        cut, _ = transfer.unfreeze_point(base, MODEL, mode)
        assert walk[cut].name == cut_after, mode
    cut, _ = transfer.unfreeze_point(base, MODEL, 5)
    # At least the last 5 operations: they sit inside conv5_block3, so the cut falls back to that
    # block's input, the nearest trunk tensor below them.
    assert cut <= len(walk) - 6 and walk[cut].name == "conv5_block2_out"
    assert transfer.DEFAULT_UNFREEZE == "block"


def test_phase2_changes_only_what_it_unfreezes(served):
    import keras

    entry = served["result"].models[MODEL]
    base = served["trained"]["result"][0][MODEL].base
    unfrozen = set(entry["unfreeze"]["layers"])
    # The default: the last block (conv5_block3); its input, conv5_block2's output, is cached.
    assert entry["unfreeze"]["mode"] == "block"
    assert entry["unfreeze"]["cut_after"] == "conv5_block2_out"
    assert entry["unfreeze"]["first_unfrozen"] == "conv5_block3_1_conv"
    assert unfrozen and all(name.startswith("conv5_block3_") for name in unfrozen)
    source = served["source"]
    moved = set()
    for layer in base.layers:
        if not layer.weights:
            continue
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        assert layer.trainable == (layer.name in unfrozen), layer.name
        assert not (is_bn and layer.trainable)
        for w in layer.weights:
            same = np.array_equal(np.array(w), source[w.path])
            if layer.name not in unfrozen:
                assert same, f"{w.path} moved although frozen"
            elif not same:
                moved.add(layer.name)
    assert moved == unfrozen  # every unfrozen layer learned something, nothing else did
    assert entry["trainable_params_ft"] == sum(int(np.prod(w.shape)) for layer in base.layers if layer.name in unfrozen
                                               for w in layer.trainable_weights) + 2048 * 3 + 3


def test_feature_cache_gives_the_same_head(served):
    a, b = served["cached"].models[MODEL], served["full"].models[MODEL]
    assert a["fe_accuracy"] == b["fe_accuracy"]
    ha = served["trained"]["cached"][0][MODEL].fe_head_weights
    hb = served["trained"]["full"][0][MODEL].fe_head_weights
    for x, y in zip(ha, hb):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4)
    assert a["times"]["fe_features_s"] > 0 and "ft_accuracy" in a and a["ft_accuracy"] is None


def test_background_run_keeps_its_deliverables(served):
    import keras

    run = served["run"]
    folder = served["cache_dir"] / "runs" / run.run_id
    assert (folder / "done.json").is_file()
    for name in ("report.csv", "report.en.html", "report.es.html", "reproduce.py", f"models/{MODEL}.keras",
                 "result.json"):
        assert (folder / name).is_file(), name
    snap = run.snapshot()
    assert snap["status"] == "finished" and set(snap["models"]) == {f"{MODEL}-fe", f"{MODEL}-ft"}
    assert [e["phase"] for e in snap["events"] if e["kind"] == "phase"][:3] == ["build", "features", "head"]
    model = keras.saving.load_model(folder / "models" / f"{MODEL}.keras")
    x = np.zeros((1, 64, 64, 3), np.float32)
    final = served["trained"]["result"][0][MODEL].final
    np.testing.assert_allclose(model(x, training=False), final(x, training=False), rtol=1e-4, atol=1e-5)
    script = (folder / "reproduce.py").read_text()
    compile(script, "reproduce.py", "exec")
    assert "conv5_block3_1_conv" in script and "ResNet50" in script  # the default unfreeze point: the last block


def test_offline_without_weights_says_which():
    with pytest.raises(homework.HomeworkWeightsError) as err:
        homework.run(homework.load_dataset(learnable_zip(5)), ["mobilenetv3small", MODEL], fe_epochs=1, ft_epochs=0)
    assert err.value.key == "homework.error.weights_missing"
    assert "MobileNetV3Small" in str(err.value) and "ResNet50" in str(err.value)
    assert err.value.message("es") != str(err.value)


def test_augmentation_doubles_the_examples_and_the_caches_agree_with_the_full_pass(served):
    res, full = served["aug_cached"], served["aug_full"]
    a, b = res.models[MODEL], full.models[MODEL]
    n = {p: len(v) for p, v in res.split.items()}
    assert res.settings["augment"] == full.settings["augment"] == "flip"
    assert res.settings["mixed_precision"] is False  # auto: only a GPU with tensor cores
    assert a["train_examples"] == b["train_examples"] == 2 * n["train"]
    # the head (and then the fine-tuned top) really trained on twice the examples: steps per epoch
    steps = {e["model"]: e["steps"] for e in served["aug_events"] if e["kind"] == "model_start"}
    assert steps == {f"{MODEL}-fe": math.ceil(2 * n["train"] / 16), f"{MODEL}-ft": math.ceil(2 * n["train"] / 16)}
    # both caches hold one entry per image and per view (validation and test are not augmented)
    cached = {e["phase"]: e.get("images") for e in served["aug_events"] if e["kind"] == "phase"}
    # one frozen pass per image and view feeds both phases (activations at the cut, features from them)
    assert cached["features"] == 2 * n["train"] + n["val"] + n["test"] and "activations" not in cached
    assert a["ft_cached"] is True
    assert a["ft_cached"] and not b["ft_cached"]
    # same seed: the cached path and the full forward pass give the same model
    for key in ("fe_accuracy", "fe_val_accuracy", "ft_accuracy", "ft_val_accuracy"):
        assert a[key] == b[key], key
    for x, y in zip(served["trained"]["aug_cached"][0][MODEL].fe_head_weights,
                    served["trained"]["aug_full"][0][MODEL].fe_head_weights):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4)
    ma, mb = served["trained"]["aug_cached"][0][MODEL], served["trained"]["aug_full"][0][MODEL]
    for x, y in zip(ma.head.get_weights(), mb.head.get_weights()):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4)
    layer = a["unfreeze"]["first_unfrozen"]
    for x, y in zip(ma.base.get_layer(layer).get_weights(), mb.base.get_layer(layer).get_weights()):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4)


def test_mixed_precision_trains_through_a_float16_base():
    """What a GPU with tensor cores gets by default (forced here on the CPU: the same Keras code)."""
    import keras

    kept, keep = trained_models()
    res = homework.run(homework.load_dataset(learnable_zip(6)), ["mobilenetv3small"], fe_epochs=1, ft_epochs=1,
                       image_size=64, inference_runs=1, random_weights=True, mixed_precision=True, on_trained=keep,
                       unfreeze=30)
    assert res.settings["mixed_precision"] is True and res.random_weights
    m, objs = res.models["mobilenetv3small"], kept["mobilenetv3small"]
    convs = [layer for layer in objs.base.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(c.compute_dtype == "float16" and c.variable_dtype == "float32" for c in convs)
    assert all(layer.compute_dtype == "float32" for layer in objs.head.layers)  # the softmax stays float32
    assert np.asarray(objs.final(np.zeros((1, 64, 64, 3), np.float32), training=False)).dtype == np.float32
    assert m["unfreeze"]["mode"] == "30" and m["trainable_params_ft"] > m["trainable_params_fe"]
    assert 0.0 <= m["ft_accuracy"] <= 1.0 and np.isfinite(m["ft_history"]["loss"]).all()
    assert keras.config.dtype_policy().name == "float32"  # the policy was only borrowed
