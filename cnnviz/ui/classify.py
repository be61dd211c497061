"""The Classify page's building blocks: model pickers, loading progress, result columns,
the comparison summary and its CSV export.

Model logic lives in :mod:`cnnviz.infer`; this module only draws. Predictions are cached
by (image content, model, weights, device, runs), so a rerun that changes neither the image
nor the models (a language switch, a click elsewhere) shows the same results instantly
instead of running inference again. TensorFlow is imported only when a predictor is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import streamlit as st

from cnnviz import HOMEWORK_MODELS, infer, timeline, zoo
from cnnviz.comparison import Column, class_label, comparison_rows, rows_csv, summary_lines, top5_html
from cnnviz.errors import UserFacingError
from cnnviz.images import image_digest
from cnnviz.ui import current_lang, error_message, gradcam, page_link, t
from cnnviz.ui.models import classify_image, convert_first, display_name, get_predictor, predictor_loaded
from cnnviz.ui.weights import installed_ready

COLUMNS = len(HOMEWORK_MODELS)


# --------------------------------------------------------------------------- pickers

def pretrained_models() -> list[str]:
    """Zoo models with ImageNet weights (any of them can replace a homework model)."""
    return [n for n in zoo.list_models() if zoo.get_spec(n).has_imagenet_weights]


def model_pickers(key: str = "classify") -> list[str]:
    """One selectbox per column, defaulting to the homework four. Returns the chosen names."""
    options = pretrained_models()
    chosen = []
    for i, col in enumerate(st.columns(COLUMNS)):
        default = HOMEWORK_MODELS[i] if HOMEWORK_MODELS[i] in options else options[i % len(options)]
        with col:
            chosen.append(st.selectbox(
                t("classify.model_n", n=i + 1), options, index=options.index(default), key=f"{key}_model_{i}",
                format_func=display_name,
            ))
    return chosen


def reference_models(names: Sequence[str], modes: dict[str, str | None]) -> list[str]:
    """The trained reference shown under the four columns: a model whose ImageNet weights ship
    with the install (EfficientNet-Lite0), when a column runs with random weights and the
    reference is not already one of the columns. Its weights mode is "imagenet"."""
    if all(modes.get(n) is not None for n in names):
        return []
    return [n for n in installed_ready()[:1] if n not in names]


# --------------------------------------------------------------------------- loading + inference

def load_predictors(names: Sequence[str], modes: dict[str, str | None], *, force_cpu: bool) -> dict:
    """Build (or fetch from the cache) every predictor, with progress while models load.

    Returns:
        ``{name: Predictor | UserFacingError}``: one failing model (a corrupt weights
        file...) does not take the other columns down.
    """
    unique = list(dict.fromkeys(names))
    cold = [n for n in unique if not predictor_loaded(n, modes[n], force_cpu=force_cpu)]
    out: dict = {}
    if not cold:
        for n in unique:
            out[n] = _load_one(n, modes[n], force_cpu)
        return out
    with st.status(t("classify.loading", n=len(cold)), expanded=True) as status:
        bar = st.progress(0.0)
        for i, n in enumerate(cold):
            bar.progress(i / len(cold), text=t("classify.loading_model", model=display_name(n),
                                               i=i + 1, n=len(cold)))
            out[n] = _load_one(n, modes[n], force_cpu, progress=_conversion_progress(bar, n, i, len(cold)))
        bar.progress(1.0, text=t("classify.loaded"))
        failed = [n for n in cold if isinstance(out[n], Exception)]
        status.update(label=t("classify.loaded") if not failed else t("classify.load_failed", n=len(failed)),
                      state="error" if failed else "complete", expanded=False)
    for n in unique:
        if n not in out:
            out[n] = _load_one(n, modes[n], force_cpu)
    return out


def _conversion_progress(bar, name: str, i: int, n: int):
    """A first LiteRT conversion's stages, shown in the loading bar (called from this script's thread)."""
    def report(stage: str, fraction: float) -> None:
        key = f"infer.engine.stage.{stage}"
        text = t(key, model=display_name(name)) if stage in ("start", "import", "build", "convert", "write",
                                                             "done") else t("classify.loading_model",
                                                                            model=display_name(name), i=i + 1, n=n)
        bar.progress(min(1.0, (i + fraction) / n), text=text)

    return report


def _load_one(name: str, weights: str | None, force_cpu: bool, engine: str = "auto", progress=None):
    try:
        if progress is not None and not predictor_loaded(name, weights, force_cpu=force_cpu, engine=engine):
            convert_first(name, weights, force_cpu=force_cpu, engine=engine, progress=progress)
        return get_predictor(name, weights, force_cpu=force_cpu, engine=engine)
    except UserFacingError as exc:
        return exc


def classify(image, names: Sequence[str], modes: dict[str, str | None], predictors: dict, *, runs: int,
             force_cpu: bool, reference: Sequence[str] = ()) -> list[Column]:
    """Every column's prediction for ``image`` (cached by content); ``reference`` models last."""
    digest = image_digest(image)
    columns = []
    for n in [*names, *reference]:
        spec = zoo.get_spec(n)
        col = Column(n, spec.display_name, spec.family, modes[n], reference=n in reference and n not in names)
        pred = predictors[n]
        if isinstance(pred, Exception):
            col.error = pred
        else:
            col.params, col.size_mb, col.load_ms = pred.params, pred.size_mb, pred.load_ms
            col.device_label = pred.device.label(current_lang())
            col.engine_label = pred.engine.label(current_lang())
            col.engine_note = pred.engine.reason(current_lang())
            try:
                col.prediction = classify_image(pred, image, runs=runs, digest=digest)  # fair queue, place shown
            except UserFacingError as exc:
                col.error = exc
        columns.append(col)
    return columns


