"""Drawing training runs: the server-wide run manager, live curves, progress, results.

Shared by every page that trains (Labs, Homework): one followed run per session (session
key :data:`K_RUN` and ``?run=`` in the URL: :func:`followed`, :func:`follow`), one live
redraw (:func:`live_view`, every :data:`LIVE_SECONDS`), one curves figure, one set of
"over" statuses (:data:`cnnviz.training.DONE_STATUSES`). A live run and a stored run answer
the same read interface (status, plan, error, settings, history, batches, events, result,
steps), so the pages draw both with the same code. Nothing here trains or touches a worker:
drawing never slows training. Trained models are offered to the other pages as weights
``"run:<run_id>/<model>"`` (parsed by :mod:`cnnviz.training.trained`). Importing this module
does not import TensorFlow.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Callable, Iterable

import numpy as np
import plotly.graph_objects as go  # Streamlit itself loads Plotly: nothing heavy added
import streamlit as st
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from cnnviz import zoo
from cnnviz.training import DONE_STATUSES, Run, RunManager, RunRecord, TrainingError, UnknownRunError, store, trained
from cnnviz.ui import error_message, t
from cnnviz.ui import owners as ui_owners

K_RUN = "followed_run"       # session key of the run this session follows (Labs and Homework)
Q_RUN = "run"                # ... and its URL parameter
TRAINED_PREFIX = trained.PREFIX  # weights of a model trained in a run: "run:<run_id>/<model>"
LIVE_SECONDS = 2.0           # how often a live run redraws (reads a snapshot; training is untouched)
COLORS = qualitative.Plotly
DONE = DONE_STATUSES         # a run that is over: its stored view is drawn
MAX_BATCH_POINTS = 400       # per-batch points drawn per curve: a long run costs no more to redraw


# --------------------------------------------------------------------------- the manager and the followed run

@st.cache_resource(show_spinner=False)
def manager() -> RunManager:
    """The one :class:`RunManager` of this server (shared by every session)."""
    return RunManager()


def followed_run() -> str | None:
    """The run this session follows: session state first, then ``?run=`` (a reload, a shared link).
    An id not in the generated shape (:func:`cnnviz.training.store.valid_run_id`) is dropped unread,
    with a message that does not repeat it."""
    run_id = st.session_state.get(K_RUN) or st.query_params.get(Q_RUN)
    if run_id and not store.valid_run_id(run_id):
        st.error(t("labs_ui.run_not_found"))
        follow(None)
        return None
    if run_id:
        st.session_state[K_RUN] = run_id
        if st.query_params.get(Q_RUN) != run_id:
            st.query_params[Q_RUN] = run_id
    return run_id or None


def followed() -> Run | RunRecord | None:
    """The run this session follows, live or stored; None (after an ``st.error``) for an id that
    names no run this session may see (an old link, or another student's run: the same message,
    so a link tells nobody whether the run exists), which is then forgotten."""
    run_id = followed_run()
    if not run_id:
        return None
    try:
        return manager().get(run_id, ui_owners.viewer())
    except (UnknownRunError, TrainingError):
        st.error(t("labs_ui.run_not_found"))
        follow(None)
        return None


def follow(run_id: str | None) -> None:
    """Follow ``run_id`` (None: follow nothing) in this session and in the URL."""
    if run_id:
        st.session_state[K_RUN] = run_id
        st.query_params[Q_RUN] = run_id
    else:
        st.session_state.pop(K_RUN, None)
        st.query_params.pop(Q_RUN, None)


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~:$=^\"'")


def plain(text: object) -> str:
    """User text (a file, class or zip name, a URL value) made inert for ``st.markdown``/captions/titles:
    every Markdown character backslash-escaped, line breaks flattened (no links, images or formatting)."""
    flat = " ".join(str(text).split())
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in flat)


def status_label(status: str) -> str:
    return t(f"training.status.{status}") if status in store.STATUSES else status


# --------------------------------------------------------------------------- curves

def _x_batches(batches: dict, steps: int) -> list[float]:
    return [(s + 1) / max(1, steps) for s in batches.get("step", [])]


def thin(xs: list, ys: list, limit: int = MAX_BATCH_POINTS) -> tuple[list, list]:
    """At most ``limit`` points of a curve: the mean of each of ``limit`` equal chunks (the last point kept),
    so a 100-epoch run's per-batch curve costs the same to send and draw as a 1-epoch one."""
    n = min(len(xs), len(ys))
    if n <= limit:
        return list(xs[:n]), list(ys[:n])
    edges = np.linspace(0, n, limit + 1).astype(int)
    x, y = np.asarray(xs[:n], float), np.asarray(ys[:n], float)
    return ([float(x[b - 1]) for b in edges[1:]], [float(y[a:b].mean()) for a, b in zip(edges[:-1], edges[1:])])


