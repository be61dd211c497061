"""The architecture timeline: sourced data, validation, and Plotly figures.

All facts live in one data file, ``cnnviz/data/architectures.json``: years, papers,
numbers (parameters, MACs, ImageNet accuracy/error) and, for *every* number, the id
of its source and a metric code saying exactly what it measures (single crop or an
ensemble, validation or test set, Keras weights or the paper's own figure). Texts a
student reads (innovations, descriptions, what a metric means) live in the i18n
catalogs ``arch`` and ``timeline``.

This module imports neither Streamlit nor TensorFlow; Plotly is imported only by the
figure builders, so the Home page can use the data without paying for it.

>>> from cnnviz import timeline
>>> tl = timeline.load()
>>> tl.get("resnet").headline_variant.get("macs").value
3800000000
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from cnnviz.errors import UserFacingError
from cnnviz.i18n import translate

DATA_FILE = Path(__file__).resolve().parent / "data" / "architectures.json"
SCHEMA = 1

#: The entries the course needs, in the order the course tells the story.
REQUIRED_IDS = (
    "lenet5", "alexnet", "zfnet", "vgg", "googlenet", "inceptionv3", "resnet", "resnetv2", "densenet",
    "xception", "mobilenetv2", "senet", "mobilenetv3", "efficientnet", "efficientnetv2", "convnext", "vit",
)

#: Design themes (timeline lanes), from the oldest idea to the newest.
THEMES = ("foundations", "depth", "multipath", "efficiency", "attention", "modernization")

#: Okabe–Ito colours: distinguishable for colour-blind viewers and on a washed-out projector.
THEME_COLORS = {
    "foundations": "#7F7F7F",
    "depth": "#0072B2",
    "multipath": "#009E73",
    "efficiency": "#D55E00",
    "attention": "#CC79A7",
    "modernization": "#E69F00",
}

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
_ID = re.compile(r"^[a-z][a-z0-9]*$")
_SOURCE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_ZOO_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LOC = re.compile(r"^(?:(table|section|figure):([A-Za-z0-9.]+)|(abstract))$")
_YEARS = range(1980, 2031)
NBSP = "\u00a0"


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
    """One sourced number. ``value`` is a plain count for params/MACs, a percentage for the rest."""

    quantity: str
    value: float
    source: str
    metric: str
    dataset: str = "imagenet"
    loc: str | None = None
    approx: bool = False

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


# --------------------------------------------------------------------------- loading and validation

def load(path: str | Path | None = None) -> Timeline:
    """The validated timeline from ``path`` (default: the packaged data file, cached).

    Raises:
        TimelineDataError: the file is missing, is not JSON, or breaks a rule (all
            problems are listed, with the offending value echoed).
    """
    if path is None:
        return _load_default()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _load_default() -> Timeline:
    return _load(DATA_FILE)


def _load(path: Path) -> Timeline:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TimelineDataError(path, [f"cannot read the file ({exc.strerror or exc})"]) from exc
    except json.JSONDecodeError as exc:
        raise TimelineDataError(path, [f"not valid JSON: {exc}"]) from exc
    return parse(raw, origin=path)


def parse(raw: Any, *, origin: str | Path = "<data>") -> Timeline:
    """Validate the decoded JSON and build the :class:`Timeline` (all problems at once)."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise TimelineDataError(origin, [f"top level must be an object, got {type(raw).__name__}"])
    if raw.get("schema") != SCHEMA:
        problems.append(f"schema must be {SCHEMA}. Received: schema={raw.get('schema')!r}")
    sources = _parse_sources(raw.get("sources"), problems)
    archs = _parse_architectures(raw.get("architectures"), sources, problems)
    notes = _parse_notes(raw.get("course_notes", []), {a.id for a in archs}, problems)
    if problems:
        raise TimelineDataError(origin, problems)
    return Timeline(tuple(archs), sources, tuple(notes))


