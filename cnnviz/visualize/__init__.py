"""Opening the black box: feature maps, filters, activation maximization, Grad-CAM.

One small unit per method, one interface (tf-keras-vis style):

>>> from cnnviz import zoo, visualize
>>> model = zoo.create_model("resnet50")                         # doctest: +SKIP
>>> x = zoo.preprocess_input("resnet50", pixels)[0]              # doctest: +SKIP
>>> maps = visualize.feature_maps(model, x, ["conv1_relu"])      # {name: H×W×C}   # doctest: +SKIP
>>> heat = visualize.grad_cam(model, x)                          # H×W in [0, 1]   # doctest: +SKIP

or, holding one model: ``v = visualize.Visualizer(model)``; ``v.grad_cam(x)`` ...

``x`` is always ONE input already preprocessed for the model (H×W×C float, no batch).
Layer names are Keras' own, plus deterministic aliases for tensors that are not layer
outputs (ConvNeXt's residual sums: ``convnext_tiny_stage_3_block_2_out``).

Importing this package is cheap: submodules (and TensorFlow) load on first use, and
:mod:`cnnviz.visualize.render` never imports TensorFlow.
"""

from __future__ import annotations

import importlib

# public name -> submodule that defines it
_EXPORTS = {
    # errors and graph
    "VisualizeError": "_base", "UnknownLayerError": "_base", "NotSpatialError": "_base",
    "BadInputError": "_base", "NoKernelError": "_base", "BadChannelError": "_base", "BadClassError": "_base",
    "Node": "_base", "format_shape": "_base",
    # feature maps
    "feature_maps": "maps", "all_feature_maps": "maps", "map_layers": "maps",
    "FeatureMapExtractor": "maps", "channel_stats": "maps", "ChannelStats": "maps",
    "rank_channels": "maps", "depth_walk": "maps", "DepthStep": "maps",
    # filters
    "filters": "kernels", "FilterView": "kernels", "kernel_layers": "kernels", "first_conv_layer": "kernels",
    "KernelLayer": "kernels",
    # grad-cam and saliency
    "grad_cam": "gradcam", "grad_cam_result": "gradcam", "GradCAM": "gradcam", "GradCAMResult": "gradcam",
    "saliency": "gradcam", "Saliency": "gradcam", "default_target_layer": "gradcam", "zoo_target_layer": "gradcam",
    # activation maximization
    "activation_maximization": "actmax", "ActMaxResult": "actmax",
    # one object per model (timings: cnnviz.bench.visualize)
    "Visualizer": "core", "layers": "core",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnviz.visualize' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"cnnviz.visualize.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
