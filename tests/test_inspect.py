"""cnnviz.inspect: parameter and MAC counts against Keras and the papers, blocks and stages,
the model.summary() text, nested models, and the `info` CLI.

Big models come from the session-wide `model_factory` (each built once, random weights).
"""

from __future__ import annotations

import json
import math
import re

import pytest

from cnnviz import HOMEWORK_MODELS
from cnnviz import inspect as ci

# facts.md, "Parameter counts as Keras 3 builds them" (keras 3.15.1, include_top=True, 224×224).
FACTS_PARAMS = {
    "resnet50": 25_636_712,
    "efficientnetb0": 5_330_571,
    "mobilenetv3small": 2_554_968,
    "convnexttiny": 28_589_128,
}
# facts.md, analytic MACs of the Keras builds (checked to 1%).
FACTS_MACS = {
    "resnet50": 3.86e9,
    "vgg16": 15.47e9,
    "efficientnetb0": 0.386e9,
    "mobilenetv3small": 0.057e9,
    "convnexttiny": 4.46e9,
}
# He et al., CVPR 2016, Table 1: multiply-adds (checked to 5%; resnet18/34 are built from code).
PAPER_MACS = {"resnet18": 1.8e9, "resnet34": 3.6e9, "resnet101": 7.6e9, "resnet152": 11.3e9}


@pytest.fixture(scope="module")
def summaries(model_factory):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = ci.summarize(model_factory(name))
        return cache[name]

    return get


# --------------------------------------------------------------------------- totals

@pytest.mark.parametrize("name", HOMEWORK_MODELS)
def test_homework_param_totals_match_keras_and_facts(name, model_factory, summaries):
    model = model_factory(name)
    s = summaries(name)
    assert s.total_params == model.count_params() == FACTS_PARAMS[name]
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert s.trainable_params == trainable
    assert s.non_trainable_params == s.total_params - trainable
    assert s.size_mb == pytest.approx(s.total_params * 4 / 1024 ** 2)


def test_facts_file_agrees_with_the_constants(shared_dir):
    """The numbers above are the ones in facts.md (guards against a silent edit of either)."""
    text = (shared_dir / "facts.md").read_text(encoding="utf-8")
    for name, display in [("resnet50", "ResNet50"), ("efficientnetb0", "EfficientNetB0"),
                          ("mobilenetv3small", "MobileNetV3Small"), ("convnexttiny", "ConvNeXtTiny")]:
        row = re.search(rf"^\| {display} \| ([\d,]+) \|", text, re.M)
        assert row, display
        assert int(row.group(1).replace(",", "")) == FACTS_PARAMS[name]


@pytest.mark.parametrize("name", sorted(FACTS_MACS))
def test_macs_match_facts_within_1_percent(name, summaries):
    assert summaries(name).macs == pytest.approx(FACTS_MACS[name], rel=0.01)


@pytest.mark.parametrize("name", sorted(PAPER_MACS))
def test_resnet_macs_match_paper_table1_within_5_percent(name, summaries):
    assert summaries(name).macs == pytest.approx(PAPER_MACS[name], rel=0.05)


@pytest.mark.parametrize("name", ["resnet50", "convnexttiny", "efficientnetb0", "densenet121", "googlenet",
                                  "inceptionv3"])
def test_rows_sum_to_totals(name, model_factory, summaries):
    s = summaries(name)
    assert sum(r.params for r in s.layers) == s.total_params == model_factory(name).count_params()
    assert sum(r.trainable_params for r in s.layers) == s.trainable_params
    assert sum(r.macs for r in s.layers) == s.macs
    assert [r.index for r in s.layers] == list(range(len(s.layers)))
    assert sum(g.params for g in s.by_block()) == s.total_params
    assert sum(g.macs for g in s.by_stage()) == s.macs


def test_depth_counts_match_the_keras_applications_table(summaries):
    # keras.io/api/applications "Depth" counts layers with weights (facts.md table).
    assert summaries("resnet50").depth_weighted == 107
    assert summaries("efficientnetb0").depth_weighted == 132
    assert summaries("vgg16").depth_weighted == 16
    s = summaries("resnet50")
    assert s.depth_all == len([r for r in s.layers if r.type != "InputLayer"]) == 176


def test_vgg16_keeps_most_parameters_in_fully_connected_layers(summaries):
    s = summaries("vgg16")
    assert s.fc_share == pytest.approx(0.894, abs=0.005)
    assert {r.name for r in s.layers if r.fully_connected} == {"fc1", "fc2", "predictions"}
    # ConvNeXt's Dense layers run at every position of a feature map: pointwise convs, not FC.
    cx = summaries("convnexttiny")
    assert [r.name for r in cx.layers if r.fully_connected] == ["convnext_tiny_head_dense"]