def curves_figure(models: dict[str, dict], events: Iterable[dict] = (), *, labels: dict[str, str] | None = None,
                  batches: bool = True, height: int = 380) -> go.Figure:
    """Loss (left) and accuracy (right) against epochs, every model overlaid.

    Args:
        models: ``{name: {"history": {...}, "batches": {...}, "steps": n}}`` (a snapshot's models,
            or the ``history`` of a stored run: ``{name: {"history": ...}}``).
        events: the run's callback events; each is drawn at its epoch (rate drops, early stop, kept epoch).
        batches: also draw the per-batch training curves (thin), so a live curve grows between epochs.
    """
    labels = labels or {}
    fig = make_subplots(rows=1, cols=2, subplot_titles=(t("labs_ui.curves.loss"), t("labs_ui.curves.accuracy")),
                        horizontal_spacing=0.08)
    for i, (name, m) in enumerate(models.items()):
        color = COLORS[i % len(COLORS)]
        label = labels.get(name, name)
        hist, b = m.get("history") or {}, m.get("batches") or {}
        for col, metric in ((1, "loss"), (2, "accuracy")):
            if batches and b.get(metric):
                bx, by = thin(_x_batches(b, m.get("steps") or 1), b[metric])
                fig.add_trace(go.Scatter(x=bx, y=by, mode="lines",
                                         line={"color": color, "width": 1}, opacity=0.35, legendgroup=name,
                                         showlegend=False, name=t("labs_ui.curves.batch", model=label),
                                         hoverinfo="skip"), row=1, col=col)
            epochs = list(range(1, len(hist.get(metric, [])) + 1))
            if epochs:
                fig.add_trace(go.Scatter(x=epochs, y=hist[metric], mode="lines+markers", legendgroup=name,
                                         line={"color": color, "width": 2},
                                         name=t("labs_ui.curves.train", model=label), showlegend=col == 1),
                              row=1, col=col)
            val = hist.get(f"val_{metric}", [])
            if val:
                fig.add_trace(go.Scatter(x=list(range(1, len(val) + 1)), y=val, mode="lines+markers",
                                         legendgroup=name, line={"color": color, "width": 2, "dash": "dash"},
                                         marker={"symbol": "circle-open"},
                                         name=t("labs_ui.curves.val", model=label), showlegend=col == 1),
                              row=1, col=col)
    names = list(models)
    for ev in events or ():
        if ev.get("epoch") is None or ev.get("kind") not in ("lr_drop", "early_stop", "best_epoch", "checkpoint",
                                                             "stopped"):
            continue
        color = COLORS[names.index(ev["model"]) % len(COLORS)] if ev.get("model") in names else "grey"
        params = {k: (f"{v:.2g}" if isinstance(v, float) else v) for k, v in ev.items() if k in ("old", "new")}
        text = t(f"training.event.{ev['kind']}", **params)
        fig.add_vline(x=int(ev["epoch"]) + 1, line={"color": color, "dash": "dot", "width": 1.5})
        fig.add_annotation(x=int(ev["epoch"]) + 1, y=1.0, yref="y2 domain", xref="x2", text=text, showarrow=False,
                           textangle=-90, xanchor="right", yanchor="top", font={"size": 10, "color": color})
    fig.update_xaxes(title_text=t("labs_ui.curves.epoch"), rangemode="tozero")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def curves_png(fig: go.Figure) -> bytes | None:
    """The figure as PNG through kaleido, or None when kaleido (or its browser) is missing."""
    try:
        return fig.to_image(format="png", width=1200, height=450, scale=1)
    except Exception:  # kaleido missing, or no Chrome for kaleido 1.x: the HTML download remains
        return None


def kaleido_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("kaleido") is not None


def history_csv(history: dict[str, dict]) -> str:
    """``{model: History.history}`` as one long CSV: model, epoch, then one column per metric."""
    metrics = sorted({k for h in history.values() for k in h})
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["model", "epoch", *metrics])
    for name, h in history.items():
        for e in range(max((len(v) for v in h.values()), default=0)):
            w.writerow([name, e + 1, *[(h.get(k) or [None] * (e + 1))[e] if e < len(h.get(k) or []) else ""
                                       for k in metrics]])
    return out.getvalue()


# --------------------------------------------------------------------------- live view

