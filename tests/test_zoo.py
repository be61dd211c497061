"""The model zoo's registry, factory, validation and preprocessing.

Registry and validation tests never build a model. Preprocessing is compared with
Keras' own ``preprocess_input`` functions. Builds and forward passes of every registry
model are in ``tests/test_zoo_counts.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnviz import HOMEWORK_MODELS, timeline, zoo
from cnnviz.i18n import LANGS, catalog, translate

ROOT = Path(__file__).resolve().parents[1]

# The registry names docs/ARCHITECTURE.md promises.
KERAS_NAMES = """resnet50 resnet101 resnet152 resnet50v2 resnet101v2 resnet152v2 vgg16 vgg19 inceptionv3 xception
inceptionresnetv2 densenet121 densenet169 densenet201 mobilenetv2 mobilenetv3small mobilenetv3large efficientnetb0
efficientnetb1 efficientnetb2 efficientnetb3 efficientnetv2b0 convnexttiny convnextsmall""".split()
CODE_NAMES = """lenet5 alexnet zfnet googlenet resnet18 resnet34 seresnet50 efficientnetlite0 miniresnet plainnet residualnet cifar10_v1
cifar10_v2 cifar10_v3 cifar10_v4 cifar10_v5""".split()
# From code, with ImageNet weights that ship in an installed package (cnnviz.zoo.installed).
INSTALLED_NAMES = ["efficientnetlite0"]


# --------------------------------------------------------------------------- registry

def test_registry_has_exactly_the_documented_models():
    assert zoo.list_models(source="keras") == KERAS_NAMES
    assert zoo.list_models(source="code") == CODE_NAMES
    assert zoo.list_models() == KERAS_NAMES + CODE_NAMES


def test_filters():
    assert zoo.list_models(pretrained=True) == KERAS_NAMES + INSTALLED_NAMES
    assert zoo.list_models(pretrained=False) == [n for n in CODE_NAMES if n not in INSTALLED_NAMES]
    assert sorted(zoo.list_models(homework=True)) == sorted(HOMEWORK_MODELS)
    assert zoo.list_models(family="resnet") == zoo.list_models(family="ResNet")
    assert set(zoo.list_models(family="ResNet")) >= {"resnet50", "resnet18", "seresnet50"}
    assert zoo.list_models(family="Course") == ["miniresnet", "plainnet", "residualnet", *CODE_NAMES[-5:]]
    assert [s.name for s in zoo.list_specs(source="code")] == CODE_NAMES


@pytest.mark.parametrize("name", zoo.list_models())
def test_spec_metadata_is_complete(name):
    spec = zoo.get_spec(name)
    assert spec.name == name == name.lower()
    assert spec.display_name and spec.family and spec.paper
    assert spec.preprocessing in zoo.PREPROCESSING_MODES
    assert spec.homework == (name in HOMEWORK_MODELS)
    assert spec.has_imagenet_weights == (spec.source == "keras" or name in INSTALLED_NAMES)
    assert spec.params is not None and spec.params > 0
    assert spec.year is None or 1989 <= spec.year <= 2025
    assert spec.input_shape[0] >= spec.min_input_size
    for key in (*spec.notes, *([spec.description] if spec.description else [])):
        for lang in LANGS:
            assert translate(key, lang)


def test_preprocessing_modes_per_family():
    modes = {name: zoo.get_spec(name).preprocessing for name in zoo.list_models()}
    for name in ("resnet50", "resnet101", "resnet152", "vgg16", "vgg19"):
        assert modes[name] == "caffe"
    for name in ("resnet50v2", "inceptionv3", "xception", "inceptionresnetv2", "mobilenetv2"):
        assert modes[name] == "tf"
    for name in ("densenet121", "densenet169", "densenet201"):
        assert modes[name] == "torch"
    for name in ("efficientnetb0", "efficientnetv2b0", "convnexttiny", "mobilenetv3small", "mobilenetv3large"):
        assert modes[name] == "none"
    assert modes["efficientnetlite0"] == "lite"  # (x - 127) / 128, as its TensorFlow release trained it
    assert {modes[name] for name in CODE_NAMES if name != "efficientnetlite0"} == {"scale01"}


def test_timeline_ids_match_the_timeline_data():
    """Every spec's timeline id names an entry of cnnviz/data/architectures.json, with its year."""
    tl = timeline.load()
    for spec in zoo.list_specs():
        if spec.timeline_id is not None:
            entry = tl.get(spec.timeline_id)  # UnknownArchitectureError for an id the data lacks
            assert entry.year == spec.year, (spec.name, entry.year, spec.year)
            assert spec.name in (*entry.zoo_models, *entry.course_models), spec.name
    for entry in tl.architectures:
        for name in entry.zoo_models:
            if name in zoo.list_models():
                assert zoo.get_spec(name).timeline_id == entry.id, name