# --------------------------------------------------------------------------- blocks and stages

@pytest.mark.parametrize("name", ["resnet50", "efficientnetb0", "mobilenetv3small", "convnexttiny", "googlenet",
                                  "inceptionv3", "densenet121", "alexnet"])
def test_every_layer_has_a_block_and_a_stage(name, summaries):
    s = summaries(name)
    missing = [r.name for r in s.layers if not r.block or not r.stage]
    assert missing == []
    # Blocks are contiguous runs of the table, except where branches interleave.
    assert len(s.by_block()) >= 3


@pytest.mark.parametrize("name, layer, block, stage", [
    ("resnet50", "conv2_block1_1_conv", "conv2_block1", "conv2"),
    ("resnet50", "conv5_block3_out", "conv5_block3", "conv5"),
    ("resnet50", "conv1_conv", "conv1", "conv1"),
    ("resnet50", "predictions", "head", "head"),
    ("efficientnetb0", "block3a_expand_conv", "block3a", "block3"),
    ("efficientnetb0", "stem_conv", "stem", "stem"),
    ("efficientnetb0", "top_conv", "head", "head"),
    ("mobilenetv3small", "expanded_conv_3_expand", "expanded_conv_3", "14×14"),
    ("mobilenetv3small", "expanded_conv_squeeze_excite_mul", "expanded_conv", "56×56"),
    ("convnexttiny", "convnext_tiny_stage_2_block_1_depthwise_conv", "stage_2_block_1", "stage_2"),
    ("convnexttiny", "convnext_tiny_downsampling_block_1", None, None),  # expanded: see nested test
    ("googlenet", "inception_4a_1x1", "inception_4a", "inception_4"),
    ("googlenet", "inception_5b_output", "inception_5b", "inception_5"),
    ("densenet121", "conv3_block4_1_conv", "conv3_block4", "conv3"),
    ("densenet121", "pool3_conv", "pool3", "conv3"),
    ("inceptionv3", "mixed5", "mixed5", "17×17"),
    ("alexnet", "conv2", "conv2", "13×13"),
    ("alexnet", "fc1", "fc1", "head"),
])
def test_block_names(name, layer, block, stage, summaries):
    rows = {r.name: r for r in summaries(name).layers}
    if block is None:
        assert layer not in rows  # nested models are replaced by their layers
        return
    assert (rows[layer].block, rows[layer].stage) == (block, stage)


def test_auto_named_layers_follow_their_neighbours(summaries):
    """Keras' counters (re_lu_7, conv2d_41, add_3) depend on the session; placement must not."""
    mb = {r.name: r for r in summaries("mobilenetv3small").layers}
    names = list(mb)
    for i, name in enumerate(names):
        if re.fullmatch(r"(re_lu|activation)(_\d+)?", name) and names[i - 1].startswith("expanded_conv_"):
            assert mb[name].block in (mb[names[i - 1]].block, mb[names[i + 1]].block), name
    inc = summaries("inceptionv3").layers
    # Every convolution between mixed4 and mixed5 belongs to mixed5 (a 17×17 Inception module).
    start = next(i for i, r in enumerate(inc) if r.name == "mixed4")
    end = next(i for i, r in enumerate(inc) if r.name == "mixed5")
    assert {r.block for r in inc[start + 1:end + 1]} == {"mixed5"}
    # The stem (five convolutions before the first module) is "stem", not mixed0.
    first_mixed = next(i for i, r in enumerate(inc) if r.name == "mixed0")
    stem_convs = [r for r in inc[:first_mixed] if r.type == "Conv2D" and r.block == "stem"]
    assert len(stem_convs) == 5
    cx = summaries("convnexttiny").layers
    adds = [r for r in cx if r.type == "Add"]
    assert len(adds) == 18 and all(a.block.startswith("stage_") for a in adds)


def test_block_from_name_rules():
    assert ci.block_from_name("conv2_block1_1_conv") == ("conv2_block1", "conv2")
    assert ci.block_from_name("block6d_se_excite") == ("block6d", "block6")
    assert ci.block_from_name("convnext_small_stage_3_block_26_gelu") == ("stage_3_block_26", "stage_3")
    assert ci.block_from_name("stages.2.blocks.1.conv_dw") == ("stage_2_block_1", "stage_2")
    assert ci.block_from_name("convnext_tiny_downsampling_block_0") == ("stage_1_downsampling", "stage_1")
    assert ci.block_from_name("block35_10_conv") == ("block35_10", None)
    assert ci.block_from_name("block8_sepconv1_act") == ("block8", None)  # Xception, not IncResV2
    assert ci.block_from_name("mixed9_1") == ("mixed9", None)
    assert ci.block_from_name("conv2d_17") is None


