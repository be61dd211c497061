"""cnnviz.visualize: feature maps, filters, Grad-CAM, saliency, activation maximization.

Tiny models with hand-set weights check the numbers against NumPy; the homework four
(random weights, built once per session by ``model_factory``) check that every method
works on the real Keras 3 graphs (ConvNeXt's residual ops, EfficientNet's SE blocks,
preprocessing inside the model).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnnviz import HOMEWORK_MODELS
from cnnviz.errors import UserFacingError

keras = pytest.importorskip("keras")

from cnnviz import visualize as V  # noqa: E402
from cnnviz.visualize import render  # noqa: E402


# --------------------------------------------------------------------------- tiny models

def _conv_model():
    """8×8×2 input → Conv2D(3, 3×3, valid) with known weights → ReLU → Flatten → Dense(2)."""
    inp = keras.Input((8, 8, 2), name="image")
    conv = keras.layers.Conv2D(3, 3, padding="valid", name="conv")
    x = conv(inp)
    x = keras.layers.Activation("relu", name="relu")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(2, activation="softmax", name="head")(x)
    model = keras.Model(inp, out, name="tiny_conv")
    rng = np.random.default_rng(7)
    kernel = rng.normal(size=(3, 3, 2, 3)).astype(np.float32)
    bias = np.array([0.5, -0.25, 0.0], np.float32)
    conv.set_weights([kernel, bias])
    return model, kernel, bias


def _numpy_conv(x, kernel, bias):
    kh, kw, cin, cout = kernel.shape
    h, w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((h, w, cout), np.float64)
    for i in range(h):
        for j in range(w):
            patch = x[i:i + kh, j:j + kw, :]
            out[i, j] = np.tensordot(patch, kernel, axes=([0, 1, 2], [0, 1, 2])) + bias
    return out


@pytest.fixture(scope="module")
def conv_model():
    return _conv_model()


def _color_model():
    """32×32 RGB → Conv2D(2) 'red detector' / 'green detector' → GAP → Dense(2): class 0 = red, 1 = green."""
    inp = keras.Input((32, 32, 3))
    conv = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="detect")
    x = conv(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    dense = keras.layers.Dense(2, activation="softmax", name="predictions")
    out = dense(x)
    model = keras.Model(inp, out, name="planted")
    k = np.zeros((3, 3, 3, 2), np.float32)
    k[:, :, 0, 0], k[:, :, 1, 0], k[:, :, 2, 0] = 1.0, -1.0, -1.0   # red minus the rest
    k[:, :, 1, 1], k[:, :, 0, 1], k[:, :, 2, 1] = 1.0, -1.0, -1.0   # green minus the rest
    conv.set_weights([k / 9.0, np.zeros(2, np.float32)])
    dense.set_weights([np.eye(2, dtype=np.float32) * 4.0, np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def color_model():
    return _color_model()


def _planted_image(red_size=10, green_size=6):
    img = np.zeros((32, 32, 3), np.float32)
    img[2:2 + red_size, 2:2 + red_size, 0] = 1.0                  # red patch, top-left
    img[30 - green_size:30, 30 - green_size:30, 1] = 1.0          # green patch, bottom-right
    return img


# --------------------------------------------------------------------------- feature maps

def test_feature_maps_equal_a_hand_computed_convolution(conv_model):
    model, kernel, bias = conv_model
    x = np.random.default_rng(1).normal(size=(8, 8, 2)).astype(np.float32)
    maps = V.feature_maps(model, x, ["conv", "relu"])
    assert list(maps) == ["conv", "relu"]
    expected = _numpy_conv(x.astype(np.float64), kernel, bias)
    assert maps["conv"].shape == (6, 6, 3)
    np.testing.assert_allclose(maps["conv"], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(maps["relu"], np.maximum(expected, 0), rtol=1e-4, atol=1e-4)


def test_feature_maps_accept_one_name_and_a_batch_of_one(conv_model):
    model, kernel, bias = conv_model
    x = np.ones((8, 8, 2), np.float32)
    a = V.feature_maps(model, x, "conv")["conv"]
    b = V.feature_maps(model, x[None], ["conv"])["conv"]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[0, 0], kernel.sum(axis=(0, 1, 2)) + bias, rtol=1e-5)


def test_one_extractor_per_layer_set(conv_model):
    model, _, _ = conv_model
    from cnnviz.visualize import maps

    assert maps.extractor(model, ["conv", "relu"]) is maps.extractor(model, ["conv", "relu"])
    assert maps.extractor(model, ["conv"]) is not maps.extractor(model, ["conv", "relu"])


def test_non_spatial_layer_is_refused_with_its_shape(conv_model):
    model, _, _ = conv_model
    with pytest.raises(V.NotSpatialError) as err:
        V.feature_maps(model, np.zeros((8, 8, 2), np.float32), ["head"])
    assert "head" in str(err.value) and "2" in str(err.value)
    assert isinstance(err.value, UserFacingError)
    assert [n.name for n in V.map_layers(model)] == ["conv", "relu"]  # no input, no Dense


def test_unknown_layer_lists_close_names_in_both_languages(conv_model):
    model, _, _ = conv_model
    with pytest.raises(V.UnknownLayerError) as err:
        V.feature_maps(model, np.zeros((8, 8, 2), np.float32), ["rellu"])
    assert isinstance(err.value, KeyError) and isinstance(err.value, UserFacingError)
    assert "rellu" in str(err.value) and "relu" in str(err.value)
    assert "ninguna capa" in err.value.message("es")


@pytest.mark.parametrize("bad, fragment", [
    (np.zeros((8, 8), np.float32), "(8, 8)"),
    (np.zeros((2, 8, 8, 2), np.float32), "(2, 8, 8, 2)"),
    (np.zeros((9, 8, 2), np.float32), "(9, 8, 2)"),
    (np.full((8, 8, 2), np.nan, np.float32), "NaN"),
    ("not an image", "str"),
])
def test_bad_input_is_a_clear_error(conv_model, bad, fragment):
    model, _, _ = conv_model
    with pytest.raises(V.BadInputError) as err:
        V.feature_maps(model, bad, ["conv"])
    assert fragment in str(err.value)


def test_channel_stats_and_ranking():
    fmap = np.zeros((4, 4, 3), np.float32)
    fmap[..., 0] = 1.0                       # mean 1, max 1
    fmap[0, 0, 1] = 10.0                     # mean 0.625, max 10
    fmap[..., 2] = -1.0                      # never active
    stats = V.channel_stats(fmap)
    np.testing.assert_allclose(stats.mean, [1.0, 0.625, -1.0])
    np.testing.assert_allclose(stats.max, [1.0, 10.0, -1.0])
    np.testing.assert_allclose(stats.active, [1.0, 1 / 16, 0.0])
    assert list(V.rank_channels(fmap, "mean")) == [0, 1, 2]
    assert list(V.rank_channels(fmap, "max", top=2)) == [1, 0]
    with pytest.raises(ValueError, match="median"):
        V.rank_channels(fmap, "median")


def test_raw_ops_get_stable_aliases_and_their_maps():
    """ConvNeXt-style residual: ``x + branch`` is an op, not a layer; it gets a stable alias."""
    inp = keras.Input((6, 6, 2))
    branch = keras.layers.Conv2D(2, 1, name="blk_pointwise")(inp)
    branch = keras.layers.Activation("linear", name="blk_identity")(branch)
    out = inp + branch
    model = keras.Model(inp, out)
    names = [n.name for n in V.layers(model)]
    assert names == ["blk_pointwise", "blk_identity", "blk_out"]
    x = np.random.default_rng(0).normal(size=(6, 6, 2)).astype(np.float32)
    maps = V.feature_maps(model, x, ["blk_identity", "blk_out"])
    np.testing.assert_allclose(maps["blk_out"], x + maps["blk_identity"], rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- Grad-CAM

def _quadrant(heat):
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    h, w = heat.shape
    return ("top" if y < h / 2 else "bottom") + "-" + ("left" if x < w / 2 else "right")


def test_grad_cam_highlights_the_planted_patch(color_model):
    img = _planted_image()
    red = V.grad_cam_result(color_model, img)            # top-1: the bigger red patch
    assert red.class_index == 0
    assert red.heatmap.shape == (32, 32) and red.heatmap.dtype == np.float32
    assert _quadrant(red.heatmap) == "top-left"
    assert red.heatmap[2:12, 2:12].mean() > 5 * red.heatmap[16:, 16:].mean()
    green = V.grad_cam(color_model, img, class_index=1, layer_name="detect")
    assert _quadrant(green) == "bottom-right"
    assert green.max() == pytest.approx(1.0) and green.min() >= 0.0
    assert 0.5 < red.probability < 1.0  # softmax of the logits 4·mean(red map) vs 4·mean(green map)


def test_grad_cam_default_target_is_the_last_spatial_tensor(color_model):
    assert V.default_target_layer(color_model) == "detect"


def test_grad_cam_without_evidence_is_zeros_not_nan(color_model):
    heat = V.grad_cam(color_model, np.zeros((32, 32, 3), np.float32))
    assert heat.shape == (32, 32)
    assert not np.isnan(heat).any()
    assert np.all(heat == 0.0)


def test_grad_cam_rejects_a_bad_class(color_model):
    with pytest.raises(V.BadClassError) as err:
        V.grad_cam(color_model, _planted_image(), class_index=2)
    assert "0 to 1" in str(err.value)


def test_grad_cam_works_on_a_frozen_model():
    """Transfer learning freezes the base: the gradient must still flow (input is watched)."""
    model = _color_model()
    model.trainable = False
    assert _quadrant(V.grad_cam(model, _planted_image())) == "top-left"


def test_saliency_points_at_the_planted_patch(color_model):
    sal = V.saliency(color_model, _planted_image(), class_index=0)
    assert sal.shape == (32, 32) and 0.0 <= sal.min() and sal.max() == pytest.approx(1.0)
    # The red detector only passes gradient where it fires: on and around the red patch.
    assert sal[:14, :14].sum() > 0.9 * sal.sum()


# --------------------------------------------------------------------------- activation maximization

def test_activation_maximization_increases_the_target(color_model):
    seen = []
    result = V.activation_maximization(color_model, "detect", 1, steps=20, lr=8.0, seed=3,
                                       callback=lambda i, n, v, p: seen.append((i, n, v, p is not None)))
    assert result.image.shape == (32, 32, 3) and result.image.dtype == np.uint8
    assert result.steps_done == 20 and not result.stopped
    assert result.final_value > result.initial_value + 0.1
    assert np.mean(result.values[-5:]) > np.mean(result.values[:5])
    assert [s[0] for s in seen] == list(range(1, 21)) and all(s[1] == 20 for s in seen)
    assert seen[7][3] and not seen[0][3]     # a preview image every 8 steps
    # The green detector's favourite picture is green.
    r, g, b = result.image.reshape(-1, 3).mean(0)
    assert g > r and g > b


def test_activation_maximization_can_be_stopped_and_is_cached(color_model):
    stopped = V.activation_maximization(color_model, "detect", 0, steps=30, seed=5,
                                        callback=lambda i, n, v, p: i < 4)
    assert stopped.stopped and stopped.steps_done == 4
    full = V.activation_maximization(color_model, "detect", 0, steps=6, seed=5)
    again = V.activation_maximization(color_model, "detect", 0, steps=6, seed=5)
    assert again is full                        # completed runs are cached
    other = V.activation_maximization(color_model, "detect", 0, steps=6, seed=5, cache_key="imagenet")
    assert other is not full


def test_activation_maximization_validates(color_model):
    with pytest.raises(V.BadChannelError):
        V.activation_maximization(color_model, "detect", 2, steps=2)
    with pytest.raises(V.NotSpatialError):
        V.activation_maximization(color_model, "gap", 0, steps=2)
    with pytest.raises(V.VisualizeError):
        V.activation_maximization(color_model, "detect", 0, steps=0)


def test_preprocess_tensor_matches_the_zoo():
    import tensorflow as tf

    from cnnviz.visualize.actmax import preprocess_tensor
    from cnnviz.zoo.preprocessing import preprocess_batch

    pixels = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype(np.float32)
    for mode in ("none", "caffe", "tf", "torch", "scale01"):
        np.testing.assert_allclose(preprocess_tensor(mode, tf.constant(pixels)).numpy(),
                                   preprocess_batch(mode, pixels), rtol=1e-5, atol=1e-4)


# --------------------------------------------------------------------------- filters

def _filter_model():
    inp = keras.Input((16, 16, 3))
    first = keras.layers.Conv2D(4, 3, name="first")
    x = first(inp)
    second = keras.layers.Conv2D(5, 3, name="second")
    x = second(x)
    dw = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")
    x = dw(x)
    pw = keras.layers.Conv2D(6, 1, name="pw")
    x = pw(x)
    x = keras.layers.ReLU(name="act")(x)
    return keras.Model(inp, x), first, second, dw, pw


def test_first_layer_filters_are_rgb_tiles_normalized_per_filter():
    model, first, *_ = _filter_model()
    k = np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype(np.float32)
    k[..., 3] = 0.0                                   # a dead filter: flat grey, not NaN
    first.set_weights([k, np.zeros(4, np.float32)])
    assert V.first_conv_layer(model).name == "first"
    view = V.filters(model)
    assert view.kind == "rgb" and view.tiles.shape == (4, 3, 3, 3) and view.total_filters == 4
    for f in range(3):
        tile = view.tiles[f]
        assert tile.min() == pytest.approx(0.0) and tile.max() == pytest.approx(1.0)
        expected = (k[..., f] - k[..., f].min()) / (k[..., f].max() - k[..., f].min())
        np.testing.assert_allclose(tile, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(view.tiles[3], 0.5)
    bgr = V.filters(model, "first", bgr=True)          # caffe models see BGR: flipped back to RGB
    np.testing.assert_allclose(bgr.tiles[..., 0], view.tiles[..., 2])


def test_deeper_depthwise_and_pointwise_kernels():
    model, _, second, dw, pw = _filter_model()
    kinds = {k.name: k.kind for k in V.kernel_layers(model)}
    assert kinds == {"first": "rgb", "second": "slices", "dw": "depthwise", "pw": "pointwise"}
    k2 = np.asarray(second.kernel)
    view = V.filters(model, "second", max_inputs=2)
    assert view.kind == "slices" and view.tiles.shape == (5, 2, 3, 3) and view.total_inputs == 4
    m = np.abs(k2[..., 0]).max()                       # normalized over the whole filter, 0 → 0.5
    np.testing.assert_allclose(view.tiles[0, 1], 0.5 + 0.5 * k2[:, :, 1, 0] / m, rtol=1e-5)
    dview = V.filters(model, "dw")
    assert dview.kind == "depthwise" and dview.tiles.shape == (10, 3, 3) and dview.total_filters == 10
    pview = V.filters(model, "pw", start=2, max_filters=3)
    assert pview.kind == "pointwise" and pview.tiles.shape == (3, 10) and pview.start == 2
    assert pview.tiles.min() >= 0 and pview.tiles.max() <= 1


def test_filters_errors():
    model, *_ = _filter_model()
    with pytest.raises(V.NoKernelError) as err:
        V.filters(model, "act")
    assert "ReLU" in str(err.value)
    with pytest.raises(V.UnknownLayerError):
        V.filters(model, "frist")


# --------------------------------------------------------------------------- render

def test_mosaic_and_tile_index():
    tiles = np.stack([np.full((3, 4), i, np.float32) for i in range(5)])
    tiles[:, 0, 0] = -1.0
    m = render.mosaic(tiles, cols=3, pad=1)
    assert m.shape == (2 * 3 + 1, 3 * 4 + 2)
    assert np.isnan(m[3]).all() and np.isnan(m[:, 4]).all()          # gaps
    assert np.isnan(m[4:, 10:]).all()                               # the 6th slot is empty
    assert np.nanmin(m) == 0.0 and np.nanmax(m) == 1.0               # each tile on its own scale
    assert render.tile_index((2, 3), (3, 4), 1, 5, 6) == 4
    assert render.tile_index((2, 3), (3, 4), 1, 3, 0) is None
    rgb = render.to_rgb8(m)
    assert rgb.shape == (*m.shape, 3) and (rgb[3] == 255).all()


def test_overlay_and_png():
    img = Image.new("RGB", (40, 20), (10, 20, 30))
    heat = np.zeros((5, 10), np.float32)
    heat[0, 0] = 1.0
    out = render.overlay(img, heat)
    assert out.shape == (20, 40, 3) and out.dtype == np.uint8
    assert np.abs(out[0, 0].astype(int) - [10, 20, 30]).sum() > np.abs(out[-1, -1].astype(int) - [10, 20, 30]).sum()
    data = render.png_bytes(out, min_side=64)
    back = Image.open(io.BytesIO(data))
    assert back.format == "PNG" and min(back.size) >= 64
    assert render.lut("turbo").shape == (256, 3)
    with pytest.raises(ValueError):
        render.lut("jet2")


# --------------------------------------------------------------------------- the homework four

EXPECTED_LAST = {"resnet50": 2048, "efficientnetb0": 1280, "mobilenetv3small": 576, "convnexttiny": 768}


@pytest.mark.slow
@pytest.mark.parametrize("name", HOMEWORK_MODELS)
def test_homework_model_grad_cam_and_last_maps(model_factory, name):
    from cnnviz import zoo

    model = model_factory(name)
    spec = zoo.get_spec(name)
    h, w, _ = spec.input_shape
    pixels = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    x = zoo.preprocess_input(name, pixels)[0]

    target = V.zoo_target_layer(model, name)
    assert target == V.default_target_layer(model)   # the zoo and the graph agree on the head's input
    result = V.grad_cam_result(model, x)
    heat = result.heatmap
    assert heat.shape == (h, w) and heat.dtype == np.float32
    assert not np.isnan(heat).any() and heat.min() >= 0.0 and heat.max() <= 1.0
    assert result.coarse.shape == (7, 7) and 0 <= result.class_index < 1000
    assert 0.0 <= result.probability <= 1.0

    maps = V.feature_maps(model, x, [target, spec.last_conv_layer])
    assert maps[target].shape == (7, 7, EXPECTED_LAST[name])
    assert maps[spec.last_conv_layer].shape[:2] == (7, 7)
    assert V.first_conv_layer(model).kind == "rgb"


@pytest.mark.slow
def test_resnet50_through_the_depth(model_factory):
    model = model_factory("resnet50")
    from cnnviz import zoo

    x = zoo.preprocess_input("resnet50", np.full((1, 224, 224, 3), 128, np.float32))[0]
    maps = V.all_feature_maps(model, x)
    assert "conv1_conv" in maps and "conv5_block3_out" in maps and "avg_pool" not in maps
    steps = V.depth_walk(model, maps)
    assert [s.layer for s in steps] == ["conv1_relu", "conv2_block3_out", "conv3_block4_out",
                                        "conv4_block6_out", "conv5_block3_out"]
    assert [s.shape for s in steps] == [(112, 112, 64), (56, 56, 256), (28, 28, 512), (14, 14, 1024),
                                        (7, 7, 2048)]
    assert all(s.fmap.shape == s.shape[:2] for s in steps)


@pytest.mark.slow
def test_convnext_and_efficientnet_specifics(model_factory):
    convnext = model_factory("convnexttiny")
    kinds = {k.name: k.kind for k in V.kernel_layers(convnext)}
    assert kinds["convnext_tiny_stem_conv"] == "rgb"                    # inside the nested stem
    assert kinds["convnext_tiny_stage_0_block_0_depthwise_conv"] == "depthwise"
    assert kinds["convnext_tiny_stage_0_block_0_pointwise_conv_1"] == "pointwise"
    names = {n.name for n in V.map_layers(convnext)}
    assert {f"convnext_tiny_stage_{s}_block_0_out" for s in range(4)} <= names
    assert "convnext_tiny_prestem_normalization" not in names          # preprocessing is not a map
    effnet = model_factory("efficientnetb0")
    assert V.filters(effnet, "block2a_dwconv").kind == "depthwise"
    assert "block2a_se_excite" in {n.name for n in V.map_layers(effnet)}


def test_activation_maximization_revives_a_dead_relu_channel():
    """A separate ReLU layer whose channel is 0 on the grey start: the ascent climbs its input."""
    inp = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(1, 3, padding="same", name="blue_conv")
    x = keras.layers.ReLU(name="blue_relu")(conv(inp))
    model = keras.Model(inp, x)
    k = np.zeros((3, 3, 3, 1), np.float32)
    k[:, :, 2, 0], k[:, :, 0, 0], k[:, :, 1, 0] = 1.0, -1.0, -1.0
    conv.set_weights([k / 9.0, np.zeros(1, np.float32)])
    result = V.activation_maximization(model, "blue_relu", 0, steps=15, preprocessing="scale01", lr=10.0)
    assert result.initial_value == 0.0 and result.final_value > 0.05
    r, g, b = result.image.reshape(-1, 3).mean(0)
    assert b > r + 20 and b > g + 20


def test_stretch_spans_the_range_and_keeps_flat_images():
    img = np.full((10, 10, 3), 120, np.uint8)
    img[0, 0] = 130
    img[5:, :, 1] = 125
    out = render.stretch(img, 0, 100)
    assert out.min() == 0 and out.max() == 255
    flat = np.full((4, 4, 3), 77, np.uint8)
    np.testing.assert_array_equal(render.stretch(flat), flat)


def test_only_the_first_convolution_is_drawn_in_colour():
    """LeNet-5-like: a grayscale input, then a conv that happens to take 3 maps."""
    inp = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(3, 3, name="c1")(inp)
    x = keras.layers.Conv2D(2, 3, name="c3")(x)
    model = keras.Model(inp, x)
    assert [(k.name, k.kind) for k in V.kernel_layers(model)] == [("c1", "slices"), ("c3", "slices")]
    assert V.first_conv_layer(model).name == "c1"
    assert V.filters(model, "c3").tiles.shape == (2, 3, 3, 3)   # 2 filters × 3 input slices of 3×3


@pytest.mark.parametrize("name", ["lenet5", "cifar10_v1", "miniresnet"])
def test_models_from_code(model_factory, name):
    """Grayscale input (LeNet-5), a plain two-conv CNN, a small residual net: every method runs."""
    from cnnviz import zoo

    model = model_factory(name)
    spec = zoo.get_spec(name)
    h, w, _ = spec.input_shape
    x = zoo.preprocess_input(name, np.random.default_rng(1).uniform(0, 255, (1, h, w, 3)).astype(np.float32))[0]
    heat = V.grad_cam(model, x, layer_name=V.zoo_target_layer(model, name))
    assert heat.shape == (h, w) and np.isfinite(heat).all() and 0 <= heat.min() and heat.max() <= 1
    maps = V.all_feature_maps(model, x)
    assert maps and all(a.ndim == 3 for a in maps.values())
    first = V.first_conv_layer(model)
    assert first.kind == ("slices" if spec.input_shape[-1] == 1 else "rgb")
    am = V.activation_maximization(model, V.map_layers(model)[0].name, 0, steps=3,
                                   preprocessing=spec.preprocessing)
    assert am.image.shape == (h, w, 3) and am.steps_done == 3