def _parse_sources(raw: Any, problems: list[str]) -> dict[str, Source]:
    if not isinstance(raw, dict) or not raw:
        problems.append("'sources' must be a non-empty object")
        return {}
    out: dict[str, Source] = {}
    for sid, s in raw.items():
        where = f"sources.{sid}"
        if not _SOURCE_ID.match(sid):
            problems.append(f"{where}: id must be lowercase letters, digits and '_'. Received: {sid!r}")
        if not isinstance(s, dict):
            problems.append(f"{where}: must be an object")
            continue
        kind = s.get("kind")
        if kind not in SOURCE_KINDS:
            problems.append(f"{where}: kind must be one of {SOURCE_KINDS}. Received: kind={kind!r}")
            continue
        if not _nonempty_str(s.get("short")):
            problems.append(f"{where}: 'short' (a short label) is required")
        if kind in ("paper", "web"):
            for key in ("authors", "title", "venue", "url"):
                if not _nonempty_str(s.get(key)):
                    problems.append(f"{where}: '{key}' is required for a {kind} source")
            url = s.get("url") or ""
            if not str(url).startswith("https://"):
                problems.append(f"{where}: url must be an https:// link. Received: url={url!r}")
        if kind == "paper" and (not isinstance(s.get("year"), int) or s["year"] not in _YEARS):
            problems.append(f"{where}: a paper needs its publication year. Received: year={s.get('year')!r}")
        out[sid] = Source(id=sid, kind=kind, short=str(s.get("short", sid)), title=s.get("title"),
                          authors=s.get("authors"), venue=s.get("venue"), year=s.get("year"), url=s.get("url"))
    return out


def _parse_architectures(raw: Any, sources: dict[str, Source], problems: list[str]) -> list[Architecture]:
    if not isinstance(raw, list) or not raw:
        problems.append("'architectures' must be a non-empty list")
        return []
    archs: list[Architecture] = []
    seen: set[str] = set()
    last_year = None
    for i, a in enumerate(raw):
        where = f"architectures[{i}]"
        if not isinstance(a, dict):
            problems.append(f"{where}: must be an object")
            continue
        aid = a.get("id")
        where = f"architectures[{i}] ({aid})"
        if not isinstance(aid, str) or not _ID.match(aid):
            problems.append(f"{where}: id must be lowercase letters and digits. Received: id={aid!r}")
            continue
        if aid in seen:
            problems.append(f"{where}: duplicate id {aid!r}")
        seen.add(aid)
        year = a.get("year")
        if not isinstance(year, int) or year not in _YEARS:
            problems.append(f"{where}: year must be an integer year. Received: year={year!r}")
            year = last_year or 0
        elif last_year is not None and year < last_year:
            problems.append(f"{where}: entries must be in chronological order; year {year} comes after {last_year}")
        last_year = max(year, last_year or year)
        if not _nonempty_str(a.get("name")):
            problems.append(f"{where}: 'name' is required")
        theme = a.get("theme")
        if theme not in THEMES:
            problems.append(f"{where}: theme must be one of {THEMES}. Received: theme={theme!r}")
        paper = a.get("paper")
        if paper not in sources or sources[paper].kind != "paper":
            problems.append(f"{where}: 'paper' must name a source of kind 'paper'. Received: paper={paper!r}")
        zoo_models = _name_list(a.get("zoo_models"), f"{where}.zoo_models", problems)
        course_models = _name_list(a.get("course_models", []), f"{where}.course_models", problems)
        variants = _parse_variants(a.get("variants"), where, sources, problems)
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            problems.append(f"{where}: variant names must be unique. Received: {names}")
        for v in variants:
            if v.zoo_model is not None and v.zoo_model not in zoo_models:
                problems.append(f"{where}: variant {v.name!r} maps to {v.zoo_model!r}, which is not in zoo_models")
        headline = a.get("headline")
        if headline not in names:
            problems.append(f"{where}: headline must be one of the variant names {names}. Received: headline={headline!r}")
        explorer = a.get("explorer_model")
        if explorer is not None and explorer not in (*zoo_models, *course_models):
            problems.append(f"{where}: explorer_model must be one of zoo_models. Received: explorer_model={explorer!r}")
        if explorer is None and zoo_models:
            problems.append(f"{where}: explorer_model is required when zoo_models is not empty")
        competition = _parse_competition(a.get("competition"), where, sources, problems)
        archs.append(Architecture(
            id=aid, name=str(a.get("name", aid)), year=year, theme=str(theme), paper=str(paper),
            zoo_models=tuple(zoo_models), explorer_model=explorer, headline=str(headline),
            variants=tuple(variants), course_models=tuple(course_models), competition=competition,
        ))
    missing = [r for r in REQUIRED_IDS if r not in seen]
    if missing:
        problems.append(f"required architectures are missing: {missing}")
    return archs


def _parse_variants(raw: Any, where: str, sources: dict[str, Source], problems: list[str]) -> list[Variant]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: 'variants' must be a non-empty list")
        return []
    out = []
    for j, v in enumerate(raw):
        vwhere = f"{where}.variants[{j}]"
        if not isinstance(v, dict) or not _nonempty_str(v.get("name")):
            problems.append(f"{vwhere}: a variant needs a 'name'")
            continue
        zoo_model = v.get("zoo_model")
        if zoo_model is not None and (not isinstance(zoo_model, str) or not _ZOO_NAME.match(zoo_model)):
            problems.append(f"{vwhere}: zoo_model must be a registry name or null. Received: {zoo_model!r}")
            zoo_model = None
        raw_figures = v.get("figures", [])
        if not isinstance(raw_figures, list):
            problems.append(f"{vwhere}: 'figures' must be a list")
            raw_figures = []
        figures = []
        for k, raw_fig in enumerate(raw_figures):
            parsed = _parse_figure(raw_fig, f"{vwhere}.figures[{k}]", sources, problems)
            if parsed is not None:
                figures.append(parsed)
        out.append(Variant(name=v["name"], zoo_model=zoo_model, figures=tuple(figures)))
    return out