# --------------------------------------------------------------------------- MACs per layer type

def _tiny_model():
    import keras

    L = keras.layers
    x = inp = keras.Input((8, 8, 4), name="image")
    x = L.Conv2D(6, 3, padding="same", name="conv")(x)                       # 8·8·6·3·3·4 = 13,824
    x = L.BatchNormalization(name="bn")(x)                                     # not counted
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)  # 8·8·12·3·3 = 6,912
    x = L.SeparableConv2D(10, 3, name="sep")(x)                                # 6·6·(12·9 + 12·10) = 8,208
    x = L.Conv2D(4, 1, groups=2, name="grouped")(x)                            # 6·6·4·(10/2) = 720
    x = L.Conv2DTranspose(3, 2, strides=2, name="up")(x)                       # 6·6·4·3·2·2 = 1,728
    x = L.Dense(5, name="pointwise_dense")(x)                                  # 12·12·3·5 = 2,160
    x = L.MaxPooling2D(name="pool")(x)                                         # not counted
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Reshape((1, 1, 5), name="to_map")(x)
    x = L.Conv2D(6, 1, name="fc_as_conv")(x)                                   # 1·1·6·5 = 30 (FC on 1×1)
    x = L.Flatten(name="flat")(x)
    out = L.Dense(7, name="fc")(x)                                             # 6·7 = 42
    return keras.Model(inp, out, name="tiny")


EXPECTED_MACS = {"conv": 13_824, "bn": 0, "dw": 6_912, "sep": 8_208, "grouped": 720, "up": 1_728,
                 "pointwise_dense": 2_160, "pool": 0, "gap": 0, "fc_as_conv": 30, "fc": 42}


def test_macs_of_each_layer_type():
    model = _tiny_model()
    s = ci.summarize(model)
    rows = {r.name: r for r in s.layers}
    assert {n: rows[n].macs for n in EXPECTED_MACS} == EXPECTED_MACS
    assert s.macs == sum(EXPECTED_MACS.values())
    assert s.total_params == model.count_params()
    assert {n for n, r in rows.items() if r.fully_connected} == {"fc_as_conv", "fc"}
    assert rows["up"].output_shape == (None, 12, 12, 3)


def test_macs_of_1d_and_3d_convolutions():
    import keras

    seq = keras.Sequential([keras.Input((16, 3)), keras.layers.Conv1D(4, 3, name="c1d")])
    assert ci.summarize(seq).macs == 14 * 4 * 3 * 3
    vol = keras.Sequential([keras.Input((4, 4, 4, 2)), keras.layers.Conv3D(3, 2, name="c3d")])
    assert ci.summarize(vol).macs == 3 * 3 * 3 * 3 * (2 * 2 * 2 * 2)


def test_unknown_spatial_size_gives_unknown_macs_not_a_guess():
    import keras

    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3, name="c"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, name="d")])
    s = ci.summarize(model)
    rows = {r.name: r for r in s.layers}
    assert rows["c"].macs is None and rows["d"].macs == 8
    assert s.macs is None
    assert s.total_params == model.count_params()


def test_shared_layer_counts_params_once_and_macs_per_call():
    import keras

    shared = keras.layers.Dense(4, name="shared")
    inp = keras.Input((4,))
    x = keras.layers.Dense(4, name="middle")(shared(inp))
    model = keras.Model(inp, shared(x))  # the same layer at two depths
    s = ci.summarize(model)
    rows = {r.name: r for r in s.layers}
    assert s.total_params == model.count_params() == 2 * (16 + 4)
    assert rows["shared"].macs == 2 * 16 and s.macs == 3 * 16
    assert all(r.block and r.stage for r in s.layers)


# --------------------------------------------------------------------------- nested models

