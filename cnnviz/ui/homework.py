"""The homework studio's Streamlit side: dataset intake, settings, the live run, the results.

Training runs in the server's one :class:`cnnviz.training.RunManager`
(:func:`cnnviz.ui.runs.manager`, shared with Labs: one run trains at a time): the page
follows its run with the same code as Labs (:func:`cnnviz.ui.runs.followed`, ``?run=`` in
the URL, :func:`cnnviz.ui.runs.live_view`, one curves figure), so page switches and reloads
reattach to the same run. No TensorFlow is imported here.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from cnnviz import cache, homework
from cnnviz.errors import UserFacingError
from cnnviz.homework import report, verdict
from cnnviz.homework.script import reproduce_script
from cnnviz.training import DONE_STATUSES
from cnnviz.ui import current_lang, error_message, runs, t, uploads
from cnnviz.ui import owners as ui_owners
from cnnviz.ui.models import display_name
from cnnviz.ui.weights import offline_default
from cnnviz.zoo import pretrained

DS_KEY = "homework_dataset"
SOURCES = ("directory", "upload", "folder", "demo")
"""Folder upload (class folders), a zip, a folder on the server (only under CNNVIZ_DATASET_ROOTS), the demo."""


def _remember(key: str | None, ds: homework.HomeworkDataset | None) -> None:
    st.session_state[DS_KEY + "_key"], st.session_state[DS_KEY] = key, ds


def _refusal(exc: homework.DatasetError) -> None:
    st.error(error_message(exc), icon=":material/folder_off:")
    found = getattr(exc, "dataset", None)
    if found is not None and found.refused:
        refused_list(found)


def _load(key: str, loader) -> homework.HomeworkDataset | None:
    """Load once per source (kept in the session); show the refusal in the UI language."""
    if st.session_state.get(DS_KEY + "_key") == key:
        return st.session_state.get(DS_KEY)
    try:
        with st.spinner(t("homework.page.loading")):
            ds = loader()
    except homework.DatasetError as exc:
        _remember(None, None)
        _refusal(exc)
        return None
    _remember(key, ds)
    return ds


def _read_upload(key: str, files, source, name: str | None) -> homework.HomeworkDataset | None:
    """Read an upload with progress (counts, ETA) and a Stop, one server slot at a time; then release it."""
    stop_key = f"homework_intake_stop_{uploads.generation(key)}"
    if st.session_state.get(stop_key):  # Stop was pressed while reading: the rerun lands here
        uploads.forget(key, files)
        _remember(None, None)
        st.info(t("homework.page.stopped"), icon=":material/stop_circle:")
        return None
    st.button(t("homework.page.stop_reading"), key=stop_key, icon=":material/stop_circle:")
    note = st.empty()
    bar = st.progress(0.0, text=t("homework.page.loading"))

    def on_wait(n: int) -> None:
        note.info(t("homework.page.waiting", waiting=n), icon=":material/hourglass_top:")

    def on_progress(p: dict) -> None:
        bar.progress(p["done"] / max(1, p["total"]), text=t(
            "homework.page.progress", done=p["done"], total=p["total"], accepted=p["accepted"],
            refused=p["refused"], eta=f"{p['eta_s']:.0f}"))

    try:
        with homework.reading_slot(on_wait):
            note.empty()
            ds = homework.load_dataset(source, name=name, on_progress=on_progress)
    except homework.DatasetError as exc:
        _remember(None, None)
        st.session_state[DS_KEY + "_refusal"] = (key, exc)  # shown once the upload is released
    else:
        _remember(f"{key}:{uploads.generation(key)}", ds)
        st.session_state.pop(DS_KEY + "_refusal", None)
    uploads.forget(key, files)
    st.rerun()


def _kept(key: str) -> homework.HomeworkDataset | None:
    """The dataset read from this uploader before its files were released."""
    kept = st.session_state.get(DS_KEY + "_key") or ""
    if kept.startswith(key + ":") and st.session_state.get(DS_KEY) is not None:
        ds = st.session_state[DS_KEY]
        st.caption(t("homework.page.read_from", name=ds.name))
        return ds
    return None


def _kept_or_hint(key: str, icon: str) -> homework.HomeworkDataset | None:
    refusal = st.session_state.get(DS_KEY + "_refusal")
    if refusal is not None and refusal[0] == key:
        _refusal(refusal[1])
    ds = _kept(key)
    if ds is None:
        st.info(t("homework.page.no_dataset"), icon=icon)
    return ds


def dataset_input() -> homework.HomeworkDataset | None:
    roots = homework.server_roots()
    offered = [s for s in SOURCES if s != "folder" or roots]
    if st.session_state.get("homework_source") not in (None, *offered):
        st.session_state["homework_source"] = offered[0]
    source = st.radio(t("homework.page.source"), offered, horizontal=True, key="homework_source",
                      format_func=lambda s: t(f"homework.page.source_{s}"))
    if source in ("directory", "upload"):
        st.caption(uploads.fits_caption())
    if source == "directory":
        key = "homework_dir"
        files = st.file_uploader(t("homework.page.dir_uploader"), accept_multiple_files="directory",
                                 key=f"{key}_{uploads.generation(key)}", help=t("homework.page.dir_uploader_help"),
                                 max_upload_size=uploads.photo_limit_mb())
        if not files:
            return _kept_or_hint(key, ":material/folder_open:")
        top = {f.name.replace("\\", "/").split("/")[0] for f in files}
        return _read_upload(key, files, list(files), top.pop() if len(top) == 1 else "dataset")
    if source == "upload":
        key = "homework_zip"
        up = st.file_uploader(t("homework.page.uploader"), type=["zip"], key=f"{key}_{uploads.generation(key)}",
                              help=t("homework.page.uploader_help"), max_upload_size=homework.upload_limit_mb())
        if up is None:
            return _kept_or_hint(key, ":material/folder_zip:")
        return _read_upload(key, up, up, up.name)
    if source == "folder":
        st.caption(t("homework.page.roots", roots=", ".join(map(str, roots))))
        path = st.text_input(t("homework.page.folder"), key="homework_folder", help=t("homework.page.folder_help"))
        if not path.strip():
            return None
        try:
            where = homework.server_folder(path, roots)
        except homework.DatasetError as exc:
            _refusal(exc)
            return None
        return _load("dir:" + str(where), lambda: homework.load_dataset(where))
    st.caption(t("homework.sample.description"))
    return _load("demo", homework.load_sample)


def refused_list(ds: homework.HomeworkDataset) -> None:
    with st.expander(t("homework.report.refused", count=len(ds.refused)), icon=":material/block:"):
        lang = current_lang()
        st.dataframe([{t("homework.page.col_file"): r.path, t("homework.page.col_reason"): r.message(lang)}
                      for r in ds.refused], hide_index=True, width="stretch")


def dataset_summary(ds: homework.HomeworkDataset, seed: int = 0) -> None:
    if ds.demo:
        st.warning(t("homework.sample.description"), icon=":material/science:")
    cols = st.columns(4)
    cols[0].metric(t("homework.page.classes"), ds.num_classes)
    cols[1].metric(t("homework.page.images"), len(ds.items))
    cols[2].metric(t("homework.page.refused"), len(ds.refused))
    counts = ds.split_counts(seed)
    cols[3].metric(t("homework.page.split"), " / ".join(str(sum(c[p] for c in counts.values()))
                                                      for p in ("train", "val", "test")))
    for w in ds.warnings:
        st.warning(t(w["key"], **w["params"]), icon=":material/warning:")
    if ds.refused:
        refused_list(ds)
    left, right = st.columns([1, 2])
    with left:
        st.caption(t("homework.page.balance"))
        st.dataframe([{t("homework.page.col_class"): c, t("homework.page.col_train"): n["train"],
                       t("homework.page.col_val"): n["val"], t("homework.page.col_test"): n["test"]}
                      for c, n in counts.items()], hide_index=True, width="stretch")
        st.bar_chart({c: sum(n.values()) for c, n in counts.items()}, height=180)
    with right:
        st.caption(t("homework.page.samples"))
        for cls, items in ds.samples(6).items():
            row = st.columns([1, 6])
            row[0].markdown(f"**{runs.plain(cls)}**")  # a folder name of the student's zip
            row[1].image([it.image for it in items], width=72)


# --------------------------------------------------------------------------- settings

def weights_panel(models: list[str]) -> bool | None:
    """Which "notop" weights are missing; a download button; the random-weights switch.

    Returns True for random weights, False for ImageNet, None when neither is possible yet.
    """
    states = {e.name: e.state for e in pretrained.status(models, include_top=False)}
    missing = [m for m in models if states.get(m) != "cached"]
    if not missing:
        st.success(t("homework.page.weights_ok"), icon=":material/check_circle:")
        return False
    st.warning(t("homework.page.weights_missing", models=", ".join(map(display_name, missing))),
               icon=":material/cloud_off:")
    offline = cache.offline()
    if offline:
        st.caption(t("homework.page.offline_hint", names=" ".join(missing)))
    if st.button(t("homework.page.download"), key="homework_download", disabled=offline,
                 icon=":material/download:", help=t("homework.page.download_help", path=str(cache.cache_dir()))):
        bar = st.progress(0.0)
        for i, name in enumerate(missing):
            def progress(done, total, i=i, name=name):  # the file's share of the bar
                frac = (i + (done / total if total else 0.0)) / len(missing)
                bar.progress(min(1.0, frac), text=t("homework.page.downloading", model=display_name(name)))

            try:
                pretrained.fetch_weights(name, include_top=False, progress=progress)
            except cache.CacheError as exc:
                st.error(error_message(exc))
                break
            bar.progress((i + 1) / len(missing))
        else:
            st.rerun()
    random = st.toggle(t("homework.page.random"), key="homework_random", help=t("homework.page.random_help"))
    return True if random else None


def settings_form(ds: homework.HomeworkDataset) -> dict | None:
    choices = pretrained.pretrained_models()
    # Offline with nothing downloaded: the four run with random bases, and the model whose weights ship
    # with the install (EfficientNet-Lite0) joins them, real features beside random ones.
    extra = offline_default(homework.HOMEWORK_FOUR)
    default = list(homework.HOMEWORK_FOUR) + ([extra] if extra and extra not in homework.HOMEWORK_FOUR else [])
    models = st.multiselect(t("homework.page.models"), choices, default=default,
                            format_func=display_name, key="homework_models", help=t("homework.page.models_help"))
    c1, c2, c3 = st.columns(3)
    fe = c1.number_input(t("homework.page.fe_epochs"), 1, 100, 10, key="homework_fe", help=t("homework.page.fe_help"))
    ft = c2.number_input(t("homework.page.ft_epochs"), 0, 100, 10, key="homework_ft", help=t("homework.page.ft_help"))
    size = c3.selectbox(t("homework.page.size"), [None, 160, 96], key="homework_size", help=t("homework.page.size_help"),
                        format_func=lambda s: t("homework.page.size_native") if s is None else f"{s} px")
    unfreeze = unfreeze_choice(disabled=int(ft) == 0)
    augment = augment_choice()
    if not models:
        st.info(t("homework.error.no_models"))
        return None
    random = weights_panel(models)
    if random is None:
        return None
    if random:
        st.error(t("homework.random.banner"), icon=":material/casino:")
    return {"models": models, "fe_epochs": int(fe), "ft_epochs": int(ft), "image_size": size, "random_weights": random,
            "unfreeze": unfreeze, "augment": augment}


def unfreeze_choice(disabled: bool = False) -> str | int:
    """Radio "last block (default) / last stage / last N layers" and N; the default explained.
    Returns "block", "stage" or N."""
    c1, c2 = st.columns([2, 1])
    mode = c1.radio(t("homework.page.unfreeze"), ("block", "stage", "layers"), horizontal=True, key="homework_unfreeze",
                    format_func=lambda m: t(f"homework.page.unfreeze_{m}"), disabled=disabled)
    n = c2.number_input(t("homework.page.unfreeze_n"), 1, 1000, 20, key="homework_unfreeze_n",
                        help=t("homework.page.unfreeze_n_help"), disabled=disabled or mode != "layers")
    st.caption(t("homework.page.unfreeze_explain"))
    return int(n) if mode == "layers" else mode


def augment_choice() -> str:
    """Checkbox (off by default) for the mirrored view, and one for a small random crop. Returns "", "flip" or "flip,crop"."""
    views = []
    if st.checkbox(t("homework.page.augment"), key="homework_augment", help=t("homework.page.augment_help")):
        views.append("flip")
        if st.checkbox(t("homework.page.augment_crop"), key="homework_augment_crop"):
            views.append("crop")
        st.caption(t("homework.page.augment_note", factor=1 + len(views),
                     views=", ".join(t(f"homework.augment.{v}") for v in views)))
    return ",".join(views)


def start(ds: homework.HomeworkDataset, settings: dict) -> None:
    settings = dict(settings)
    models = settings.pop("models")
    try:
        run = homework.start(runs.manager(), ds, models, owner=ui_owners.owner(), **settings)
    except UserFacingError as exc:  # the queue is full (for everyone, or for this student)
        st.error(error_message(exc), icon=":material/hourglass_disabled:")
        return
    runs.follow(run.run_id)


# --------------------------------------------------------------------------- live run and results

PHASES = ("build", "features", "head", "activations", "finetune", "inference")


def curve_label(name: str) -> str:
    """A homework curve's model and phase ("resnet50-fe" → "ResNet50 · feature extraction")."""
    base, _, ph = name.rpartition("-")
    return t("homework.page.curve_title", model=display_name(base), phase=t(f"homework.page.phase_name_{ph}"))


