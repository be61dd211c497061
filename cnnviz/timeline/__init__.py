"""The architecture timeline: sourced data, validation, tables and Plotly figures.

All facts live in one data file, ``cnnviz/data/architectures.json``: years, papers,
numbers (parameters, MACs, ImageNet accuracy/error) and, for *every* number, the id
of its source and a metric code saying exactly what it measures (single crop or an
ensemble, validation or test set, Keras weights or the paper's own figure). Texts a
student reads (innovations, descriptions, what a metric means) live in the i18n
catalogs ``arch`` and ``timeline``.

The package, one module per job:

- :mod:`~cnnviz.timeline.model`: vocabulary (themes, quantities, metric codes), data
  classes and errors;
- :mod:`~cnnviz.timeline.parse`: :func:`load` and the validation of the data file;
- :mod:`~cnnviz.timeline.text`: formatted numbers and labels, table rows, per-model
  lookups (:func:`published_top1`, :func:`reference_macs`);
- :mod:`~cnnviz.timeline.charts`: the three Plotly figures and the points they draw.

It imports neither Streamlit nor TensorFlow. Plotly is imported by ``charts`` only, and
that module is loaded on first use of one of its names, so scripts, the CLI and pages that
only read the data (Home) never load it themselves.

>>> from cnnviz import timeline
>>> tl = timeline.load()
>>> tl.get("resnet").headline_variant.get("macs").value
3800000000
"""

from __future__ import annotations

import importlib
from typing import Any

from cnnviz.timeline.model import (
    DATASETS, EXTRA_DATA_METRICS, LOC_PATTERN, METRICS, PERCENT_QUANTITIES, QUANTITIES, SOURCE_KINDS, THEMES,
    Architecture, Competition, CourseNote, Figure, Source, Timeline, TimelineDataError, TimelineError,
    UnknownArchitectureError, Variant, preferred_top1,
)
from cnnviz.timeline.parse import DATA_FILE, SCHEMA, load, parse
from cnnviz.timeline.text import (
    KERAS_TOP1_METRICS, NBSP, Reference, card_rows, competition_label, format_figure, format_number, loc_label,
    metric_label, model_summary, note_text, other_benchmarks, published_top1, reference_macs, source_label,
    summary_rows,
)

# Names of cnnviz.timeline.charts, loaded with Plotly when first asked for (PEP 562).
_CHART_NAMES = frozenset({
    "THEME_COLORS", "OTHERS_DX", "BubblePoint", "bubble_points", "competition_points",
    "timeline_figure", "bubble_figure", "competition_figure",
})


def __getattr__(name: str) -> Any:
    if name in _CHART_NAMES:
        return getattr(importlib.import_module("cnnviz.timeline.charts"), name)  # heavy: Plotly
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_CHART_NAMES])


__all__ = [
    "DATASETS", "EXTRA_DATA_METRICS", "LOC_PATTERN", "METRICS", "PERCENT_QUANTITIES", "QUANTITIES", "SOURCE_KINDS",
    "THEMES", "Architecture", "Competition", "CourseNote", "Figure", "Source", "Timeline", "TimelineDataError",
    "TimelineError", "UnknownArchitectureError", "Variant", "preferred_top1",
    "DATA_FILE", "SCHEMA", "load", "parse",
    "KERAS_TOP1_METRICS", "NBSP", "Reference", "card_rows", "competition_label", "format_figure", "format_number",
    "loc_label", "metric_label", "model_summary", "note_text", "other_benchmarks", "published_top1",
    "reference_macs", "source_label", "summary_rows",
    *sorted(_CHART_NAMES),
]
