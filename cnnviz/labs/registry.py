"""The labs as data: one small declarative entry per exercise of the course (like a zoo entry).

No TensorFlow here: the Labs page lists and describes labs without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from cnnviz import datasets

from cnnviz.errors import UserFacingError
from cnnviz.labs.data import check_source
from cnnviz.training.options import parse_callbacks


class LabError(UserFacingError, ValueError):
    """A lab that does not exist, or settings it cannot take (0 epochs, a subset too large...)."""


class UnknownLabError(LabError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message("en")


@dataclass(frozen=True)
class LabModel:
    """One network of a lab: ``source`` "zoo" (``cnnviz.zoo.create_model(build, **options)``)
    or "lab" (a builder of :mod:`cnnviz.labs.builders`)."""

    name: str
    build: str
    source: str = "zoo"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Lab:
    """A lab: texts (i18n keys), its networks, data and default budget, and what to look at.

    ``image_size`` is the side the data are resized to (the zoo's course nets take 32×32);
    ``subset`` is the number of images drawn for digits (None: all 1,438 of its training
    pool), ``other_subset`` the same for the downloaded datasets. Defaults are sized so each
    lab finishes in about two minutes on a 2-core CPU.
    ``extras`` names the measurements beyond the curves: "grad_norms", "excitation".
    """

    id: str
    models: tuple[LabModel, ...]
    epochs: int
    batch_size: int = 32
    learning_rate: float = 1e-3
    image_size: int = 32
    other_image_size: int | None = None
    """Side for the downloaded datasets and a user's zip when it differs from ``image_size``
    (which then holds for digits, 8×8 scans that 16×16 already shows in full)."""
    subset: int | None = None
    other_subset: int = 3000
    dataset: str = "digits"
    val_split: float = 0.2
    callbacks: tuple = ()
    extras: tuple[str, ...] = ()
    seed_ref: str = ""
    bn_momentum: float | None = 0.9
    """BatchNormalization's running-average momentum during the lab (at most; see
    :func:`bn_momentum_for`). Keras' 0.99 suits runs of thousands of steps; a two-minute lab makes
    30-250, after which the running mean/variance still hold mostly their initial 0/1 and
    validation accuracy falls to chance while the training loss is fine (measured: 0.09 vs 0.996
    on the same images). 0.9 is PyTorch's default."""

    def size_for(self, dataset: str) -> int:
        """The side images are resized to for ``dataset``."""
        return self.image_size if dataset == "digits" or self.other_image_size is None else self.other_image_size

    @property
    def title_key(self) -> str:
        return f"labs.{self.key}.title"

    @property
    def text_key(self) -> str:
        return f"labs.{self.key}.text"

    @property
    def look_key(self) -> str:
        return f"labs.{self.key}.look"

    @property
    def key(self) -> str:
        return self.id.replace("-", "_")

    @property
    def model_names(self) -> list[str]:
        return [m.name for m in self.models]


def _zoo(*names: str, **options) -> tuple[LabModel, ...]:
    return tuple(LabModel(n, n, "zoo", dict(options)) for n in names)


LABS: dict[str, Lab] = {lab.id: lab for lab in (
    Lab("cifar-progression", _zoo("cifar10_v1", "cifar10_v2", "cifar10_v3", "cifar10_v4", "cifar10_v5"),
        epochs=6, seed_ref="seed 002: cnn_cifar10_version1..5"),
    Lab("pooling-vs-strided", (LabModel("pooling", "pooling", "lab"), LabModel("strided", "strided", "lab")),
        epochs=6, seed_ref="seed 002: Capas de pooling vs Convolución con stride > 1"),
    Lab("skip-vs-plain", _zoo("plainnet", "residualnet", depth=50), epochs=2, subset=400, other_subset=400,
        extras=("grad_norms",), seed_ref="seed 000: exercise 3"),
    # Four 64-channel blocks at full resolution: 76 M multiply-adds per 16×16 digit (303 M at 32×32).
    # 3 epochs of 800 digits at 32 px stayed at chance; 6 epochs of all of them at 16 px reach ~0.9.
    Lab("mini-resnet", _zoo("miniresnet"), epochs=6, subset=None, other_subset=800, image_size=16, other_image_size=32,
        seed_ref="seed 000: exercise 2"),
    Lab("separable-vs-standard", (LabModel("standard", "standard", "lab"), LabModel("separable", "separable", "lab")),
        epochs=6, seed_ref="seed 000: exercise 4"),
    Lab("squeeze-excite", (LabModel("without_se", "without_se", "lab"), LabModel("with_se", "with_se", "lab")),
        epochs=12, extras=("excitation",), seed_ref="seed 000: exercise 5"),
    Lab("callbacks", _zoo("cifar10_v3"), epochs=20,
        callbacks=("early_stopping", "reduce_lr", "checkpoint", "csv_logger"),
        seed_ref="seed 004: Tensorflow callbacks"),
)}


