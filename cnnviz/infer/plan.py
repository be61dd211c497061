"""The one decision of how a model loads: device, engine, conversion, and the reason shown.

:func:`plan_load` is asked by everything that loads a model for inference
(:func:`cnnviz.infer.load_predictor`, the UI's cached loader, the Classify page's conversion
progress), so the rules live here once:

* **Device**: the first GPU when one is seen (``CNNVIZ_FORCE_CPU=1`` / ``force_cpu=True``: the CPU);
  a CPU-only machine that may answer with LiteRT is told "CPU" without importing TensorFlow
  (a server answering from cached conversions never needs it).
* **Engine** under ``engine="auto"``: LiteRT on a CPU where it is installed; TensorFlow on a GPU, for
  random weights (a conversion of weights made for one load costs more than it saves), and when the
  server setting ``CNNVIZ_ENGINE`` (:func:`server_engine`) says ``tf``. ``CNNVIZ_ENGINE=litert``
  converts random weights too. ``engine="tf"``/``"litert"`` force one; ``"litert-int8"`` (full-integer)
  and ``"litert-dynamic"`` (dynamic-range) force a quantized LiteRT conversion (and, as the server
  setting, make "auto" answer with it where LiteRT would). Whether LiteRT's answers agree
  with TensorFlow's is learnt when it loads (:mod:`cnnviz.infer.litert_engine`), not planned.
* **Page model**: whether a caller's shared Keras model (the Filters page's) may be handed to the
  load: not under mixed precision nor on a CPU forced on a GPU machine (the model must be built for
  that device), and not needed when LiteRT converts the cached ImageNet file itself.
* **Conversion**: :meth:`LoadPlan.needs_conversion` says whether the load would first convert the
  model (cheap: no TensorFlow, no model build; hashing a given model's weights at most).

No TensorFlow here (except what :func:`cnnviz.device.select_device` imports to name a GPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnviz import litert, settings, zoo
from cnnviz.device import CPU, Device, probe, select_device
from cnnviz.i18n import translate
from cnnviz.infer.errors import InvalidEngineError, InvalidWeightsError
from cnnviz.zoo import pretrained

#: ``engine`` values (of a load, and of the server setting ``CNNVIZ_ENGINE``): "auto" picks per
#: model, the others force one.
ENGINES = ("auto", "tf", "litert", "litert-int8", "litert-dynamic")
#: The LiteRT engines → their conversion kind (:data:`cnnviz.litert.QUANTS`): fp32, full-integer int8
#: (weights and activations int8, calibrated), dynamic-range (int8 weights, float activations).
LITERT_ENGINES = {"litert": "fp32", "litert-int8": "int8", "litert-dynamic": "dynamic"}
#: The server setting for what ``engine="auto"`` leans to.
ENGINE_ENV = "CNNVIZ_ENGINE"


def server_engine() -> str:
    """What ``engine="auto"`` leans to on this server: ``CNNVIZ_ENGINE`` = auto (default) | tf | litert.

    ``tf``: TensorFlow answers everywhere (LiteRT only where a page forces it, e.g. the
    compare-engines view). ``litert``: LiteRT answers for random weights too (it is already
    the choice for ImageNet weights on a CPU). Another value is refused with the accepted ones
    (:class:`cnnviz.settings.SettingError`).
    """
    return settings.env_choice(ENGINE_ENV, ENGINES, "auto")


@dataclass(frozen=True)
class LoadPlan:
    """How one model will load (see :func:`plan_load`).

    Attributes:
        name, display_name: the zoo model.
        weights: "imagenet" or None.
        requested: the ``engine`` asked for (one of :data:`ENGINES`).
        device: where TensorFlow runs (LiteRT always runs on the CPU).
        engine: the engine tried first: "litert" or "tf".
        why_key, why_params: i18n key (and placeholders) of why TensorFlow answers; None when
            LiteRT is tried (its own load may still fall back, with its reason).
        page_model: whether a caller's shared Keras model of (name, weights) may be used.
        quant: the LiteRT conversion kind: "fp32", "int8" or "dynamic".
    """

    name: str
    display_name: str
    weights: str | None
    requested: str
    device: Device
    engine: str
    why_key: str | None = None
    why_params: dict = field(default_factory=dict)
    page_model: bool = True
    quant: str = "fp32"

    @property
    def forced(self) -> bool:
        """LiteRT was asked for explicitly (a failure is an error, not a fallback)."""
        return self.requested in LITERT_ENGINES

    @property
    def engine_id(self) -> str:
        """The engine's stable name when LiteRT loads: "litert", "litert-int8" or "litert-dynamic"."""
        return next(k for k, v in LITERT_ENGINES.items() if v == self.quant)

    @property
    def litert_device(self) -> Device:
        """Where LiteRT runs: the CPU (the chosen device itself when it is one)."""
        return self.device if not self.device.is_gpu else CPU

    def reason(self, lang: str = "en") -> str | None:
        """Why TensorFlow answers, for the page; None when LiteRT is tried."""
        return translate(self.why_key, lang, **self.why_params) if self.why_key else None

    def needs_conversion(self, model=None) -> bool:
        """Whether this load would first convert the model to LiteRT (``model``: the one it gets).

        Pages use it to show a conversion's progress outside a cached loader.
        """
        if self.engine != "litert":
            return False
        if model is not None:
            digest = litert.weights_digest(model)
        elif self.weights == "imagenet":
            states = pretrained.status([self.name])
            if not states or states[0].state != "cached":
                return False  # the download comes first (and may fail); the load will say
            digest = litert.file_digest(pretrained.weights_file(self.name), states[0].path)
        else:
            return True  # random weights built for this load: always a new conversion
        return litert.lookup(self.name, digest, self.quant) is None


