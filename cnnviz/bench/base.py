"""What every bench section shares: the run's context, the section record, a stopwatch.

Nothing heavy here (no TensorFlow, no Streamlit): section modules import this at the top.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from cnnviz import HOMEWORK_MODELS


@dataclass
class Context:
    """One ``python -m cnnviz bench`` run: the options, the device and what sections share.

    Attributes:
        names: registry names to measure (checked).
        runs: timed runs per measurement.
        repeat: predictions per model for the memory-growth check.
        random_weights: random weights even when ImageNet ones are cached.
        force_cpu: run on the CPU even if a GPU is present.
        device: the ``cnnviz.infer`` device the predictors run on (set by the runner).
        log: prints one progress line (to stderr when the report is JSON).
        predictors: ``{name: Predictor}`` loaded by the inference section and reused by the
            sections after it (upload → results, memory), with ``photo`` (the decoded test
            photo) and ``rss_start_mb`` (the process's RSS before the first model).
    """

    names: list[str]
    runs: int = 20
    repeat: int = 30
    random_weights: bool = False
    force_cpu: bool = False
    device: Any = None
    log: Callable[[str], None] = field(default=lambda text: print(text, flush=True))
    predictors: dict = field(default_factory=dict)
    photo: Any = None
    rss_start_mb: float | None = None


@dataclass(frozen=True)
class Section:
    """One thing ``cnnviz bench`` measures.

    Attributes:
        name: short id (``--skip NAME``), also the ``source`` of its rows in ``extras``.
        measure: ``measure(ctx)`` → a dict merged into the report (its keys are the JSON
            report's top-level keys), or, when ``lines`` is None, a list of flat row dicts
            listed under "other benchmarks" (``report["extras"]``).
        lines: ``lines(report)`` → the text lines it prints, from the whole report.
        when: ``when(ctx)`` → False skips the section in this run (default: always runs).
    """

    name: str
    measure: Callable[[Context], Any]
    lines: Callable[[dict], list[str]] | None = None
    when: Callable[[Context], bool] | None = None

    @property
    def rows(self) -> bool:
        return self.lines is None


def timed_ms(fn: Callable[[], object]) -> float:
    """Milliseconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def first_and_median_ms(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """The first call's milliseconds (tracing included), then the median of ``runs`` more."""
    first = timed_ms(fn)
    return first, statistics.median(timed_ms(fn) for _ in range(runs))


def fmt(value, spec: str, na: str = "n/a") -> str:
    return na if value is None else format(value, spec)


def model_names(names: Sequence[str] | None) -> list[str]:
    """``names`` or, by default, the homework models."""
    return list(names or HOMEWORK_MODELS)
