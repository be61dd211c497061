"""The errors :mod:`cnnviz.infer` raises (each a :class:`cnnviz.errors.UserFacingError`), and the
one check of a number of timed runs."""

from __future__ import annotations

import numpy as np

from cnnviz.errors import UserFacingError

#: The most timed runs one prediction may ask for (a typo like 5000 must not hang a page).
MAX_RUNS = 100

class InferenceError(UserFacingError):
    """Base class of the errors :mod:`cnnviz.infer` raises."""


class BusyError(InferenceError):
    """The model is serving another request and did not become free in time."""

    def __init__(self, model: str, seconds: float) -> None:
        super().__init__("infer.error.busy", model=model, seconds=f"{seconds:g}")


class InvalidRunsError(InferenceError, ValueError):
    """A number of timed runs outside 1..MAX_RUNS."""

    def __init__(self, runs: object) -> None:
        super().__init__("infer.error.runs", runs=repr(runs), max=MAX_RUNS)


class NotAnImageError(InferenceError, TypeError):
    """``predict`` got something that is not a PIL image."""

    def __init__(self, got: object) -> None:
        super().__init__("infer.error.not_image", got=type(got).__name__)


class NotAClassifierError(InferenceError, ValueError):
    """The model's output is not one probability vector per image."""

    def __init__(self, model: str, shape: object) -> None:
        super().__init__("infer.error.not_classifier", model=model, shape=shape)


class BadProbabilitiesError(InferenceError):
    """The softmax output does not sum to 1 (a broken model or numeric overflow)."""

    def __init__(self, model: str, total: float) -> None:
        super().__init__("infer.error.prob_sum", model=model, total=f"{total:.6f}")


class InvalidWeightsError(InferenceError, ValueError):
    """A ``weights`` value other than "imagenet" or None."""

    def __init__(self, model: str, weights: object) -> None:
        super().__init__("infer.error.weights", model=model, weights=repr(weights))


class InvalidEngineError(InferenceError, ValueError):
    """An ``engine`` value other than "auto", "tf" or "litert"."""

    def __init__(self, engine: object) -> None:
        super().__init__("infer.error.engine_value", engine=repr(engine))


class EngineUnavailableError(InferenceError):
    """LiteRT was asked for explicitly (``engine="litert"``) and cannot run this model here."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__("infer.error.engine_unavailable", model=model, reason=reason)



def check_runs(runs: object) -> int:
    """``runs`` as an int, or :class:`InvalidRunsError` when it is not a whole number in 1..MAX_RUNS."""
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or not 1 <= int(runs) <= MAX_RUNS:
        raise InvalidRunsError(runs)
    return int(runs)
