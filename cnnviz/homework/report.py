"""The report a student hands in: one self-contained HTML file (charts as inline SVG) and a CSV.

Works from the result's plain data (``HomeworkResult.to_dict()``, also what a run keeps in
``result.json``), so a report can be rebuilt from disk in any UI language. No TensorFlow.
"""

from __future__ import annotations

import csv
import html
import io
import time
from pathlib import Path

from cnnviz import fileio
from cnnviz.homework import verdict as verdict_mod
from cnnviz.i18n import translate

COLUMNS = ("model", "fe_val_accuracy", "fe_accuracy", "ft_val_accuracy", "ft_accuracy", "params", "trainable_params_fe", "trainable_params_ft",
           "inference_ms", "train_seconds")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _d(result) -> dict:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def table_rows(result) -> list[dict]:
    data = _d(result)
    return [{"model": name, **{k: m.get(k) for k in COLUMNS[1:]}} for name, m in data.get("models", {}).items()]


def table_csv(result) -> str:
    """The results table as CSV (one row per model, the homework's columns, plus phase times)."""
    data = _d(result)
    buf = io.StringIO()
    extra = ("fe_features_s", "fe_train_s", "ft_cache_s", "ft_train_s", "inference_s")
    writer = csv.writer(buf)
    settings = data.get("settings", {})
    writer.writerow([*COLUMNS, *extra, "device", "random_weights", "unfreeze", "augment", "train_examples"])
    for name, m in data.get("models", {}).items():
        times = m.get("times", {})
        writer.writerow([name, *(m.get(k) for k in COLUMNS[1:]), *(times.get(k) for k in extra),
                         m.get("device", data.get("device")), data.get("random_weights"),
                         settings.get("unfreeze"), settings.get("augment") or "", m.get("train_examples")])
    return buf.getvalue()


# --------------------------------------------------------------------------- SVG charts

def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def bar_chart(values: dict[str, list[float | None]], series: list[str], *, unit: str = "", maximum: float | None = None,
              width: int = 520, title: str = "") -> str:
    """Grouped horizontal bars: one group per key, one bar per series."""
    rows = list(values)
    bar_h, gap = 14, 10
    group_h = bar_h * len(series) + gap
    left, right = 150, 70
    height = 30 + group_h * len(rows) + 20
    top = max((v for vs in values.values() for v in vs if v is not None), default=1.0)
    maximum = maximum or top or 1.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{_esc(title)}"><text x="4" y="16" font-size="13" font-weight="bold">{_esc(title)}</text>']
    for r, key in enumerate(rows):
        y0 = 30 + r * group_h
        out.append(f'<text x="4" y="{y0 + bar_h}" font-size="12">{_esc(key)}</text>')
        for s, v in enumerate(values[key]):
            y = y0 + s * bar_h
            if v is None:
                out.append(f'<text x="{left}" y="{y + 11}" font-size="11" fill="#888">—</text>')
                continue
            w = max(1.0, (width - left - right) * v / maximum)
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{PALETTE[s % 8]}"/>'
                       f'<text x="{left + w + 4:.1f}" y="{y + 11}" font-size="11">{v:.3g}{_esc(unit)}</text>')
    lx = left
    for s, label in enumerate(series):
        out.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{PALETTE[s % 8]}"/>'
                   f'<text x="{lx + 14}" y="{height - 5}" font-size="11">{_esc(label)}</text>')
        lx += 14 + 8 * len(label) + 16
    out.append("</svg>")
    return "".join(out)


