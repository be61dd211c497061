"""The Labs page: pick a lab and its settings, train in the background, read the results.

Library first: labs are :mod:`cnnviz.labs` entries, runs belong to the server-wide
:class:`cnnviz.training.RunManager` (:func:`cnnviz.ui.runs.manager`), datasets come from
:mod:`cnnviz.datasets`. This module only reads run state and draws it. The run a session
follows is kept in the session and in the URL (``?run=``), so a rerun, a page switch or a
browser reload reattaches to it. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from cnnviz import cache, datasets, homework, labs, zoo
from cnnviz.errors import UserFacingError
from cnnviz.training import DONE_STATUSES, store, tensorboard_logs, trained
from cnnviz.training.options import CALLBACK_OPTIONS
from cnnviz.ui import error_message, page_link, t, uploads
from cnnviz.ui import owners as ui_owners
from cnnviz.ui import runs as ui_runs
from cnnviz.ui.models import display_name

K_LAB = "labs_lab"
Q_LAB = "lab"
SAMPLES_PER_CLASS = 4
GRID = 24  # predictions shown in the grid


# --------------------------------------------------------------------------- small helpers

def lab_title(lab_id: str) -> str:
    try:
        return t(labs.get_lab(lab_id).title_key)
    except UserFacingError:
        return lab_id


def dataset_label(name: str | None) -> str:
    """A dataset as people read it: the catalog's name, or "your own zip (file.zip)"."""
    name = name or "digits"
    if datasets.user_source(name) is not None:  # the student's file name: escaped wherever it is drawn
        return f"{t('labs_ui.dataset.user')}: {ui_runs.plain(datasets.user_label(name, ui_owners.viewer()))}"
    return t(f"labs_ui.dataset.{name}") if name in datasets.NAMES else name


@st.cache_data(max_entries=6, show_spinner=False)
def _samples(name: str, subset: int | None, seed: int, val_split: float, size: int) -> tuple[dict, dict]:
    data = labs.load_data(name, subset=subset, seed=seed, val_split=val_split, size=size)
    samples = {c: ui_runs.images_strip(imgs) for c, imgs in data.samples_per_class(SAMPLES_PER_CLASS).items()}
    return samples, {"sizes": data.sizes(), "classes": list(data.class_names), "description": data.description,
                     "refused": data.settings.get("refused", 0)}


def user_zip_picker() -> str | None:
    """The "own zip" choice: an uploader, kept under the cache root so the background run (and
    a reload) read the same file, and the zips uploaded before. Returns the zip's path."""
    st.caption(uploads.fits_caption(zip_only=True))
    upload = st.file_uploader(t("labs_ui.user_upload"), type=["zip"], key=f"labs_user_zip_{uploads.generation('labs_user_zip')}",
                              help=t("labs_ui.user_upload_help"), max_upload_size=homework.upload_limit_mb())
    viewer = ui_owners.viewer()
    if upload is not None and st.session_state.get("labs_user_last") != upload.file_id:
        try:
            path = datasets.store_upload(upload.getvalue(), upload.name, owner=ui_owners.owner())
        except OSError as exc:  # a full disk: fileio left nothing behind; say so in the UI language
            st.error(error_message(exc))
            return None
        st.session_state["labs_user_last"] = upload.file_id
        st.session_state["labs_user_pick"] = str(path)  # the picker below shows the new upload
        uploads.forget("labs_user_zip", upload)  # kept on disk now: Streamlit's copy is released
        st.rerun()  # the page shows the uploader empty (its new key) and the stored zip picked
    stored = [str(p) for p in datasets.stored_uploads(viewer)]  # this student's own (the teacher: all)
    if st.session_state.get("labs_user_pick") not in stored:
        st.session_state.pop("labs_user_pick", None)
    if not stored:
        st.info(t("labs_ui.user_none"), icon=":material/upload_file:")
        return None
    return st.selectbox(t("labs_ui.user_stored"), stored, key="labs_user_pick",
                        format_func=lambda p: datasets.user_label(p, viewer))


# --------------------------------------------------------------------------- choosing a lab and its settings