@pytest.mark.parametrize("name", [s.name for s in zoo.list_specs() if s.source == "keras" or s.timeline_id])
def test_paper_facts_come_from_the_timeline_sources(name):
    """Year, paper and link of a keras.applications model or a from-code classic are those of
    architectures.json."""
    tl = timeline.load()
    spec = zoo.get_spec(name)
    source = tl.sources[spec.paper_source]
    assert source.kind == "paper" and spec.paper_url == source.url
    assert spec.paper.endswith(f"{source.venue} {source.year}")
    if spec.timeline_id is not None:
        arch = tl.get(spec.timeline_id)
        assert (spec.paper_source, spec.year) == (arch.paper, arch.year)
    else:
        assert spec.year == source.year


def test_variants_are_data_with_their_weights_records():
    from cnnviz.zoo import keras_apps

    assert list(keras_apps.KERAS_APPS) == KERAS_NAMES
    for name, app in keras_apps.KERAS_APPS.items():
        spec = zoo.get_spec(name)
        assert app.family in keras_apps.FAMILIES
        assert (spec.display_name, spec.input_size, spec.last_conv_layer, spec.params) == \
            (app.constructor, app.size, app.last_conv, app.params)
        top, notop = spec.pretrained.top, spec.pretrained.notop
        assert (top.name, top.include_top, notop.name, notop.include_top) == (name, True, name, False)
        assert top.filename == app.weights.top and notop.filename == app.weights.notop
        assert top.url.endswith("/" + top.filename) and notop.url.endswith("/" + notop.filename)
    for name in CODE_NAMES:
        spec = zoo.get_spec(name)
        if spec.installed is not None:  # EfficientNet-Lite0: ImageNet weights from an installed package
            assert spec.pretrained is None and spec.has_imagenet_weights
            continue
        assert spec.pretrained is None and not spec.has_imagenet_weights


def test_get_spec_accepts_common_spellings():
    assert zoo.get_spec("ResNet50").name == "resnet50"
    assert zoo.get_spec("ResNet-50").name == "resnet50"
    assert zoo.get_spec("resnet_50").name == "resnet50"
    assert zoo.get_spec("LeNet-5").name == "lenet5"
    assert zoo.get_spec("cifar10_v3").name == "cifar10_v3"
    spec = zoo.get_spec("vgg16")
    assert zoo.get_spec(spec) is spec


def test_unknown_model_lists_close_matches():
    with pytest.raises(zoo.UnknownModelError) as info:
        zoo.get_spec("resnet5")
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, zoo.ZooError)
    assert "resnet50" in err.matches
    assert "resnet5" in str(err) and "resnet50" in str(err)
    assert "resnet50" in err.message("es") and "Quisiste decir" in err.message("es")
    with pytest.raises(zoo.UnknownModelError, match="efficientnetb0"):
        zoo.create_model("efficentnetb0")
    with pytest.raises(zoo.UnknownModelError) as info:
        zoo.get_spec("qwertyuiop")
    assert info.value.matches == [] and "python -m cnnviz models" in str(info.value)
    with pytest.raises(KeyError):
        zoo.get_spec(None)  # type: ignore[arg-type]