def _parse_figure(raw: Any, where: str, sources: dict[str, Source], problems: list[str]) -> Figure | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    before = len(problems)
    quantity, value, source = raw.get("quantity"), raw.get("value"), raw.get("source")
    metric, dataset, loc = raw.get("metric"), raw.get("dataset", "imagenet"), raw.get("loc")
    unknown = set(raw) - {"quantity", "value", "source", "metric", "dataset", "loc", "approx"}
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    if quantity not in QUANTITIES:
        problems.append(f"{where}: quantity must be one of {QUANTITIES}. Received: quantity={quantity!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        problems.append(f"{where}: value must be a positive number. Received: value={value!r}")
    elif quantity in PERCENT_QUANTITIES and value > 100:
        problems.append(f"{where}: {quantity} is a percentage (0–100). Received: value={value!r}")
    if source not in sources:
        problems.append(f"{where}: every number needs a source listed in 'sources'. Received: source={source!r}")
    if metric not in METRICS:
        problems.append(f"{where}: metric must be one of {sorted(METRICS)}. Received: metric={metric!r}")
    elif quantity in QUANTITIES and quantity not in METRICS[metric]:
        problems.append(f"{where}: metric {metric!r} cannot qualify a {quantity!r} figure")
    if dataset not in DATASETS:
        problems.append(f"{where}: dataset must be one of {DATASETS}. Received: dataset={dataset!r}")
    if loc is not None and (not isinstance(loc, str) or not _LOC.match(loc)):
        problems.append(f"{where}: loc must look like 'table:1', 'section:3.3', 'figure:2' or 'abstract'. "
                        f"Received: loc={loc!r}")
    if not isinstance(raw.get("approx", False), bool):
        problems.append(f"{where}: approx must be true or false")
    if len(problems) > before:
        return None
    return Figure(quantity=quantity, value=value, source=source, metric=metric, dataset=dataset, loc=loc,
                  approx=bool(raw.get("approx", False)))


def _parse_competition(raw: Any, where: str, sources: dict[str, Source], problems: list[str]) -> Competition | None:
    if raw is None:
        return None
    cwhere = f"{where}.competition"
    if not isinstance(raw, dict):
        problems.append(f"{cwhere}: must be an object")
        return None
    before = len(problems)
    year, err, source = raw.get("year"), raw.get("top5_err"), raw.get("source")
    rank, nets, runner_up, loc = raw.get("rank"), raw.get("nets"), raw.get("runner_up_err"), raw.get("loc")
    if not isinstance(year, int) or year not in _YEARS:
        problems.append(f"{cwhere}: year must be an integer year. Received: year={year!r}")
    for name, val in (("top5_err", err), ("runner_up_err", runner_up)):
        if val is None and name == "runner_up_err":
            continue
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0 < val <= 100:
            problems.append(f"{cwhere}: {name} must be a percentage. Received: {name}={val!r}")
    if source not in sources:
        problems.append(f"{cwhere}: source must be listed in 'sources'. Received: source={source!r}")
    for name, val in (("rank", rank), ("nets", nets)):
        if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
            problems.append(f"{cwhere}: {name} must be a positive integer or null. Received: {name}={val!r}")
    if loc is not None and (not isinstance(loc, str) or not _LOC.match(loc)):
        problems.append(f"{cwhere}: bad loc {loc!r}")
    if len(problems) > before:
        return None
    return Competition(year=year, top5_err=err, source=source, rank=rank, nets=nets, runner_up_err=runner_up, loc=loc)


def _parse_notes(raw: Any, arch_ids: set[str], problems: list[str]) -> list[CourseNote]:
    if not isinstance(raw, list):
        problems.append("'course_notes' must be a list")
        return []
    out = []
    for i, n in enumerate(raw):
        where = f"course_notes[{i}]"
        if not isinstance(n, dict) or not isinstance(n.get("id"), str) or not _SOURCE_ID.match(n["id"]):
            problems.append(f"{where}: a note needs an id of lowercase letters, digits and '_'")
            continue
        archs = n.get("architectures")
        if not isinstance(archs, list) or not archs or any(a not in arch_ids for a in archs):
            problems.append(f"{where} ({n['id']}): architectures must list existing ids. Received: {archs!r}")
            continue
        seeds = n.get("seeds")
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, str) and s.isdigit() for s in seeds):
            problems.append(f"{where} ({n['id']}): seeds must list the course files' numbers. Received: {seeds!r}")
            continue
        values = n.get("values", {})
        if not isinstance(values, dict):
            problems.append(f"{where} ({n['id']}): values must be an object")
            continue
        out.append(CourseNote(id=n["id"], seeds=tuple(seeds), architectures=tuple(archs), values=dict(values)))
    return out


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _name_list(raw: Any, where: str, problems: list[str]) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(n, str) and _ZOO_NAME.match(n) for n in raw):
        problems.append(f"{where}: must be a list of lowercase registry names. Received: {raw!r}")
        return []
    if len(set(raw)) != len(raw):
        problems.append(f"{where}: duplicate names in {raw!r}")
    return list(raw)