def lab_picker() -> labs.Lab | None:
    ids = labs.list_labs()
    wanted = st.query_params.get(Q_LAB) or st.session_state.get(K_LAB + "_kept")  # kept across page switches
    if wanted and K_LAB not in st.session_state:
        try:
            st.session_state[K_LAB] = labs.get_lab(wanted).id
        except UserFacingError:  # the URL's value is never echoed (it may be long, or Markdown)
            st.error(t("labs_ui.unknown_lab_link", available=", ".join(ids)))
    lab_id = st.radio(t("labs_ui.pick_lab"), ids, key=K_LAB, format_func=lab_title, horizontal=True)
    st.session_state[K_LAB + "_kept"] = lab_id
    if st.query_params.get(Q_LAB) != lab_id:
        st.query_params[Q_LAB] = lab_id
    lab = labs.get_lab(lab_id)
    with st.container(border=True):
        st.markdown(f"**{t(lab.title_key)}** — {t(lab.text_key)}")
        st.markdown(f":material/visibility: *{t(lab.look_key)}*")
        st.caption(t("labs_ui.seed_ref", ref=lab.seed_ref, models=", ".join(display_name(m) for m in lab.model_names)))
    return lab


def settings_form(lab: labs.Lab) -> dict | None:
    """The lab's settings (dataset, models, subset, split, seed, epochs, callbacks); None if unusable."""
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    with c1:
        choice = st.selectbox(t("labs_ui.dataset"), (*datasets.NAMES, datasets.USER), key="labs_dataset",
                              format_func=lambda n: t(f"labs_ui.dataset.{n}"))
    dataset = user_zip_picker() if choice == datasets.USER else choice
    state = datasets.availability(dataset) if dataset is not None else None
    default_subset = {"digits": lab.subset, datasets.USER: None}.get(choice, lab.other_subset)
    with c2:
        subset = st.number_input(t("labs_ui.subset"), min_value=2, value=default_subset, step=100,
                                 key=f"labs_subset_{lab.id}_{choice}", placeholder=t("labs_ui.subset_all"),
                                 help=t("labs_ui.user_subset_help" if choice == datasets.USER else "labs_ui.subset_help"))
    with c3:
        epochs = st.number_input(t("labs_ui.epochs"), min_value=1, max_value=1000, value=lab.epochs, step=1,
                                 key=f"labs_epochs_{lab.id}")
    with c4:
        seed = st.number_input(t("labs_ui.seed"), min_value=0, value=0, step=1, key="labs_seed",
                               help=t("labs_ui.seed_help"))
    c5, c6, c7 = st.columns([3, 3, 2])
    with c5:
        models = st.multiselect(t("labs_ui.models"), lab.model_names, default=lab.model_names,
                                key=f"labs_models_{lab.id}", format_func=display_name)
    with c6:
        callbacks = st.multiselect(t("labs_ui.callbacks"), CALLBACK_OPTIONS, default=list(lab.callbacks),
                                   key=f"labs_callbacks_{lab.id}", format_func=lambda c: t(f"labs_ui.callback.{c}"),
                                   help=t("labs_ui.callbacks_help"))
    with c7:
        val_split = st.number_input(t("labs_ui.val_split"), min_value=0.05, max_value=0.5, value=lab.val_split,
                                    step=0.05, format="%.2f", key="labs_val_split", help=t("labs_ui.val_split_help"))
    if "tensorboard" in callbacks and not tensorboard_logs.viewer_installed():
        st.info(t("labs_ui.tensorboard_missing"), icon=":material/info:")
    st.caption(t("labs_ui.fixed", batch=lab.batch_size, lr=lab.learning_rate, size=lab.size_for(choice)))
    if dataset is None:  # "own zip" chosen, nothing uploaded yet (the picker said how)
        return None
    if dataset == "digits":
        st.caption(":material/wifi_off: " + t("labs_ui.digits_standin"))
    elif state == "offline":
        st.warning(t("labs_ui.dataset_offline", dataset=t(f"labs_ui.dataset.{dataset}"),
                     path=str(cache.cache_dir())), icon=":material/cloud_off:")
        return None
    elif state == "download":
        st.info(t("labs_ui.dataset_download", dataset=t(f"labs_ui.dataset.{dataset}")),
                icon=":material/cloud_download:")
    if not models:
        st.warning(t("labs_ui.no_models"))
        return None
    subset = None if subset is None else int(subset)
    return {"dataset": dataset, "subset": subset, "epochs": int(epochs), "seed": int(seed),
            "val_split": round(float(val_split), 4), "callbacks": list(callbacks), "models": list(models),
            "state": state}


