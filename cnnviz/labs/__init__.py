"""Labs: the course's exercises, trained live (class 130 exercises 2–5, CIFAR-10 v1→v5, callbacks).

``list_labs()`` and ``get_lab(id)`` are light (no TensorFlow): each lab is a small
declarative entry (:mod:`cnnviz.labs.registry`). ``run_lab(...)`` and ``check_settings(...)``
load TensorFlow when called. To train in the background (the page), use
``cnnviz.labs.start(manager, lab_id, **settings)`` with a ``cnnviz.training.RunManager``.
"""

from __future__ import annotations

from typing import Any

from cnnviz.labs.data import load_data
from cnnviz.labs.registry import LABS, Lab, LabError, LabModel, UnknownLabError, check_settings, get_lab, list_labs


def run_lab(lab_id: str, dataset: str = "digits", epochs: int | None = None, subset: int | None = None,
            seed: int = 0, callbacks=(), on_progress=None, **kwargs: Any):
    """Train a lab's networks and measure them; see :func:`cnnviz.labs.run.run_lab`."""
    from cnnviz.labs.run import run_lab as _run  # heavy: TF

    return _run(lab_id, dataset=dataset, epochs=epochs, subset=subset, seed=seed, callbacks=callbacks,
                on_progress=on_progress, **kwargs)


def start(manager, lab_id: str, *, owner: str | None = None, **kwargs: Any):
    """Queue ``run_lab(lab_id, **kwargs)`` as a background run of ``manager`` (settings checked first),
    owned by ``owner`` (an owner id; None: the teacher's)."""
    params = check_settings(lab_id, **kwargs)
    return manager.submit(lambda ctx: run_lab(lab_id, context=ctx, **kwargs), kind=f"lab-{lab_id}",
                          params=params, title=lab_id, owner=owner)


__all__ = ["LABS", "Lab", "LabError", "LabModel", "UnknownLabError", "check_settings", "get_lab", "list_labs",
           "load_data", "run_lab", "start"]
