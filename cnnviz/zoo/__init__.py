"""The model zoo: one registry and one factory for every architecture of the course.

``import cnnviz.zoo`` is cheap and never imports TensorFlow: specs are plain data
(:class:`ModelSpec`) and each builder imports Keras only when it runs.

>>> from cnnviz import zoo
>>> zoo.get_spec("resnet50").last_conv_layer
'conv5_block3_out'
>>> model = zoo.create_model("lenet5")            # doctest: +SKIP  (imports TensorFlow)
"""

from __future__ import annotations

from cnnviz.zoo.registry import (  # noqa: F401  (public API)
    PREPROCESSING_MODES,
    InvalidModelOptions,
    ModelSpec,
    NoPretrainedWeightsError,
    PretrainedWeights,
    UnknownModelError,
    WeightsLoadError,
    ZooError,
    close_matches,
    families,
    get_spec,
    list_models,
    list_specs,
    register,
)
from cnnviz.zoo.factory import create_model, gradcam_layer_output, load_saved  # noqa: F401
from cnnviz.zoo.preprocessing import preprocess_input  # noqa: F401

# Registration order = listing order: keras.applications first, then models from code.
from cnnviz.zoo import keras_apps, classics, googlenet, resnet, efficientnet_lite, course  # noqa: F401,E402
from cnnviz.zoo import pretrained  # noqa: F401,E402  (weights files by model name)

__all__ = [
    "ModelSpec", "UnknownModelError", "InvalidModelOptions", "NoPretrainedWeightsError", "WeightsLoadError",
    "ZooError",
    "list_models", "list_specs", "get_spec", "families", "close_matches", "create_model", "preprocess_input",
    "gradcam_layer_output", "load_saved", "register", "PREPROCESSING_MODES", "PretrainedWeights", "pretrained",
]
