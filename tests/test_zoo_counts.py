"""Every registry model builds, runs and has the parameter count its spec (and the paper) says.

Models up to ~30 M parameters come from the session-wide ``model_factory`` (so other
test files reuse them); the few bigger ones (VGG, ResNet-101/152, AlexNet...) are built,
checked and dropped here, to keep the session's memory bounded.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from cnnviz import HOMEWORK_MODELS, zoo

KEEP_LIMIT = 30_000_000  # params above which a model is not kept for the session


def trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def layer_params(model, name: str) -> int:
    return int(model.get_layer(name).count_params())


def random_pixels(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, size=(1, *shape)).astype("float32")


@pytest.fixture
def built(model_factory):
    """``built(name, **options)`` → the random-weights model (shared when small)."""
    dropped = []

    def get(name, **options):
        spec = zoo.get_spec(name)
        if spec.params is not None and spec.params <= KEEP_LIMIT:
            return model_factory(name, **options)
        model = zoo.create_model(name, weights=None, **options)
        dropped.append(model)
        return model

    yield get
    dropped.clear()
    gc.collect()


# --------------------------------------------------------------------------- every model

@pytest.mark.parametrize("name", zoo.list_models())
def test_builds_runs_and_matches_its_spec(name, built):
    spec = zoo.get_spec(name)
    model = built(name)
    assert tuple(model.input_shape) == (None, *spec.input_shape)
    assert model.count_params() == spec.params
    if "trainable_params" in spec.extra:
        assert trainable(model) == spec.extra["trainable_params"]

    y = np.asarray(model(zoo.preprocess_input(name, random_pixels(spec.input_shape)), training=False))
    assert y.shape == (1, spec.classes)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(), 1.0, rtol=1e-4)  # every zoo classifier ends in a softmax

    assert spec.last_conv_layer is not None
    layer = model.get_layer(spec.last_conv_layer)
    shape = tuple(layer.output.shape)
    assert len(shape) == 4 and shape[1] > 1 and shape[2] > 1, shape
    target = zoo.gradcam_layer_output(model, name)
    assert len(target.shape) == 4 and tuple(target.shape[1:3]) == shape[1:3]


def test_layer_names_are_deterministic(model_factory):
    """Building twice gives the same layer names (Grad-CAM targets and pickers rely on it)."""
    for name in ("lenet5", "cifar10_v5", "miniresnet"):
        first = [layer.name for layer in model_factory(name).layers]
        again = [layer.name for layer in zoo.create_model(name).layers]
        assert first == again, name


# --------------------------------------------------------------------------- counts the timeline shows

def _measured_params() -> dict[str, float]:
    """{zoo model: count_params()} as cnnviz/data/architectures.json records them (cnnviz_measure)."""
    from cnnviz import timeline

    out = {}
    for arch in timeline.load().architectures:
        for variant in arch.variants:
            for fig in variant.figures:
                if fig.source == "cnnviz_measure" and fig.quantity == "params" and variant.zoo_model:
                    out[variant.zoo_model] = fig.value
    return out


MEASURED_PARAMS = _measured_params()


def test_the_timeline_records_counts_for_the_keras_models():
    assert set(MEASURED_PARAMS) >= set(HOMEWORK_MODELS) and len(MEASURED_PARAMS) >= 20


@pytest.mark.parametrize("name, params", sorted(MEASURED_PARAMS.items()))
def test_spec_params_match_the_timeline(name, params):
    # The parametrized build test above checks each spec against a real build.
    assert zoo.get_spec(name).params == params


def test_spec_params_match_shared_facts():
    """Extra cross-check against ../shared/facts.md (only where that folder exists)."""
    import re
    from pathlib import Path

    facts = Path(__file__).resolve().parents[2] / "shared" / "facts.md"
    if not facts.is_file():
        pytest.skip("../shared/facts.md is not in this checkout")
    text = facts.read_text(encoding="utf-8").split("## Parameter counts as Keras 3", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\w+)[^|]* \| ([\d,]+) \|", text, flags=re.M)
    assert len(rows) >= 10
    for display, count in rows:
        assert zoo.get_spec(display.lower()).params == int(count.replace(",", "")), display


# --------------------------------------------------------------------------- LeNet-5

def test_lenet5_has_the_papers_60000_trainable_parameters(model_factory):
    from cnnviz.zoo.classics import LENET_C3_TABLE

    model = model_factory("lenet5")
    assert trainable(model) == 60_000
    per_layer = {"c1": 156, "s2": 12, "s4": 32, "c5": 48_120, "f6": 10_164}
    for name, count in per_layer.items():
        assert layer_params(model, name) == count, name
    c3 = [model.get_layer(f"c3_map{i:02d}") for i in range(16)]
    assert sum(layer.count_params() for layer in c3) == 1_516
    assert [layer.kernel.shape[2] for layer in c3] == [3] * 6 + [4] * 9 + [6]
    assert [len(s) for s in LENET_C3_TABLE] == [3] * 6 + [4] * 9 + [6]
    assert all(model.get_layer(f"c3_in{i:02d}").channels == list(src) for i, src in enumerate(LENET_C3_TABLE))
    # every S2 map feeds exactly 10 C3 maps (Table I has 10 X's per row)
    assert [sum(m in src for src in LENET_C3_TABLE) for m in range(6)] == [10] * 6
    rbf = model.get_layer("output_rbf")
    assert rbf.count_params() == 840 and not rbf.trainable_weights
    shapes = {n: tuple(model.get_layer(n).output.shape[1:]) for n in ("c1", "s2", "c3", "s4", "c5")}
    assert shapes == {"c1": (28, 28, 6), "s2": (14, 14, 6), "c3": (10, 10, 16), "s4": (5, 5, 16), "c5": (1, 1, 120)}


def test_lenet5_full_c3_variant(model_factory):
    model = model_factory("lenet5", full_c3=True)
    assert trainable(model) == 60_900 == zoo.get_spec("lenet5").extra["trainable_params_full_c3"]
    assert layer_params(model, "c3") == 2_416


# --------------------------------------------------------------------------- AlexNet / ZFNet

def test_alexnet_matches_the_course_table(built):
    model = built("alexnet")
    assert model.count_params() == 62_378_344
    sizes = {n: tuple(model.get_layer(n).output.shape[1:]) for n in
             ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool3", "fc1", "fc2")}
    assert sizes == {"conv1": (55, 55, 96), "pool1": (27, 27, 96), "conv2": (27, 27, 256), "pool2": (13, 13, 256),
                     "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256), "pool3": (6, 6, 256),
                     "fc1": (4096,), "fc2": (4096,)}
    assert [model.get_layer(n).rate for n in ("dropout1", "dropout2")] == [0.5, 0.5]
    assert model.layers.index(model.get_layer("dropout1")) < model.layers.index(model.get_layer("fc1"))


def test_alexnet_grouped_two_gpu_variant():
    model = zoo.create_model("alexnet", grouped=True)
    assert model.count_params() == 60_965_224 == zoo.get_spec("alexnet").extra["params_grouped"]
    del model
    gc.collect()


def test_zfnet_follows_figure_3(built):
    model = built("zfnet")
    conv1 = model.get_layer("conv1")
    assert conv1.kernel_size == (7, 7) and conv1.strides == (2, 2)
    sizes = [tuple(model.get_layer(n).output.shape[1:3]) for n in ("conv1", "pool1", "conv2", "pool2", "conv5",
                                                                    "pool5")]
    assert sizes == [(110, 110), (55, 55), (26, 26), (13, 13), (13, 13), (6, 6)]


# --------------------------------------------------------------------------- GoogLeNet

def test_googlenet_matches_the_papers_table(model_factory):
    from cnnviz.zoo.googlenet import INCEPTION_BLOCKS, block_output_channels, inception_block_params

    model = model_factory("googlenet")
    assert model.count_params() == 6_998_552
    assert not any("BatchNormalization" == type(layer).__name__ for layer in model.layers)
    assert all(layer.use_bias for layer in model.layers if type(layer).__name__ == "Conv2D")
    table_sizes = {"3a": (28, 256), "3b": (28, 480), "4a": (14, 512), "4b": (14, 512), "4c": (14, 512),
                   "4d": (14, 528), "4e": (14, 832), "5a": (7, 832), "5b": (7, 1024)}
    channels = 192
    for block in INCEPTION_BLOCKS:
        out = model.get_layer(f"inception_{block}_output").output.shape
        assert (out[1], out[3]) == table_sizes[block], block
        convs = [f"inception_{block}_{s}" for s in ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")]
        assert [model.get_layer(n).filters for n in convs] == list(INCEPTION_BLOCKS[block])
        assert sum(layer_params(model, n) for n in convs) == inception_block_params(channels, block)
        channels = block_output_channels(block)
    assert model.get_layer("pool5_drop_7x7_s1").rate == 0.4
    # "22 layers deep when counting only layers with parameters" (paper §5): the longest path.
    assert weighted_depth(model) == 22


@pytest.mark.parametrize("name, depth", [("lenet5", 7), ("alexnet", 8), ("zfnet", 8), ("googlenet", 22),
                                         ("resnet18", 18), ("resnet34", 34), ("resnet50", 50),
                                         ("plainnet", 50), ("residualnet", 50)])
def test_depth_in_the_name_is_the_longest_weighted_path(built, name, depth):
    """LeNet-5's 7 layers, AlexNet's 8, GoogLeNet's 22, ResNet-n's n: layers with parameters on the longest path."""
    assert weighted_depth(built(name)) == depth


def weighted_depth(model) -> int:
    """Layers with parameters along the longest input→output path of a functional model."""
    config = model.get_config()["layers"]

    def parents(node) -> list[str]:
        if isinstance(node, dict):
            history = node.get("config", {}).get("keras_history") if node.get("class_name") == "__keras_tensor__" \
                else None
            if history:
                return [history[0]]
            return [p for value in node.values() for p in parents(value)]
        if isinstance(node, (list, tuple)):
            return [p for value in node for p in parents(value)]
        return []

    inbound = {layer["name"]: parents(layer.get("inbound_nodes", [])) for layer in config}
    norms = ("BatchNormalization", "LayerNormalization")
    weighted = {layer.name for layer in model.layers if layer.weights and type(layer).__name__ not in norms}
    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:
        if name not in depth:
            depth[name] = (name in weighted) + max((depth_of(p) for p in inbound[name]), default=0)
        return depth[name]

    return max(depth_of(name) for name in inbound)


def test_googlenet_auxiliary_classifiers():
    model = zoo.create_model("googlenet", aux_logits=True)
    assert model.count_params() == 13_378_280 == zoo.get_spec("googlenet").extra["params_aux_logits"]
    assert len(model.outputs) == 3
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1000)] * 3
    pool = model.get_layer("loss1_ave_pool")
    assert pool.pool_size == (5, 5) and pool.strides == (3, 3)
    assert tuple(pool.output.shape[1:]) == (4, 4, 512)
    assert model.get_layer("loss2_conv").filters == 128 and model.get_layer("loss2_fc").units == 1024
    assert model.get_layer("loss1_drop_fc").rate == 0.7
    del model
    gc.collect()


# --------------------------------------------------------------------------- ResNets

@pytest.mark.parametrize("name, count, blocks", [("resnet18", 11_689_512, (2, 2, 2, 2)),
                                                 ("resnet34", 21_797_672, (3, 4, 6, 3))])
def test_resnet_basic_block_trainable_counts(model_factory, name, count, blocks):
    model = model_factory(name)
    assert trainable(model) == count
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert convs and not any(layer.use_bias for layer in convs)
    for stage, n in enumerate(blocks, start=2):
        assert model.get_layer(f"conv{stage}_block{n}_out")
        with pytest.raises(ValueError):
            model.get_layer(f"conv{stage}_block{n + 1}_out")
    assert tuple(model.get_layer("conv2_block1_1_conv").output.shape[1:]) == (56, 56, 64)
    assert tuple(model.get_layer(f"conv5_block{blocks[3]}_out").output.shape[1:]) == (7, 7, 512)
    # projection shortcuts only where the shape changes
    assert [n for n in (f"conv{s}_block1_0_conv" for s in range(2, 6)) if n in {c.name for c in convs}] == [
        "conv3_block1_0_conv", "conv4_block1_0_conv", "conv5_block1_0_conv"]


def test_seresnet50_squeeze_and_excitation(model_factory):
    model = model_factory("seresnet50")
    blocks = {2: 3, 3: 4, 4: 6, 5: 3}
    for stage, n in blocks.items():
        channels = 256 * 2 ** (stage - 2)
        for b in range(1, n + 1):
            p = f"conv{stage}_block{b}"
            assert tuple(model.get_layer(f"{p}_se_squeeze").output.shape[1:]) == (1, 1, channels)
            assert model.get_layer(f"{p}_se_reduce").filters == channels // 16
            assert model.get_layer(f"{p}_se_expand").filters == channels
            assert type(model.get_layer(f"{p}_se_excite")).__name__ == "Multiply"
    # (2/r)·Σ N_s·C_s² weights plus biases, on top of a bias-free ResNet-50 (25,557,032 trainable)
    assert trainable(model) - 25_557_032 == 2_530_992


# --------------------------------------------------------------------------- course models

def test_miniresnet_is_exercise_2(model_factory):
    model = model_factory("miniresnet")
    adds = [layer for layer in model.layers if type(layer).__name__ == "Add"]
    assert [a.name for a in adds] == [f"block{i}_add" for i in range(1, 5)]
    for i in range(1, 5):
        for j in (1, 2):
            conv = model.get_layer(f"block{i}_conv{j}")
            assert conv.filters == 64 and conv.kernel_size == (3, 3) and conv.padding == "same"
    assert zoo.create_model("miniresnet", blocks=2).get_layer("block2_add")


@pytest.mark.parametrize("depth", [20, 50])
def test_plain_and_residual_twins(model_factory, depth):
    plain = model_factory("plainnet", depth=depth)
    residual = model_factory("residualnet", depth=depth)
    assert plain.count_params() == residual.count_params()
    weighted = [layer for layer in plain.layers if type(layer).__name__ in ("Conv2D", "Dense")]
    assert len(weighted) == depth
    n = (depth - 2) // 6
    assert sum(type(layer).__name__ == "Add" for layer in residual.layers) == 3 * n
    assert not any(type(layer).__name__ == "Add" for layer in plain.layers)
    assert [layer.name for layer in plain.layers if type(layer).__name__ == "Conv2D"] == [
        layer.name for layer in residual.layers if type(layer).__name__ == "Conv2D"]
    if depth == 20:
        assert trainable(residual) == 269_722  # the paper's "0.27M" for ResNet-20 (Table 6)


SEED_002_LAYERS = {
    1: ["Conv2D", "Conv2D", "Flatten", "Dense"],
    2: ["Conv2D", "ReLU", "Conv2D", "ReLU", "Flatten", "Dense"],
    3: ["Conv2D", "ReLU"] * 4 + ["Flatten", "Dense", "ReLU", "Dense"],
    4: ["Sequential"] + ["Conv2D", "ReLU"] * 4 + ["Flatten", "Dense", "ReLU", "Dense"],
    5: ["Sequential"] + ["Conv2D", "BatchNormalization", "ReLU"] * 4
       + ["Flatten", "Dense", "BatchNormalization", "ReLU", "Dropout", "Dense"],
}


@pytest.mark.parametrize("version", sorted(SEED_002_LAYERS))
def test_cifar10_versions_are_the_notebooks(model_factory, version):
    model = model_factory(f"cifar10_v{version}")
    assert [type(layer).__name__ for layer in model.layers[1:]] == SEED_002_LAYERS[version]
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    spec = [(c.filters, c.kernel_size, c.strides, c.padding) for c in convs]
    if version <= 2:
        assert spec == [(10, (4, 4), (2, 2), "same"), (20, (3, 3), (2, 2), "same")]
        assert all(c.activation.__name__ == "linear" for c in convs)  # "por default ... lineal"
    else:
        assert spec == [(32, (3, 3), (1, 1), "same"), (32, (3, 3), (2, 2), "same"),
                        (64, (3, 3), (1, 1), "same"), (64, (3, 3), (2, 2), "same")]
        assert model.get_layer("dense1").units == 128
    if version >= 4:
        aug = model.get_layer("data_augmentation")
        assert [type(layer).__name__ for layer in aug.layers] == ["RandomFlip", "RandomTranslation"]
        assert aug.layers[0].mode == "horizontal"
        assert aug.layers[1].height_factor == 0.1 and aug.layers[1].width_factor == 0.1
        x = random_pixels((32, 32, 3)) / 255
        np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)  # only active in training
    if version == 5:
        assert model.get_layer("dropout").rate == 0.5


# --------------------------------------------------------------------------- options and plumbing

@pytest.mark.parametrize("name, expected", [
    ("lenet5", (None, 1, 1, 120)), ("googlenet", (None, 7, 7, 1024)), ("resnet18", (None, 7, 7, 512)),
    ("cifar10_v5", (None, 8, 8, 64)), ("miniresnet", (None, 32, 32, 64)),
])
def test_include_top_false_ends_at_the_feature_map(name, expected):
    model = zoo.create_model(name, include_top=False)
    assert tuple(model.output.shape) == expected


def test_other_input_sizes_without_the_top():
    model = zoo.create_model("resnet50", include_top=False, input_shape=(64, 64, 3))
    assert tuple(model.output.shape) == (None, 2, 2, 2048)
    model = zoo.create_model("resnet18", input_shape=(96, 96, 3))  # global pooling head: any size
    assert tuple(model.output.shape) == (None, 1000)


def test_keras_rejection_is_reraised_typed():
    with pytest.raises(zoo.InvalidModelOptions) as info:
        zoo.create_model("mobilenetv3small", classifier_activation="no_such_activation")
    assert info.value.key == "zoo.error.keras_rejected" and "no_such_activation" in str(info.value)


def test_custom_layers_survive_save_and_load(tmp_path, model_factory):
    import keras

    for name, options in (("lenet5", {}), ("residualnet", {"depth": 20})):
        model = model_factory(name, **options)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        x = zoo.preprocess_input(name, random_pixels(zoo.get_spec(name).input_shape, seed=1))
        np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("legacy", [True, False], ids=["keras-published-h5", "keras3-weights-h5"])
def test_imagenet_weights_come_from_the_cache(tmp_path, monkeypatch, model_factory, legacy):
    """weights="imagenet" loads exactly the file zoo.pretrained.fetch_weights returns (here: a file we wrote).

    Keras' published ImageNet files are legacy HDF5 (``*.h5``); the test writes one in that
    format, and one in Keras 3's own ``.weights.h5`` format.
    """
    from cnnviz.zoo import pretrained

    source = model_factory("mobilenetv3small")
    if legacy:
        import h5py
        from keras.src.legacy.saving import legacy_h5_format

        path = tmp_path / "weights_mobilenet_v3_small_224_1.0_float.h5"
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, source)
    else:
        path = tmp_path / "mobilenetv3small.weights.h5"
        source.save_weights(path)
    calls = []

    def fake_fetch(name, include_top=True, progress=None):
        calls.append((name, include_top))
        return path

    monkeypatch.setattr(pretrained, "fetch_weights", fake_fetch)
    model = zoo.create_model("MobileNetV3Small", weights="imagenet")
    assert calls == [("mobilenetv3small", True)]
    assert len(model.weights) == len(source.weights)
    for a, b in zip(model.weights, source.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_damaged_weights_file_is_a_typed_error(tmp_path, monkeypatch):
    from cnnviz.zoo import pretrained

    bad = tmp_path / "mobilenet_v3_small_224_1.0_float.h5"
    bad.write_bytes(b"not an HDF5 file" * 64)
    monkeypatch.setattr(pretrained, "fetch_weights", lambda name, include_top=True, progress=None: bad)
    with pytest.raises(zoo.WeightsLoadError) as info:
        zoo.create_model("mobilenetv3small", weights="imagenet", include_top=False)
    assert str(bad) in str(info.value) and "cache verify" in str(info.value)
    assert "cache verify" in info.value.message("es")