def samples_preview(lab: labs.Lab, settings: dict) -> bool:
    """A few training images per class, before training; False when the settings cannot load data."""
    if settings["state"] != "ready":
        return True
    subset = settings["subset"]
    try:
        with st.spinner(t("labs_ui.loading_data")):
            samples, info = _samples(settings["dataset"], subset, settings["seed"], settings["val_split"],
                                     lab.size_for(settings["dataset"]))
    except UserFacingError as exc:
        st.error(error_message(exc))
        return False
    with st.expander(t("labs_ui.samples", **info["sizes"]), expanded=True, icon=":material/photo_library:"):
        st.caption(t(info["description"]))
        if info.get("refused"):
            st.caption(":material/warning: " + t("labs_ui.user_refused", n=info["refused"]))
        cols = st.columns(len(samples))
        for col, (c, strip) in zip(cols, samples.items()):
            col.image(strip, caption=info["classes"][c], width="stretch")
    return True


def start(lab: labs.Lab, settings: dict) -> None:
    """Queue the run on the server-wide manager and follow it."""
    kwargs = {k: settings[k] for k in ("dataset", "subset", "epochs", "seed", "val_split")}
    kwargs["callbacks"] = tuple(settings["callbacks"])
    if settings["models"] != lab.model_names:
        kwargs["models"] = settings["models"]
    user = datasets.user_source(settings["dataset"])
    if user is not None and not datasets.may_use_upload(user, ui_owners.viewer()):  # only one's own upload
        st.session_state["labs_start_error"] = t("labs_ui.upload_not_yours")
        return
    try:
        run = labs.start(ui_runs.manager(), lab.id, owner=ui_owners.owner(), **kwargs)
    except UserFacingError as exc:
        st.session_state["labs_start_error"] = exc
        return
    ui_runs.follow(run.run_id)


# --------------------------------------------------------------------------- a run's results

@st.cache_resource(max_entries=4, show_spinner=False)
def test_predictions(run_id: str, model_name: str) -> dict | None:
    """The run's test images and labels and the model's predictions, as the run saved them
    (:func:`cnnviz.training.store.RunRecord.test_set`; no data or model loaded); None when the
    run kept none (an older run, or a model that did not finish)."""
    record = store.load_run(run_id)
    m = (record.result.get("models") or {}).get(model_name) or {}
    test = record.test_set()
    if test is None or m.get("test_predictions") is None:
        return None
    x, y = test
    return {"x": x, "y": y.astype(int), "pred": np.asarray(m["test_predictions"], int),
            "conf": np.asarray(m.get("test_confidence") or [], float), "classes": list(record.result.get("class_names") or [])}


def results_table(result: dict) -> None:
    rows = []
    for name, m in result.get("models", {}).items():
        rows.append({t("labs_ui.col.model"): display_name(name), t("labs_ui.col.params"): m.get("params"),
                     t("labs_ui.col.macs"): m.get("macs"),
                     t("labs_ui.col.best_val"): m.get("best_val_accuracy"),
                     t("labs_ui.col.train_acc"): m.get("final_train_accuracy"),
                     t("labs_ui.col.gap"): m.get("train_val_gap"),
                     t("labs_ui.col.test_acc"): m.get("test_accuracy"),
                     t("labs_ui.col.epoch_s"): m.get("epoch_seconds_mean"),
                     t("labs_ui.col.epochs"): m.get("epochs_run")})
    pct = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        t("labs_ui.col.params"): st.column_config.NumberColumn(format="localized"),
        t("labs_ui.col.macs"): st.column_config.NumberColumn(format="compact"),
        t("labs_ui.col.best_val"): pct, t("labs_ui.col.train_acc"): pct, t("labs_ui.col.gap"): pct,
        t("labs_ui.col.test_acc"): pct, t("labs_ui.col.epoch_s"): st.column_config.NumberColumn(format="%.2f s")})


def confusion_figure(cm: np.ndarray, classes: list[str]) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=cm, x=classes, y=classes, colorscale="Blues", text=cm, texttemplate="%{text}",
                               hovertemplate=t("labs_ui.cm_hover") + "<extra></extra>", showscale=False))
    fig.update_layout(height=420, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis={"title": t("labs_ui.cm_pred"), "type": "category"},
                      yaxis={"title": t("labs_ui.cm_true"), "type": "category", "autorange": "reversed"})
    return fig


