"""Models from ``keras.applications`` (ImageNet weights available), variants as data.

Every entry of :data:`KERAS_APPS` becomes one registry spec; one builder constructs
them all from the ``keras.applications`` constructor named in the entry. Keras is
imported only inside the builder.
"""

from __future__ import annotations

from cnnviz import HOMEWORK_MODELS
from cnnviz.zoo.registry import ModelSpec, register

# Family-level metadata: (family, year, paper, paper_url, preprocessing, timeline_id, min_input_size)
_FAMILIES = {
    "resnet": ("ResNet", 2015, "He, Zhang, Ren & Sun, CVPR 2016", "https://arxiv.org/abs/1512.03385",
               "caffe", "resnet", 32),
    "resnetv2": ("ResNet", 2016, "He, Zhang, Ren & Sun, ECCV 2016", "https://arxiv.org/abs/1603.05027",
                 "tf", "resnetv2", 32),
    "vgg": ("VGG", 2014, "Simonyan & Zisserman, ICLR 2015", "https://arxiv.org/abs/1409.1556",
            "caffe", "vgg", 32),
    "inceptionv3": ("Inception", 2015, "Szegedy et al., CVPR 2016", "https://arxiv.org/abs/1512.00567",
                    "tf", "inceptionv3", 75),
    "xception": ("Inception", 2016, "Chollet, CVPR 2017", "https://arxiv.org/abs/1610.02357",
                 "tf", "xception", 71),
    "inceptionresnetv2": ("Inception", 2016, "Szegedy, Ioffe, Vanhoucke & Alemi, AAAI 2017",
                          "https://arxiv.org/abs/1602.07261", "tf", None, 75),
    "densenet": ("DenseNet", 2016, "Huang, Liu, van der Maaten & Weinberger, CVPR 2017",
                 "https://arxiv.org/abs/1608.06993", "torch", "densenet", 32),
    "mobilenetv2": ("MobileNet", 2018, "Sandler et al., CVPR 2018", "https://arxiv.org/abs/1801.04381",
                    "tf", "mobilenetv2", 32),
    "mobilenetv3": ("MobileNet", 2019, "Howard et al., ICCV 2019", "https://arxiv.org/abs/1905.02244",
                    "none", "mobilenetv3", 32),
    "efficientnet": ("EfficientNet", 2019, "Tan & Le, ICML 2019", "https://arxiv.org/abs/1905.11946",
                     "none", "efficientnet", 32),
    "efficientnetv2": ("EfficientNet", 2021, "Tan & Le, ICML 2021", "https://arxiv.org/abs/2104.00298",
                       "none", "efficientnetv2", 32),
    "convnext": ("ConvNeXt", 2022, "Liu et al., CVPR 2022", "https://arxiv.org/abs/2201.03545",
                 "none", "convnext", 32),
}