# --------------------------------------------------------------------------- drawing

def show_model_views(image, predictors: dict, names: Sequence[str]) -> None:
    """The image as each model sees it, after its resize and center crop."""
    sizes = {p.input_size for p in predictors.values() if not isinstance(p, Exception)}
    st.subheader(t("classify.views_title"))
    for size in sorted(sizes):
        st.caption(infer.resize_policy(size, current_lang()))
    for n, col in zip(names, st.columns(COLUMNS)):
        pred = predictors.get(n)
        if pred is None or isinstance(pred, Exception):
            continue
        h, w = pred.input_size
        with col:
            st.image(pred.model_view(image), caption=t("classify.view_caption", model=pred.display_name, h=h, w=w),
                     width="stretch")


def show_column(col: Column) -> None:
    """One model's result: header, weights badge, top-5 bars, latency, engine and size."""
    st.subheader(col.display_name, anchor=False)  # no link icon: long names would wrap
    if col.error is not None:
        st.markdown(_weights_badge(col))
        st.error(error_message(col.error))
        return
    p = col.prediction
    # Badge, top-5 bars and the top-1 line in ONE element, the notes in one caption: the
    # browser re-renders every element on each update, and a lecture hall's laptops (or a
    # load test's browsers on the server's own cores) pay for each one.
    top_label = class_label(p.top1[0], p.top1[2], p.labels_available, current_lang())
    st.markdown("\n\n".join([_weights_badge(col), top5_html(p, random_weights=col.weights is None, lang=current_lang()),
                              t("classify.top1", label=top_label, prob=f"{p.top1[1] * 100:.1f}")]),
                unsafe_allow_html=True)
    st.metric(t("classify.latency"), t("classify.ms", ms=f"{p.inference_ms:.1f}"),
              help=t("classify.latency_help", runs=p.runs))
    # The engine right under its number: a LiteRT time and a TensorFlow time are not the same claim.
    notes = [t("classify.engine_line", engine=col.engine_label)]
    if col.engine_note:
        notes.append(f":material/info: {col.engine_note}")
    notes.append(t("classify.latency_detail", device=col.device_label, runs=p.runs, pre=f"{p.preprocess_ms:.1f}",
                   first=f"{p.first_call_ms:.0f}"))
    notes.append(t("classify.size_line", params=f"{col.params / 1e6:.1f}", mb=f"{col.size_mb:.1f}"))
    pub = timeline.published_top1(col.name, current_lang())
    notes.append(t("classify.published", top1=f"{pub[0]:.1f}", source=pub[1]) if pub else t("classify.published_na"))
    st.caption("\n\n".join(notes))