def _clicked_cell(event, classes: list[str]) -> tuple[int, int] | None:
    try:
        points = event.selection.points
    except AttributeError:
        points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else []
    if not points:
        return None
    p = points[0]
    try:
        return classes.index(str(p["y"])), classes.index(str(p["x"]))
    except (KeyError, ValueError):
        return None


def _tile(img: np.ndarray, ok: bool, pad: int = 3) -> np.ndarray:
    color = np.array([30, 160, 60] if ok else [220, 40, 40], np.uint8)
    h, w, _ = img.shape
    out = np.empty((h + 2 * pad, w + 2 * pad, 3), np.uint8)
    out[:] = color
    out[pad:pad + h, pad:pad + w] = img if img.shape[-1] == 3 else np.repeat(img, 3, -1)
    return out


def image_row(preds: dict, idx: list[int], key: str) -> None:
    if not idx:
        st.caption(t("labs_ui.none_here"))
        return
    cols = st.columns(8)
    for j, i in enumerate(idx):
        ok = preds["pred"][i] == preds["y"][i]
        mark = "✓" if ok else "✗"
        cols[j % 8].image(_tile(preds["x"][i], ok), width="stretch",
                          caption=f"{mark} {preds['classes'][preds['pred'][i]]}"
                          + ("" if ok else f" ({preds['classes'][preds['y'][i]]})"))


def model_details(record, result: dict, name: str) -> None:
    """Confusion matrix (click a cell → its images), per-class accuracy, predictions grid."""
    m = result["models"][name]
    classes = result.get("class_names") or [str(i) for i in range(len(m.get("confusion") or []))]
    cm = np.asarray(m.get("confusion") or [], dtype=int)
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown(f"**{t('labs_ui.confusion')}**")
        st.caption(t("labs_ui.confusion_help"))
        event = st.plotly_chart(confusion_figure(cm, classes), key=f"labs_cm_{record.run_id}_{name}",
                                on_select="rerun", selection_mode="points", config={"displayModeBar": False})
    with right:
        st.markdown(f"**{t('labs_ui.per_class')}**")
        per = m.get("per_class_accuracy") or []
        fig = go.Figure(go.Bar(x=classes, y=per, marker_color=["#d62728" if v < 0.5 else "#1f77b4" for v in per],
                               hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
        fig.update_layout(height=420, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                          yaxis={"range": [0, 1], "tickformat": ".0%"}, xaxis={"type": "category"})
        st.plotly_chart(fig, key=f"labs_pc_{record.run_id}_{name}", config={"displayModeBar": False})
    try:
        preds = test_predictions(record.run_id, name)
    except UserFacingError as exc:
        st.error(error_message(exc))
        return
    except Exception as exc:  # a test set that no longer reads: say so, keep the rest of the page
        st.error(t("labs_ui.error.predict", model=name, reason=f"{type(exc).__name__}: {exc}"))
        return
    if preds is None:
        st.caption(t("labs_ui.no_test_set" if record.model_path(name) is not None else "labs_ui.no_model_file"))
        return
    cell = _clicked_cell(event, classes)
    if cell is not None:
        i, j = cell
        idx = [k for k in range(len(preds["y"])) if preds["y"][k] == i and preds["pred"][k] == j][:16]
        st.markdown(t("labs_ui.cell_images", true=ui_runs.plain(classes[i]), pred=ui_runs.plain(classes[j]),
                      n=int(cm[i, j])))
        image_row(preds, idx, key="cell")
    st.markdown(f"**{t('labs_ui.grid')}**")
    wrong = int((preds["pred"] != preds["y"]).sum())
    st.caption(t("labs_ui.grid_help", wrong=wrong, n=len(preds["y"])))
    only_wrong = st.toggle(t("labs_ui.only_mistakes"), key=f"labs_wrong_{record.run_id}_{name}")
    idx = [k for k in range(len(preds["y"])) if not only_wrong or preds["pred"][k] != preds["y"][k]][:GRID]
    image_row(preds, idx, key="grid")
    return preds


def grad_norms_view(result: dict) -> None:
    models = {n: m["grad_norms"] for n, m in result.get("models", {}).items() if m.get("grad_norms")}
    if not models:
        return
    st.subheader(t("labs_ui.grad_norms"))
    st.caption(t("labs_ui.grad_norms_help"))
    fig = go.Figure()
    for i, (name, g) in enumerate(models.items()):
        color = ui_runs.COLORS[i % len(ui_runs.COLORS)]
        layers = g.get("layers") or list(g.get("init", {}))
        for when, dash in (("init", "solid"), ("after_epoch1", "dash")):
            values = g.get(when) or {}
            if values:
                fig.add_trace(go.Scatter(x=list(range(1, len(layers) + 1)), y=[values.get(k) for k in layers],
                                         mode="lines+markers", line={"color": color, "dash": dash},
                                         text=layers, hovertemplate="%{text}: %{y:.3g}<extra></extra>",
                                         name=t(f"labs_ui.grad_norms.{when}", model=display_name(name))))
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"},
                      xaxis={"title": t("labs_ui.grad_norms.layer")},
                      yaxis={"title": t("labs_ui.grad_norms.norm"), "type": "log"})
    st.plotly_chart(fig, key="labs_grad_norms", config={"displayModeBar": False})


def excitation_view(record, result: dict) -> None:
    ex = (result.get("extras") or {}).get("excitation")
    if not ex or not ex.get("layers"):
        return
    st.subheader(t("labs_ui.excitation"))
    st.caption(t("labs_ui.excitation_help", cls=ex.get("class", "?")))
    left, right = st.columns([1, 4])
    layers = list(ex["layers"])
    with right:
        layer = st.selectbox(t("labs_ui.excitation_layer"), layers, key=f"labs_se_layer_{record.run_id}")
        vec = ex["layers"][layer]
        fig = go.Figure(go.Bar(x=list(range(len(vec))), y=vec, hovertemplate="#%{x}: %{y:.3f}<extra></extra>"))
        fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, yaxis={"range": [0, 1]},
                          xaxis={"title": t("labs_ui.excitation_channel")})
        st.plotly_chart(fig, key=f"labs_se_{record.run_id}", config={"displayModeBar": False})
    with left:
        se_model = next((n for n in result.get("models", {}) if "se" in n and "without" not in n), None)
        try:
            preds = test_predictions(record.run_id, se_model) if se_model else None
        except Exception:  # the image is a nicety: the bars are the point
            preds = None
        if preds is not None:
            i = int(ex.get("image_index", 0))
            st.image(preds["x"][i], width=128, caption=preds["classes"][preds["y"][i]])