def line_chart(curves: dict[str, list[float]], *, title: str = "", width: int = 360, height: int = 200,
               y_range: tuple[float, float] | None = (0.0, 1.0), marker: int | None = None) -> str:
    """Lines over epochs (1..n); ``marker``: a vertical line after that many epochs (phase change)."""
    pts = [v for vs in curves.values() for v in vs if v == v]
    if not pts:
        return ""
    n = max(len(v) for v in curves.values())
    lo, hi = y_range if y_range else (min(pts), max(pts))
    if hi <= lo:
        hi = lo + 1.0
    left, bottom, top_m, right = 36, 24, 22, 10
    pw, ph = width - left - right, height - top_m - bottom

    def xy(i, v):
        x = left + (pw * i / max(1, n - 1))
        y = top_m + ph * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))
        return f"{x:.1f},{y:.1f}"

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{_esc(title)}"><text x="4" y="14" font-size="12" font-weight="bold">{_esc(title)}</text>',
           f'<rect x="{left}" y="{top_m}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>',
           f'<text x="2" y="{top_m + 8}" font-size="10">{hi:.2g}</text>'
           f'<text x="2" y="{top_m + ph}" font-size="10">{lo:.2g}</text>'
           f'<text x="{left}" y="{height - 6}" font-size="10">1</text>'
           f'<text x="{left + pw - 10}" y="{height - 6}" font-size="10">{n}</text>']
    if marker is not None and 0 < marker < n:
        x = left + pw * (marker - 0.5) / max(1, n - 1)
        out.append(f'<line x1="{x:.1f}" y1="{top_m}" x2="{x:.1f}" y2="{top_m + ph}" stroke="#999" '
                   f'stroke-dasharray="4 3"/>')
    lx = left + 4
    for s, (label, vs) in enumerate(curves.items()):
        color = PALETTE[s % 8]
        good = [(i, v) for i, v in enumerate(vs) if v == v]
        if len(good) == 1:
            (i, v), = good
            x, y = xy(i, v).split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>')
        elif good:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                       f'points="{" ".join(xy(i, v) for i, v in good)}"/>')
        out.append(f'<text x="{lx}" y="{top_m + 12}" font-size="10" fill="{color}">{_esc(label)}</text>')
        lx += 7 * len(label) + 12
    out.append("</svg>")
    return "".join(out)


def confusion_html(matrix: list[list[int]], classes: list[str], t) -> str:
    peak = max((max(r) for r in matrix if r), default=1) or 1
    head = "".join(f"<th>{_esc(c)}</th>" for c in classes)
    rows = []
    for i, row in enumerate(matrix):
        cells = []
        for j, v in enumerate(row):
            a = v / peak
            color = f"rgba(31,119,180,{a:.2f})" if i == j else f"rgba(214,39,40,{a:.2f})"
            cells.append(f'<td style="background:{color}">{v}</td>')
        rows.append(f"<tr><th>{_esc(classes[i])}</th>{''.join(cells)}</tr>")
    return (f'<table class="cm"><caption>{_esc(t("homework.report.cm_caption"))}</caption>'
            f"<tr><th></th>{head}</tr>{''.join(rows)}</table>")


# --------------------------------------------------------------------------- HTML

def _pct(v) -> str:
    return "—" if v is None or v != v else f"{100 * v:.1f}%"


def _num(v, fmt="{:,}") -> str:
    return "—" if v is None else fmt.format(v)


def config_lines(settings: dict, lang: str = "en") -> list[str]:
    """The two training choices in words: what fine-tuning unfreezes, and the augmentation."""
    unfreeze = str(settings.get("unfreeze") or "block")
    if settings.get("ft_epochs") == 0:
        lines = [translate("homework.report.unfreeze_skipped", lang)]
    else:
        lines = [translate(f"homework.report.unfreeze_{unfreeze}", lang) if unfreeze in ("block", "stage")
                 else translate("homework.report.unfreeze_n", lang, n=unfreeze)]
    views = [v for v in str(settings.get("augment") or "").split(",") if v]
    if views:
        lines.append(translate("homework.report.augment_on", lang, factor=1 + len(views),
                               views=", ".join(translate(f"homework.augment.{v}", lang) for v in views)))
    else:
        lines.append(translate("homework.report.augment_off", lang))
    if settings.get("mixed_precision"):
        lines.append(translate("homework.report.mixed", lang))
    return lines


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
         "th{background:#f3f3f3}.row{display:flex;flex-wrap:wrap;gap:16px}.warn{background:#fff3cd;padding:8px;"
         "border-left:4px solid #e0a800}.verdict.met{color:#1b7f2a}.verdict.not_met{color:#b00020}"
         ".meta{color:#666}table.cm td{min-width:2em;text-align:center}caption{font-size:11px;color:#666}")
"""The report's one stylesheet (inline: the page loads nothing from outside)."""

TIME_PHASES = ("build_s", "fe_features_s", "fe_train_s", "ft_cache_s", "ft_train_s", "inference_s", "save_s")


