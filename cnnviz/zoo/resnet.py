"""ResNet-18/34 (basic blocks) and SE-ResNet-50, built from code in Keras' naming style.

One family builder, variants as data (as ``keras/applications/resnet.py`` does).
Convolutions have no bias (BatchNorm's offset plays that role), so the trainable
counts match the reference implementations: ResNet-18 11,689,512 and ResNet-34
21,797,672 (BatchNorm's scale and offset are trainable; its moving mean and
variance are not, yet ``count_params()`` counts them too).

Layer names: ``conv1_conv``, ``conv2_block1_1_conv``, ``conv2_block1_0_conv`` (projection
shortcut), ``conv2_block1_add``, ``conv2_block1_out``, and for SE blocks
``conv2_block1_se_squeeze`` / ``_se_reduce`` / ``_se_expand`` / ``_se_excite``.
"""

from __future__ import annotations

from cnnviz.zoo.registry import ModelSpec, check_classes, published_in, register

# variant: (block kind, blocks per stage conv2..conv5, squeeze-and-excitation ratio or 0)
RESNET_CONFIGS: dict[str, tuple[str, tuple[int, int, int, int], int]] = {
    "resnet18": ("basic", (2, 2, 2, 2), 0),
    "resnet34": ("basic", (3, 4, 6, 3), 0),
    "seresnet50": ("bottleneck", (3, 4, 6, 3), 16),
}
STAGE_FILTERS = (64, 128, 256, 512)
BN_EPSILON = 1.001e-5  # as keras.applications.ResNet


def build_resnet(spec: ModelSpec, *, weights=None, include_top: bool = True, input_shape=(224, 224, 3),
                 **options):
    """Build ``spec.name``'s variant of :data:`RESNET_CONFIGS` (paper Table 1)."""
    import keras  # heavy: TF
    from keras import layers

    kind, stages, se_ratio = RESNET_CONFIGS[spec.name]
    classes = check_classes(spec, options)
    bn_axis = 3

    def conv_bn(x, filters, kernel, strides, name, relu=True):
        if strides > 1 and kernel > 1:
            # Symmetric padding for strided convs (as the paper's Caffe/Torch models);
            # Keras' 'same' would pad only bottom/right on even sizes.
            x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
            x = layers.Conv2D(filters, kernel, strides=strides, use_bias=False, name=f"{name}_conv")(x)
        else:
            x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                              name=f"{name}_conv")(x)
        x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        if relu:
            x = layers.Activation("relu", name=f"{name}_relu")(x)
        return x

    def squeeze_excite(x, channels, name):
        # Hu et al. 2018, Fig. 3: global pool → FC C/r → ReLU → FC C → sigmoid → scale.
        s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(x)
        s = layers.Conv2D(channels // se_ratio, 1, activation="relu", name=f"{name}_se_reduce")(s)
        s = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_se_expand")(s)
        return layers.Multiply(name=f"{name}_se_excite")([x, s])

    def block(x, filters, strides, name):
        out_channels = filters if kind == "basic" else 4 * filters
        if strides != 1 or x.shape[-1] != out_channels:
            shortcut = conv_bn(x, out_channels, 1, strides, f"{name}_0", relu=False)  # projection (option B)
        else:
            shortcut = x
        if kind == "basic":
            y = conv_bn(x, filters, 3, strides, f"{name}_1")
            y = conv_bn(y, filters, 3, 1, f"{name}_2", relu=False)
        else:
            # Stride in the first 1×1, as the paper's ResNet-50 and keras.applications.ResNet50.
            y = conv_bn(x, filters, 1, strides, f"{name}_1")
            y = conv_bn(y, filters, 3, 1, f"{name}_2")
            y = conv_bn(y, out_channels, 1, 1, f"{name}_3", relu=False)
        if se_ratio:
            y = squeeze_excite(y, out_channels, name)
        y = layers.Add(name=f"{name}_add")([shortcut, y])
        return layers.Activation("relu", name=f"{name}_out")(y)

    inputs = keras.Input(shape=input_shape, name="input")
    x = conv_bn(inputs, 64, 7, 2, "conv1")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (n_blocks, filters) in enumerate(zip(stages, STAGE_FILTERS), start=2):
        for b in range(1, n_blocks + 1):
            strides = 2 if (b == 1 and stage > 2) else 1
            x = block(x, filters, strides, f"conv{stage}_block{b}")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=spec.name)


_COMMON = dict(family="ResNet", input_shape=(224, 224, 3), preprocessing="scale01",
               source="code", options=("classes",))

register(ModelSpec(
    name="resnet18", display_name="ResNet-18", **published_in("resnet"),
    last_conv_layer="conv5_block2_out", timeline_id="resnet", params=11_699_112,
    extra={"trainable_params": 11_689_512}, **_COMMON,
))(build_resnet)

register(ModelSpec(
    name="resnet34", display_name="ResNet-34", **published_in("resnet"),
    last_conv_layer="conv5_block3_out", timeline_id="resnet", params=21_814_696,
    extra={"trainable_params": 21_797_672}, **_COMMON,
))(build_resnet)

register(ModelSpec(
    name="seresnet50", display_name="SE-ResNet-50", **published_in("senet"),
    last_conv_layer="conv5_block3_out", timeline_id="senet", params=28_141_144,
    extra={"trainable_params": 28_088_024},
    notes=("zoo.note.seresnet50_extra_params",), **_COMMON,
))(build_resnet)
