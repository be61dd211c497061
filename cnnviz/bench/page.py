"""The Classify page run headlessly: upload → four results, as the page itself does it.

This module is the one documented exception to "only ``cnnviz/ui`` imports Streamlit": it
drives ``pages/classify.py`` with Streamlit's own test harness (``AppTest``), imported
inside :func:`page_timing` so that importing :mod:`cnnviz.bench` never loads Streamlit.
It runs only for the homework models (what the page shows) and not with ``--no-page``.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import cnnviz
from cnnviz import HOMEWORK_MODELS
from cnnviz.bench.base import Context, Section
from cnnviz.bench.inference import sample_photo


def page_timing(uploads: int = 3) -> dict | None:
    """Time from a new upload to the finished script with four results, next to the sum of
    the four inference latencies the page shows.

    The first upload loads the page's own (cached) predictors and is reported apart; the
    following ones are warm. Browser rendering is not included. None outside a source
    checkout (no ``pages/classify.py``).
    """
    page = Path(cnnviz.__file__).resolve().parents[1] / "pages" / "classify.py"
    if not page.exists():
        return None
    from streamlit.testing.v1 import AppTest  # heavy: Streamlit (the documented exception)

    at = AppTest.from_file(str(page), default_timeout=900)
    at.query_params["lang"] = "en"
    at.run()
    rows = []
    for i in range(uploads + 1):
        data = sample_photo(variant=i + 1)
        t0 = time.perf_counter()
        at.file_uploader[0].upload(f"phone-{i}.jpg", data, "image/jpeg").run()
        wall = (time.perf_counter() - t0) * 1000
        problems = [e.value for e in at.exception] + [e.value for e in at.error]
        latencies = []
        for metric in at.metric:
            try:
                latencies.append(float(str(metric.value).split()[0]))
            except ValueError:
                pass
        rows.append({"cold": i == 0, "wall_ms": wall, "results": len(latencies),
                     "inference_sum_ms": sum(latencies), "overhead_ms": wall - sum(latencies),
                     "problems": problems})
    warm = [r for r in rows if not r["cold"]]
    return {
        "uploads": rows,
        "cold_ms": rows[0]["wall_ms"],
        "warm_median_ms": statistics.median(r["wall_ms"] for r in warm),
        "warm_median_inference_sum_ms": statistics.median(r["inference_sum_ms"] for r in warm),
        "warm_median_overhead_ms": statistics.median(r["overhead_ms"] for r in warm),
    }


def _measure(ctx: Context) -> dict:
    ctx.log("Classify page (headless): loading its four models…")
    return {"page": page_timing(3)}


def _lines(report: dict) -> list[str]:
    page = report.get("page")
    if not page:
        return []
    out = [f"Classify page (headless AppTest, 12 MP upload → 4 results, warm): {page['warm_median_ms']:.0f} ms = "
           f"inference {page['warm_median_inference_sum_ms']:.0f} ms + overhead "
           f"{page['warm_median_overhead_ms']:.0f} ms (first upload, loading the models: "
           f"{page['cold_ms'] / 1000:.1f} s; browser drawing not included)"]
    for row in page["uploads"]:
        if row["problems"] or row["results"] != 4:
            out.append(f"  page problem: {row['results']} results, {row['problems']}")
    return out


# Only for the homework four: the page shows those, whatever --models says.
SECTION = Section("page", _measure, _lines, when=lambda ctx: ctx.names == list(HOMEWORK_MODELS))
