"""The timeline's numbers for people: formatted values, source and metric labels, the rows
of the card and Home tables, and per-model lookups (published top-1, reference MACs) that
other pages show next to what cnnviz measures."""

from __future__ import annotations

from dataclasses import dataclass

from cnnviz.i18n import translate
from cnnviz.timeline.model import (
    LOC_PATTERN, PERCENT_QUANTITIES, Architecture, Competition, CourseNote, Figure, Timeline, TimelineDataError,
    preferred_top1,
)
from cnnviz.timeline.parse import load

NBSP = "\u00a0"

#: Metrics of the Keras weights themselves (what this app runs), preferred over the papers'.
KERAS_TOP1_METRICS = ("keras_val", "keras_doc")


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
    m = LOC_PATTERN.match(loc)
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



# --------------------------------------------------------------------------- per-model lookups

def published_top1(name: str, lang: str = "en") -> tuple[float, str] | None:
    """Published ImageNet top-1 (%) of zoo model ``name`` and its source, or None ("n/a").

    The figure for the Keras weights comes first; other published figures follow in the
    source text, e.g. MobileNetV3Small: 68.1% (Keras docstring), the paper's Table 3 says 67.4%.
    """
    try:
        tl = load()
    except TimelineDataError:  # the page shows "n/a" rather than fail on a damaged data file
        return None
    found = tl.find_model(name)
    if found is None:
        return None
    figures = found[1].all("top1")
    if not figures:
        return None
    main = next((f for f in figures if f.metric in KERAS_TOP1_METRICS), figures[0])
    source = source_label(tl, main, lang)
    others = [f for f in figures if f is not main and f.value != main.value]
    if others:
        also = "; ".join(f"{source_label(tl, f, lang)}: {f.value:g}%" for f in others)
        source = translate("timeline.published.also", lang, source=source, others=also)
    return float(main.value), source


@dataclass(frozen=True)
class Reference:
    """A published figure to set next to one cnnviz computes: its value, the citation written
    out in full, and a remark on it ("" when there is none), all in one language."""

    value: float
    source: str
    note: str = ""


def reference_macs(zoo_model: str, lang: str = "en") -> Reference | None:
    """The published multiply-adds a registry model's computed count is compared with
    (the figure the data file marks as ``reference``), or None when there is none.

    >>> reference_macs("resnet50").value
    3800000000
    """
    try:
        tl = load()
    except TimelineDataError:  # no reference line rather than a failing page
        return None
    found = tl.find_model(zoo_model)
    fig = next((f for f in found[1].all("macs") if f.reference), None) if found else None
    if fig is None:
        return None
    note = translate(f"timeline.figure_note.{fig.note}", lang) if fig.note else ""
    return Reference(fig.value, translate(f"timeline.reference.{fig.reference}", lang), note)