def _weights_badge(col: Column) -> str:
    """Markdown: the random-weights warning (a background highlight: badges cut long text in
    narrow columns) or the ImageNet badge."""
    if col.weights is None:
        return f":orange-background[:material/casino: {t('classify.random_badge')}]"
    if col.reference:
        return f":green-badge[:material/inventory_2: {t('classify.installed_badge')}]"
    return f":blue-badge[:material/verified: {t('classify.imagenet_badge')}]"


def show_columns(columns: list[Column]) -> None:
    compared = [c for c in columns if not c.reference]
    for col, box in zip(compared, st.columns(COLUMNS)):
        with box:
            show_column(col)
    show_reference([c for c in columns if c.reference])


def show_reference(columns: list[Column]) -> None:
    """The trained reference under the four columns: one column wide (the same reading as the
    others), its explanation beside it, so the four-column row stays as it was."""
    for col in columns:
        with st.container(border=True):
            st.markdown(f"**{t('classify.reference_title')}**")
            left, right = st.columns([1, COLUMNS - 1])
            with left:
                show_column(col)
            with right:
                st.caption(t("classify.reference_help", model=col.display_name))


def show_summary(columns: list[Column], image_name: str) -> None:
    import pandas as pd  # heavy: pandas (~1.5 s), only once results are shown

    st.subheader(t("classify.summary.title"))
    st.markdown("\n".join(f"- {line}" for line in summary_lines(columns, current_lang())))
    # The table on the page: the columns a student compares (a static table: no data-grid
    # bundle for every laptop in the room); the CSV below has every figure.
    keys = [t("classify.csv.model"), t("classify.csv.weights"), t("classify.csv.class_k", k=1),
            t("classify.csv.prob_k", k=1), t("classify.csv.latency"), t("classify.csv.engine"),
            t("classify.csv.params"), t("classify.csv.published")]
    rows = comparison_rows(columns, current_lang())
    params = keys[6]
    # 25557032 → "25.6 M": one type per column, readable at a glance
    shown = [{k: (f"{row[k] / 1e6:.1f} M" if k == params and row[k] is not None else row[k]) for k in keys}
             for row in rows]
    st.table(pd.DataFrame(shown).set_index(keys[0]).style.format(precision=1, na_rep="—"))
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (image_name or "image"))[:60]
    st.download_button(t("classify.csv.download"), rows_csv(rows), file_name=f"cnnviz-{stem}.csv",
                       mime="text/csv", icon=":material/download:", key="classify_csv")


# --------------------------------------------------------------------------- the whole comparison

def render(image, image_name: str, names: Sequence[str], modes: dict[str, str | None], *, runs: int,
           force_cpu: bool, reference: Sequence[str] | None = None) -> list[Column]:
    """Load the models, then show what each sees, their answers, and the comparison.

    ``reference``: models shown under the four columns (default :func:`reference_models`: the
    installed pretrained model when a column has random weights)."""
    reference = reference_models(names, modes) if reference is None else list(reference)
    modes = {**modes, **{n: "imagenet" for n in reference}}
    predictors = load_predictors([*names, *reference], modes, force_cpu=force_cpu)
    show_model_views(image, predictors, names)
    columns = classify(image, names, modes, predictors, runs=runs, force_cpu=force_cpu, reference=reference)
    st.subheader(t("classify.results_title"))
    show_columns(columns)
    show_summary(columns, image_name)
    return columns