def render_html(result, lang: str = "en") -> str:
    """The whole report as one HTML page in ``lang`` (nothing loaded from outside)."""
    data = _d(result)

    def t(key, **kw):
        return translate(key, lang, **kw)

    models = data.get("models", {})
    names = {n: m.get("display_name", verdict_mod.display(n)) for n, m in models.items()}
    parts = [*_header_html(data, t), *_verdict_html(data.get("verdict") or {}, t, lang),
             *_results_html(models, names, t), *_curves_html(models, names, t),
             *_confusion_html(models, names, data.get("class_names", []), t), *_times_html(data, names, t),
             *_dataset_html(data, t, lang), *_config_html(data, names, t, lang)]
    title = _esc(t("homework.report.title"))
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def _header_html(data: dict, t) -> list[str]:
    """Title, when and where it ran, and the banners of a random-weights or stopped run."""
    parts = [f"<h1>{_esc(t('homework.report.title'))}</h1>",
             f"<p class='meta'>{_esc(t('homework.report.generated', when=time.strftime('%Y-%m-%d %H:%M'), device=data.get('device', 'CPU')))}</p>"]
    if data.get("random_weights"):
        parts.append(f"<p class='warn'>{_esc(t('homework.random.banner'))}</p>")
    if data.get("stopped"):
        parts.append(f"<p class='warn'>{_esc(t('homework.report.stopped'))}</p>")
    return parts


def _verdict_html(v: dict, t, lang: str) -> list[str]:
    """The verdict, its reasons and caveats."""
    status = v.get("status", "incomplete")
    parts = [f"<h2>{_esc(t('homework.report.verdict'))}</h2>",
             f"<p class='verdict {status}'><b>{_esc(t(f'homework.verdict.status_{status}'))}</b></p><ul>"]
    parts += [f"<li>{_esc(t(r['key'], **r['params']))}</li>" for r in v.get("reasons", [])]
    parts.append("</ul>")
    if v.get("caveats"):
        parts.append(f"<p><b>{_esc(t('homework.report.caveats'))}</b></p><ul>")
        parts += [f"<li>{_esc(c)}</li>" for c in verdict_mod.caveats(v, lang)]
        parts.append("</ul>")
    return parts


def _results_html(models: dict, names: dict, t) -> list[str]:
    """The results table and the accuracy and speed bar charts."""
    parts = [f"<h2>{_esc(t('homework.report.table'))}</h2><table class='results'><tr>"]
    parts += [f"<th>{_esc(t('homework.col.' + c))}</th>" for c in COLUMNS]
    parts.append("</tr>")
    for n, m in models.items():
        parts.append(f"<tr><td>{_esc(names[n])}</td><td>{_pct(m.get('fe_val_accuracy'))}</td><td>{_pct(m.get('fe_accuracy'))}</td>"
                     f"<td>{_pct(m.get('ft_val_accuracy'))}</td><td>{_pct(m.get('ft_accuracy'))}</td>"
                     f"<td>{_num(m.get('params'))}</td><td>{_num(m.get('trainable_params_fe'))}</td>"
                     f"<td>{_num(m.get('trainable_params_ft'))}</td><td>{_num(m.get('inference_ms'), '{:.1f}')}</td>"
                     f"<td>{_num(m.get('train_seconds'), '{:.1f}')}</td></tr>")
    parts.append("</table>")
    acc = {names[n]: [m.get("fe_accuracy"), m.get("ft_accuracy")] for n, m in models.items()}
    speed = {names[n]: [m.get("inference_ms")] for n, m in models.items()}
    parts.append("<div class='row'>" + bar_chart(acc, [t("homework.col.fe_accuracy"), t("homework.col.ft_accuracy")],
                                                 maximum=1.0, title=t("homework.report.chart_accuracy")))
    parts.append(bar_chart(speed, [t("homework.col.inference_ms")], unit=" ms",
                           title=t("homework.report.chart_speed")) + "</div>")
    return parts


def _curves_html(models: dict, names: dict, t) -> list[str]:
    """One accuracy curve per model, both phases end to end (a marker where fine-tuning starts)."""
    parts = [f"<h2>{_esc(t('homework.report.curves'))}</h2><p>{_esc(t('homework.report.curves_note'))}</p><div class='row'>"]
    for n, m in models.items():
        fe, ft = m.get("fe_history") or {}, m.get("ft_history") or {}
        curves = {t("homework.report.train"): fe.get("accuracy", []) + ft.get("accuracy", []),
                  t("homework.report.val"): fe.get("val_accuracy", []) + ft.get("val_accuracy", [])}
        parts.append(line_chart(curves, title=names[n], marker=len(fe.get("accuracy", [])) if ft else None))
    parts.append("</div>")
    return parts


