"""Loading and validating ``cnnviz/data/architectures.json``: every rule the data file must
follow, checked at once, each problem echoing the offending value."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from cnnviz.timeline.model import (
    DATASETS, LOC_PATTERN, METRICS, PERCENT_QUANTITIES, QUANTITIES, SOURCE_KINDS, THEMES, Architecture,
    Competition, CourseNote, Figure, Source, Timeline, TimelineDataError, Variant,
)

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "architectures.json"
SCHEMA = 1

_ID = re.compile(r"^[a-z][a-z0-9]*$")
_SOURCE_ID = re.compile(r"^[a-z][a-z0-9_]*$")  # also text ids (references, notes)
_ZOO_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_YEARS = range(1980, 2031)
_FIGURE_KEYS = {"quantity", "value", "source", "metric", "dataset", "loc", "approx", "reference", "note"}


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
        referenced = [f.quantity for f in figures if f.reference]
        if len(set(referenced)) != len(referenced):
            problems.append(f"{vwhere}: at most one figure per quantity may be the reference. Received: {referenced}")
        out.append(Variant(name=v["name"], zoo_model=zoo_model, figures=tuple(figures)))
    return out


def _parse_figure(raw: Any, where: str, sources: dict[str, Source], problems: list[str]) -> Figure | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    before = len(problems)
    quantity, value, source = raw.get("quantity"), raw.get("value"), raw.get("source")
    metric, dataset, loc = raw.get("metric"), raw.get("dataset", "imagenet"), raw.get("loc")
    unknown = set(raw) - _FIGURE_KEYS
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
    if loc is not None and (not isinstance(loc, str) or not LOC_PATTERN.match(loc)):
        problems.append(f"{where}: loc must look like 'table:1', 'section:3.3', 'figure:2' or 'abstract'. "
                        f"Received: loc={loc!r}")
    if not isinstance(raw.get("approx", False), bool):
        problems.append(f"{where}: approx must be true or false")
    reference, note = raw.get("reference"), raw.get("note")
    for key, text_id in (("reference", reference), ("note", note)):
        if text_id is not None and (not isinstance(text_id, str) or not _SOURCE_ID.match(text_id)):
            problems.append(f"{where}: {key} must name a text (lowercase letters, digits and '_'). "
                            f"Received: {key}={text_id!r}")
    if len(problems) > before:
        return None
    return Figure(quantity=quantity, value=value, source=source, metric=metric, dataset=dataset, loc=loc,
                  approx=bool(raw.get("approx", False)), reference=reference, note=note)


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
    if loc is not None and (not isinstance(loc, str) or not LOC_PATTERN.match(loc)):
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


