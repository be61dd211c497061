"""The timeline's vocabulary and data classes: themes, quantities, metric codes, the
sourced :class:`Figure` and the entries that carry them, and the errors a bad data
file or a mistyped id raises. Plain data: no I/O, no text, no drawing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from cnnviz.errors import UserFacingError
from cnnviz.i18n import translate

#: Design themes (timeline lanes), from the oldest idea to the newest.
THEMES = ("foundations", "depth", "multipath", "efficiency", "attention", "modernization")

#: Quantities a figure can give. Percentages are 0–100.
QUANTITIES = ("params", "macs", "top1", "top5", "top1_err", "top5_err")
PERCENT_QUANTITIES = frozenset({"top1", "top5", "top1_err", "top5_err"})
DATASETS = ("imagenet", "mnist", "cifar10")

#: Metric codes (what a number measures; text in ``timeline.metric.<code>``) → quantities it may qualify.
METRICS: dict[str, frozenset[str]] = {
    "keras_count": frozenset({"params"}),
    "keras_macs": frozenset({"macs"}),
    "keras_val": frozenset({"top1", "top5"}),
    "keras_doc": frozenset({"top1", "macs"}),
    "authors_count": frozenset({"params"}),
    "authors_approx": frozenset({"params"}),
    "authors_macs": frozenset({"macs"}),
    "design_budget": frozenset({"macs"}),
    "authors_val": frozenset({"top1", "top5"}),
    "val_1crop": frozenset({"top1_err", "top5_err"}),
    "val_10crop": frozenset({"top1_err", "top5_err"}),
    "val_one_net": frozenset({"top1_err", "top5_err"}),
    "val_jft300m": frozenset({"top1"}),
    "mnist_test": frozenset({"top1_err"}),
    "mnist_test_distorted": frozenset({"top1_err"}),
    "cifar10_test": frozenset({"top1_err"}),
    "arith_one_tower": frozenset({"params"}),
    "arith_two_gpu": frozenset({"params"}),
}

#: Metrics whose accuracy relies on pre-training with far more images than ImageNet.
EXTRA_DATA_METRICS = frozenset({"val_jft300m"})

SOURCE_KINDS = ("paper", "web", "measurement", "arithmetic")
#: A figure's place in its source: "table:1", "section:3.3", "figure:2" or "abstract".
LOC_PATTERN = re.compile(r"^(?:(table|section|figure):([A-Za-z0-9.]+)|(abstract))$")


# --------------------------------------------------------------------------- errors

class TimelineError(UserFacingError):
    """Base class of the timeline's user-facing errors."""


