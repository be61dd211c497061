"""The course's own networks: the mini-ResNet of exercise 2, the plain-vs-residual pair
of exercise 3 (seed 000, class 130) and the CIFAR-10 progression v1–v5 (seed 002).

The CIFAR-10 versions reproduce the notebooks' code layer for layer (NUM_CLASSES=10,
32×32×3 input) and only add deterministic layer names.
"""

from __future__ import annotations

from cnnviz.zoo.registry import InvalidModelOptions, ModelSpec, check_classes, check_int, published_in, register

SEED_002 = "Course notebooks cnn_cifar10_version1–5 (CNNs II, seed 002)"


# --------------------------------------------------------------------------- mini-ResNet (exercise 2)

@register(ModelSpec(
    name="miniresnet", display_name="Mini-ResNet", family="Course", year=None,
    paper="Course exercise 2 (class 130), after He et al., CVPR 2016",
    input_shape=(32, 32, 3), preprocessing="scale01", min_input_size=8,  # no striding: any size from 8×8 works
    last_conv_layer="block4_add", timeline_id=None, source="code", classes=10, params=297_866,
    options=("blocks", "classes"), description="zoo.desc.miniresnet",
))
def miniresnet(spec: ModelSpec, *, weights=None, include_top: bool = True, input_shape=(32, 32, 3), **options):
    """Exercise 2: ``res_block(x) = x + Conv(64,3,'same')(ReLU()(Conv(64,3,'same')(x)))``, ×4.

    A 3×3/64 stem convolution brings the image to the 64 channels the identity sum
    needs; then ``blocks`` (4) residual blocks, global average pooling and a softmax.
    """
    import keras  # heavy: TF
    from keras import layers

    n_blocks = check_int(spec, "blocks", options.get("blocks", 4), 1, 32)
    classes = check_classes(spec, options)
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="stem_conv")(inputs)
    for b in range(1, n_blocks + 1):
        y = layers.Conv2D(64, 3, padding="same", name=f"block{b}_conv1")(x)
        y = layers.ReLU(name=f"block{b}_relu")(y)
        y = layers.Conv2D(64, 3, padding="same", name=f"block{b}_conv2")(y)
        x = layers.Add(name=f"block{b}_add")([x, y])
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="miniresnet")


# --------------------------------------------------------------------------- plain vs residual (exercise 3)

def _cifar_resnet(spec: ModelSpec, *, include_top: bool, input_shape, residual: bool, **options):
    """He et al. 2016 §4.2: the CIFAR-10 plain/residual nets with 6n+2 weighted layers.

    conv 3×3/16 → three stages of n blocks of two 3×3 convs (16, 32, 64 filters; the
    2nd and 3rd stages start with stride 2) → global average pool → FC softmax.
    BatchNorm after every convolution. The residual twin adds identity shortcuts with
    zero-padded channels where the shape changes ("option A"), so both nets have
    exactly the same parameters and differ only in the skips.
    """
    import keras  # heavy: TF
    from keras import layers

    from cnnviz.zoo.layers import ZeroPadShortcut  # heavy: Keras layers

    depth = check_int(spec, "depth", options.get("depth", 50), 8, 200)
    if (depth - 2) % 6:
        raise InvalidModelOptions("zoo.error.depth_6n2", model=spec.display_name, value=depth,
                                  lower=depth - (depth - 2) % 6, upper=depth - (depth - 2) % 6 + 6)
    n = (depth - 2) // 6
    classes = check_classes(spec, options)

    def conv_bn(x, filters, strides, name, relu=True):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x) if relu else x

    inputs = keras.Input(shape=input_shape, name="input")
    x = conv_bn(inputs, 16, 1, "conv1")
    for stage, filters in enumerate((16, 32, 64), start=2):
        for b in range(1, n + 1):
            strides = 2 if (b == 1 and stage > 2) else 1
            name = f"conv{stage}_block{b}"
            y = conv_bn(x, filters, strides, f"{name}_1")
            y = conv_bn(y, filters, 1, f"{name}_2", relu=False)
            if residual:
                shortcut = x
                if strides != 1 or x.shape[-1] != filters:
                    shortcut = ZeroPadShortcut(filters, strides, name=f"{name}_shortcut")(x)
                y = layers.Add(name=f"{name}_add")([shortcut, y])
            x = layers.ReLU(name=f"{name}_out")(y)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    kind = "residualnet" if residual else "plainnet"
    return keras.Model(inputs, x, name=f"{kind}{depth}")


# ResNet's paper (year, link, source id) from architectures.json; the citation names its CIFAR-10 section.
_HE = published_in("resnet")
_EX3 = dict(family="Course", **{**_HE, "paper": f"{_HE['paper']} (§4.2, CIFAR-10); course exercise 3"},
            input_shape=(32, 32, 3), preprocessing="scale01",
            last_conv_layer="conv4_block8_out", timeline_id=None, source="code",
            classes=10, params=759_418, options=("depth", "classes"),
            extra={"gradcam_input_of": "<global_pool>", "trainable_params": 755_802})