# --------------------------------------------------------------------------- formatting

def format_number(value: float, unit_quantity: str) -> str:
    """``25636712`` → ``"25.6 M"``, ``3.8e9`` → ``"3.8 G"``, ``60000`` → ``"60,000"``, ``72`` → ``"72.0%"``.

    Keeps the precision the source gave (``3.8 G`` stays ``3.8``, not ``3.80``).
    """
    if unit_quantity in PERCENT_QUANTITIES:
        text = f"{value:g}"
        return f"{text if '.' in text else text + '.0'}%"  # 72.0%, as the sources print it
    for unit, suffix in ((1e9, "G"), (1e6, "M")):
        if value >= unit:
            mantissa = value / unit
            text = f"{mantissa:.1f}" if mantissa >= 10 else f"{mantissa:.2f}"
            return f"{text.rstrip('0').rstrip('.')}{NBSP}{suffix}"  # never "3.8" on one line, "G" on the next
    return f"{int(round(value)):,}"


def format_figure(fig: Figure, *, exact: bool = False) -> str:
    """A figure for people: rounded, ``≈`` when the source itself rounds; with ``exact``,
    full counts are added in parentheses (``25.6 M (25,636,712)``)."""
    text = format_number(fig.value, fig.quantity)
    if fig.approx:
        text = f"≈{NBSP}{text}"
    if exact and fig.quantity in ("params", "macs") and not fig.approx and fig.value >= 1e6 \
            and float(fig.value).is_integer() and fig.value % 10_000:
        text += f" ({int(fig.value):,})"
    return text


def loc_label(loc: str | None, lang: str) -> str:
    """``"table:1"`` → "Table 1" / "Tabla 1"; ``None`` → ""."""
    if not loc:
        return ""
    m = _LOC.match(loc)
    if m is None:
        return loc
    if m.group(3):
        return translate("timeline.loc.abstract", lang)
    return translate(f"timeline.loc.{m.group(1)}", lang, n=m.group(2))


def source_label(tl: Timeline, fig: Figure | Competition, lang: str) -> str:
    """Short source with its location: "He et al. 2016, Table 1"."""
    src = tl.sources[fig.source]
    where = loc_label(fig.loc, lang)
    return f"{src.short}, {where}" if where else src.short


def metric_label(fig: Figure, lang: str) -> str:
    return translate(f"timeline.metric.{fig.metric}", lang)