def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def progress_panel(run, snap: dict, *, key: str = "run") -> None:
    """Progress bar, elapsed / remaining time, queue position, and the Stop button of a live run."""
    mgr = manager()
    p = snap["progress"]
    if snap["status"] == "queued":  # the place and counts only: other students' run ids are theirs
        pos = mgr.queue_position(snap["run_id"])
        st.info(t("labs_ui.queued", position=pos or 1, waiting=len(mgr.queue()) or 1, running=len(mgr.running())),
                icon=":material/hourglass_top:")
    else:
        text = t("labs_ui.progress", model=p.get("model") or "…", i=p.get("model_index") or 0,
                 n=p.get("models_total") or 0, epoch=min(p["epoch"] + 1, p["epochs"] or 1), epochs=p["epochs"] or "?",
                 batch=p["batch"], batches=p["batches"] or "?")
        st.progress(min(1.0, max(0.0, float(p["fraction"]))), text=text)
        c1, c2, c3 = st.columns(3)
        c1.metric(t("labs_ui.elapsed"), _clock(p["elapsed"]))
        c2.metric(t("labs_ui.remaining"), _clock(p["eta"]))
        c3.metric(t("labs_ui.status"), status_label(snap["status"]))
    if snap["status"] == "queued" and run.stop_requested:
        st.caption(t("labs_ui.stopped_queued"))  # for the instant before RunManager.stop cancels it
    elif snap["status"] in ("queued", "running"):
        st.button(t("labs_ui.stop"), key=f"{key}_stop", icon=":material/stop_circle:", type="secondary",
                  on_click=mgr.stop, args=(snap["run_id"], ui_owners.viewer()), help=t("labs_ui.stop_help"))
    elif snap["status"] == "stopping":
        st.caption(t("labs_ui.stopping"))


def live_view(run_id: str, draw: Callable[[Run, dict], None], *, key: str = "run") -> None:
    """Redraw a live run every :data:`LIVE_SECONDS` (``st.fragment``) through ``draw(run, snapshot)``;
    rerun the page once when the run is over (the page then draws the stored view)."""

    viewer = ui_owners.viewer()

    def redraw() -> None:
        try:
            run = manager().get(run_id, viewer)
        except (UnknownRunError, TrainingError):  # deleted by the teacher meanwhile
            return
        snap = run.snapshot() if isinstance(run, Run) else None
        if snap is None or snap["status"] in DONE:  # over (or the worker is gone: the stored run)
            if st.session_state.get(f"{key}_live_done") != run_id:  # once: show the finished view
                st.session_state[f"{key}_live_done"] = run_id
                st.rerun()
            return
        draw(run, snap)

    st.fragment(redraw, run_every=LIVE_SECONDS)()


def live_curves(run, snap: dict, *, labels: dict[str, str] | None = None, key: str = "run") -> None:
    """Progress panel and the growing curves of a live run (the Labs view; Homework draws its own
    progress line above the same curves)."""
    progress_panel(run, snap, key=key)
    if any(m["batches"].get("step") for m in snap["models"].values()):
        st.plotly_chart(curves_figure(snap["models"], snap["events"], labels=labels), key=f"{key}_live_curves",
                        config={"displayModeBar": False})
    elif snap["status"] != "queued":
        st.caption(t("labs_ui.preparing"))


def stored_models(run) -> dict[str, dict]:
    """A run's curves input for :func:`curves_figure`: ``{model: {"history", "batches", "steps"}}``."""
    history, batches, steps = run.history, run.batches, run.steps
    return {n: {"history": h, "batches": batches.get(n, {}), "steps": steps.get(n) or 1} for n, h in history.items()}


# --------------------------------------------------------------------------- trained models for other pages

def trained_options() -> dict[str, str]:
    """``{"run:<run_id>/<model>": label}`` for every finished run's saved zoo model (newest first)."""
    out: dict[str, str] = {}
    viewer = ui_owners.viewer()
    for record, name in trained.trained_models():
        if not viewer.may(record.owner):  # another student's network is theirs
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created or 0))
        out[trained.make_ref(record.run_id, name)] = t(
            "labs_ui.trained_option", model=zoo.get_spec(name).display_name, lab=record.title, when=when)
    return out


split_trained = trained.split_choice      # a picker's value → (zoo name, "run:<id>/<model>" or None)
is_trained = trained.is_ref
load_trained_model = trained.load_model   # heavy: TF, only when a trained model is opened


def trained_badge(weights: str | None) -> None:
    """The "trained in Labs" badge a page shows beside a trained model."""
    if weights:
        st.badge(t("labs_ui.trained_badge", run=trained.parse_ref(weights).run_id),
                 icon=":material/school:", color="green")


def record_or_error(run_id: str):
    """The stored run this session may see, or None after an ``st.error`` in the UI language."""
    try:
        record = store.load_run(run_id)
        if not ui_owners.viewer().may(record.owner):
            raise UnknownRunError("training.error.unknown_run", run_id="?")
        return record
    except (UnknownRunError, TrainingError) as exc:
        st.error(error_message(exc))
        return None


def images_strip(images: np.ndarray) -> np.ndarray:
    """N×H×W×C floats in [0, 1] → one uint8 image, stacked vertically with a 2-px gap."""
    if len(images) == 0:
        return np.zeros((1, 1, 3), np.uint8)
    n, h, w, c = images.shape
    out = np.full((n * h + (n - 1) * 2, w, c), 255, np.uint8)
    for i, img in enumerate(images):
        out[i * (h + 2): i * (h + 2) + h] = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    return out