@register(ModelSpec(name="plainnet", display_name="PlainNet", description="zoo.desc.plainnet", **_EX3))
def plainnet(spec: ModelSpec, *, weights=None, include_top: bool = True, input_shape=(32, 32, 3), **options):
    """Exercise 3's network *without* skip connections (``depth`` = 6n+2 layers, default 50)."""
    return _cifar_resnet(spec, include_top=include_top, input_shape=input_shape, residual=False, **options)


@register(ModelSpec(name="residualnet", display_name="ResidualNet", description="zoo.desc.residualnet",
                    **_EX3))
def residualnet(spec: ModelSpec, *, weights=None, include_top: bool = True, input_shape=(32, 32, 3), **options):
    """Exercise 3's network *with* identity skip connections; same layers and parameters as plainnet."""
    return _cifar_resnet(spec, include_top=include_top, input_shape=input_shape, residual=True, **options)


# --------------------------------------------------------------------------- CIFAR-10 v1..v5 (seed 002)

# version: (convs as (filters, kernel, strides), dense units or 0, relu, augmentation, batchnorm+dropout)
CIFAR10_VERSIONS: dict[int, tuple[tuple[tuple[int, int, int], ...], int, bool, bool, bool]] = {
    1: (((10, 4, 2), (20, 3, 2)), 0, False, False, False),
    2: (((10, 4, 2), (20, 3, 2)), 0, True, False, False),
    3: (((32, 3, 1), (32, 3, 2), (64, 3, 1), (64, 3, 2)), 128, True, False, False),
    4: (((32, 3, 1), (32, 3, 2), (64, 3, 1), (64, 3, 2)), 128, True, True, False),
    5: (((32, 3, 1), (32, 3, 2), (64, 3, 1), (64, 3, 2)), 128, True, True, True),
}
CIFAR10_TITLES = {
    1: "zoo.desc.cifar10_v1", 2: "zoo.desc.cifar10_v2", 3: "zoo.desc.cifar10_v3",
    4: "zoo.desc.cifar10_v4", 5: "zoo.desc.cifar10_v5",
}
# count_params() of each version (v5: its BatchNorm moving statistics included).
CIFAR10_PARAMS = {1: 15_120, 2: 15_120, 3: 591_274, 4: 591_274, 5: 592_554}


def build_cifar10(spec: ModelSpec, *, weights=None, include_top: bool = True, input_shape=(32, 32, 3), **options):
    """One version of the course's CIFAR-10 network, exactly as its notebook builds it.

    v1: two linear strided convs + softmax; v2: + ReLU; v3: four convs + Dense(128);
    v4: + the ``data_augmentation`` block (RandomFlip horizontal, RandomTranslation 0.1,
    active only in training); v5: + BatchNormalization after every conv/dense and
    Dropout(0.5) before the output.
    """
    import keras  # heavy: TF
    from keras import layers

    version = spec.extra["version"]
    convs, dense, relu, augment, bn_dropout = CIFAR10_VERSIONS[version]
    classes = check_classes(spec, options)

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    if augment:
        aug = keras.Sequential([
            layers.RandomFlip("horizontal", name="random_flip"),
            layers.RandomTranslation(0.1, 0.1, name="random_translation"),
        ], name="data_augmentation")
        x = aug(x)
    for i, (filters, kernel, strides) in enumerate(convs, start=1):
        x = layers.Conv2D(filters, (kernel, kernel), strides=strides, padding="same", name=f"conv{i}")(x)
        if bn_dropout:
            x = layers.BatchNormalization(name=f"bn{i}")(x)
        if relu:
            x = layers.ReLU(name=f"relu{i}")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        if dense:
            k = len(convs) + 1
            x = layers.Dense(dense, name="dense1")(x)
            if bn_dropout:
                x = layers.BatchNormalization(name=f"bn{k}")(x)
            x = layers.ReLU(name=f"relu{k}")(x)
            if bn_dropout:
                x = layers.Dropout(rate=0.5, name="dropout")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=spec.name)


for _v, (_convs, _dense, _relu, _aug, _bn) in CIFAR10_VERSIONS.items():
    _n = len(_convs)
    _last = f"relu{_n}" if _relu else f"conv{_n}"
    register(ModelSpec(
        name=f"cifar10_v{_v}", display_name=f"CIFAR-10 CNN v{_v}", family="Course", year=None,
        paper=SEED_002, input_shape=(32, 32, 3), preprocessing="scale01",
        last_conv_layer=_last, timeline_id=None, source="code", accepts_input_size=False, classes=10,
        params=CIFAR10_PARAMS[_v], description=CIFAR10_TITLES[_v], options=("classes",),
        extra={"version": _v},
    ))(build_cifar10)