def test_importing_the_zoo_does_not_import_tensorflow():
    code = ("import sys, cnnviz.zoo as z; z.list_models(); z.get_spec('resnet50'); "
            "import cnnviz.commands.models; "
            "bad = [m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_zoo_message_key_exists_in_both_languages():
    keys = set()
    for path in (ROOT / "cnnviz" / "zoo").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r'"(zoo\.[a-z_]+\.[a-z0-9_]+)"', text))
    keys |= {f"zoo.cli.{k}" for k in ("name", "display_name", "family", "year", "params", "pretrained", "source",
                                       "homework", "yes", "no", "source_keras", "source_code", "footer")}
    assert len(keys) > 30
    for lang in LANGS:
        missing = sorted(k for k in keys if k not in catalog(lang))
        assert missing == [], (lang, missing)


def test_googlenet_note_quotes_the_counted_numbers():
    from cnnviz.zoo.googlenet import PAPER_TABLE_PARAMS_K, block_output_channels, inception_block_params

    channels, exact = 192, {}
    for block in PAPER_TABLE_PARAMS_K:
        if block[0].isdigit():
            exact[block] = inception_block_params(channels, block)
            channels = block_output_channels(block)
    deviations = {b: abs(PAPER_TABLE_PARAMS_K[b] * 1000 - p) / p for b, p in exact.items()}
    assert max(deviations, key=deviations.get) == "4c"
    assert 0.09 < deviations["4c"] < 0.10  # "off by up to 10 %"
    en = translate("zoo.note.googlenet_table_params", "en")
    assert f"{exact['4c']:,}" in en and "6,998,552" in en and "13,378,280" in en and "9,472" in en
    es = translate("zoo.note.googlenet_table_params", "es")
    assert f"{exact['4c']:,}".replace(",", " ") in es


# --------------------------------------------------------------------------- validation (nothing is built)

