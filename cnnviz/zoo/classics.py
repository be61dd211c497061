"""LeNet-5, AlexNet and ZFNet built from code, as their papers and the course tables describe.

Random initialisation only (no pretrained weights exist in the app): they are for
structure, summaries, parameter counts and the labs. Year, paper and link come from
``cnnviz/data/architectures.json`` (:func:`~cnnviz.zoo.registry.published_in`). Keras is
imported inside the builders.
"""

from __future__ import annotations

from cnnviz.zoo.registry import ModelSpec, check_bool, check_classes, published_in, register

# LeNet-5's C3 connection table (LeCun et al. 1998, Table I): for each of the 16 C3
# maps, the S2 maps it reads. Six maps read 3 contiguous maps, six read 4 contiguous,
# three read 4 non-contiguous, and the last reads all 6.
LENET_C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


# --------------------------------------------------------------------------- LeNet-5

@register(ModelSpec(
    name="lenet5", display_name="LeNet-5", family="Classic", **published_in("lenet5"),
    input_shape=(32, 32, 1), preprocessing="scale01",
    last_conv_layer="c3", timeline_id="lenet5", source="code", accepts_input_size=False,
    min_input_size=32, classes=10, params=60_840,
    notes=("zoo.note.lenet5_params", "zoo.note.lenet5_rbf"),
    options=("full_c3", "classes"),
    extra={"trainable_params": 60_000, "trainable_params_full_c3": 60_900},
))
def lenet5(spec: ModelSpec, *, weights=None, include_top: bool = True, input_shape=(32, 32, 1), **options):
    """LeNet-5 (LeCun et al. 1998, §II.B): C1-S2-C3-S4-C5-F6-RBF output, 60,000 trainable parameters.

    - C1: 6 maps 5×5 (156 params); S2/S4: each map is the 2×2 sum of its inputs times one
      trainable coefficient plus one trainable bias (12 and 32 params) — here an average
      pool followed by a per-map 1×1 depthwise scale + bias, the same function with the
      factor 4 folded into the coefficient;
    - C3: 16 maps 5×5 over the subsets of S2 in :data:`LENET_C3_TABLE` (1,516 params),
      one small convolution per map, concatenated in the table's order;
      ``full_c3=True`` connects every C3 map to all 6 S2 maps instead (2,416 params);
    - C5: 120 maps 5×5 (48,120); F6: 84 units (10,164); squashing 1.7159·tanh(2a/3);
    - output: 10 Euclidean RBF units with fixed parameters (not trainable), then softmax.
    """
    import keras  # heavy: TF
    from keras import layers

    from cnnviz.zoo.layers import ChannelSubset, EuclideanRBF, lecun_tanh  # heavy: Keras layers

    full_c3 = check_bool(spec, "full_c3", options.get("full_c3", False))
    classes = check_classes(spec, options)

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(6, 5, activation=lecun_tanh, name="c1")(inputs)

    def subsampling(x, name):
        x = layers.AveragePooling2D(2, name=f"{name}_pool")(x)
        return layers.DepthwiseConv2D(1, activation=lecun_tanh, name=name)(x)

    x = subsampling(x, "s2")
    if full_c3:
        x = layers.Conv2D(16, 5, activation=lecun_tanh, name="c3")(x)
    else:
        maps = []
        for i, sources in enumerate(LENET_C3_TABLE):
            sub = ChannelSubset(sources, name=f"c3_in{i:02d}")(x)
            maps.append(layers.Conv2D(1, 5, activation=lecun_tanh, name=f"c3_map{i:02d}")(sub))
        x = layers.Concatenate(name="c3")(maps)
    x = subsampling(x, "s4")
    x = layers.Conv2D(120, 5, activation=lecun_tanh, name="c5")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(84, activation=lecun_tanh, name="f6")(x)
        x = EuclideanRBF(classes, name="output_rbf")(x)
        x = layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="lenet5_full_c3" if full_c3 else "lenet5")


# --------------------------------------------------------------------------- AlexNet

@register(ModelSpec(
    name="alexnet", display_name="AlexNet", family="Classic", **published_in("alexnet"),
    input_shape=(227, 227, 3), preprocessing="scale01",
    last_conv_layer="conv5", timeline_id="alexnet", source="code", accepts_input_size=False,
    min_input_size=227, params=62_378_344,
    notes=("zoo.note.alexnet_single_tower", "zoo.note.alexnet_no_lrn"),
    options=("grouped", "classes"),
    extra={"params_grouped": 60_965_224},
))
def alexnet(spec: ModelSpec, *, weights=None, include_top: bool = True, input_shape=(227, 227, 3), **options):
    """AlexNet exactly as the course table (seed 004): 227×227×3, single tower, 62,378,344 params.

    conv1 96 11×11/4 → pool 3×3/2 → conv2 256 5×5 pad 2 → pool → conv3 384 3×3 →
    conv4 384 3×3 → conv5 256 3×3 → pool (6×6×256) → dropout 0.5 → fc 4096 → dropout 0.5
    → fc 4096 → fc 1000 softmax, ReLU everywhere. ``grouped=True`` splits conv2, conv4 and
    conv5 into the paper's two GPU groups (60,965,224 params).
    """
    import keras  # heavy: TF
    from keras import layers

    grouped = check_bool(spec, "grouped", options.get("grouped", False))
    classes = check_classes(spec, options)
    groups = 2 if grouped else 1

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(256, 5, padding="same", groups=groups, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(384, 3, padding="same", groups=groups, activation="relu", name="conv4")(x)
    x = layers.Conv2D(256, 3, padding="same", groups=groups, activation="relu", name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool3")(x)
    if include_top:
        x = layers.Dropout(0.5, name="dropout1")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dropout(0.5, name="dropout2")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="alexnet_grouped" if grouped else "alexnet")


# --------------------------------------------------------------------------- ZFNet

@register(ModelSpec(
    name="zfnet", display_name="ZFNet", family="Classic", **published_in("zfnet"),
    input_shape=(224, 224, 3), preprocessing="scale01",
    last_conv_layer="conv5", timeline_id="zfnet", source="code", accepts_input_size=False,
    min_input_size=224, params=62_357_608,
    notes=("zoo.note.zfnet_sizes",),
    options=("classes",),
))
def zfnet(spec: ModelSpec, *, weights=None, include_top: bool = True, input_shape=(224, 224, 3), **options):
    """ZFNet (Zeiler & Fergus 2014, Fig. 3): AlexNet with a 7×7/2 first layer and a 5×5/2 second.

    Feature-map sizes follow the paper's figure: 110 → 55 → 26 → 13 → 13 → 13 → 6
    (conv1 padded by 1, pool1/pool2 'same'). ReLU everywhere; dropout 0.5 on the two
    4096-unit layers. The paper's local contrast normalisation after layers 1–2 is omitted.
    """
    import keras  # heavy: TF
    from keras import layers

    classes = check_classes(spec, options)
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.ZeroPadding2D(1, name="conv1_pad")(inputs)
    x = layers.Conv2D(96, 7, strides=2, activation="relu", name="conv1")(x)             # 110×110×96
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)              # 55×55
    x = layers.Conv2D(256, 5, strides=2, activation="relu", name="conv2")(x)            # 26×26×256
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)              # 13×13
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)                              # 6×6×256
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc6")(x)
        x = layers.Dropout(0.5, name="dropout6")(x)
        x = layers.Dense(4096, activation="relu", name="fc7")(x)
        x = layers.Dropout(0.5, name="dropout7")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="zfnet")
