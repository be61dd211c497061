"""Everything cnnviz measures about itself: ``python -m cnnviz bench`` and ``coldstart``.

One module per thing measured; :data:`SECTIONS` lists, in order, what ``bench`` runs:

==============  =============================  ===================================================
section         module                         report keys / rows
==============  =============================  ===================================================
``inference``   :mod:`cnnviz.bench.inference`  ``runs``, ``matmul_peak``, ``models``
``upload``      :mod:`cnnviz.bench.inference`  ``upload_to_results`` (12 MP photo → 4 results)
``memory``      :mod:`cnnviz.bench.inference`  ``memory`` (peak RSS, growth over predictions)
``engines``     :mod:`cnnviz.bench.engines`    ``engines`` (LiteRT vs bare tf.function vs app path)
``explorer``    :mod:`cnnviz.bench.explorer`   rows in ``extras`` (build, summarize, charts)
``visualize``   :mod:`cnnviz.bench.visualize`  rows in ``extras`` (feature maps, Grad-CAM, actmax)
``page``        :mod:`cnnviz.bench.page`       ``page`` (Classify page under AppTest; homework only)
``training``    :mod:`cnnviz.bench.training`   ``training`` (labs: app vs plain fit, img/s, peak share)
``serving``     :mod:`cnnviz.bench.throughput` rows in ``extras`` (8 concurrent: batching off/on, Ray)
``homework``    :mod:`cnnviz.bench.homework`   ``homework`` (4 models × 2 phases; CNNVIZ_BENCH_HOMEWORK=1)
``intake``      :mod:`cnnviz.bench.intake`     ``intake`` (250 phone photos: zip, folder, upload; CNNVIZ_BENCH_INTAKE=1)
``machine``     :mod:`cnnviz.bench.machine`    ``machine`` (CPUs, device, TensorFlow)
==============  =============================  ===================================================

Sections run in this order (``inference`` loads the predictors ``upload`` and ``memory``
reuse); the text report prints the sections that have ``lines`` in this order, then the rows
of the others under "other benchmarks". :mod:`cnnviz.bench.machine` also holds the fp32 peak
and the one reader of the process's memory; :mod:`cnnviz.bench.coldstart` times a fresh
server in a real browser (``python -m cnnviz coldstart``, not a section).

Adding a section (labs training throughput, LiteRT vs tf.function, a load test...):

1. Write ``cnnviz/bench/<thing>.py``: a ``measure(ctx: Context)`` returning either a dict
   (new top-level keys of the JSON report) with a ``lines(report) -> list[str]`` printer, or
   a list of flat row dicts (printed under "other benchmarks"); import TensorFlow and other
   heavy modules inside ``measure`` (``# heavy: TF``). End it with
   ``SECTION = Section("<thing>", measure, lines, when=...)``.
2. Add ``<thing>.SECTION`` to :data:`SECTIONS` below, where it should run.

``--skip <thing>`` then skips it, and ``--json`` carries it; the CLI needs no change.
A section that fails with an exception ends the run, except row sections, whose error
becomes a row (one area's benchmark must not sink the others).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Iterable, TextIO

from cnnviz.bench import engines, explorer, homework, inference, intake, machine, page, throughput, training, visualize
from cnnviz.bench.base import Context, Section

__all__ = ["Context", "SECTIONS", "Section", "measure", "print_json", "print_report", "section_names"]

#: What ``python -m cnnviz bench`` measures, in this order.
SECTIONS: list[Section] = [
    inference.MODELS,
    inference.UPLOAD,
    inference.MEMORY,
    engines.SECTION,
    explorer.SECTION,
    visualize.SECTION,
    page.SECTION,
    training.SECTION,
    throughput.SECTION,
    homework.SECTION,
    intake.SECTION,
    machine.SECTION,
]


def section_names() -> list[str]:
    return [s.name for s in SECTIONS]


def measure(ctx: Context, *, skip: Iterable[str] = ()) -> dict:
    """Run every section of :data:`SECTIONS` not in ``skip`` (and whose ``when`` holds).

    Returns:
        The report: ``sections`` (the names that ran), the keys the dict sections return,
        and ``extras`` (the rows of the row sections, each with ``source`` = the section's name).
    """
    from cnnviz import infer  # heavy: TF (device selection)
    import tensorflow as tf  # heavy: TF

    skip = set(skip)
    unknown = skip - set(section_names())
    if unknown:
        raise ValueError(f"unknown bench section(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(section_names())}")
    if ctx.device is None:
        ctx.device = infer.select_device(force_cpu=ctx.force_cpu or None)
    ctx.log(f"device: {ctx.device.label()} · {os.cpu_count()} CPUs · TensorFlow {tf.__version__}")
    report: dict = {"sections": []}
    extras: list[dict] = []
    for section in SECTIONS:
        if section.name in skip or (section.when is not None and not section.when(ctx)):
            continue
        report["sections"].append(section.name)
        if not section.rows:
            report.update(section.measure(ctx))
            continue
        try:
            rows = section.measure(ctx)
        except Exception as exc:  # another area's benchmark must not sink this one
            rows = [{"error": f"{type(exc).__name__}: {exc}"}]
        extras.extend({"source": section.name, **row} for row in rows)
    report["extras"] = extras
    return report


def print_report(report: dict, out: TextIO | None = None) -> None:
    """The text report: each printed section's lines, then the rows under "other benchmarks"."""
    out = out or sys.stdout
    for section in SECTIONS:
        if section.lines is None:
            continue
        if section.name in report.get("sections", ()):
            for line in section.lines(report):
                print(line, file=out)
    if report.get("extras"):
        print("\nother benchmarks:", file=out)
        for row in report["extras"]:
            print("  " + " · ".join(f"{k}={_fmt_extra(v)}" for k, v in row.items()), file=out)


def print_json(report: dict, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    json.dump(report, out, indent=2, default=_jsonable)
    out.write("\n")


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _fmt_extra(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