def _live(run, snap: dict) -> None:
    prog = snap["progress"]
    phase = next((e for e in reversed(snap["events"]) if e["kind"] == "phase"), None)
    if phase:
        where = t(f"homework.page.phase_{phase['phase']}", model=display_name(phase["model"]))
    else:
        where = t("homework.page.queued") if snap["status"] == "queued" else t("homework.page.starting")
    st.progress(min(1.0, prog["fraction"]), text=where)
    if st.button(t("homework.page.stop"), key="homework_stop", icon=":material/stop_circle:",
                 disabled=snap["status"] not in ("queued", "running")):
        runs.manager().stop(run.run_id, ui_owners.viewer())
    models = snap["models"]
    if any(m["batches"].get("step") for m in models.values()):
        st.plotly_chart(runs.curves_figure(models, snap["events"], labels={n: curve_label(n) for n in models}),
                        key="homework_live_curves", config={"displayModeBar": False})


def run_view(run, ds: homework.HomeworkDataset | None) -> None:
    """The followed run: live (progress, Stop, curves) until it is over, then its results."""
    if run.status not in DONE_STATUSES:
        if run.settings.get("random_weights"):  # a reload shows the live run without the settings: label it here too
            st.error(t("homework.random.banner"), icon=":material/casino:")
        runs.live_view(run.run_id, _live, key="homework")
        return
    if run.error is not None:  # a live run's error, or the reason a stored run's marker kept
        st.error(error_message(run.error), icon=":material/error:")
        return
    if not run.result:
        st.warning(t("homework.page.no_result", status=run.status))
        return
    results(run.result, run.path, ds)