def test_bad_weights_value_is_echoed():
    with pytest.raises(zoo.InvalidModelOptions, match="imagenett"):
        zoo.create_model("resnet50", weights="imagenett")
    with pytest.raises(zoo.InvalidModelOptions, match="True"):
        zoo.create_model("resnet50", weights=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # also a ValueError for scripts
        zoo.create_model("lenet5", weights="/tmp/some.h5")


def test_from_code_model_has_no_pretrained_weights():
    with pytest.raises(zoo.NoPretrainedWeightsError) as info:
        zoo.create_model("alexnet", weights="imagenet")
    assert "AlexNet" in str(info.value) and "weights=None" in str(info.value)
    assert info.value.message("es") != str(info.value)


@pytest.mark.parametrize("name, shape, include_top, key", [
    ("resnet50", (16, 16, 3), False, "zoo.error.input_too_small"),
    ("inceptionv3", (64, 64, 3), False, "zoo.error.input_too_small"),
    ("resnet50", (160, 160, 3), True, "zoo.error.top_needs_size"),
    ("alexnet", (224, 224, 3), True, "zoo.error.fixed_input"),
    ("lenet5", (28, 28, 1), True, "zoo.error.fixed_input"),
    ("lenet5", (32, 32, 3), True, "zoo.error.channels"),
    ("resnet50", (224, 224), True, "zoo.error.bad_input_shape"),
    ("resnet50", (224, 224, 3.5), False, "zoo.error.bad_input_shape"),
    ("resnet50", (0, 224, 3), False, "zoo.error.bad_input_shape"),
    ("resnet50", "224x224", False, "zoo.error.bad_input_shape"),
    ("cifar10_v3", (64, 64, 3), True, "zoo.error.fixed_input"),
])
def test_invalid_input_shape_is_a_typed_error(name, shape, include_top, key):
    with pytest.raises(zoo.InvalidModelOptions) as info:
        zoo.create_model(name, input_shape=shape, include_top=include_top)
    assert info.value.key == key
    assert isinstance(info.value, ValueError)


def test_input_too_small_message_is_clear():
    with pytest.raises(zoo.InvalidModelOptions) as info:
        zoo.create_model("resnet50", input_shape=(16, 16, 3), include_top=False)
    assert str(info.value) == "ResNet50 needs inputs of at least 32×32; got 16×16."
    assert "al menos 32×32" in info.value.message("es")


def test_unknown_and_bad_options():
    with pytest.raises(zoo.InvalidModelOptions, match="full_c3") as info:
        zoo.create_model("resnet18", full_c3=True)
    assert "classes" in str(info.value)  # lists what it accepts
    with pytest.raises(zoo.InvalidModelOptions, match="'yes'"):
        zoo.create_model("lenet5", full_c3="yes")
    with pytest.raises(zoo.InvalidModelOptions, match="include_top"):
        zoo.create_model("lenet5", include_top="no")  # type: ignore[arg-type]
    with pytest.raises(zoo.InvalidModelOptions) as info:
        zoo.create_model("plainnet", depth=30)
    assert info.value.key == "zoo.error.depth_6n2" and "26" in str(info.value) and "32" in str(info.value)
    with pytest.raises(zoo.InvalidModelOptions) as info:
        zoo.create_model("residualnet", depth=1000)
    assert info.value.key == "zoo.error.option_range"
    with pytest.raises(zoo.InvalidModelOptions, match="classes"):
        zoo.create_model("miniresnet", classes=0)
    with pytest.raises(zoo.InvalidModelOptions) as info:
        zoo.create_model("googlenet", aux_logits=True, include_top=False)
    assert info.value.key == "zoo.error.aux_needs_default"


def test_imagenet_classifier_keeps_its_classes():
    with pytest.raises(zoo.InvalidModelOptions) as info:
        zoo.create_model("resnet50", weights="imagenet", classes=5)
    assert info.value.key == "zoo.error.classes_with_weights" and "include_top=False" in str(info.value)


def test_pretrained_weights_offline_raise_the_caches_typed_error():
    from cnnviz import cache

    with pytest.raises(cache.CacheError) as info:
        zoo.create_model("mobilenetv3small", weights="imagenet")
    assert isinstance(info.value, cache.OfflineError)
    assert "prefetch" in str(info.value)


# --------------------------------------------------------------------------- preprocessing

def _pixels(shape=(2, 8, 8, 3), seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype("float32")


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_preprocess_input_equals_keras(name):
    import importlib

    module = importlib.import_module(f"keras.applications.{zoo.get_spec(name).extra['keras_module']}")
    x = _pixels()
    expected = module.preprocess_input(x.copy())
    got = zoo.preprocess_input(name, x)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_array_equal(got, np.asarray(expected))
    np.testing.assert_array_equal(x, _pixels())  # the input is untouched
    # one image (H×W×3) too
    np.testing.assert_array_equal(zoo.preprocess_input(name, x[0]), np.asarray(module.preprocess_input(x[0].copy())))


def test_preprocess_modes_in_numbers():
    x = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    np.testing.assert_allclose(zoo.preprocess_input("xception", x), [[[[-1.0, 0.0, 1.0]]]])
    np.testing.assert_allclose(zoo.preprocess_input("vgg16", x), [[[[255 - 103.939, 127.5 - 116.779, -123.68]]]],
                               rtol=1e-6)
    np.testing.assert_array_equal(zoo.preprocess_input("efficientnetb0", x), x)
    np.testing.assert_allclose(zoo.preprocess_input("alexnet", x), [[[[0.0, 0.5, 1.0]]]])


def test_preprocess_grayscale_for_lenet_and_gray_photos_for_colour_models():
    rgb = _pixels((1, 32, 32, 3))
    gray = zoo.preprocess_input("lenet5", rgb)
    assert gray.shape == (1, 32, 32, 1)
    luma = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255.0
    np.testing.assert_allclose(gray[..., 0], luma, rtol=1e-5)
    np.testing.assert_allclose(zoo.preprocess_input("lenet5", rgb[..., :1]), rgb[..., :1] / 255.0, rtol=1e-6)
    one = _pixels((1, 8, 8, 1))
    np.testing.assert_array_equal(zoo.preprocess_input("resnet50", one),
                                  zoo.preprocess_input("resnet50", np.repeat(one, 3, axis=-1)))


@pytest.mark.parametrize("bad", [np.zeros((8, 8)), np.zeros((1, 8, 8, 4)), np.zeros((1, 1, 8, 8, 3)),
                                 np.array([["a"]])])
def test_preprocess_rejects_non_images(bad):
    with pytest.raises(zoo.InvalidModelOptions) as info:
        zoo.preprocess_input("resnet50", bad)
    assert info.value.key == "zoo.error.bad_batch"


# --------------------------------------------------------------------------- CLI

def test_models_command_json(capsys):
    from cnnviz import cli

    assert cli.main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == zoo.list_models()
    by_name = {r["name"]: r for r in rows}
    assert by_name["resnet50"]["params"] == 25_636_712 and by_name["resnet50"]["pretrained"] is True
    assert by_name["resnet50"]["homework"] is True
    assert by_name["alexnet"]["params"] == 62_378_344 and by_name["alexnet"]["pretrained"] is False
    assert by_name["lenet5"]["input_shape"] == [32, 32, 1]


def test_models_command_table_and_filters(capsys):
    from cnnviz import cli

    assert cli.main(["models", "--source", "code", "--lang", "es"]) == 0
    out = capsys.readouterr().out
    assert "lenet5" in out and "62,378,344" in out and "\nresnet50 " not in out
    assert "desde código" in out and f"{len(CODE_NAMES)} modelos" in out
    assert cli.main(["models", "--pretrained", "--family", "convnext"]) == 0
    out = capsys.readouterr().out
    assert "convnexttiny" in out and "convnextsmall" in out and "2 models, 2 with ImageNet weights" in out
    assert cli.main(["models", "--family", "resnt"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "ResNet" in err and "Traceback" not in err


def test_convnext_depthwise_runs_natively_with_the_same_numbers():
    """ConvNeXt's Conv2D(groups=channels) run as TensorFlow's depthwise kernel: same outputs as
    Keras' own grouped (XLA) path, same weights and config (a saved model is unchanged)."""
    import keras
    import tensorflow as tf

    from cnnviz.zoo.keras_apps import native_depthwise

    model = zoo.create_model("convnexttiny", include_top=False, input_shape=(64, 64, 3))
    grouped = [layer for layer in model._flatten_layers(include_self=False)
               if type(layer) is keras.layers.Conv2D and layer.groups > 1]
    assert len(grouped) == 18 and all("convolution_op" in vars(layer) for layer in grouped)  # rerouted at build
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32"))
    ours = model(x, training=False).numpy()
    for layer in grouped:
        del layer.convolution_op  # back to Keras' own grouped convolution (XLA on the CPU)
    keras_own = model(x, training=False).numpy()
    np.testing.assert_allclose(ours, keras_own, rtol=1e-5, atol=1e-5)
    assert native_depthwise(model) == 18
    plain = zoo.create_model("resnet50", include_top=False, input_shape=(64, 64, 3))
    assert native_depthwise(plain) == 0  # nothing grouped: nothing changes


def test_a_saved_convnext_loads_with_the_native_depthwise_kernels(tmp_path):
    """A ConvNeXt saved as .keras (a homework deliverable, a Labs run) and opened again runs the
    same fast kernels as a fresh build, with the same outputs."""
    import keras

    model = zoo.create_model("convnexttiny", include_top=False, input_shape=(64, 64, 3))
    path = tmp_path / "convnext.keras"
    model.save(path)
    loaded = zoo.load_saved(path)
    grouped = [layer for layer in loaded._flatten_layers(include_self=False)
               if type(layer) is keras.layers.Conv2D and layer.groups > 1]
    assert len(grouped) == 18 and all("convolution_op" in vars(layer) for layer in grouped)
    x = np.random.default_rng(1).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x, training=False).numpy(), model(x, training=False).numpy(), rtol=1e-5,
                               atol=1e-5)