def tensorboard_panel(record) -> None:
    """A finished run's TensorBoard logs: the zip to download and the command that opens them."""
    root = tensorboard_logs.log_root(record.path, record.run_id)
    files = tensorboard_logs.event_files(root)
    if not files:
        return
    with st.expander(t("labs_ui.tensorboard"), icon=":material/monitoring:"):
        st.caption(t("labs_ui.tensorboard_help", files=len(files)))
        st.code(tensorboard_logs.view_command(root.name), language="bash")
        st.caption(t("labs_ui.tensorboard_here"))
        st.code(tensorboard_logs.view_command(root), language="bash")
        if not tensorboard_logs.viewer_installed():
            st.caption(t("labs_ui.tensorboard_missing"))
        # The bytes, not a callable: a finished run's logs are small (kilobytes) and fixed, zipped once
        # per run (cached); Streamlit's deferred download once never delivered this file under load.
        try:
            signature = tuple((str(f), f.stat().st_size) for f in files)
        except OSError:  # deleted meanwhile (the teacher): nothing to offer
            return
        st.download_button(t("labs_ui.tensorboard_download"), logs_zip(str(root), signature),
                           file_name=f"{record.run_id}-tensorboard.zip", mime="application/zip",
                           icon=":material/download:", key=f"labs_dl_tb_{record.run_id}")


@st.cache_data(max_entries=16, show_spinner=False)
def logs_zip(root: str, signature: tuple) -> bytes:
    """A run's TensorBoard logs as zip bytes; ``signature`` (each file and its size) keys the cache."""
    return tensorboard_logs.zip_logs(Path(root))