def results(data: dict, folder: Path | None, ds: homework.HomeworkDataset | None) -> None:
    lang = current_lang()
    v = data.get("verdict") or {}
    if data.get("random_weights"):
        st.error(t("homework.random.banner"), icon=":material/casino:")
    st.subheader(t("homework.report.verdict"))
    box = {"met": st.success, "not_met": st.error}.get(v.get("status"), st.info)
    box(verdict.text(v, lang))
    for line in verdict.caveats(v, lang):
        st.caption("• " + line)
    for line in report.config_lines(data.get("settings") or {}, lang):
        st.caption(line)
    st.subheader(t("homework.report.table"))
    rows = []
    for name, m in data.get("models", {}).items():
        rows.append({t("homework.col.model"): display_name(name),
                     t("homework.col.fe_val_accuracy"): m.get("fe_val_accuracy"),
                     t("homework.col.fe_accuracy"): m.get("fe_accuracy"),
                     t("homework.col.ft_val_accuracy"): m.get("ft_val_accuracy"),
                     t("homework.col.ft_accuracy"): m.get("ft_accuracy"),
                     t("homework.col.params"): m.get("params"), t("homework.col.trainable_params_fe"): m.get("trainable_params_fe"),
                     t("homework.col.trainable_params_ft"): m.get("trainable_params_ft"),
                     t("homework.col.inference_ms"): m.get("inference_ms"), t("homework.col.train_seconds"): m.get("train_seconds")})
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={**{t(f"homework.col.{k}"): st.column_config.NumberColumn(format="percent")
                                   for k in ("fe_val_accuracy", "fe_accuracy", "ft_val_accuracy", "ft_accuracy")},
                                t("homework.col.inference_ms"): st.column_config.NumberColumn(format="%.1f"),
                                t("homework.col.train_seconds"): st.column_config.NumberColumn(format="%.1f")})
    c1, c2, c3 = st.columns(3)
    c1.download_button(t("homework.page.dl_report"), report.render_html(data, lang), file_name=f"homework-report.{lang}.html",
                       mime="text/html", icon=":material/download:", key="homework_dl_report")
    c2.download_button(t("homework.page.dl_csv"), report.table_csv(data), file_name="homework-results.csv",
                       mime="text/csv", icon=":material/table:", key="homework_dl_csv")
    c3.download_button(t("homework.page.dl_script"), reproduce_script(data), file_name="reproduce.py",
                       mime="text/x-python", icon=":material/code:", key="homework_dl_script")
    if folder is not None and st.toggle(t("homework.page.prepare_models"), key="homework_prepare"):
        cols = st.columns(4)
        for i, name in enumerate(data.get("models", {})):
            path = Path(folder) / "models" / f"{name}.keras"
            if path.is_file():
                # read only when this download is asked for (four models are 100–250 MB)
                cols[i % 4].download_button(display_name(name), lambda path=path: path.read_bytes(), file_name=path.name,
                                            key=f"homework_dl_{name}", icon=":material/deployed_code:")
    st.subheader(t("homework.report.confusion"))
    classes = data.get("class_names", [])
    test_paths = (data.get("split") or {}).get("test", [])
    items = {it.path: it for it in ds.items} if ds is not None else {}
    models = data.get("models", {})
    cols = st.columns(min(4, max(1, len(models))))
    for i, (name, m) in enumerate(models.items()):
        with cols[i % len(cols)]:
            st.markdown(f"**{display_name(name)}**")
            if m.get("confusion"):
                st.html(report.confusion_html(m["confusion"], classes, t))
            preds = m.get("test_predictions") or []
            wrong = [(p, classes[pred]) for p, pred in zip(test_paths, preds) if p.split("/")[0] != classes[pred]]
            shown = [(items[p].image, f"{p.split('/')[0]} → {c}") for p, c in wrong if p in items][:8]
            if shown:
                st.image([s[0] for s in shown], caption=[s[1] for s in shown], width=64)
            elif wrong:  # a reopened run without its dataset in this session: the mistakes by file name
                st.caption("  \n".join(f"{runs.plain(p)} → {runs.plain(c)}" for p, c in wrong[:8]))
    st.subheader(t("homework.report.curves"))
    st.html("<div style='display:flex;flex-wrap:wrap;gap:12px'>" + "".join(
        report.line_chart({t("homework.report.train"): (m.get("fe_history") or {}).get("accuracy", [])
                           + (m.get("ft_history") or {}).get("accuracy", []),
                           t("homework.report.val"): (m.get("fe_history") or {}).get("val_accuracy", [])
                           + (m.get("ft_history") or {}).get("val_accuracy", [])},
                          title=display_name(name), marker=len((m.get("fe_history") or {}).get("accuracy", [])))
        for name, m in models.items()) + "</div>")