# name: (family key, keras constructor, keras.applications module with preprocess_input,
#        input size, last layer with a 4-D output, count_params() with include_top=True)
# Layer names and counts were read off keras 3.15.1 builds; tests/test_zoo*.py re-check both.
KERAS_APPS: dict[str, tuple[str, str, str, int, str, int]] = {
    "resnet50": ("resnet", "ResNet50", "resnet", 224, "conv5_block3_out", 25_636_712),
    "resnet101": ("resnet", "ResNet101", "resnet", 224, "conv5_block3_out", 44_707_176),
    "resnet152": ("resnet", "ResNet152", "resnet", 224, "conv5_block3_out", 60_419_944),
    "resnet50v2": ("resnetv2", "ResNet50V2", "resnet_v2", 224, "post_relu", 25_613_800),
    "resnet101v2": ("resnetv2", "ResNet101V2", "resnet_v2", 224, "post_relu", 44_675_560),
    "resnet152v2": ("resnetv2", "ResNet152V2", "resnet_v2", 224, "post_relu", 60_380_648),
    "vgg16": ("vgg", "VGG16", "vgg16", 224, "block5_conv3", 138_357_544),
    "vgg19": ("vgg", "VGG19", "vgg19", 224, "block5_conv4", 143_667_240),
    "inceptionv3": ("inceptionv3", "InceptionV3", "inception_v3", 299, "mixed10", 23_851_784),
    "xception": ("xception", "Xception", "xception", 299, "block14_sepconv2_act", 22_910_480),
    "inceptionresnetv2": ("inceptionresnetv2", "InceptionResNetV2", "inception_resnet_v2", 299, "conv_7b_ac", 55_873_736),
    "densenet121": ("densenet", "DenseNet121", "densenet", 224, "relu", 8_062_504),
    "densenet169": ("densenet", "DenseNet169", "densenet", 224, "relu", 14_307_880),
    "densenet201": ("densenet", "DenseNet201", "densenet", 224, "relu", 20_242_984),
    "mobilenetv2": ("mobilenetv2", "MobileNetV2", "mobilenet_v2", 224, "out_relu", 3_538_984),
    "mobilenetv3small": ("mobilenetv3", "MobileNetV3Small", "mobilenet_v3", 224, "conv_1_bn", 2_554_968),
    "mobilenetv3large": ("mobilenetv3", "MobileNetV3Large", "mobilenet_v3", 224, "conv_1_bn", 5_507_432),
    "efficientnetb0": ("efficientnet", "EfficientNetB0", "efficientnet", 224, "top_activation", 5_330_571),
    "efficientnetb1": ("efficientnet", "EfficientNetB1", "efficientnet", 240, "top_activation", 7_856_239),
    "efficientnetb2": ("efficientnet", "EfficientNetB2", "efficientnet", 260, "top_activation", 9_177_569),
    "efficientnetb3": ("efficientnet", "EfficientNetB3", "efficientnet", 300, "top_activation", 12_320_535),
    "efficientnetv2b0": ("efficientnetv2", "EfficientNetV2B0", "efficientnet_v2", 224, "top_activation", 7_200_312),
    "convnexttiny": ("convnext", "ConvNeXtTiny", "convnext", 224, "convnext_tiny_stage_3_block_2_identity", 28_589_128),
    "convnextsmall": ("convnext", "ConvNeXtSmall", "convnext", 224, "convnext_small_stage_3_block_2_identity", 50_223_688),
}

# Families whose last feature map has no stable layer name (see factory.gradcam_layer_output).
_GRADCAM_INPUT_OF = {"mobilenetv3": "<global_pool>", "convnext": "<global_pool>"}

# Remarks the pages show next to a model (zoo.note.* i18n keys), e.g. corrections to the seeds.
_NOTES = {"mobilenetv2": ("zoo.note.mobilenetv2_no_se",)}

KERAS_OPTIONS = ("classes", "classifier_activation", "pooling")


def build_keras_app(spec: ModelSpec, *, weights: str | None, include_top: bool,
                    input_shape: tuple[int, int, int], **options):
    """Build ``spec``'s keras.applications model.

    ``weights`` is None when called from :func:`cnnviz.zoo.create_model`, which loads a
    pretrained file itself afterwards; a local file path also works (Keras loads it).
    """
    import keras

    constructor = getattr(keras.applications, spec.extra["constructor"])
    return constructor(include_top=include_top, weights=weights, input_shape=input_shape, **options)


for _name, (_fam, _ctor, _module, _size, _last, _params) in KERAS_APPS.items():
    _family, _year, _paper, _url, _prep, _timeline, _min = _FAMILIES[_fam]
    register(ModelSpec(
        name=_name,
        display_name=_ctor,
        family=_family,
        year=_year,
        paper=_paper,
        paper_url=_url,
        input_shape=(_size, _size, 3),
        preprocessing=_prep,
        has_imagenet_weights=True,
        last_conv_layer=_last or None,
        timeline_id=_timeline,
        source="keras",
        homework=_name in HOMEWORK_MODELS,
        min_input_size=_min,
        params=_params or None,
        options=KERAS_OPTIONS,
        notes=_NOTES.get(_name, ()),
        extra={"constructor": _ctor, "keras_module": _module, "top_needs_default_size": True,
               **({"gradcam_input_of": _GRADCAM_INPUT_OF[_fam]} if _fam in _GRADCAM_INPUT_OF else {})},
    ))(build_keras_app)