def downloads(record, result: dict, history: dict, fig: go.Figure) -> None:
    c1, c2, c3 = st.columns(3)
    c1.download_button(t("labs_ui.download_csv"), ui_runs.history_csv(history), file_name=f"{record.run_id}.csv",
                       mime="text/csv", icon=":material/download:", key=f"labs_dl_csv_{record.run_id}")
    if ui_runs.kaleido_available():
        c2.download_button(t("labs_ui.download_png"), lambda: ui_runs.curves_png(fig) or b"",
                           file_name=f"{record.run_id}-curves.png", mime="image/png", icon=":material/download:",
                           key=f"labs_dl_png_{record.run_id}")
    c2.download_button(t("labs_ui.download_html"), fig.to_html(include_plotlyjs="cdn"),
                       file_name=f"{record.run_id}-curves.html", mime="text/html", icon=":material/download:",
                       key=f"labs_dl_html_{record.run_id}")
    saved = [n for n in result.get("models", {}) if record.model_path(n) is not None]
    if saved:
        name = c3.selectbox(t("labs_ui.download_model"), saved, key=f"labs_dl_pick_{record.run_id}",
                            format_func=display_name)
        path = record.model_path(name)
        c3.download_button(t("labs_ui.download_keras", model=display_name(name)), lambda: path.read_bytes(),
                           file_name=f"{name}.keras", mime="application/octet-stream", icon=":material/download:",
                           key=f"labs_dl_keras_{record.run_id}")


def finished_view(record) -> None:
    """A run that is over (live or stored: the same read interface): curves with its callback
    events, table, downloads, per-model details."""
    run_id = record.run_id
    status = record.status
    st.subheader(t("labs_ui.run_header", lab=ui_runs.plain(lab_title(record.title or "")),
                   status=ui_runs.status_label(status)))
    if status == "failed":  # the marker keeps the error's key: the UI language, even after a restart
        st.error(error_message(record.error), icon=":material/error:")
        return
    if status == "interrupted":
        st.warning(t("labs_ui.interrupted"), icon=":material/warning:")
        return
    result = record.result
    s = record.settings
    sizes = s.get("data_sizes") or {}
    st.caption(t("labs_ui.run_settings", dataset=dataset_label(s.get("dataset")),
                 epochs=s.get("epochs", "?"), seed=s.get("seed", "?"), train=sizes.get("train", "?"),
                 val=sizes.get("val", "?"), test=sizes.get("test", "?"),
                 callbacks=", ".join(t(f"labs_ui.callback.{c}") for c in s.get("callbacks", [])) or "—",
                 seconds=f"{result.get('seconds', 0):.0f}"))
    if status == "stopped" and getattr(record, "stop_reason", None) == "time":
        minutes = f"{ui_runs.manager().limits.run_seconds / 60:.0f}"
        st.warning(t("training.budget.time_hit", minutes=minutes), icon=":material/timer_off:")
    elif status == "stopped":
        st.info(t("labs_ui.stopped_note"), icon=":material/stop_circle:")
    history = record.history
    models = ui_runs.stored_models(record)
    fig = ui_runs.curves_figure(models, record.events, labels={n: display_name(n) for n in models}, batches=False)
    st.plotly_chart(fig, key=f"labs_curves_{run_id}", config={"displayModeBar": False})
    if not result.get("models"):
        return
    results_table(result)
    downloads(record, result, history, fig)
    tensorboard_panel(record)
    grad_norms_view(result)
    names = list(result["models"])
    name = st.radio(t("labs_ui.details_for"), names, key=f"labs_detail_{run_id}", format_func=display_name,
                    horizontal=True)
    links = st.columns(3)
    if name in zoo.list_models():
        with links[0]:
            page_link("visualize", t("labs_ui.open_filters", model=display_name(name)),
                      model=trained.make_ref(run_id, name))
        with links[1]:
            page_link("explorer", t("labs_ui.open_explorer", model=display_name(name)), model=name)
    model_details(record, result, name)
    excitation_view(record, result)


# --------------------------------------------------------------------------- runs kept on disk

