"""GoogLeNet (Inception v1), per the table of Szegedy et al. 2015 reproduced in seed 001.

Convolutions with biases and ReLU, no BatchNorm (that arrived with Inception v2).
Layer names follow the authors' released Caffe model (``inception_3a_1x1``,
``inception_3a_3x3_reduce``, ``inception_3a_pool_proj``, ``loss3_classifier``...).
"""

from __future__ import annotations

from cnnviz.zoo.registry import InvalidModelOptions, ModelSpec, check_bool, check_classes, published_in, register

# Inception blocks as data, straight from the paper's Table 1:
# name: (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj)
INCEPTION_BLOCKS: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
# Max pools (3×3/2) come after these blocks.
POOL_AFTER = {"3b": "pool3_3x3_s2", "4e": "pool4_3x3_s2"}
# The auxiliary classifiers sit on top of these blocks' outputs (paper §5).
AUX_AFTER = {"4a": "loss1", "4d": "loss2"}

# The paper's "params" column (seed 001), in thousands, per row. It is the authors'
# rounded approximation: the exact counts of the same layers differ by up to ~10 %
# (block 4c: 463K in the table, 510,336 exactly). Kept to show the comparison.
PAPER_TABLE_PARAMS_K = {
    "conv1": 2.7, "conv2": 112, "3a": 159, "3b": 380, "4a": 364, "4b": 437, "4c": 463, "4d": 580,
    "4e": 840, "5a": 1072, "5b": 1388, "linear": 1000,
}


def inception_block_params(in_channels: int, block: str) -> int:
    """Exact weights + biases of one inception block fed ``in_channels`` channels."""
    n1, r3, n3, r5, n5, pp = INCEPTION_BLOCKS[block]
    c = in_channels
    return (n1 * (c + 1) + r3 * (c + 1) + n3 * (9 * r3 + 1) + r5 * (c + 1) + n5 * (25 * r5 + 1)
            + pp * (c + 1))


def block_output_channels(block: str) -> int:
    n1, _, n3, _, n5, pp = INCEPTION_BLOCKS[block]
    return n1 + n3 + n5 + pp


@register(ModelSpec(
    name="googlenet", display_name="GoogLeNet (Inception v1)", family="Inception", **published_in("googlenet"),
    input_shape=(224, 224, 3), preprocessing="scale01",
    last_conv_layer="inception_5b_output", timeline_id="googlenet", source="code",
    params=6_998_552,
    notes=("zoo.note.googlenet_table_params", "zoo.note.googlenet_4million", "zoo.note.googlenet_no_lrn"),
    options=("aux_logits", "classes"),
    extra={"params_aux_logits": 13_378_280},
))
def googlenet(spec: ModelSpec, *, weights=None, include_top: bool = True, input_shape=(224, 224, 3), **options):
    """GoogLeNet: 22 layers with parameters, 9 inception blocks, 6,998,552 params.

    Args (options):
        aux_logits: add the two auxiliary classifiers of paper §5 on 4a and 4d (average
            pool 5×5/3, 1×1 conv 128, FC 1024, dropout 0.7, FC ``classes``); the model then
            has three outputs, [main, aux1, aux2]. Needs the 224×224 input.
        classes: classifier outputs (1000).
    """
    import keras  # heavy: TF
    from keras import layers

    aux_logits = check_bool(spec, "aux_logits", options.get("aux_logits", False))
    classes = check_classes(spec, options)
    if aux_logits and (not include_top or tuple(input_shape) != tuple(spec.input_shape)):
        # The auxiliary FC layers read a 4×4×128 map: only the paper's 224×224 gives it.
        raise InvalidModelOptions("zoo.error.aux_needs_default", model=spec.display_name,
                                  size="224×224")

    def conv(x, filters, kernel, name, strides=1):
        return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu", name=name)(x)

    def inception(x, block):
        n1, r3, n3, r5, n5, pp = INCEPTION_BLOCKS[block]
        p = f"inception_{block}"
        b1 = conv(x, n1, 1, f"{p}_1x1")
        b2 = conv(conv(x, r3, 1, f"{p}_3x3_reduce"), n3, 3, f"{p}_3x3")
        b3 = conv(conv(x, r5, 1, f"{p}_5x5_reduce"), n5, 5, f"{p}_5x5")
        b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{p}_pool")(x)
        b4 = conv(b4, pp, 1, f"{p}_pool_proj")
        return layers.Concatenate(name=f"{p}_output")([b1, b2, b3, b4])

    def auxiliary(x, prefix):
        a = layers.AveragePooling2D(5, strides=3, name=f"{prefix}_ave_pool")(x)
        a = conv(a, 128, 1, f"{prefix}_conv")
        a = layers.Flatten(name=f"{prefix}_flatten")(a)
        a = layers.Dense(1024, activation="relu", name=f"{prefix}_fc")(a)
        a = layers.Dropout(0.7, name=f"{prefix}_drop_fc")(a)
        return layers.Dense(classes, activation="softmax", name=f"{prefix}_classifier")(a)

    inputs = keras.Input(shape=input_shape, name="input")
    x = conv(inputs, 64, 7, "conv1_7x7_s2", strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    x = conv(x, 64, 1, "conv2_3x3_reduce")
    x = conv(x, 192, 3, "conv2_3x3")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)
    aux_outputs = []
    for block in INCEPTION_BLOCKS:
        x = inception(x, block)
        if aux_logits and block in AUX_AFTER:
            aux_outputs.append(auxiliary(x, AUX_AFTER[block]))
        if block in POOL_AFTER:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=POOL_AFTER[block])(x)
    if include_top:
        # The paper's 7×7/1 average pool; global pooling is the same at 224×224 and
        # still works for other input sizes.
        x = layers.GlobalAveragePooling2D(name="pool5_7x7_s1")(x)
        x = layers.Dropout(0.4, name="pool5_drop_7x7_s1")(x)
        x = layers.Dense(classes, activation="softmax", name="loss3_classifier")(x)
    outputs = [x, *aux_outputs] if aux_outputs else x
    return keras.Model(inputs, outputs, name="googlenet_aux" if aux_logits else "googlenet")