BN_STALE_SHARE = 0.05
"""After one epoch, the initial running statistics weigh at most this much (see :func:`bn_momentum_for`)."""


def bn_momentum_for(momentum: float | None, steps_per_epoch: int) -> float | None:
    """The BatchNorm momentum a lab trains with: at most ``momentum``, and low enough that the
    running statistics have (almost) forgotten their initial 0/1 after one epoch,
    ``momentum ** steps ≤ BN_STALE_SHARE``. Plain vs residual trains 10 steps per epoch: at 0.9
    its residual net validated at chance (0.18) after 2 epochs with training accuracy 0.74; at
    this rule's 0.74 it validated at 0.65 (test 0.74), the plain net still at chance.

    >>> bn_momentum_for(0.9, 10), bn_momentum_for(0.9, 36)
    (0.741, 0.9)
    """
    if momentum is None:
        return None
    return round(min(momentum, BN_STALE_SHARE ** (1 / max(1, steps_per_epoch))), 3)


def list_labs() -> list[str]:
    """Lab ids, in the course's order."""
    return list(LABS)


def get_lab(lab_id: str) -> Lab:
    """The lab ``lab_id``.

    Raises:
        UnknownLabError: (a ``ValueError`` and ``KeyError``) listing the labs that exist.
    """
    lab = LABS.get(str(lab_id).strip().lower())
    if lab is None:
        raise UnknownLabError("labs.error.unknown", lab=lab_id, available=", ".join(LABS))
    return lab


def check_settings(lab_id: str, dataset: str = "digits", epochs: int | None = None, subset: int | None = None,
                   seed: int = 0, callbacks: Iterable = (), val_split: float | None = None,
                   models: Iterable[str] | None = None, **_: Any) -> dict:
    """Validate before queueing (so a bad request fails at once, in the user's language).

    ``dataset`` is a built-in name or the path of a user's zip of class folders (its default
    subset: all its images). ``val_split`` None means the lab's; ``models`` None means all the
    lab's networks (else a subset of them, kept in the lab's order).

    Returns the effective settings. Raises LabError / DatasetError / TrainingError.
    """
    lab = get_lab(lab_id)
    eff_epochs = lab.epochs if epochs is None else epochs
    if isinstance(eff_epochs, bool) or not isinstance(eff_epochs, (int, np.integer)) or not 1 <= eff_epochs <= 1000:
        raise LabError("labs.error.epochs", value=epochs)
    source = datasets.user_source(dataset)
    if source is not None:
        check_source(source)
        key = str(source)
    else:
        key = str(dataset).strip().lower().replace("-", "_")
        if key not in datasets.NAMES:
            raise datasets.DatasetError("datasets.error.unknown", name=dataset, available=", ".join(datasets.NAMES))
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, (int, np.integer)) or subset < 2):
        raise LabError("labs.error.subset", value=subset)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LabError("labs.error.seed", value=seed)
    eff_val = lab.val_split if val_split is None else val_split
    if isinstance(eff_val, bool) or not isinstance(eff_val, (int, float, np.floating)) or not 0.0 < eff_val < 1.0:
        raise datasets.DatasetError("datasets.error.val_split", value=val_split)
    options = parse_callbacks(tuple(callbacks) or lab.callbacks)
    chosen = lab.model_names
    if models is not None:
        wanted = list(models)
        unknown = [m for m in wanted if m not in lab.model_names]
        if unknown or not wanted:
            raise LabError("labs.error.models", value=", ".join(unknown) or "-", available=", ".join(lab.model_names))
        chosen = [m for m in lab.model_names if m in wanted]
    if subset is not None or source is not None:
        eff_subset = subset
    else:
        eff_subset = lab.subset if key == "digits" else lab.other_subset
    return {"lab": lab.id, "dataset": key, "epochs": int(eff_epochs), "subset": eff_subset, "seed": int(seed),
            "batch_size": lab.batch_size, "learning_rate": lab.learning_rate, "image_size": lab.size_for(key),
            "val_split": float(eff_val), "callbacks": sorted(options), "models": list(chosen),
            "bn_momentum": lab.bn_momentum}