def note_text(note: CourseNote, lang: str) -> str:
    """A course note in ``lang``, its numbers formatted (``62378344`` → ``62,378,344``)."""
    values = {k: (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in note.values.items()}
    return translate(f"timeline.course_note.{note.id}", lang, **values)


def competition_label(comp: Competition, lang: str) -> str:
    """What a challenge figure is: "ILSVRC 2015 winner, ensemble of 6 networks"…"""
    if comp.rank == 1:
        who = translate("timeline.competition.winner", lang, year=comp.year)
    elif comp.rank:
        who = translate("timeline.competition.ranked", lang, year=comp.year, rank=comp.rank)
    else:
        who = translate("timeline.competition.paper_result", lang)
    ensemble = (translate("timeline.competition.ensemble", lang, nets=comp.nets) if comp.nets
                else translate("timeline.competition.entry", lang))
    return f"{who} · {ensemble}"


# --------------------------------------------------------------------------- rows for tables

def card_rows(tl: Timeline, arch: Architecture, lang: str) -> list[dict[str, str]]:
    """Every number of an entry, one row each: variant, quantity, value, what it measures,
    source label and URL. Missing headline quantities show ``common.na``."""
    rows = []
    na = translate("common.na", lang)
    for variant in arch.variants:
        for fig in variant.figures:
            src = tl.sources[fig.source]
            rows.append({
                "variant": variant.name,
                "quantity": translate(f"timeline.quantity.{fig.quantity}", lang),
                "value": format_figure(fig, exact=True),
                "measures": metric_label(fig, lang),
                "source": source_label(tl, fig, lang),
                "url": src.url or "",
            })
        if variant.name == arch.headline:
            for quantity in ("params", "macs"):
                if variant.get(quantity) is None:
                    rows.append({"variant": variant.name, "quantity": translate(f"timeline.quantity.{quantity}", lang),
                                 "value": na, "measures": translate("timeline.card.no_source", lang),
                                 "source": "", "url": ""})
    if arch.competition:
        comp = arch.competition
        rows.append({
            "variant": arch.name,
            "quantity": translate("timeline.quantity.top5_err", lang),
            "value": format_number(comp.top5_err, "top5_err"),
            "measures": competition_label(comp, lang),
            "source": source_label(tl, comp, lang),
            "url": tl.sources[comp.source].url or "",
        })
    return rows


def summary_rows(tl: Timeline, arch: Architecture, lang: str) -> list[dict[str, str]]:
    """One row per variant with its headline ImageNet numbers (params, top-1, top-5, MACs)
    and the short labels of their sources: the card's at-a-glance table. Where only an
    error rate is published it is shown as an error ("error 40.7%"), never turned into
    an accuracy; missing numbers are ``common.na``."""
    na = translate("common.na", lang)
    rows = []
    for variant in arch.variants:
        cells: dict[str, str] = {"model": variant.name}
        used: list[Figure] = []
        for key, acc, err in (("params", "params", None), ("top1", "top1", "top1_err"),
                              ("top5", "top5", "top5_err"), ("macs", "macs", None)):
            fig = preferred_top1(variant) if acc == "top1" else variant.get(acc)
            if fig is not None:
                cells[key] = format_figure(fig)
                if fig.extra_data:  # ViT on JFT-300M: never shown without saying so
                    cells[key] = translate("timeline.card.extra_data_cell", lang, value=cells[key])
            elif err and (fig := variant.get(err)) is not None:
                cells[key] = translate("timeline.card.error_cell", lang, value=format_figure(fig))
            else:
                cells[key] = na
            if fig is not None:
                used.append(fig)
        if not used:
            continue  # e.g. ResNet-1001: only a CIFAR-10 figure, listed in the full table
        labels: list[str] = []
        for fig in used:
            label = source_label(tl, fig, lang)
            if label not in labels:
                labels.append(label)
        cells["sources"] = "; ".join(labels)
        rows.append(cells)
    return rows


def other_benchmarks(tl: Timeline, arch: Architecture, lang: str) -> list[str]:
    """Numbers measured on another dataset than ImageNet (LeNet-5 on MNIST, ResNet-1001 on
    CIFAR-10), one sentence each with what they measure and their source."""
    lines = []
    for variant in arch.variants:
        for fig in variant.figures:
            if fig.dataset != "imagenet":
                lines.append(translate("timeline.card.other_benchmark", lang, model=variant.name,
                                       quantity=translate(f"timeline.quantity.{fig.quantity}", lang),
                                       value=format_figure(fig), measures=metric_label(fig, lang),
                                       source=source_label(tl, fig, lang)))
    return lines


def preferred_top1(variant: Variant) -> Figure | None:
    """The top-1 accuracy to compare models with: the Keras weights' figure when there is one
    (the weights this app runs), else the first one listed."""
    figs = variant.all("top1")
    return next((f for f in figs if f.metric == "keras_val"), figs[0] if figs else None)


def model_summary(tl: Timeline, zoo_model: str, lang: str) -> dict[str, str]:
    """Params / top-1 / MACs of one registry model, formatted, with their sources (Home's table)."""
    found = tl.find_model(zoo_model)
    na = translate("common.na", lang)
    if found is None:
        return {"model": zoo_model, "params": na, "top1": na, "macs": na, "sources": ""}
    arch, variant = found
    params, top1, macs = variant.get("params"), preferred_top1(variant), variant.get("macs")
    used = [f for f in (params, top1, macs) if f is not None]
    sources = []
    for f in used:
        label = source_label(tl, f, lang)
        if label not in sources:
            sources.append(label)
    return {
        "model": variant.name,
        "arch": arch.id,
        "params": format_figure(params) if params else na,
        "top1": format_figure(top1) if top1 else na,
        "macs": format_figure(macs) if macs else na,
        "sources": "; ".join(sources),
    }


# --------------------------------------------------------------------------- chart data

@dataclass(frozen=True)
class BubblePoint:
    arch: Architecture
    variant: Variant
    params: Figure
    top1: Figure
    macs: Figure | None

    @property
    def headline(self) -> bool:
        return self.variant.name == self.arch.headline


def bubble_points(tl: Timeline, *, include_extra_data: bool = False) -> list[BubblePoint]:
    """Variants with both a parameter count and an ImageNet top-1 accuracy.

    Errors are never turned into accuracies here, and results that needed extra
    pre-training data (ViT on JFT-300M) are left out unless asked for.
    """
    points = []
    for arch in tl.architectures:
        for variant in arch.variants:
            params, top1 = variant.get("params"), preferred_top1(variant)
            if params is None or top1 is None or (top1.extra_data and not include_extra_data):
                continue
            points.append(BubblePoint(arch, variant, params, top1, variant.get("macs")))
    return points


def competition_points(tl: Timeline) -> list[tuple[Architecture, Competition]]:
    return sorted(((a, a.competition) for a in tl.architectures if a.competition),
                  key=lambda p: (p[1].year, -p[1].top5_err))


# --------------------------------------------------------------------------- Plotly figures

_FONT = dict(size=16)


def _wrap(text: str, width: int = 60) -> str:
    """Plotly hover labels do not wrap: break long sentences with <br>."""
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "<br>".join(lines)


def _x_positions(archs: Iterable[Architecture], gap_after: int) -> dict[str, float]:
    """Years on the x axis, except entries before ``gap_after`` are pulled in next to it so that
    1998–2011 (no entry) does not eat half the chart; their tick keeps the real year."""
    positions = {}
    early = [a for a in archs if a.year < gap_after]
    for k, arch in enumerate(sorted(early, key=lambda a: a.year, reverse=True)):
        positions[arch.id] = gap_after - 2 - 0.9 * k
    return positions


def timeline_figure(tl: Timeline, lang: str, selected: str | None = None):
    """Entries as labelled markers: x = year, one lane per theme; ``customdata`` = entry id
    (for click-to-select). The gap before 2012 is compressed and marked; ViT's arrival is shaded."""
    import plotly.graph_objects as go

    archs = tl.architectures
    first_modern = min((a.year for a in archs if a.year >= 2010), default=2012)
    early_x = _x_positions(archs, first_modern)
    lane = {theme: len(THEMES) - 1 - i for i, theme in enumerate(THEMES)}  # foundations on top

    # Entries sharing a lane and a year are spread vertically, labels pointing away from each
    # other; lone entries alternate their label above/below along the lane so that neighbours
    # one year apart (AlexNet, ZFNet) do not collide.
    pos: dict[str, tuple[float, float, str]] = {}
    lane_count: dict[str, int] = {}
    for arch in archs:
        group = [a for a in archs if a.theme == arch.theme and a.year == arch.year]
        x = early_x.get(arch.id, arch.year)
        if len(group) > 1:
            k = group.index(arch)
            y = lane[arch.theme] + 0.2 - 0.4 * k / (len(group) - 1)
            side = "top center" if k == 0 else "bottom center" if k == len(group) - 1 else "middle right"
        else:
            y = lane[arch.theme]
            side = "top center" if lane_count.get(arch.theme, 0) % 2 == 0 else "bottom center"
        lane_count[arch.theme] = lane_count.get(arch.theme, 0) + 1
        pos[arch.id] = (x, y, side)

    fig = go.Figure()
    params_label = translate("timeline.quantity.params", lang)
    for theme in THEMES:
        members = [a for a in archs if a.theme == theme]
        if not members:
            continue
        hover = []
        for a in members:
            head = a.headline_variant
            params = head.get("params")
            params_text = f"{format_figure(params)} ({head.name})" if params else translate("common.na", lang)
            paper = tl.sources[a.paper]
            hover.append(
                f"<b>{a.name}</b> · {a.year}<br>{paper.short}, {paper.venue} {paper.year}<br><br>"
                f"{_wrap(translate(f'arch.{a.id}.innovation', lang))}<br><br>{params_label}: {params_text}"
                f"<br><i>{translate('timeline.chart.click_hint', lang)}</i>"
            )
        fig.add_trace(go.Scatter(
            x=[pos[a.id][0] for a in members], y=[pos[a.id][1] for a in members],
            mode="markers+text", name=translate(f"timeline.theme.{theme}", lang),
            text=[a.name.split(" (")[0] for a in members], textposition=[pos[a.id][2] for a in members],
            customdata=[a.id for a in members], hovertext=hover, hoverinfo="text",
            marker=dict(size=18, color=THEME_COLORS[theme], line=dict(width=1, color="#111111")),
            textfont=dict(size=15),
        ))
    chosen = next((a for a in archs if a.id == selected), None)
    if chosen is not None:  # a ring around the entry whose card is open
        fig.add_trace(go.Scatter(
            x=[pos[chosen.id][0]], y=[pos[chosen.id][1]], mode="markers", showlegend=False, hoverinfo="skip",
            customdata=[chosen.id], name=chosen.name,
            marker=dict(size=34, color="rgba(0,0,0,0)", line=dict(width=4, color="#111111")),
        ))

    modern_years = sorted({a.year for a in archs if a.year >= first_modern})
    ticks = [(x, str(a.year)) for a in archs if (x := early_x.get(a.id)) is not None]
    ticks += [(y, str(y)) for y in range(modern_years[0], modern_years[-1] + 1)] if modern_years else []
    if early_x:
        gap_years = first_modern - max(a.year for a in archs if a.id in early_x)
        fig.add_vline(x=first_modern - 1.3, line=dict(dash="dot", color="#888888"))
        fig.add_annotation(x=first_modern - 1.3, y=(len(THEMES) - 1) / 2, showarrow=False, textangle=-90,
                           xshift=-12, text=translate("timeline.chart.gap", lang, years=gap_years),
                           font=dict(size=13, color="#555555"))
    vit = next((a for a in archs if a.id == "vit"), None)
    if vit is not None:
        fig.add_vrect(x0=vit.year - 0.45, x1=(modern_years[-1] if modern_years else vit.year) + 0.6,
                      fillcolor=THEME_COLORS["attention"], opacity=0.08, line_width=0)
        fig.add_annotation(x=vit.year - 0.4, y=-0.75, xanchor="left", showarrow=False,
                           text=translate("timeline.chart.transformers", lang), font=dict(size=13, color="#7a3e64"))
    fig.update_layout(
        font=_FONT, height=520, margin=dict(l=10, r=10, t=40, b=10), hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, title_text=""),
        clickmode="event+select", plot_bgcolor="white",
    )
    fig.update_xaxes(tickvals=[t[0] for t in ticks], ticktext=[t[1] for t in ticks], showgrid=True, gridcolor="#eeeeee",
                     range=[min(t[0] for t in ticks) - 0.9, max(t[0] for t in ticks) + 0.9], fixedrange=True)
    fig.update_yaxes(tickvals=[lane[t] for t in THEMES], ticktext=[translate(f"timeline.theme.{t}", lang) for t in THEMES],
                     range=[-1.0, len(THEMES) - 0.2], showgrid=False, zeroline=False, fixedrange=True)
    return fig


