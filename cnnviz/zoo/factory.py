"""``create_model``: the one factory for every architecture of the zoo.

It validates the request against the model's :class:`~cnnviz.zoo.registry.ModelSpec`
(weights value, input size, options) *before* importing Keras or touching the
weights cache, so a bad request fails fast with a message a student can act on.
"""

from __future__ import annotations

from typing import Any

from cnnviz.zoo.registry import (
    InvalidModelOptions,
    WeightsLoadError,
    ModelSpec,
    NoPretrainedWeightsError,
    get_builder,
    get_spec,
)
from cnnviz.zoo import pretrained

WEIGHTS_VALUES = (None, "imagenet")


def _fmt_size(shape: tuple) -> str:
    return "×".join(str(d) for d in shape[:2])


def resolve_input_shape(spec: ModelSpec, input_shape: Any, include_top: bool) -> tuple[int, int, int]:
    """The checked (H, W, C) input shape for a build request.

    Raises:
        InvalidModelOptions: malformed shape, wrong channel count, smaller than the
            model's minimum, or a size the model (or its classifier) cannot take.
    """
    if input_shape is None:
        return tuple(spec.input_shape)  # type: ignore[return-value]
    try:
        shape = tuple(int(d) for d in input_shape)
        ok = len(shape) == 3 and all(float(a) == float(b) for a, b in zip(shape, input_shape))
    except (TypeError, ValueError):
        ok = False
    if not ok or any(d <= 0 for d in shape):
        raise InvalidModelOptions("zoo.error.bad_input_shape", model=spec.display_name, shape=repr(input_shape))
    h, w, c = shape
    if c != spec.channels:
        raise InvalidModelOptions("zoo.error.channels", model=spec.display_name, expected=spec.channels, got=c)
    if shape == tuple(spec.input_shape):
        return shape
    if not spec.accepts_input_size:
        raise InvalidModelOptions("zoo.error.fixed_input", model=spec.display_name,
                                  size=_fmt_size(spec.input_shape), got=_fmt_size(shape))
    if min(h, w) < spec.min_input_size:
        raise InvalidModelOptions("zoo.error.input_too_small", model=spec.display_name,
                                  min=spec.min_input_size, got=_fmt_size(shape))
    if include_top and spec.extra.get("top_needs_default_size", False):
        raise InvalidModelOptions("zoo.error.top_needs_size", model=spec.display_name,
                                  size=_fmt_size(spec.input_shape), got=_fmt_size(shape))
    return shape