def _device(engine: str, force_cpu: bool | None) -> Device:
    if engine != "tf" and not force_cpu and not probe().is_gpu:
        # Without importing TensorFlow: a CPU-only machine answering from cached LiteRT
        # conversions never needs it.
        return CPU
    return select_device(force_cpu)


def _engine(requested: str, weights: str | None, device: Device) -> tuple[str, str | None, dict]:
    forced = requested in LITERT_ENGINES
    if requested == "tf":
        return "tf", None, {}
    setting = server_engine()
    if not forced and setting == "tf":
        return "tf", "infer.engine.why.setting", {}
    if not forced and device.is_gpu:
        return "tf", "infer.engine.why.gpu", {}
    if not forced and weights is None and setting not in LITERT_ENGINES:
        return "tf", "infer.engine.why.random", {}
    try:
        litert.runtime()
    except litert.LiteRTUnavailable as exc:
        return "tf", "infer.engine.why.unavailable", {"detail": str(exc)}
    return "litert", None, {}


def _cpu_on_a_gpu_machine(device: Device) -> bool:
    # Only a forced CPU can be one: otherwise the device choice already saw no GPU.
    return not device.is_gpu and device.forced_cpu and select_device(False).is_gpu


def plan_load(name: str, weights: str | None = "imagenet", *, engine: str = "auto", device: Device | None = None,
              force_cpu: bool | None = None) -> LoadPlan:
    """How model ``name`` loads with these arguments (the rules: see the module docstring).

    Args:
        name: registry name.
        weights: "imagenet" or None (random weights).
        engine: one of :data:`ENGINES`.
        device: an explicit device; default chosen here (honouring ``force_cpu`` / ``CNNVIZ_FORCE_CPU``).
        force_cpu: True forces the CPU; None reads ``CNNVIZ_FORCE_CPU``.

    Raises:
        cnnviz.zoo.UnknownModelError, InvalidWeightsError, InvalidEngineError.
    """
    spec = zoo.get_spec(name)
    if weights not in (None, "imagenet"):
        raise InvalidWeightsError(spec.display_name, weights)
    if engine not in ENGINES:
        raise InvalidEngineError(engine)
    device = device or _device(engine, force_cpu)
    chosen, key, params = _engine(engine, weights, device)
    # LiteRT on a CPU converts the cached ImageNet file itself and needs no Keras model at all;
    # mixed precision, or a CPU forced on a GPU machine, needs a model built for that device.
    litert_file = chosen == "litert" and weights == "imagenet"
    page_model = not device.mixed_precision and not litert_file and not _cpu_on_a_gpu_machine(device)
    quant = LITERT_ENGINES.get(engine) or LITERT_ENGINES.get(server_engine() if engine == "auto" else "", "fp32")
    return LoadPlan(spec.name, spec.display_name, weights, engine, device, chosen, key, params, page_model, quant)


def conversion_needed(name: str, weights: str | None = "imagenet", *, engine: str = "auto", model=None,
                      device: Device | None = None) -> bool:
    """Whether :func:`cnnviz.infer.load_predictor` with these arguments would first convert the model
    to LiteRT (:meth:`LoadPlan.needs_conversion` of :func:`plan_load`)."""
    return plan_load(name, weights, engine=engine, device=device).needs_conversion(model)


__all__ = ["ENGINES", "ENGINE_ENV", "LITERT_ENGINES", "LoadPlan", "conversion_needed", "plan_load", "server_engine"]
