"""The homework's two training choices (what fine-tuning unfreezes, the augmentation views), read
once and carried into the report and the reproduce script. No TensorFlow here."""

from __future__ import annotations

import ast
import csv
import io

import numpy as np
import pytest
from PIL import Image

from cnnviz.homework import options, report
from cnnviz.homework.options import OptionError, augment_views, parse_augment, parse_unfreeze
from cnnviz.homework.script import reproduce_script


@pytest.mark.parametrize("value, expected", [(None, "block"), ("", "block"), ("block", "block"), ("stage", "stage"),
                                             (" Stage ", "stage"), (12, 12), ("12", 12), (np.int64(3), 3)])
def test_unfreeze_is_the_block_the_stage_or_a_positive_count(value, expected):
    assert parse_unfreeze(value) == expected


@pytest.mark.parametrize("value", ["0", -2, "last", True, "3.5"])
def test_unfreeze_refuses_and_echoes_the_value(value):
    with pytest.raises(OptionError) as err:
        parse_unfreeze(value)
    assert err.value.key == "homework.error.unfreeze" and str(value) in str(err.value)
    assert isinstance(err.value, ValueError) and err.value.message("es") != str(err.value)


@pytest.mark.parametrize("value, expected", [(None, ()), (False, ()), ("", ()), (True, ("flip",)), ("flip", ("flip",)),
                                             ("crop,flip", ("flip", "crop")), (["crop"], ("crop",))])
def test_augment_views_parse(value, expected):
    assert parse_augment(value) == expected


def test_augment_refuses_an_unknown_view():
    with pytest.raises(OptionError) as err:
        parse_augment("flip,rotate")
    assert "flip,rotate" in str(err.value) and "flip, crop" in str(err.value)


def _images(n=4, side=20):
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def test_flip_doubles_the_training_images_and_mirrors_them():
    x = _images()
    out = augment_views(x, ("flip",), seed=0)
    assert out.shape == (8, 20, 20, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:4], x)                       # the originals first, untouched
    np.testing.assert_array_equal(out[4:], x[:, :, ::-1])            # then each one mirrored left–right
    assert augment_views(x, (), seed=0) is x


def test_crop_is_a_seeded_scaled_back_crop():
    x = _images()
    a, b, c = (augment_views(x, ("flip", "crop"), seed=s) for s in (1, 1, 2))
    assert a.shape == (12, 20, 20, 3)
    np.testing.assert_array_equal(a, b)                              # same seed, same crops
    assert not np.array_equal(a[8:], c[8:])                          # another seed, other crops
    side = round(20 * options.CROP_FRACTION)
    rng = np.random.default_rng(1)
    top, left = rng.integers(0, 20 - side + 1, 4)[0], rng.integers(0, 20 - side + 1, 4)[0]
    want = np.asarray(Image.fromarray(x[0, top:top + side, left:left + side]).resize((20, 20), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(a[8], want)


def _result(unfreeze="stage", augment="", random_weights=False):
    models = {"resnet50": {"fe_accuracy": 0.5, "fe_val_accuracy": 0.25, "ft_accuracy": 0.75, "ft_val_accuracy": 0.625,
                           "params": 100, "trainable_params_fe": 10, "trainable_params_ft": 50, "inference_ms": 3.0,
                           "train_seconds": 1.0, "train_examples": 48,
                           "unfreeze": {"mode": str(unfreeze), "first_unfrozen": "conv5_block3_1_conv",
                                        "cut_after": "conv5_block2_out", "layers": ["conv5_block3_1_conv"]}}}
    return {"models": models, "class_names": ["a", "b"], "random_weights": random_weights, "device": "CPU", "seconds": 3,
            "settings": {"models": ["resnet50"], "fe_epochs": 2, "ft_epochs": 1, "seed": 4, "batch_size": 16,
                         "fe_learning_rate": 1e-3, "ft_learning_rate": 1e-5, "dropout": 0.2, "inference_runs": 3,
                         "unfreeze": str(unfreeze), "augment": augment, "random_weights": random_weights},
            "dataset": {"name": "d.zip", "images": 40, "counts": {"a": 20, "b": 20}, "refused": []},
            "split": {"train": ["a/1.png"], "val": ["a/2.png"], "test": ["b/3.png"]},
            "verdict": {"status": "incomplete", "reasons": [], "caveats": []}}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_report_says_how_the_run_was_configured(lang):
    from cnnviz.i18n import translate

    stage = report.render_html(_result(), lang)
    esc = report._esc
    assert esc(translate("homework.report.unfreeze_stage", lang)) in stage
    assert esc(translate("homework.report.augment_off", lang)) in stage
    layers = report.render_html(_result(unfreeze=7, augment="flip,crop"), lang)
    assert esc(translate("homework.report.unfreeze_n", lang, n=7)) in layers
    views = ", ".join(translate(f"homework.augment.{v}", lang) for v in ("flip", "crop"))
    assert esc(translate("homework.report.augment_on", lang, views=views, factor=3)) in layers
    # validation and test accuracy after each phase, in the table
    assert "<td>25.0%</td><td>50.0%</td><td>62.5%</td><td>75.0%</td>" in layers
    assert esc(translate("homework.col.fe_val_accuracy", lang)) in layers
    skipped = _result()
    skipped["settings"]["ft_epochs"] = 0
    assert report.config_lines(skipped["settings"], lang)[0] == translate("homework.report.unfreeze_skipped", lang)


def test_csv_carries_the_choices_and_the_examples_seen():
    row = next(csv.DictReader(io.StringIO(report.table_csv(_result(unfreeze=7, augment="flip")))))
    assert row["unfreeze"] == "7" and row["augment"] == "flip" and row["train_examples"] == "48"
    assert row["fe_val_accuracy"] == "0.25" and row["ft_val_accuracy"] == "0.625"


def test_random_weights_are_labelled_in_the_report_and_the_script():
    from cnnviz.i18n import translate

    html = report.render_html(_result(random_weights=True), "es")
    assert html.count(report._esc(translate("homework.random.banner", "es"))) >= 2  # top and configuration
    label = "RANDOM WEIGHTS: the bases were not pretrained, the results are meaningless."
    assert label in reproduce_script(_result(random_weights=True))  # in the docstring a student reads first
    assert label not in reproduce_script(_result())


def _script_functions(script: str) -> dict:
    """The script's own augmentation functions, compiled alone (the script imports Keras at the top)."""
    tree = ast.parse(script)
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("crop_view", "augment_views")]
    const = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "CROP_FRACTION"]
    ns = {"np": np, "Image": Image, "Iterable": object}
    exec(compile(ast.Module(body=const + funcs, type_ignores=[]), "reproduce.py", "exec"), ns)
    return ns


def test_script_carries_the_choices_and_augments_exactly_as_the_app():
    script = reproduce_script(_result(unfreeze=7, augment="flip,crop"))
    compile(script, "reproduce.py", "exec")
    assert "fine-tuning unfreezes the last 7 layers" in script and '"unfreeze": "7"' in script
    assert "Augmentation: flip, crop" in script and "augment_views(x_train, VIEWS, SETTINGS[\"seed\"])" in script
    assert "np.tile(y_train, 1 + len(VIEWS))" in script
    ns = _script_functions(script)
    x = _images(5, 24)
    np.testing.assert_array_equal(ns["augment_views"](x, ["flip", "crop"], 4), augment_views(x, ("flip", "crop"), 4))
    plain = reproduce_script(_result())
    assert "each base's last stage (the first" in plain and "Augmentation: off." in plain
    default = reproduce_script(_result(unfreeze="block"))
    assert "each base's last block (the default" in default
