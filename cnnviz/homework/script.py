"""The standalone script that reproduces a homework run with plain Keras (no cnnviz needed).

The student reads it to see what the app did, and reruns it on their own machine:
``python reproduce.py path/to/dataset_folder``. It embeds the run's split (file lists), the
settings, each model's unfreeze point and the augmentation views (the same functions as
:mod:`cnnviz.homework.options`, copied in); it trains with the full forward pass (no feature
cache: simpler to read, same result, slower). No TensorFlow import here.
"""

from __future__ import annotations

import inspect
import json

KERAS_APPS = {
    "resnet50": ("ResNet50", "resnet"),
    "efficientnetb0": ("EfficientNetB0", "efficientnet"),
    "mobilenetv3small": ("MobileNetV3Small", "mobilenet_v3"),
    "convnexttiny": ("ConvNeXtTiny", "convnext"),
}

TEMPLATE = '''"""Reproduce the cnnviz homework run {run_id} with plain Keras.

Usage: python reproduce.py DATASET_FOLDER   (the folder with one sub-folder per class)

Phase 1 (feature extraction): base frozen, called with training=False, new head
(GlobalAveragePooling2D, Dropout, Dense softmax). Phase 2 (fine-tuning): the layers from
the unfreeze point on become trainable except BatchNormalization, recompiled with a low
learning rate, EarlyStopping + ReduceLROnPlateau. cnnviz cached the frozen parts' outputs
to go faster; this script runs the full model each epoch (same training, slower).

This run: {unfreeze_text}
{augment_text}{random_text}
"""
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Iterable

import keras
import numpy as np
from PIL import Image

SETTINGS = json.loads(r"""{settings}""")
CLASSES = json.loads(r"""{classes}""")
SPLIT = json.loads(r"""{split}""")          # file paths relative to the dataset folder
MODELS = json.loads(r"""{models}""")        # name -> [keras.applications class, module, first unfrozen layer]
VIEWS = [v for v in (SETTINGS.get("augment") or "").split(",") if v]   # augmentation views of the training images
CROP_FRACTION = {crop_fraction}


def load(root, paths, size):
    xs, ys = [], []
    for rel in paths:
        im = Image.open(root / rel).convert("RGB")
        w, h = im.size
        s = max(size / w, size / h)                      # shorter side -> size, then centre crop
        im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.Resampling.BILINEAR)
        left, top = (im.size[0] - size) // 2, (im.size[1] - size) // 2
        xs.append(np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.float32))
        ys.append(CLASSES.index(rel.split("/")[0]))
    return np.stack(xs), np.array(ys)


{augment_source}


def main(root):
    if SETTINGS["random_weights"]:
        print("RANDOM WEIGHTS (no ImageNet): results meaningless, they only show the pipeline.")
    weights = None if SETTINGS["random_weights"] else "imagenet"
    size = SETTINGS.get("image_size") or 224
    data = {{part: load(root, paths, size) for part, paths in SPLIT.items()}}
    if VIEWS:  # fixed extra views of the training images (validation and test stay as they are)
        x_train, y_train = data["train"]
        data["train"] = (augment_views(x_train, VIEWS, SETTINGS["seed"]), np.tile(y_train, 1 + len(VIEWS)))
    rows = []
    for name, (cls, module, first_unfrozen) in MODELS.items():
        keras.utils.set_random_seed(SETTINGS["seed"])
        prep = getattr(keras.applications, module).preprocess_input
        x = {{part: prep(xy[0].copy()) for part, xy in data.items()}}
        y = {{part: xy[1] for part, xy in data.items()}}
        base = getattr(keras.applications, cls)(include_top=False, weights=weights, input_shape=(size, size, 3))
        base.trainable = False
        inputs = keras.Input((size, size, 3))
        h = base(inputs, training=False)                 # BN in inference mode, always
        h = keras.layers.GlobalAveragePooling2D()(h)
        h = keras.layers.Dropout(SETTINGS["dropout"])(h)
        outputs = keras.layers.Dense(len(CLASSES), activation="softmax")(h)
        model = keras.Model(inputs, outputs)
        model.compile(keras.optimizers.Adam(SETTINGS["fe_learning_rate"]), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        t0 = time.perf_counter()
        model.fit(x["train"], y["train"], validation_data=(x["val"], y["val"]), epochs=SETTINGS["fe_epochs"],
                  batch_size=SETTINGS["batch_size"], verbose=2)
        fe_acc = model.evaluate(x["test"], y["test"], verbose=0)[1]
        ft_acc = None
        if SETTINGS["ft_epochs"] and first_unfrozen:
            base.trainable = True
            names = [layer.name for layer in base.layers]
            start = names.index(first_unfrozen)
            for i, layer in enumerate(base.layers):
                layer.trainable = i >= start and not isinstance(layer, keras.layers.BatchNormalization)
            model.compile(keras.optimizers.Adam(SETTINGS["ft_learning_rate"]), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            model.fit(x["train"], y["train"], validation_data=(x["val"], y["val"]), epochs=SETTINGS["ft_epochs"],
                      batch_size=SETTINGS["batch_size"], verbose=2, callbacks=[
                          keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
                          keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=2, min_lr=1e-7)])
            ft_acc = model.evaluate(x["test"], y["test"], verbose=0)[1]
        seconds = time.perf_counter() - t0
        one = x["test"][:1]
        model.predict_on_batch(one)                      # warm-up
        times = []
        for _ in range(SETTINGS["inference_runs"]):
            t1 = time.perf_counter()
            model.predict_on_batch(one)
            times.append((time.perf_counter() - t1) * 1000)
        rows.append((name, fe_acc, ft_acc, model.count_params(), statistics.median(times), seconds))
        model.save(f"{{name}}.keras")
    print(f"{{'model':<18}}{{'fe_acc':>8}}{{'ft_acc':>8}}{{'params':>12}}{{'ms':>8}}{{'train_s':>9}}")
    for name, fe, ft, params, ms, s in rows:
        ft_text = "-" if ft is None else f"{{ft:.3f}}"
        print(f"{{name:<18}}{{fe:>8.3f}}{{ft_text:>8}}{{params:>12,}}{{ms:>8.1f}}{{s:>9.1f}}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
'''


