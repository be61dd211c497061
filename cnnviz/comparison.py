"""Comparing classifiers on one photo: the rows, the sentences and the top-5 bars a page shows.

Plain data and text in the language asked for, no Streamlit: the Classify page draws what this
module returns, a script or a test reads it directly. The facts come from their one home — the
published top-1 from :mod:`cnnviz.timeline`, the homework's acceptance criterion from
:mod:`cnnviz.homework.verdict`.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass

from cnnviz import timeline
from cnnviz.errors import UserFacingError
from cnnviz.homework import verdict
from cnnviz.i18n import translate


@dataclass
class Column:
    """One column of the comparison: the model, its weights mode, and its result or error."""

    name: str
    display_name: str
    family: str
    weights: str | None
    prediction: object | None = None  # cnnviz.infer.Prediction
    params: int | None = None
    size_mb: float | None = None
    load_ms: float | None = None
    device_label: str = ""
    engine_label: str = ""
    engine_note: str | None = None
    error: UserFacingError | None = None
    #: A pretrained model added next to the compared ones (its weights ship with the install) so
    #: that the page gives a real answer when the compared models run with random weights. It is
    #: left out of "fastest"/"most accurate" and of the homework criterion, which are about the four.
    reference: bool = False


def class_label(label: str, index: int, labels_available: bool, lang: str = "en") -> str:
    """A class as people read it: its name, or "class N" when no names are known."""
    return label if labels_available else translate("infer.class_n", lang, index=index)


#: The top-5 bar colours: ImageNet weights blue, random weights orange (the random badge's colour).
BAR_COLORS = {"imagenet": "#3B7DD8", "random": "#E8A33D"}


def top5_html(prediction, *, random_weights: bool, lang: str = "en") -> str:
    """The top-5 as plain HTML bars, most probable first: label, bar, percentage.

    Plain HTML rather than a chart: five bars need no chart library, the labels stay sharp
    on a projector, and a student's browser neither downloads Plotly's 4.7 MB bundle
    (1.4 MB compressed, over a lecture hall's Wi-Fi) nor lays out four plots per photo.
    One line of HTML, no blank lines: Markdown would end the block there.
    """
    color = BAR_COLORS["random" if random_weights else "imagenet"]
    rows = []
    for lbl, p, i in prediction.top5:
        label = html.escape(class_label(lbl, i, prediction.labels_available, lang))
        pct = max(0.0, min(100.0, p * 100))
        rows.append(
            f'<div role="listitem" style="display:grid;grid-template-columns:minmax(0,1fr) 3.6em;'
            f'column-gap:.5em;align-items:baseline;margin:.15em 0 .45em 0">'
            f'<span title="{label}" style="overflow:hidden;text-overflow:ellipsis;white-space:nowrap">{label}</span>'
            f'<span style="text-align:right;font-variant-numeric:tabular-nums">{pct:.1f}%</span>'
            f'<span style="grid-column:1 / span 2;height:.5em;border-radius:.25em;background:rgba(128,128,128,.18)">'
            f'<span style="display:block;height:100%;width:{pct:.2f}%;border-radius:.25em;background:{color}">'
            f'</span></span></div>')
    return (f'<div class="cnnviz-top5" role="list" aria-label="{html.escape(translate("classify.prob_axis", lang))}" '
            f'style="font-size:.9rem;margin:.25em 0 .5em 0">{"".join(rows)}</div>')


def _t(lang: str, key: str, **params) -> str:
    return translate(key, lang, **params)


def _done(columns: list[Column]) -> list[Column]:
    return [c for c in columns if c.prediction is not None]


def summary_lines(columns: list[Column], lang: str = "en") -> list[str]:
    """The comparison in sentences: confidence, agreement, fastest vs most accurate."""
    done = _done(columns)
    if not done:
        return []
    lines = []
    if any(c.weights is None for c in done):
        lines.append(_t(lang, "classify.summary.random_note"))
    for ref in (c for c in done if c.reference):
        q = ref.prediction
        lines.append(_t(lang, "classify.summary.reference", model=ref.display_name,
                        label=class_label(q.top1[0], q.top1[2], q.labels_available, lang), prob=f"{q.top1[1] * 100:.1f}"))
    best = max(done, key=lambda c: c.prediction.top1[1])
    p = best.prediction
    lines.append(_t(lang, "classify.summary.confident", model=best.display_name,
                   label=class_label(p.top1[0], p.top1[2], p.labels_available, lang), prob=f"{p.top1[1] * 100:.1f}"))

    # Agreement between distinct models (the same model in two columns trivially agrees).
    unique = list({c.name: c for c in done}.values())
    groups: dict[int, list[Column]] = {}
    for c in unique:
        groups.setdefault(c.prediction.top1[2], []).append(c)
    if len(unique) > 1 and len(groups) == 1:
        c0 = unique[0].prediction
        lines.append(_t(lang, "classify.summary.all_agree", label=class_label(c0.top1[0], c0.top1[2], c0.labels_available, lang)))
    elif len(unique) > 1:
        agreeing = [g for g in groups.values() if len(g) > 1]
        for g in agreeing:
            q = g[0].prediction
            lines.append(_t(lang, "classify.summary.agree", models=", ".join(c.display_name for c in g),
                           label=class_label(q.top1[0], q.top1[2], q.labels_available, lang)))
        if not agreeing:
            lines.append(_t(lang, "classify.summary.no_agreement"))

    done = [c for c in done if not c.reference]  # speed, accuracy and the criterion: the compared models
    if not done:
        return lines
    fastest = min(done, key=lambda c: c.prediction.inference_ms)
    lines.append(_t(lang, "classify.summary.fastest", model=fastest.display_name, ms=f"{fastest.prediction.inference_ms:.1f}",
                   device=fastest.engine_label or fastest.device_label))
    rated = [(c, timeline.published_top1(c.name, lang)) for c in done]
    rated = [(c, pub) for c, pub in rated if pub]
    accurate = None
    if rated:
        accurate, pub = max(rated, key=lambda cp: cp[1][0])
        lines.append(_t(lang, "classify.summary.accurate", model=accurate.display_name, top1=f"{pub[0]:.1f}",
                       source=pub[1]))

    # The homework's acceptance criterion (seed 000), checked against what this page measured.
    lines.append(_t(lang, "classify.summary.criterion"))
    speed_ok = verdict.wins_speed(fastest.name)
    lines.append(_t(lang, "classify.summary.speed_ok" if speed_ok else "classify.summary.speed_other",
                   model=fastest.display_name))
    if accurate is not None:
        acc_ok = verdict.wins_accuracy(accurate.name)
        lines.append(_t(lang, "classify.summary.accuracy_ok" if acc_ok else "classify.summary.accuracy_other",
                       model=accurate.display_name))
    return lines


def comparison_rows(columns: list[Column], lang: str = "en") -> list[dict]:
    """One row per column for the table and the CSV (headers in the page's language)."""
    rows = []
    for c in columns:
        pub = timeline.published_top1(c.name, lang)
        row = {
            _t(lang, "classify.csv.model"): c.display_name,
            _t(lang, "classify.csv.weights"): (_t(lang, "classify.csv.installed") if c.reference and c.weights
                                               else _t(lang, "classify.csv.imagenet") if c.weights
                                               else _t(lang, "classify.csv.random")),
        }
        p = c.prediction
        for k in range(5):
            if p is not None and k < len(p.top5):
                lbl, prob, idx = p.top5[k]
                row[_t(lang, "classify.csv.class_k", k=k + 1)] = class_label(lbl, idx, p.labels_available, lang)
                row[_t(lang, "classify.csv.prob_k", k=k + 1)] = round(prob * 100, 2)
            else:
                row[_t(lang, "classify.csv.class_k", k=k + 1)] = None
                row[_t(lang, "classify.csv.prob_k", k=k + 1)] = None
        row[_t(lang, "classify.csv.latency")] = round(p.inference_ms, 2) if p else None
        row[_t(lang, "classify.csv.runs")] = p.runs if p else None
        row[_t(lang, "classify.csv.preprocess")] = round(p.preprocess_ms, 2) if p else None
        row[_t(lang, "classify.csv.first_call")] = round(p.first_call_ms, 1) if p else None
        row[_t(lang, "classify.csv.device")] = c.device_label if p else None
        row[_t(lang, "classify.csv.engine")] = c.engine_label if p else None
        row[_t(lang, "classify.csv.params")] = c.params
        row[_t(lang, "classify.csv.size")] = round(c.size_mb, 1) if c.size_mb is not None else None
        row[_t(lang, "classify.csv.published")] = pub[0] if pub else None
        row[_t(lang, "classify.csv.source")] = pub[1] if pub else None
        row[_t(lang, "classify.csv.error")] = c.error.message(lang) if c.error else None
        rows.append(row)
    return rows


def comparison_csv(columns: list[Column], lang: str = "en") -> bytes:
    return rows_csv(comparison_rows(columns, lang))


def rows_csv(rows: list[dict]) -> bytes:
    """:func:`comparison_rows` as CSV."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")  # BOM: Excel opens accents correctly


__all__ = ["BAR_COLORS", "Column", "class_label", "comparison_csv", "comparison_rows", "rows_csv",
           "summary_lines", "top5_html"]