class TimelineDataError(TimelineError, ValueError):
    """The data file is missing, unreadable or inconsistent (lists every problem found)."""

    def __init__(self, path: str | Path, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("timeline.error.data", path=str(path), count=len(self.problems),
                         problems="; ".join(self.problems[:12]) + (" …" if len(self.problems) > 12 else ""))


class UnknownArchitectureError(TimelineError, KeyError):
    """An architecture id that is not in the timeline (e.g. a mistyped ``?arch=``)."""

    def __init__(self, arch: str, choices: Iterable[str]):
        self.arch = arch
        super().__init__("timeline.error.unknown_arch", arch=arch, choices=", ".join(choices))

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message("en")


# --------------------------------------------------------------------------- data classes

@dataclass(frozen=True)
class Source:
    """Where numbers come from. Papers and web pages carry a citation; measurements made by
    cnnviz and arithmetic on a paper's layer sizes describe themselves in the catalog
    (``timeline.source.<id>``)."""

    id: str
    kind: str
    short: str
    title: str | None = None
    authors: str | None = None
    venue: str | None = None
    year: int | None = None
    url: str | None = None

    def citation(self, lang: str) -> str:
        """Full reference in ``lang`` (only self-describing sources need translating)."""
        if self.kind in ("measurement", "arithmetic"):
            return translate(f"timeline.source.{self.id}", lang)
        year = f", {self.year}" if self.year else ""
        return f"{self.authors}. {self.title}. {self.venue}{year}."


@dataclass(frozen=True)
class Figure:
    """One sourced number. ``value`` is a plain count for params/MACs, a percentage for the rest.

    ``reference`` marks the published figure a count computed by cnnviz is compared with
    (the explorer's "Published: ..." line); it names that citation written out in full,
    ``timeline.reference.<reference>``. ``note`` names a remark on the figure,
    ``timeline.figure_note.<note>`` (why a computed count differs, another checkpoint...).
    """

    quantity: str
    value: float
    source: str
    metric: str
    dataset: str = "imagenet"
    loc: str | None = None
    approx: bool = False
    reference: str | None = None
    note: str | None = None

    @property
    def extra_data(self) -> bool:
        return self.metric in EXTRA_DATA_METRICS


@dataclass(frozen=True)
class Variant:
    """A concrete network of a family (ResNet50, VGG19...), with its figures."""

    name: str
    zoo_model: str | None
    figures: tuple[Figure, ...]

    def all(self, quantity: str, dataset: str = "imagenet") -> list[Figure]:
        return [f for f in self.figures if f.quantity == quantity and f.dataset == dataset]

    def get(self, quantity: str, dataset: str = "imagenet") -> Figure | None:
        """The headline figure of ``quantity``: the first one the data file lists."""
        found = self.all(quantity, dataset)
        return found[0] if found else None


@dataclass(frozen=True)
class Competition:
    """An ImageNet (ILSVRC) test-set top-5 error: a challenge entry (rank) or a paper's result."""

    year: int
    top5_err: float
    source: str
    rank: int | None = None
    nets: int | None = None
    runner_up_err: float | None = None
    loc: str | None = None


@dataclass(frozen=True)
class CourseNote:
    """Where the course material (``shared/seeds``) is wrong or ambiguous, and why."""

    id: str
    seeds: tuple[str, ...]
    architectures: tuple[str, ...]
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Architecture:
    id: str
    name: str
    year: int
    theme: str
    paper: str
    zoo_models: tuple[str, ...]
    explorer_model: str | None
    headline: str
    variants: tuple[Variant, ...]
    course_models: tuple[str, ...] = ()
    competition: Competition | None = None

    @property
    def headline_variant(self) -> Variant:
        return next(v for v in self.variants if v.name == self.headline)

    def variant_for(self, zoo_model: str) -> Variant | None:
        return next((v for v in self.variants if v.zoo_model == zoo_model), None)

    def display_name(self, zoo_model: str) -> str:
        """A model's display name (the variant's, or the registry name for course models)."""
        variant = self.variant_for(zoo_model)
        return variant.name if variant else zoo_model


@dataclass(frozen=True)
class Timeline:
    architectures: tuple[Architecture, ...]
    sources: dict[str, Source]
    notes: tuple[CourseNote, ...]

    @property
    def ids(self) -> list[str]:
        return [a.id for a in self.architectures]

    def get(self, arch_id: str) -> Architecture:
        """The entry ``arch_id`` or :class:`UnknownArchitectureError` listing the valid ids."""
        for arch in self.architectures:
            if arch.id == arch_id:
                return arch
        raise UnknownArchitectureError(arch_id, self.ids)

    def notes_for(self, arch_id: str) -> list[CourseNote]:
        return [n for n in self.notes if arch_id in n.architectures]

    def note(self, note_id: str) -> CourseNote:
        return next(n for n in self.notes if n.id == note_id)

    def find_model(self, zoo_model: str) -> tuple[Architecture, Variant] | None:
        """The entry and variant describing a registry model (``"resnet50"``), if any."""
        for arch in self.architectures:
            variant = arch.variant_for(zoo_model)
            if variant is not None:
                return arch, variant
        return None

    def used_sources(self) -> list[Source]:
        """Every source something in the timeline cites, papers first, then by year."""
        used: set[str] = set()
        for arch in self.architectures:
            used.add(arch.paper)
            used.update(f.source for v in arch.variants for f in v.figures)
            if arch.competition:
                used.add(arch.competition.source)
        kind_order = {k: i for i, k in enumerate(SOURCE_KINDS)}
        return sorted((self.sources[s] for s in used), key=lambda s: (kind_order[s.kind], s.year or 0, s.short))




def preferred_top1(variant: Variant) -> Figure | None:
    """The top-1 accuracy to compare models with: the Keras weights' figure when there is one
    (the weights this app runs), else the first one listed."""
    figs = variant.all("top1")
    return next((f for f in figs if f.metric == "keras_val"), figs[0] if figs else None)