def _augment_source() -> str:
    """The augmentation functions' own source, so the script augments exactly as cnnviz did."""
    from cnnviz.homework import options

    src = "\n\n".join(inspect.getsource(f) for f in (options.crop_view, options.augment_views))
    src = src.replace('OptionError("homework.error.augment", value=view, choices=", ".join(AUGMENT_VIEWS))',
                      'ValueError(f"unknown augmentation view {view!r}")')
    return src.rstrip()  # a value given to format(): its braces stay as they are


def reproduce_script(result) -> str:
    """Python source of a plain-Keras script that redoes ``result``'s run (same split, settings)."""
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    models = {}
    for name in data.get("settings", {}).get("models", list(data.get("models", {}))):
        cls, module = KERAS_APPS.get(name, (name, name))
        unfreeze = (data.get("models", {}).get(name) or {}).get("unfreeze") or {}
        models[name] = [cls, module, unfreeze.get("first_unfrozen")]
    dump = lambda obj: json.dumps(obj, ensure_ascii=False).replace('"""', '\\"\\"\\"')  # noqa: E731
    from cnnviz.homework import options

    settings = data.get("settings", {})
    unfreeze = str(settings.get("unfreeze") or "block")
    unfreeze_text = {"block": "fine-tuning unfreezes each base's last block (the default; the first unfrozen layer of "
                              "each model is in MODELS).",
                     "stage": "fine-tuning unfreezes each base's last stage (the first unfrozen layer of each model "
                              "is in MODELS)."}.get(unfreeze, f"fine-tuning unfreezes the last {unfreeze} layers of each "
                                                              "base (from the layer named in MODELS).")
    if settings.get("ft_epochs") == 0:
        unfreeze_text = "fine-tuning skipped (0 epochs)."
    views = [v for v in str(settings.get("augment") or "").split(",") if v]
    augment_text = (f"Augmentation: {', '.join(views)} (fixed views of the training images: {1 + len(views)}x the "
                    "examples)." if views else "Augmentation: off.")
    random_text = ("\nRANDOM WEIGHTS: the bases were not pretrained, the results are meaningless."
                   if settings.get("random_weights") else "")
    if settings.get("mixed_precision"):
        random_text += ("\ncnnviz computed the bases in mixed precision (float16) on the GPU; this script uses "
                        "float32: the same method, tiny numeric differences.")
    return TEMPLATE.format(run_id=data.get("run_id") or "", settings=dump(settings),
                           classes=dump(data.get("class_names", [])), split=dump(data.get("split", {})),
                           models=dump(models), unfreeze_text=unfreeze_text, augment_text=augment_text,
                           random_text=random_text, crop_fraction=repr(options.CROP_FRACTION),
                           augment_source=_augment_source())
