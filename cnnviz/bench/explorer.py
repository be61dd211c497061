"""The explorer: build, summarize, ``model.summary`` text and chart timings per model.

Each model is built once with random weights (what the explorer shows); summarize, the
summary text and the explorer's charts are then timed ``repeats`` times and the median is
reported. Rows go under "other benchmarks" (``source=explorer``).
"""

from __future__ import annotations

import statistics
import time
from typing import Sequence

from cnnviz import zoo
from cnnviz.bench.base import Context, Section, model_names
from cnnviz.inspect import summarize, summary_text


def benchmark(names: Sequence[str] | None = None, *, repeats: int = 3) -> list[dict]:
    """Build / summarize / chart timings per zoo model on this machine.

    Returns:
        One dict per model: ``model``, ``layers``, ``params``, ``macs``, ``build_s``,
        ``summarize_s``, ``summary_text_s``, ``charts_s``.
    """
    from cnnviz import charts  # heavy: plotly

    out = []
    for name in model_names(names):
        t0 = time.perf_counter()
        model = zoo.create_model(name, weights=None)
        build = time.perf_counter() - t0
        timings: dict[str, list[float]] = {"summarize": [], "text": [], "charts": []}
        summary = None
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            summary = summarize(model)
            timings["summarize"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            summary_text(model)
            timings["text"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            charts.all_figures(summary)
            timings["charts"].append(time.perf_counter() - t0)
        assert summary is not None
        out.append({
            "model": name,
            "layers": len(summary.layers),
            "params": summary.total_params,
            "macs": summary.macs,
            "build_s": round(build, 3),
            "summarize_s": round(statistics.median(timings["summarize"]), 3),
            "summary_text_s": round(statistics.median(timings["text"]), 3),
            "charts_s": round(statistics.median(timings["charts"]), 3),
        })
        del model
    return out


def _measure(ctx: Context) -> list[dict]:
    return benchmark(ctx.names)


SECTION = Section("explorer", _measure)
