"""The pretrained-weights banner, shared by the model pages.

:func:`weights_banner` shows ONE banner for a set of models: which of them lack cached
ImageNet weights, a button that downloads them (with a progress bar, through
:func:`cnnviz.zoo.pretrained.fetch_weights`), and the "random weights (predictions meaningless)"
switch. It returns the weights mode of every model, so a page never has to guess.
The cached predictor loader lives in :mod:`cnnviz.ui.models`.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import time
from typing import Sequence

import streamlit as st

from cnnviz import cache, zoo
from cnnviz.zoo import pretrained
from cnnviz.ui import error_message, t
from cnnviz.ui.models import display_name


def _fmt_mb(n: int | float | None) -> str:
    return "?" if not n else f"{n / 2**20:.1f}"


def cache_states(names: Sequence[str]) -> dict[str, str]:
    """``{name: "cached" | "missing" | "corrupt"}`` for the ImageNet weights (cheap file check)."""
    wanted = list(dict.fromkeys(names))
    states = {n: "missing" for n in wanted}
    for entry in pretrained.status(wanted, verify=False):
        if entry.name in states:
            states[entry.name] = entry.state
    return states


def installed_ready() -> list[str]:
    """Models whose ImageNet weights ship with the install and are usable now (package present,
    right size): a real answer with no download, e.g. EfficientNet-Lite0."""
    names = pretrained.installed_models()
    try:
        states = cache_states(names)
    except Exception:  # an unreadable cache folder: weights_banner says so
        return []
    return [n for n in names if states.get(n) == "cached"]


def offline_default(candidates: Sequence[str]) -> str | None:
    """The installed-weights model to propose when none of ``candidates`` has usable ImageNet
    weights (None when one has, or when no installed model is ready)."""
    with_weights = [n for n in dict.fromkeys(candidates) if zoo.get_spec(n).has_imagenet_weights]
    try:
        if any(s == "cached" for s in cache_states(with_weights).values()):
            return None
    except Exception:
        pass
    ready = installed_ready()
    return ready[0] if ready else None


def _labels_cached() -> bool:
    try:
        return pretrained.load_labels() is not None
    except Exception:
        return False


def _download(missing: list[str], labels_missing: bool) -> bool:
    """Fetch the missing files with one progress bar. True when everything arrived."""
    todo: list[str | None] = list(missing) + ([None] if labels_missing else [])
    bar = st.progress(0.0, text=t("infer.weights.starting"))
    last = [0.0]

    for i, name in enumerate(todo):
        what = display_name(name) if name else t("infer.weights.labels_name")

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
                st.warning(t("infer.weights.missing", models=", ".join(display_name(n) for n in missing)),
                           icon=":material/cloud_download:")
            if corrupt:
                st.caption(t("infer.weights.corrupt", models=", ".join(display_name(n) for n in corrupt)))
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
