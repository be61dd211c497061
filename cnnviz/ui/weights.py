"""Pretrained-weights banner and the cached predictor loader, shared by the model pages.

:func:`weights_banner` shows ONE banner for a set of models: which of them lack cached
ImageNet weights, a button that downloads them (with a progress bar, through
:func:`cnnviz.zoo.pretrained.fetch_weights`), and the "random weights (predictions meaningless)"
switch. It returns the weights mode of every model, so a page never has to guess.

:func:`get_predictor` builds one :class:`cnnviz.infer.Predictor` per
(name, weights, device) and shares it across sessions (``st.cache_resource``); the
predictor serialises its own calls, so sharing is safe.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import time
from typing import Sequence

import streamlit as st

from cnnviz.ui import error_message, t



#: Predictors kept alive at once (each homework model is 10–110 MB of float32 weights).
MAX_PREDICTORS = 8

# (name, weights, force_cpu) of every predictor built by this process, so a page can
# tell "will load (show progress)" from "already warm" without touching the cache.
_LOADED: set[tuple[str, str | None, bool]] = set()


def _display(name: str) -> str:
    from cnnviz import zoo

    try:
        return zoo.get_spec(name).display_name
    except Exception:
        return name


def _fmt_mb(n: int | float | None) -> str:
    return "?" if not n else f"{n / 2**20:.1f}"


def cache_states(names: Sequence[str]) -> dict[str, str]:
    """``{name: "cached" | "missing" | "corrupt"}`` for the ImageNet weights (cheap file check)."""
    from cnnviz.zoo import pretrained

    wanted = list(dict.fromkeys(names))
    states = {n: "missing" for n in wanted}
    for entry in pretrained.status(wanted, verify=False):
        if entry.name in states:
            states[entry.name] = entry.state
    return states


def _labels_cached() -> bool:
    from cnnviz.zoo import pretrained

    try:
        return pretrained.load_labels() is not None
    except Exception:
        return False


def _download(missing: list[str], labels_missing: bool) -> bool:
    """Fetch the missing files with one progress bar. True when everything arrived."""
    from cnnviz import cache
    from cnnviz.zoo import pretrained

    todo: list[str | None] = list(missing) + ([None] if labels_missing else [])
    bar = st.progress(0.0, text=t("infer.weights.starting"))
    last = [0.0]

    for i, name in enumerate(todo):
        what = _display(name) if name else t("infer.weights.labels_name")

        def report(done: int, total: int | None, i: int = i, what: str = what) -> None:
            # fetch_weights reports every chunk; redraw at most ~10 times a second.
            now = time.monotonic()
            if now - last[0] < 0.1 and (total is None or done < total):
                return
            last[0] = now
            frac = (i + (min(done / total, 1.0) if total else 0.0)) / len(todo)
            bar.progress(min(frac, 1.0), text=t("infer.weights.downloading", model=what, done=_fmt_mb(done),
                                                total=_fmt_mb(total), i=i + 1, n=len(todo)))

        try:
            if name is None:
                pretrained.fetch_labels(progress=report)
            else:
                pretrained.fetch_weights(name, include_top=True, progress=report)
        except cache.CacheError as exc:
            bar.empty()
            st.error(error_message(exc))
            return False
    bar.progress(1.0, text=t("infer.weights.done"))
    return True


def weights_banner(names: Sequence[str], *, key: str = "weights") -> dict[str, str | None]:
    """The weights banner for ``names``; returns ``{name: "imagenet" | None}``.

    * Models with cached weights run with them ("imagenet").
    * Models whose weights are missing (or corrupt) run with random weights (None) and
      the banner names them, with a download button.
    * Models that have no ImageNet weights at all (built from code) are always None.
    * The "random weights" switch forces None for every model; it is on (and locked)
      when no selected model has weights.

    Args:
        names: registry names shown on the page (duplicates allowed).
        key: widget-key prefix, distinct per page.
    """
    from cnnviz import zoo

    names = list(dict.fromkeys(names))
    pretrained = [n for n in names if zoo.get_spec(n).has_imagenet_weights]
    try:
        states = cache_states(pretrained)
    except Exception as exc:  # an unreadable cache folder: say so, still run with random weights
        st.error(error_message(exc))
        states = {n: "missing" for n in pretrained}
    missing = [n for n in pretrained if states.get(n) != "cached"]
    corrupt = [n for n in missing if states.get(n) == "corrupt"]
    labels_missing = bool(pretrained) and not _labels_cached()
    all_missing = bool(pretrained) and len(missing) == len(pretrained)

    if missing or labels_missing:
        with st.container(border=True):
            if missing:
                st.warning(t("infer.weights.missing", models=", ".join(_display(n) for n in missing)),
                           icon=":material/cloud_download:")
            if corrupt:
                st.caption(t("infer.weights.corrupt", models=", ".join(_display(n) for n in corrupt)))
            if labels_missing:
                st.caption(t("infer.weights.labels_missing"))
            label = (t("infer.weights.download", n=len(missing)) if missing
                     else t("infer.weights.download_labels"))
            if st.button(label, key=f"{key}_download", icon=":material/download:", type="primary"):
                if _download(missing, labels_missing):
                    st.rerun()

    if all_missing:
        st.toggle(t("infer.weights.random_toggle"), value=True, disabled=True, key=f"{key}_random_locked",
                  help=t("infer.weights.random_locked_help"))
        random_all = True
    else:
        random_all = st.toggle(t("infer.weights.random_toggle"), value=False, key=f"{key}_random",
                               help=t("infer.weights.random_help"))
    return {n: None if (random_all or n not in pretrained or n in missing) else "imagenet" for n in names}


# --------------------------------------------------------------------------- predictors

def _gpu_present() -> bool:
    from cnnviz import infer

    return infer.select_device(force_cpu=False).is_gpu


@st.cache_resource(max_entries=MAX_PREDICTORS, show_spinner=False)
def _predictor(name: str, weights: str | None, force_cpu: bool):
    from cnnviz import infer
    from cnnviz.ui.models import get_model

    device = infer.select_device(force_cpu=force_cpu)
    model = None
    # Share the page-wide model (the Filters page uses the same one) when it lives where
    # this predictor runs: default placement and float32. Mixed precision, or a CPU forced
    # on a GPU machine, needs a model built for that device.
    if not device.mixed_precision and (device.is_gpu or not _gpu_present()):
        model = get_model(name, weights)
    predictor = infer.load_predictor(name, weights, model=model, device=device)
    _LOADED.add((name, weights, force_cpu))
    return predictor


def get_predictor(name: str, weights: str | None, *, force_cpu: bool = False):
    """The shared, warm predictor for (name, weights, device)."""
    from cnnviz import device

    return _predictor(name, weights, bool(force_cpu or device.force_cpu()))


def predictor_loaded(name: str, weights: str | None, *, force_cpu: bool = False) -> bool:
    """Whether :func:`get_predictor` would return at once (no build, no compile)."""
    from cnnviz import device

    return (name, weights, bool(force_cpu or device.force_cpu())) in _LOADED