def bubble_figure(tl: Timeline, lang: str, *, include_extra_data: bool = False):
    """Top-1 accuracy vs parameters (log x); marker area ∝ MACs, hollow when MACs are unknown.

    One colour per theme; only headline variants carry a text label (alternating above and
    below so close neighbours stay readable on a projector), the rest shows on hover.
    """
    import plotly.graph_objects as go

    points = bubble_points(tl, include_extra_data=include_extra_data)
    max_macs = max((p.macs.value for p in points if p.macs), default=1.0)
    # Labels of close neighbours (ResNet50 / ResNet50V2, Xception / InceptionV3): the higher one's
    # goes above it, the lower one's beside it, on the side away from its neighbour.
    labelled = [p for p in points if p.headline]
    label_side: dict[int, str] = {}
    for p in labelled:
        for other in labelled:
            if other is not p and abs(math.log10(other.params.value / p.params.value)) < 0.15 \
                    and abs(other.top1.value - p.top1.value) < 2.0:
                if p.top1.value >= other.top1.value:
                    label_side[id(p)] = "top center"
                else:
                    label_side[id(p)] = "middle right" if p.params.value > other.params.value else "middle left"
    q = {k: translate(f"timeline.quantity.{k}", lang) for k in ("params", "top1", "macs")}
    na = translate("common.na", lang)

    def hover(p: BubblePoint) -> str:
        macs = f"{format_figure(p.macs)} ({source_label(tl, p.macs, lang)})" if p.macs else na
        return (f"<b>{p.variant.name}</b> ({p.arch.name}, {p.arch.year})<br>"
                f"{q['top1']}: {format_figure(p.top1)} ({source_label(tl, p.top1, lang)})<br>"
                f"<i>{_wrap(metric_label(p.top1, lang), 70)}</i><br>"
                f"{q['params']}: {format_figure(p.params)} ({source_label(tl, p.params, lang)})<br>"
                f"{q['macs']}: {macs}")

    fig = go.Figure()
    for theme in THEMES:
        for with_macs in (True, False):
            members = [p for p in points if p.arch.theme == theme and (p.macs is not None) == with_macs]
            if not members:
                continue
            fig.add_trace(go.Scatter(
                x=[p.params.value for p in members], y=[p.top1.value for p in members],
                mode="markers+text", name=translate(f"timeline.theme.{theme}", lang), legendgroup=theme,
                showlegend=with_macs or not any(p.arch.theme == theme and p.macs for p in points),
                text=[p.variant.name if p.headline else "" for p in members],
                textposition=[label_side.get(id(p), "top center") for p in members],
                customdata=[p.arch.id for p in members], hovertext=[hover(p) for p in members], hoverinfo="text",
                marker=dict(
                    size=[12 + 48 * math.sqrt(p.macs.value / max_macs) if p.macs else 12 for p in members],
                    symbol="circle" if with_macs else "circle-open", color=THEME_COLORS[theme],
                    opacity=0.75 if with_macs else 1.0, line=dict(width=2, color=THEME_COLORS[theme])),
                textfont=dict(size=13),
            ))
    if any(p.macs is None for p in points):  # legend entry explaining the hollow markers
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=translate("timeline.bubble.no_macs", lang),
                                 marker=dict(size=12, symbol="circle-open", color="#555555", line=dict(width=2)),
                                 hoverinfo="skip"))
    fig.update_layout(
        font=_FONT, height=560, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, title_text=""),
    )
    fig.update_xaxes(type="log", title_text=translate("timeline.bubble.x", lang), gridcolor="#eeeeee")
    fig.update_yaxes(title_text=translate("timeline.bubble.y", lang), gridcolor="#eeeeee", ticksuffix="%")
    return fig