def gradcam_section(image, columns: list[Column]) -> None:
    """"Where does each model look?": the Filters page's Grad-CAM widget, behind a switch.

    Off by default: four gradient computations per new photo would delay everyone's
    results on a shared CPU server, and the answers come first. The teacher turns it on.
    """
    done = [c for c in columns if c.prediction is not None]
    if not done:
        st.caption(t("classify.gradcam_elsewhere"))
        page_link("visualize")
        return
    if not st.toggle(t("classify.gradcam_toggle"), key="classify_gradcam_on", help=t("classify.gradcam_help")):
        return
    try:
        gradcam.gradcam_section(image, [(c.name, c.weights, c.prediction.top1[2]) for c in done], key="classify_gradcam")
    except UserFacingError as exc:
        st.error(error_message(exc))


# --------------------------------------------------------------------------- compare engines

@dataclass
class EngineRow:
    """One model through both engines: their answers, timings and how far apart they are."""

    name: str
    display_name: str
    tf: object | None = None  # cnnviz.infer.Prediction
    lite: object | None = None
    error: UserFacingError | None = None
    int8: object | None = None  # the full-integer int8 LiteRT answer, when asked for
    sizes: dict | None = None  # {"litert": bytes, "litert-int8": bytes} of the converted files
    int8_check: dict | None = None  # its agreement with fp32 on the evaluation photos

    @property
    def int8_same_top1(self) -> bool:
        return self.int8.top1[2] == self.lite.top1[2]

    @property
    def same_top5(self) -> bool:
        return [i for _, _, i in self.tf.top5] == [i for _, _, i in self.lite.top5]

    @property
    def max_diff(self) -> float:
        import numpy as np

        return float(np.max(np.abs(self.tf.probs.astype("float64") - self.lite.probs)))


def compare_engines(image, names: Sequence[str], modes: dict[str, str | None], *, runs: int,
                    force_cpu: bool = False, int8: bool = False) -> list[EngineRow]:
    """The same photo through TensorFlow and LiteRT (and LiteRT int8 when ``int8``), per model (a first
    LiteRT load converts, once)."""
    rows = []
    unique = list(dict.fromkeys(names))
    with st.status(t("classify.engines.running"), expanded=False) as status:
        bar = st.progress(0.0)
        for i, n in enumerate(unique):
            row = EngineRow(n, display_name(n))
            bar.progress(i / len(unique), text=t("classify.loading_model", model=display_name(n), i=i + 1,
                                                  n=len(unique)))
            tf_pred = _load_one(n, modes[n], force_cpu, "tf")
            lite_pred = _load_one(n, modes[n], force_cpu, "litert", _conversion_progress(bar, n, i, len(unique)))
            int8_pred = (_load_one(n, modes[n], force_cpu, "litert-int8", _conversion_progress(bar, n, i, len(unique)))
                         if int8 else None)
            failed = next((p for p in (tf_pred, lite_pred, int8_pred) if isinstance(p, Exception)), None)
            if failed is not None:
                row.error = failed
            else:
                try:
                    row.tf = tf_pred.predict(image, runs=runs)
                    row.lite = lite_pred.predict(image, runs=runs)
                    if int8_pred is not None:
                        row.int8 = int8_pred.predict(image, runs=runs)
                        row.sizes = {"litert": lite_pred.model_bytes, "litert-int8": int8_pred.model_bytes}
                        row.int8_check = (int8_pred.engine.check or {}).get("agreement")
                except UserFacingError as exc:
                    row.error = exc
            rows.append(row)
        bar.progress(1.0, text=t("classify.loaded"))
        status.update(label=t("classify.engines.done"), state="complete")
    return rows


def engine_rows_table(rows: list[EngineRow]) -> list[dict]:
    out = []
    for r in rows:
        row = {t("classify.csv.model"): r.display_name}
        if r.error is not None or r.tf is None:
            row[t("classify.engines.col.error")] = error_message(r.error) if r.error else None
            out.append(row)
            continue
        lang = current_lang()
        row.update({
            t("classify.engines.col.tf", engine=_engine_name(r.tf, lang)): round(r.tf.inference_ms, 1),
            t("classify.engines.col.lite", engine=_engine_name(r.lite, lang)): round(r.lite.inference_ms, 1),
            t("classify.engines.col.speedup"): round(r.tf.inference_ms / max(r.lite.inference_ms, 1e-6), 1),
            t("classify.engines.col.top1"): class_label(r.lite.top1[0], r.lite.top1[2], r.lite.labels_available, current_lang()),
            t("classify.engines.col.same"): t("classify.engines.yes") if r.same_top5 else t("classify.engines.no"),
            t("classify.engines.col.diff"): f"{r.max_diff:.1e}",
        })
        if r.int8 is not None:
            row.update(_int8_cells(r, lang))
        out.append(row)
    return out