def runs_list() -> None:
    """This student's runs (the teacher: everyone's, with owner, disk use and Delete), newest first:
    open one, or compare finished ones."""
    viewer = ui_owners.viewer()
    rows = ui_runs.manager().list_runs(viewer)
    st.subheader(t("labs_ui.runs"))
    if viewer.teacher:
        teacher_tools(rows)
    if not rows:
        st.caption(t("labs_ui.no_runs"))
        return
    table = [{**({t("labs_ui.col.owner"): r.get("owner_label")} if viewer.teacher else {}),
              t("labs_ui.col.run"): r["run_id"], t("labs_ui.col.lab"): lab_title(r.get("title") or ""),
              t("labs_ui.col.status"): ui_runs.status_label(r["status"]),
              t("labs_ui.col.dataset"): dataset_label((r.get("settings") or {}).get("dataset")),
              t("labs_ui.col.epochs"): (r.get("settings") or {}).get("epochs"),
              t("labs_ui.col.created"): time.strftime("%Y-%m-%d %H:%M", time.localtime(r.get("created") or 0))}
             for r in rows]
    st.dataframe(table, hide_index=True, width="stretch")
    ids = [r["run_id"] for r in rows]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    with c1:
        chosen = st.selectbox(t("labs_ui.open_run"), ids, key="labs_open_pick",
                              format_func=lambda i: f"{i} · {ui_runs.status_label(next(r['status'] for r in rows if r['run_id'] == i))}")
    with c2:
        if st.button(t("labs_ui.open"), key="labs_open", icon=":material/open_in_new:"):
            ui_runs.follow(chosen)
            st.rerun()
    finished = [r["run_id"] for r in rows if r["status"] in ("finished", "stopped")]
    if len(finished) >= 2:
        picked = st.multiselect(t("labs_ui.compare"), finished, key="labs_compare", max_selections=6)
        if picked:
            compare(picked)


def teacher_tools(rows: list[dict]) -> None:
    """The teacher's disk use line and Delete (for a run that is over)."""
    run_mb = store.folder_bytes(store.runs_root()) / 1e6
    up_mb = store.folder_bytes(datasets.uploads_dir()) / 1e6
    st.caption(t("labs_ui.disk_use", mb=f"{run_mb:.1f}", up_mb=f"{up_mb:.1f}"))
    over = [r["run_id"] for r in rows if r["status"] in DONE_STATUSES]
    if not over:
        return
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    chosen = c1.selectbox(t("labs_ui.delete"), over, key="labs_delete_pick",
                          format_func=lambda i: f"{i} · {next(r['owner_label'] for r in rows if r['run_id'] == i)}")
    if c2.button(t("labs_ui.delete"), key="labs_delete", icon=":material/delete:"):
        try:
            ui_runs.manager().delete(chosen, ui_owners.viewer())
        except UserFacingError as exc:
            st.error(error_message(exc))
            return
        if ui_runs.followed_run() == chosen:
            ui_runs.follow(None)
        st.rerun()


def compare(run_ids: list[str]) -> None:
    models, labels = {}, {}
    for run_id in run_ids:
        record = ui_runs.record_or_error(run_id)
        if record is None:
            continue
        for name, h in record.history.items():
            key = f"{run_id}/{name}"
            models[key] = {"history": h}
            labels[key] = f"{display_name(name)} · {run_id}"
    st.plotly_chart(ui_runs.curves_figure(models, labels=labels, batches=False), key="labs_compare_curves",
                    config={"displayModeBar": False})


# --------------------------------------------------------------------------- the page

def render() -> None:
    lab = lab_picker()
    if lab is None:
        return
    settings = settings_form(lab)
    data_ok = settings is not None and samples_preview(lab, settings)
    err = st.session_state.pop("labs_start_error", None)
    if err is not None:
        st.error(err if isinstance(err, str) else error_message(err), icon=":material/error:")
    st.button(t("labs_ui.train"), key="labs_train", type="primary", icon=":material/play_arrow:",
              disabled=not data_ok, on_click=start, args=(lab, settings or {}))

    run = ui_runs.followed()
    if run is not None:
        st.divider()
        if run.status in DONE_STATUSES:
            finished_view(run)
        else:
            st.subheader(t("labs_ui.run_header", lab=lab_title(run.title), status=ui_runs.status_label(run.status)))
            labels = {n: display_name(n) for n in run.plan}
            ui_runs.live_view(run.run_id, lambda r, snap: ui_runs.live_curves(r, snap, labels=labels, key="labs"),
                              key="labs")
    st.divider()
    runs_list()
