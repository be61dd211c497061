"""One model, every visualization method: the interface pages and notebooks hold on to."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cnnviz.visualize import _base, actmax, gradcam, kernels as flt, maps as fm


def layers(model, *, spatial_only: bool = True) -> list[_base.Node]:
    """The model's named tensors in graph order (default: those with H×W×C maps to draw).

    Inputs, padding and dropout are left out (copies of their input at inference time).
    """
    return _base.nodes(model, spatial_only=spatial_only)


class Visualizer:
    """Every method of :mod:`cnnviz.visualize` bound to one model.

    Args:
        model: a built ``keras.Model``.
        preprocessing: the model's input convention (zoo spec ``preprocessing``): needed
            to draw first-layer filters in RGB (caffe models take BGR) and for activation
            maximization, which optimizes 0..255 RGB pixels.
        name: the zoo registry name, if any: Grad-CAM then targets the zoo's layer.
    """

    def __init__(self, model, *, preprocessing: str = "none", name: str | None = None):
        self.model, self.preprocessing, self.name = model, preprocessing, name

    def layers(self, *, spatial_only: bool = True) -> list[_base.Node]:
        return layers(self.model, spatial_only=spatial_only)

    def feature_maps(self, x, layer_names: Sequence[str] | str) -> dict[str, np.ndarray]:
        return fm.feature_maps(self.model, x, layer_names)

    def all_feature_maps(self, x) -> dict[str, np.ndarray]:
        return fm.all_feature_maps(self.model, x)

    def depth_walk(self, maps: dict[str, np.ndarray], stage_of=None) -> list[fm.DepthStep]:
        return fm.depth_walk(self.model, maps, stage_of)

    def filters(self, layer_name: str | None = None, **kwargs) -> flt.FilterView:
        return flt.filters(self.model, layer_name, bgr=self.preprocessing == "caffe", **kwargs)

    def target_layer(self) -> str:
        if self.name:
            try:
                return gradcam.zoo_target_layer(self.model, self.name)
            except (KeyError, ValueError, LookupError):
                pass
        return gradcam.default_target_layer(self.model)

    def grad_cam(self, x, class_index: int | None = None, layer_name: str | None = None) -> gradcam.GradCAMResult:
        return gradcam.grad_cam_result(self.model, x, class_index, layer_name or self.target_layer())

    def saliency(self, x, class_index: int | None = None) -> np.ndarray:
        return gradcam.saliency(self.model, x, class_index)

    def activation_maximization(self, layer_name: str, channel: int, **kwargs) -> actmax.ActMaxResult:
        kwargs.setdefault("preprocessing", self.preprocessing)
        return actmax.activation_maximization(self.model, layer_name, channel, **kwargs)