def _confusion_html(models: dict, names: dict, classes: list, t) -> list[str]:
    """The test-set confusion matrix of each model."""
    parts = [f"<h2>{_esc(t('homework.report.confusion'))}</h2><div class='row'>"]
    for n, m in models.items():
        if m.get("confusion"):
            parts.append(f"<div><h3>{_esc(names[n])}</h3>{confusion_html(m['confusion'], classes, t)}</div>")
    parts.append("</div>")
    return parts


def _times_html(data: dict, names: dict, t) -> list[str]:
    """Seconds per phase and model, and the run's total."""
    parts = [f"<h2>{_esc(t('homework.report.times'))}</h2><table class='results'><tr><th></th>"]
    parts += [f"<th>{_esc(t('homework.time.' + p))}</th>" for p in TIME_PHASES]
    parts.append("</tr>")
    for n, m in data.get("models", {}).items():
        tm = m.get("times", {})
        parts.append(f"<tr><td>{_esc(names[n])}</td>" + "".join(f"<td>{_num(tm.get(p), '{:.1f}')}</td>" for p in TIME_PHASES)
                     + "</tr>")
    total = f"{data.get('seconds', 0):.0f}"
    parts.append(f"</table><p>{_esc(t('homework.report.total', seconds=total))}</p>")
    return parts


def _dataset_html(data: dict, t, lang: str) -> list[str]:
    """The dataset: its split, images per class, and the refused files."""
    ds = data.get("dataset", {})
    classes = data.get("class_names", [])
    parts = [f"<h2>{_esc(t('homework.report.dataset'))}</h2>"]
    if ds.get("demo") and ds.get("description"):
        parts.append(f"<p class='warn'>{_esc(t(ds['description']))}</p>")
    split = data.get("split", {})
    parts.append(f"<p>{_esc(t('homework.report.dataset_line', name=ds.get('name', '?'), classes=len(classes), images=ds.get('images', 0), refused=len(ds.get('refused', [])), train=len(split.get('train', [])), val=len(split.get('val', [])), test=len(split.get('test', []))))}</p>")
    counts = ds.get("counts", {})
    parts.append("<table class='results'><tr>" + "".join(f"<th>{_esc(c)}</th>" for c in counts) + "</tr><tr>"
                 + "".join(f"<td>{n}</td>" for n in counts.values()) + "</tr></table>")
    if ds.get("refused"):
        parts.append(f"<details><summary>{_esc(t('homework.report.refused', count=len(ds['refused'])))}</summary><ul>")
        parts += [f"<li><code>{_esc(r['path'])}</code>: {_esc(translate(r['key'], lang, **r['params']))}</li>"
                  for r in ds["refused"]]
        parts.append("</ul></details>")
    return parts


def _config_html(data: dict, names: dict, t, lang: str) -> list[str]:
    """The settings of the run and, per model, what fine-tuning unfroze."""
    settings = data.get("settings", {})
    parts = [f"<h2>{_esc(t('homework.report.config'))}</h2><p>{_esc(t('homework.report.config_text', **{k: settings.get(k) for k in ('fe_epochs', 'ft_epochs', 'seed', 'batch_size', 'fe_learning_rate', 'ft_learning_rate', 'dropout', 'inference_runs')}))}</p><ul>"]
    parts += [f"<li>{_esc(line)}</li>" for line in config_lines(settings, lang)]
    if data.get("random_weights"):
        parts.append(f"<li class='warn'>{_esc(t('homework.random.banner'))}</li>")
    for n, m in data.get("models", {}).items():
        u = m.get("unfreeze") or {}
        if u:
            parts.append(f"<li>{_esc(t('homework.report.unfrozen', model=names[n], first=u.get('first_unfrozen'), count=len(u.get('layers', [])), after=u.get('cut_after')))}</li>")
    parts.append("</ul>")
    return parts


def write_files(result, folder: Path) -> dict[str, str]:
    """report.csv, report.en.html, report.es.html and reproduce.py into ``folder`` (atomically)."""
    from cnnviz.homework.script import reproduce_script

    folder = Path(folder)
    files = {"csv": folder / "report.csv", "html_en": folder / "report.en.html",
             "html_es": folder / "report.es.html", "script": folder / "reproduce.py"}
    texts = {"csv": table_csv(result), "html_en": render_html(result, "en"), "html_es": render_html(result, "es"),
             "script": reproduce_script(result)}
    for key, path in files.items():
        fileio.write_text(path, texts[key])
    return {k: str(v) for k, v in files.items()}