OTHERS_DX = 0.18  # "other results" sit just right of their year so they do not hide the winner


def competition_figure(tl: Timeline, lang: str):
    """ImageNet challenge top-5 error by year: winners joined by a line, other reported results
    (second place, paper results) as separate markers, and 2012's best non-CNN entry."""
    import plotly.graph_objects as go

    pts = competition_points(tl)
    winners = [(a, c) for a, c in pts if c.rank == 1]
    others = [(a, c) for a, c in pts if c.rank != 1]
    fig = go.Figure()

    def hover(a: Architecture, c: Competition) -> str:
        return (f"<b>{a.name}</b> · {format_number(c.top5_err, 'top5_err')}<br>{competition_label(c, lang)}"
                f"<br>{source_label(tl, c, lang)}")

    fig.add_trace(go.Scatter(
        x=[c.year for _, c in winners], y=[c.top5_err for _, c in winners], mode="lines+markers+text",
        name=translate("timeline.competition.winners", lang), customdata=[a.id for a, _ in winners],
        text=[f"{a.name.split(' (')[0]} {format_number(c.top5_err, 'top5_err')}" for a, c in winners],
        textposition="top right", hovertext=[hover(a, c) for a, c in winners], hoverinfo="text",
        marker=dict(size=16, color=THEME_COLORS["depth"]), line=dict(width=3, color=THEME_COLORS["depth"]),
    ))
    fig.add_trace(go.Scatter(
        x=[c.year + OTHERS_DX for _, c in others], y=[c.top5_err for _, c in others], mode="markers+text",
        name=translate("timeline.competition.others", lang), customdata=[a.id for a, _ in others],
        text=[f"{a.name.split(' (')[0]} {format_number(c.top5_err, 'top5_err')}" for a, c in others],
        textposition="bottom right", hovertext=[hover(a, c) for a, c in others], hoverinfo="text",
        marker=dict(size=13, color="#555555", symbol="diamond"),
    ))
    runner = [(a, c) for a, c in pts if c.runner_up_err]
    if runner:
        fig.add_trace(go.Scatter(
            x=[c.year for _, c in runner], y=[c.runner_up_err for _, c in runner], mode="markers+text",
            name=translate("timeline.competition.non_cnn", lang),
            text=[format_number(c.runner_up_err, "top5_err") for _, c in runner], textposition="middle right",
            hovertext=[translate("timeline.competition.non_cnn_hover", lang, year=c.year,
                                 err=format_number(c.runner_up_err, "top5_err"), source=source_label(tl, c, lang))
                       for _, c in runner],
            hoverinfo="text", marker=dict(size=13, color="#999999", symbol="x"),
        ))
    years = [c.year for _, c in pts]
    fig.update_layout(
        font=_FONT, height=480, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, title_text=""),
    )
    fig.update_xaxes(dtick=1, range=[min(years) - 0.5, max(years) + 1.2], gridcolor="#eeeeee",
                     title_text=translate("timeline.competition.x", lang))
    top = max([c.top5_err for _, c in pts] + [c.runner_up_err for _, c in runner])
    fig.update_yaxes(range=[0, top * 1.15], ticksuffix="%", gridcolor="#eeeeee",
                     title_text=translate("timeline.competition.y", lang))
    return fig