def create_model(name: str, weights: str | None = None, *, include_top: bool = True,
                 input_shape: tuple[int, int, int] | None = None, **options: Any):
    """Build the zoo model ``name`` as a ``keras.Model``.

    Args:
        name: registry name (see :func:`cnnviz.zoo.list_models`).
        weights: None (random initialisation, always works offline) or ``"imagenet"``
            (pretrained; the file comes from :func:`cnnviz.zoo.pretrained.fetch_weights`).
        include_top: keep the classifier head. Without it the model ends at its last
            feature map (use ``pooling="avg"`` on keras.applications models for a vector).
        input_shape: (H, W, C); default the spec's. Models whose classifier fixes the
            size accept another size only with ``include_top=False``.
        **options: model-specific options listed in ``get_spec(name).options``
            (e.g. ``full_c3=True`` for LeNet-5, ``aux_logits=True`` for GoogLeNet,
            ``depth=34`` for plainnet/residualnet, ``classes=10``).

    Raises:
        UnknownModelError: unknown ``name`` (lists close matches).
        InvalidModelOptions: bad ``weights``, input size or option.
        NoPretrainedWeightsError: ``weights="imagenet"`` for a model built from code.
        cnnviz.cache.CacheError: the pretrained file cannot be fetched (offline...).
    """
    spec = get_spec(name)
    if isinstance(weights, str) and weights.lower() == "imagenet":
        weights = "imagenet"
    if weights not in WEIGHTS_VALUES:
        raise InvalidModelOptions("zoo.error.bad_weights", model=spec.display_name, weights=repr(weights))
    if weights == "imagenet" and not spec.has_imagenet_weights:
        raise NoPretrainedWeightsError("zoo.error.no_pretrained", model=spec.display_name)
    if not isinstance(include_top, bool):
        raise InvalidModelOptions("zoo.error.bad_option_value", model=spec.display_name, option="include_top",
                                  value=repr(include_top))
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise InvalidModelOptions("zoo.error.unknown_option", model=spec.display_name,
                                  option=", ".join(unknown), accepted=", ".join(spec.options) or "—")
    shape = resolve_input_shape(spec, input_shape, include_top)
    if weights == "imagenet" and include_top:
        classes = options.get("classes", spec.classes)
        if classes != spec.classes:
            raise InvalidModelOptions("zoo.error.classes_with_weights", model=spec.display_name,
                                      classes=repr(classes), expected=spec.classes)

    weights_path = None
    if weights == "imagenet":
        weights_path = str(pretrained.fetch_weights(spec.name, include_top=include_top))

    builder = get_builder(spec.name)
    try:
        model = builder(spec, weights=None, include_top=include_top, input_shape=shape, **options)
    except InvalidModelOptions:
        raise
    except ValueError as exc:
        # Keras' own shape/option checks: keep its explanation, typed for the UI.
        raise InvalidModelOptions("zoo.error.keras_rejected", model=spec.display_name, reason=_first_line(exc)) from exc
    if weights_path is not None:
        # Loading separately (what the keras.applications constructors do with a path) tells
        # a bad file apart from bad options.
        try:
            model.load_weights(weights_path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightsLoadError("zoo.error.weights_load_failed", model=spec.display_name, path=weights_path,
                                   reason=_first_line(exc)) from exc
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def gradcam_layer_output(model, name: str):
    """The feature-map tensor Grad-CAM should weight for zoo model ``name``.

    Usually the output of ``get_spec(name).last_conv_layer``. Two Keras families end
    their last stage with an operation that has no stable layer name — ConvNeXt's
    final residual add, MobileNetV3's hard-swish after ``conv_1_bn`` — so for them
    the spec names the head's pooling layer in ``extra["gradcam_input_of"]`` and this
    returns that layer's input, the exact map the classifier pools. (The named layer
    alone would miss the residual path or the activation.)

    Returns:
        A symbolic Keras tensor of ``model`` (4-D), or None if the spec has no target.
    """
    spec = get_spec(name)
    consumer = spec.extra.get("gradcam_input_of")
    if consumer:
        return _find_pooling_input(model, consumer)
    if spec.last_conv_layer is None:
        return None
    return model.get_layer(spec.last_conv_layer).output


def _find_pooling_input(model, consumer: str):
    if consumer == "<global_pool>":
        # The last GlobalAveragePooling2D: keras names it automatically (session-dependent),
        # so find it by type.
        import keras  # heavy: TF

        pools = [layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
        if pools:
            return pools[-1].input
        # include_top=False without pooling: the model's output is that feature map.
        if len(model.output.shape) == 4:
            return model.output
        raise InvalidModelOptions("zoo.error.no_gradcam_target", model=getattr(model, "name", "?"))
    return model.get_layer(consumer).input


def load_saved(path) -> Any:
    """A model saved as ``.keras`` (a Labs run, a homework deliverable), ready to run: loaded
    without its training configuration, and with the same fast kernels as a freshly built
    zoo model (ConvNeXt's per-channel grouped convolutions as TensorFlow's depthwise kernel,
    :func:`cnnviz.zoo.keras_apps.native_depthwise`; the saved file does not record that
    routing, so every load point needs it: this is the one)."""
    import keras  # heavy: TF

    from cnnviz.zoo.keras_apps import native_depthwise

    model = keras.models.load_model(str(path), compile=False)
    native_depthwise(model)
    return model
