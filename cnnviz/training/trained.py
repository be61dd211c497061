"""Models trained in a run, named by a weights reference ``"run:<run_id>/<model>"``.

The one parser of that reference: the pages (a trained model on Filters, Classify) and the
Ray Serve app (``weights="run:..."``) both go through :func:`parse_ref` and
:func:`load_model`. No TensorFlow at import; :func:`load_model` loads Keras.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from cnnviz import zoo
from cnnviz.training import store
from cnnviz.training.store import TrainingError

PREFIX = "run:"


class TrainedRef(NamedTuple):
    """A parsed ``"run:<run_id>/<model>"``."""

    run_id: str
    model: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.run_id}/{self.model}"


def is_ref(weights: object) -> bool:
    """True for a ``"run:<run_id>/<model>"`` weights value."""
    return isinstance(weights, str) and weights.startswith(PREFIX)


def parse_ref(weights: str) -> TrainedRef:
    """``"run:<run_id>/<model>"`` → ``TrainedRef(run_id, model)``.

    Raises:
        TrainingError: not such a reference (no prefix, no run id or no model name).
    """
    if not is_ref(weights):
        raise TrainingError("training.error.bad_ref", ref=str(weights))
    run_id, _, model = weights[len(PREFIX):].partition("/")
    if not run_id or not model or "/" in model:
        raise TrainingError("training.error.bad_ref", ref=weights)
    return TrainedRef(run_id, model)


def make_ref(run_id: str, model: str) -> str:
    return str(TrainedRef(run_id, model))


def split_choice(choice: str) -> tuple[str, str | None]:
    """A model picker's value → (zoo model name, the trained reference or None)."""
    if is_ref(choice):
        return parse_ref(choice).model, choice
    return choice, None


def model_path(weights: str) -> Path:
    """The ``.keras`` file a run saved for ``weights``.

    Raises:
        UnknownRunError: no such run. TrainingError: the run saved no model of that name.
    """
    ref = parse_ref(weights)
    path = store.load_run(ref.run_id).model_path(ref.model)
    if path is None:
        raise TrainingError("training.error.no_model", model=ref.model, run_id=ref.run_id)
    return path


def load_model(weights: str):
    """The Keras model a run saved (``weights`` = "run:<run_id>/<model>"); heavy: TF."""
    return zoo.load_saved(model_path(weights))


def trained_models(statuses=("finished", "stopped")) -> list[tuple[store.RunRecord, str]]:
    """``(run, zoo model name)`` for each zoo model saved by a run in ``statuses``, newest run first.

    Only models built from the zoo: the pages that show them preprocess by zoo name.
    """
    try:
        records = store.list_runs()
    except OSError:
        return []
    names = set(zoo.list_models())
    out = []
    for record in records:
        if record.status not in statuses:
            continue
        models_dir = record.path / "models"
        if not models_dir.is_dir():
            continue
        for path in sorted(models_dir.glob("*.keras")):
            if path.stem in names and not path.name.startswith("."):
                out.append((record, path.stem))
    return out