def test_nested_models_are_expanded(summaries, model_factory):
    cx = summaries("convnexttiny")
    rows = {r.name: r for r in cx.layers}
    assert rows["convnext_tiny_stem_conv"].parent == "convnext_tiny_stem"
    assert rows["convnext_tiny_stem_conv"].block == "stem"
    assert rows["convnext_tiny_downsampling_conv_1"].block == "stage_2_downsampling"
    assert rows["convnext_tiny_downsampling_conv_1"].stage == "stage_2"
    assert not any(r.type in ("Sequential", "Functional") for r in cx.layers)
    assert not any(r.type == "InputLayer" and r.parent for r in cx.layers)
    # The CIFAR v4 course model wraps its augmentation in a Sequential: it joins the stem.
    v4 = ci.summarize(model_factory("cifar10_v4"))
    augment = [r for r in v4.layers if r.parent == "data_augmentation"]
    assert augment and {r.block for r in augment} == {"stem"}
    assert v4.total_params == model_factory("cifar10_v4").count_params()


def test_transfer_learning_model_keeps_the_backbone_blocks():
    """Sequential([backbone, pooling, Dense]) as students write it: inner blocks survive."""
    import keras

    L = keras.layers
    x = inp = keras.Input((32, 32, 3))
    x = L.Conv2D(8, 3, padding="same", name="conv1_conv")(x)
    y = L.Conv2D(8, 3, padding="same", name="conv2_block1_1_conv")(x)
    x = L.Add(name="conv2_block1_add")([x, y])
    y = L.Conv2D(8, 3, padding="same", name="conv2_block2_1_conv")(x)
    x = L.Add(name="conv2_block2_add")([x, y])
    backbone = keras.Model(inp, x, name="backbone")
    model = keras.Sequential([keras.Input((32, 32, 3)), backbone, L.GlobalAveragePooling2D(name="gap"),
                              L.Dense(5, name="classifier")], name="transfer")
    backbone.trainable = False
    s = ci.summarize(model)
    rows = {r.name: r for r in s.layers}
    assert rows["conv2_block2_1_conv"].block == "conv2_block2"
    assert rows["conv2_block2_1_conv"].parent == "backbone"
    assert rows["conv2_block2_1_conv"].trainable is False
    assert s.total_params == model.count_params()
    assert s.trainable_params == rows["classifier"].params == 8 * 5 + 5
    assert s.macs == 32 * 32 * 8 * 3 * 3 * (3 + 8 + 8) + 8 * 5


# --------------------------------------------------------------------------- summary text and exports

def test_summary_text_is_the_plain_keras_summary(model_factory, summaries):
    model = model_factory("resnet50")
    text = ci.summary_text(model)
    assert "Total params: 25,636,712" in text
    assert "\x1b[" not in text and "[bold]" not in text
    missing = [r.name for r in summaries("resnet50").layers if r.name not in text]
    assert missing == []


def test_summary_text_keeps_long_names_whole(model_factory, summaries):
    model = model_factory("convnexttiny")
    text = ci.summary_text(model, expand_nested=True)
    # Keras' default width cuts these with "…"; every name must be readable in full.
    missing = [r.name for r in summaries("convnexttiny").layers if r.name not in text]
    assert missing == []
    assert "└ convnext_tiny_stem_conv" in text
    collapsed = ci.summary_text(model)
    assert "convnext_tiny_stem_conv" not in collapsed and "convnext_tiny_stem " in collapsed


def test_exports_are_plain_data(summaries):
    s = summaries("resnet50")
    data = json.loads(json.dumps(s.to_dict()))
    assert data["total_params"] == 25_636_712 and len(data["layers"]) == len(s.layers)
    assert data["stages"][0]["name"] == "conv1"
    csv_text = s.to_csv()
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("index,name,type,output_shape,params")
    assert len(lines) == len(s.layers) + 1
    assert "conv2_block1_1_conv,Conv2D,56×56×64,4160" in csv_text
    assert ci.format_shape((None, 56, 56, 256)) == "56×56×256"


# --------------------------------------------------------------------------- CLI

def test_info_cli_json(capsys):
    from cnnviz.cli import main

    assert main(["info", "lenet5", "--json", "--layers"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "lenet5" and data["total_params"] == 60_840
    assert data["macs"] > 0 and len(data["layers"]) == data["depth_all"] + 1


def test_info_cli_text_in_spanish(capsys):
    from cnnviz.cli import main

    assert main(["info", "cifar10_v1", "--layers", "--lang", "es"]) == 0
    out = capsys.readouterr().out
    assert "Parámetros totales: 15,120" in out
    assert "conv1" in out and "MACs" in out


def test_info_cli_errors_are_one_line(capsys):
    from cnnviz.cli import main

    assert main(["info", "resnet5O"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "resnet50" in err and "Traceback" not in err
    assert main(["info", "resnet50", "--no-top", "--input-size", "8"]) == 1
    err = capsys.readouterr().err
    assert "32" in err and "Traceback" not in err