def _int8_cells(r: EngineRow, lang: str) -> dict:
    """The int8 columns: its time, its speed-up over fp32 LiteRT, its answer, the sizes, its agreement."""
    mb = lambda b: f"{b / 1e6:.1f}" if b else "?"  # noqa: E731
    a = r.int8_check or {}
    return {
        t("classify.engines.col.int8", engine=_engine_name(r.int8, lang)): round(r.int8.inference_ms, 1),
        t("classify.engines.col.int8_speedup"): round(r.lite.inference_ms / max(r.int8.inference_ms, 1e-6), 1),
        t("classify.engines.col.int8_top1"): class_label(r.int8.top1[0], r.int8.top1[2], r.int8.labels_available, lang),
        t("classify.engines.col.int8_same"): t("classify.engines.yes") if r.int8_same_top1 else t("classify.engines.no"),
        t("classify.engines.col.sizes"): f"{mb((r.sizes or {}).get('litert'))} → {mb((r.sizes or {}).get('litert-int8'))}",
        t("classify.engines.col.int8_photos"): (t("classify.engines.int8_agreement", same=a["top1_same"], n=a["n"],
                                                   top3=a["in_top3"]) if a.get("n") else "—"),
    }


def _engine_name(prediction, lang: str) -> str:
    return infer.engine_label(prediction.engine, prediction.device_kind, lang)


def engines_section(image, names: Sequence[str], modes: dict[str, str | None], *, runs: int,
                    force_cpu: bool = False) -> list[EngineRow]:
    """"Same weights, two engines": a lesson on deployment, behind a switch (it loads twice the models)."""
    import pandas as pd  # heavy: pandas, only when the table is shown

    st.subheader(t("classify.engines.title"))
    st.markdown(t("classify.engines.lesson"))
    int8 = st.toggle(t("classify.engines.int8_toggle"), key="classify_engines_int8",
                     help=t("classify.engines.int8_help"))
    if int8:
        from cnnviz.infer import quantized

        st.markdown(t("classify.engines.int8_lesson", n=4 * len(quantized.photo_names())))
    rows = compare_engines(image, names, modes, runs=runs, force_cpu=force_cpu, int8=int8)
    st.dataframe(pd.DataFrame(engine_rows_table(rows)), hide_index=True, width="stretch")
    done = [r for r in rows if r.error is None and r.tf is not None]
    if done:
        tf_sum = sum(r.tf.inference_ms for r in done)
        lite_sum = sum(r.lite.inference_ms for r in done)
        same = sum(r.same_top5 for r in done)
        st.markdown(t("classify.engines.summary", tf=f"{tf_sum:.0f}", lite=f"{lite_sum:.0f}",
                      ratio=f"{tf_sum / max(lite_sum, 1e-6):.1f}", same=same, n=len(done)))
        quant = [r for r in done if r.int8 is not None]
        if quant:
            i8_sum = sum(r.int8.inference_ms for r in quant)
            fp_sum = sum(r.lite.inference_ms for r in quant)
            slower = [r.display_name for r in quant if r.int8.inference_ms > r.lite.inference_ms]
            st.markdown(t("classify.engines.int8_summary", int8=f"{i8_sum:.0f}", lite=f"{fp_sum:.0f}",
                          ratio=f"{fp_sum / max(i8_sum, 1e-6):.1f}", same=sum(r.int8_same_top1 for r in quant),
                          n=len(quant)))
            if slower:
                st.warning(t("classify.engines.int8_slower", models=", ".join(slower)))
    return rows
