"""Models from ``keras.applications`` (ImageNet weights available), variants as data.

Every :class:`KerasApp` of :data:`KERAS_APPS` becomes one registry spec (like keras'
``MODEL_CONFIGS``); one builder constructs them all from the ``keras.applications``
constructor the variant names. Each variant carries its pretrained weights files
beside it (keras keeps ``WEIGHTS_HASHES`` beside its builders). Year, paper and link
come from ``cnnviz/data/architectures.json`` (the timeline entry, or a source id for a
model the timeline does not show). Keras is imported only inside the builder.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnviz import HOMEWORK_MODELS
from cnnviz.cache import FileRecord
from cnnviz.zoo.registry import ModelSpec, PretrainedWeights, published_in, register

KERAS_ORIGIN = "https://storage.googleapis.com/"
"""Where keras.applications downloads its weights from (``<origin><folder><file>``)."""
_KA = "tensorflow/keras-applications/"


@dataclass(frozen=True)
class KerasFamily:
    """What the variants of one keras.applications family share.

    Attributes:
        family: family name pages group by ("ResNet").
        preprocessing: one of :data:`cnnviz.zoo.PREPROCESSING_MODES`.
        timeline_id: its entry in ``architectures.json`` (gives year, paper and link), or None.
        paper_source: source id of its paper when there is no timeline entry.
        min_input_size: smallest height/width keras accepts with ``include_top=False``.
        gradcam_input_of: for families whose last feature map has no stable layer name,
            the layer whose input Grad-CAM weights (see ``factory.gradcam_layer_output``).
    """

    family: str
    preprocessing: str
    timeline_id: str | None
    paper_source: str | None = None
    min_input_size: int = 32
    gradcam_input_of: str | None = None


FAMILIES: dict[str, KerasFamily] = {
    "resnet": KerasFamily("ResNet", "caffe", "resnet"),
    "resnetv2": KerasFamily("ResNet", "tf", "resnetv2"),
    "vgg": KerasFamily("VGG", "caffe", "vgg"),
    "inceptionv3": KerasFamily("Inception", "tf", "inceptionv3", min_input_size=75),
    "xception": KerasFamily("Inception", "tf", "xception", min_input_size=71),
    "inceptionresnetv2": KerasFamily("Inception", "tf", None, paper_source="szegedy2017", min_input_size=75),
    "densenet": KerasFamily("DenseNet", "torch", "densenet"),
    "mobilenetv2": KerasFamily("MobileNet", "tf", "mobilenetv2"),
    "mobilenetv3": KerasFamily("MobileNet", "none", "mobilenetv3", gradcam_input_of="<global_pool>"),
    "efficientnet": KerasFamily("EfficientNet", "none", "efficientnet"),
    "efficientnetv2": KerasFamily("EfficientNet", "none", "efficientnetv2"),
    "convnext": KerasFamily("ConvNeXt", "none", "convnext", gradcam_input_of="<global_pool>"),
}


@dataclass(frozen=True)
class Weights:
    """A variant's ImageNet weights files as keras.applications fetches them.

    ``folder`` is the path under :data:`KERAS_ORIGIN`; hashes are keras' own (32 hex
    digits MD5, 64 SHA-256, as ``get_file(hash_algorithm="auto")`` decides); None where
    keras pins none (MobileNetV2).
    """

    folder: str
    top: str
    top_hash: str | None
    notop: str
    notop_hash: str | None

    def records(self, name: str) -> PretrainedWeights:
        return PretrainedWeights(
            top=FileRecord(KERAS_ORIGIN + self.folder + self.top, self.top, self.top_hash, name=name, include_top=True),
            notop=FileRecord(KERAS_ORIGIN + self.folder + self.notop, self.notop, self.notop_hash, name=name,
                             include_top=False))


@dataclass(frozen=True)
class KerasApp:
    """One keras.applications variant.

    Attributes:
        name: registry name.
        family: key of :data:`FAMILIES`.
        constructor: the ``keras.applications`` function (also the display name).
        module: the ``keras.applications`` submodule with its ``preprocess_input``.
        size: default input height and width.
        last_conv: last layer with a 4-D output (default Grad-CAM target).
        params: ``count_params()`` with ``include_top=True`` at the default size.
        weights: its ImageNet weights files.
    """

    name: str
    family: str
    constructor: str
    module: str
    size: int
    last_conv: str
    params: int
    weights: Weights


# Layer names and counts were read off keras 3.15.1 builds; tests/test_zoo*.py re-check both.
# Weights files and hashes are copied from the installed keras' applications/*.py: exactly what
# ``keras.applications.X(weights="imagenet", include_top=...)`` passes to ``keras.utils.get_file``;
# tests/test_cache.py re-derives a representative set from the keras sources.
KERAS_APPS: dict[str, KerasApp] = {app.name: app for app in (
    KerasApp("resnet50", "resnet", "ResNet50", "resnet", size=224, last_conv="conv5_block3_out", params=25_636_712,
             weights=Weights(_KA + "resnet/",
                             "resnet50_weights_tf_dim_ordering_tf_kernels.h5", "2cb95161c43110f7111970584f804107",
                             "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626")),
    KerasApp("resnet101", "resnet", "ResNet101", "resnet", size=224, last_conv="conv5_block3_out", params=44_707_176,
             weights=Weights(_KA + "resnet/",
                             "resnet101_weights_tf_dim_ordering_tf_kernels.h5", "f1aeb4b969a6efcfb50fad2f0c20cfc5",
                             "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5", "88cf7a10940856eca736dc7b7e228a21")),
    KerasApp("resnet152", "resnet", "ResNet152", "resnet", size=224, last_conv="conv5_block3_out", params=60_419_944,
             weights=Weights(_KA + "resnet/",
                             "resnet152_weights_tf_dim_ordering_tf_kernels.h5", "100835be76be38e30d865e96f2aaae62",
                             "resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5", "ee4c566cf9a93f14d82f913c2dc6dd0c")),
    KerasApp("resnet50v2", "resnetv2", "ResNet50V2", "resnet_v2", size=224, last_conv="post_relu", params=25_613_800,
             weights=Weights(_KA + "resnet/",
                             "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5", "3ef43a0b657b3be2300d5770ece849e0",
                             "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "fac2f116257151a9d068a22e544a4917")),
    KerasApp("resnet101v2", "resnetv2", "ResNet101V2", "resnet_v2", size=224, last_conv="post_relu", params=44_675_560,
             weights=Weights(_KA + "resnet/",
                             "resnet101v2_weights_tf_dim_ordering_tf_kernels.h5", "6343647c601c52e1368623803854d971",
                             "resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "c0ed64b8031c3730f411d2eb4eea35b5")),
    KerasApp("resnet152v2", "resnetv2", "ResNet152V2", "resnet_v2", size=224, last_conv="post_relu", params=60_380_648,
             weights=Weights(_KA + "resnet/",
                             "resnet152v2_weights_tf_dim_ordering_tf_kernels.h5", "a49b44d1979771252814e80f8ec446f9",
                             "resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "ed17cf2e0169df9d443503ef94b23b33")),
    KerasApp("vgg16", "vgg", "VGG16", "vgg16", size=224, last_conv="block5_conv3", params=138_357_544,
             weights=Weights(_KA + "vgg16/",
                             "vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b",
                             "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc")),
    KerasApp("vgg19", "vgg", "VGG19", "vgg19", size=224, last_conv="block5_conv4", params=143_667_240,
             weights=Weights(_KA + "vgg19/",
                             "vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318",
                             "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6")),
    KerasApp("inceptionv3", "inceptionv3", "InceptionV3", "inception_v3", size=299, last_conv="mixed10", params=23_851_784,
             weights=Weights(_KA + "inception_v3/",
                             "inception_v3_weights_tf_dim_ordering_tf_kernels.h5", "9a0d58056eeedaa3f26cb7ebd46da564",
                             "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "bcbd6486424b2319ff4ef7d526e38f63")),
    KerasApp("xception", "xception", "Xception", "xception", size=299, last_conv="block14_sepconv2_act", params=22_910_480,
             weights=Weights(_KA + "xception/",
                             "xception_weights_tf_dim_ordering_tf_kernels.h5", "0a58e3b7378bc2990ea3b43d5981f1f6",
                             "xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "b0042744bf5b25fce3cb969f33bebb97")),
    KerasApp("inceptionresnetv2", "inceptionresnetv2", "InceptionResNetV2", "inception_resnet_v2", size=299, last_conv="conv_7b_ac", params=55_873_736,
             weights=Weights(_KA + "inception_resnet_v2/",
                             "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5", "e693bd0210a403b3192acc6073ad2e96",
                             "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "d19885ff4a710c122648d3b5c3b684e4")),
    KerasApp("densenet121", "densenet", "DenseNet121", "densenet", size=224, last_conv="relu", params=8_062_504,
             weights=Weights(_KA + "densenet/",
                             "densenet121_weights_tf_dim_ordering_tf_kernels.h5", "9d60b8095a5708f2dcce2bca79d332c7",
                             "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", "30ee3e1110167f948a6b9946edeeb738")),
    KerasApp("densenet169", "densenet", "DenseNet169", "densenet", size=224, last_conv="relu", params=14_307_880,
             weights=Weights(_KA + "densenet/",
                             "densenet169_weights_tf_dim_ordering_tf_kernels.h5", "d699b8f76981ab1b30698df4c175e90b",
                             "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5", "b8c4d4c20dd625c148057b9ff1c1176b")),
    KerasApp("densenet201", "densenet", "DenseNet201", "densenet", size=224, last_conv="relu", params=20_242_984,
             weights=Weights(_KA + "densenet/",
                             "densenet201_weights_tf_dim_ordering_tf_kernels.h5", "1ceb130c1ea1b78c3bf6114dbdfd8807",
                             "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5", "c13680b51ded0fb44dff2d8f86ac8bb1")),
    KerasApp("mobilenetv2", "mobilenetv2", "MobileNetV2", "mobilenet_v2", size=224, last_conv="out_relu", params=3_538_984,
             weights=Weights(_KA + "mobilenet_v2/",
                             "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", None,
                             "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", None)),
    KerasApp("mobilenetv3small", "mobilenetv3", "MobileNetV3Small", "mobilenet_v3", size=224, last_conv="conv_1_bn", params=2_554_968,
             weights=Weights(_KA + "mobilenet_v3/",
                             "weights_mobilenet_v3_small_224_1.0_float.h5", "8768d4c2e7dee89b9d02b2d03d65d862",
                             "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5", "d3e8ec802a04aa4fc771ee12a9a9b836")),
    KerasApp("mobilenetv3large", "mobilenetv3", "MobileNetV3Large", "mobilenet_v3", size=224, last_conv="conv_1_bn", params=5_507_432,
             weights=Weights(_KA + "mobilenet_v3/",
                             "weights_mobilenet_v3_large_224_1.0_float.h5", "59e551e166be033d707958cf9e29a6a7",
                             "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5", "07fb09a5933dd0c8eaafa16978110389")),
    KerasApp("efficientnetb0", "efficientnet", "EfficientNetB0", "efficientnet", size=224, last_conv="top_activation", params=5_330_571,
             weights=Weights("keras-applications/",
                             "efficientnetb0.h5", "902e53a9f72be733fc0bcb005b3ebbac",
                             "efficientnetb0_notop.h5", "50bc09e76180e00e4465e1a485ddc09d")),
    KerasApp("efficientnetb1", "efficientnet", "EfficientNetB1", "efficientnet", size=240, last_conv="top_activation", params=7_856_239,
             weights=Weights("keras-applications/",
                             "efficientnetb1.h5", "1d254153d4ab51201f1646940f018540",
                             "efficientnetb1_notop.h5", "74c4e6b3e1f6a1eea24c589628592432")),
    KerasApp("efficientnetb2", "efficientnet", "EfficientNetB2", "efficientnet", size=260, last_conv="top_activation", params=9_177_569,
             weights=Weights("keras-applications/",
                             "efficientnetb2.h5", "b15cce36ff4dcbd00b6dd88e7857a6ad",
                             "efficientnetb2_notop.h5", "111f8e2ac8aa800a7a99e3239f7bfb39")),
    KerasApp("efficientnetb3", "efficientnet", "EfficientNetB3", "efficientnet", size=300, last_conv="top_activation", params=12_320_535,
             weights=Weights("keras-applications/",
                             "efficientnetb3.h5", "ffd1fdc53d0ce67064dc6a9c7960ede0",
                             "efficientnetb3_notop.h5", "af6d107764bb5b1abb91932881670226")),
    KerasApp("efficientnetv2b0", "efficientnetv2", "EfficientNetV2B0", "efficientnet_v2", size=224, last_conv="top_activation", params=7_200_312,
             weights=Weights(_KA + "efficientnet_v2/",
                             "efficientnetv2-b0.h5", "21ecbf6da12460d5c40bb2f29ceb2188",
                             "efficientnetv2-b0_notop.h5", "893217f2bb855e2983157299931e43ff")),
    KerasApp("convnexttiny", "convnext", "ConvNeXtTiny", "convnext", size=224, last_conv="convnext_tiny_stage_3_block_2_identity", params=28_589_128,
             weights=Weights(_KA + "convnext/",
                             "convnext_tiny.h5", "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                             "convnext_tiny_notop.h5", "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1")),
    KerasApp("convnextsmall", "convnext", "ConvNeXtSmall", "convnext", size=224, last_conv="convnext_small_stage_3_block_2_identity", params=50_223_688,
             weights=Weights(_KA + "convnext/",
                             "convnext_small.h5", "ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                             "convnext_small_notop.h5", "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab")),
)}

# Remarks the pages show next to a model (zoo.note.* i18n keys), e.g. corrections to the seeds.
_NOTES = {"mobilenetv2": ("zoo.note.mobilenetv2_no_se",)}

KERAS_OPTIONS = ("classes", "classifier_activation", "pooling")


def build_keras_app(spec: ModelSpec, *, weights: str | None, include_top: bool,
                    input_shape: tuple[int, int, int], **options):
    """Build ``spec``'s keras.applications model.

    ``weights`` is None when called from :func:`cnnviz.zoo.create_model`, which loads a
    pretrained file itself afterwards; a local file path also works (Keras loads it).
    """
    import keras  # heavy: TF

    constructor = getattr(keras.applications, spec.extra["constructor"])
    model = constructor(include_top=include_top, weights=weights, input_shape=input_shape, **options)
    native_depthwise(model)
    return model


def native_depthwise(model) -> int:
    """Run grouped convolutions with one group per channel (ConvNeXt's 7×7) as TensorFlow's depthwise kernel.

    Such a layer *is* a depthwise convolution, written as ``Conv2D(groups=channels)``. Keras'
    TensorFlow backend sends every grouped convolution through XLA (TensorFlow's own
    convolution lacks groups on the CPU), which on these CPUs is 2–3× slower than the native
    depthwise kernel for the whole of ConvNeXtTiny (650 → 280 ms per image, batch 1; 16.3 → 6.6 s
    per 16 images) and retraces on every eager call. Same variables, same numbers (max difference
    ~2e-9 on the logits): only the op that runs them changes, per layer instance, so the saved
    model, its config and its weights are untouched. Returns how many layers were rerouted.
    """
    import keras  # heavy: TF

    if keras.backend.backend() != "tensorflow":
        return 0
    import tensorflow as tf  # heavy: TF

    count = 0
    for layer in model._flatten_layers(include_self=False):
        if (type(layer) is keras.layers.Conv2D and layer.groups > 1 and layer.kernel.shape[-2] == 1
                and layer.data_format == "channels_last" and tuple(layer.dilation_rate) == (1, 1)):
            def depthwise(inputs, kernel, layer=layer):
                k = tf.transpose(kernel, (0, 1, 3, 2))  # (kh, kw, 1, C) → (kh, kw, C, multiplier 1)
                return tf.nn.depthwise_conv2d(inputs, k, strides=(1, *layer.strides, 1),
                                              padding=layer.padding.upper())

            layer.convolution_op = depthwise
            count += 1
    return count


def _register_all() -> None:
    for app in KERAS_APPS.values():
        fam = FAMILIES[app.family]
        register(ModelSpec(
            name=app.name,
            display_name=app.constructor,
            family=fam.family,
            **published_in(fam.timeline_id, fam.paper_source),
            input_shape=(app.size, app.size, 3),
            preprocessing=fam.preprocessing,
            pretrained=app.weights.records(app.name),
            last_conv_layer=app.last_conv,
            timeline_id=fam.timeline_id,
            source="keras",
            homework=app.name in HOMEWORK_MODELS,
            min_input_size=fam.min_input_size,
            params=app.params,
            options=KERAS_OPTIONS,
            notes=_NOTES.get(app.name, ()),
            extra={"constructor": app.constructor, "keras_module": app.module, "top_needs_default_size": True,
                   **({"gradcam_input_of": fam.gradcam_input_of} if fam.gradcam_input_of else {})},
        ))(build_keras_app)


_register_all()
