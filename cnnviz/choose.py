"""Pick an architecture by constraint (class 130): latency budget, minimum top-1, memory limit.

Accuracy is the published ImageNet top-1 (:func:`cnnviz.timeline.published_top1`, with its
source); memory is the float32 weights (parameters × 4 bytes, the registry's parameter count);
latency is **measured on this machine** when asked (:func:`measure`), per engine, and kept in
``cache.derived_dir("latency")/latencies.json`` (``cache status`` lists it, ``cache clear``
removes it). Nothing is invented: a model that was never measured has no latency, and the
chooser says so.

Light module: TensorFlow is imported only by :func:`measure` (through :mod:`cnnviz.infer`).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from cnnviz import cache, fileio, timeline, zoo
from cnnviz.zoo import pretrained

KIND = "latency"
FILE = "latencies.json"
ENGINES = ("litert", "tf")


@dataclass
class Candidate:
    """One pretrained zoo model with what the chooser knows about it."""

    name: str
    display_name: str
    family: str
    top1: float | None
    source: str | None
    params: int | None
    latency_ms: dict[str, float]  # engine id → median ms measured here
    weights: dict[str, str]  # engine id → "imagenet" / "random" (what the measurement ran with)

    @property
    def size_mb(self) -> float | None:
        return None if self.params is None else self.params * 4 / 2**20

    def latency(self, engine: str) -> float | None:
        return self.latency_ms.get(engine)


def store_path() -> Path:
    return cache.derived_dir(KIND) / FILE


def machine_id() -> str:
    """Measurements belong to a machine: its CPU count and processor name."""
    return f"{platform.node()}|{os.cpu_count()}|{platform.processor() or platform.machine()}"


def load_measurements() -> dict:
    """``{model: {engine: {"ms", "weights", "runs", "when"}}}`` measured on this machine."""
    try:
        data = json.loads(store_path().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("machine") != machine_id():
        return {}
    models = data.get("models")
    return models if isinstance(models, dict) else {}


def _save(models: dict) -> None:
    fileio.write_json(store_path(), {"machine": machine_id(), "models": models}, indent=1, sort_keys=True)


def candidates(lang: str = "en") -> list[Candidate]:
    """Every zoo model with ImageNet weights, with its published top-1 and measured latencies."""
    measured = load_measurements()
    out = []
    for name in pretrained.pretrained_models():
        spec = zoo.get_spec(name)
        pub = timeline.published_top1(name, lang)
        rows = measured.get(name, {})
        out.append(Candidate(name, spec.display_name, spec.family, pub[0] if pub else None, pub[1] if pub else None,
                             spec.params, {e: float(r["ms"]) for e, r in rows.items() if "ms" in r},
                             {e: str(r.get("weights")) for e, r in rows.items()}))
    return out


def measure(names: Iterable[str], engine: str = "tf", *, runs: int = 5,
            progress: Callable[[str, int, int], None] | None = None,
            convert_progress: Callable[[str, float], None] | None = None) -> dict[str, float | Exception]:
    """Time each model here (median of ``runs`` after warm-up, batch 1) and keep the result.

    ImageNet weights when cached, random ones otherwise (the computation is the same).
    ``engine="litert"`` converts a model the first time (a minute or two).

    Returns:
        ``{name: median ms or the exception that stopped it}``.
    """
    from PIL import Image

    from cnnviz import infer  # heavy: TF when a predictor is built
    from cnnviz.litert import check_image

    names = list(names)
    cached = {e.name for e in pretrained.status(names) if e.state == "cached"}
    results: dict[str, float | Exception] = {}
    for i, name in enumerate(names):
        if progress:
            progress(name, i, len(names))
        weights = "imagenet" if name in cached else None
        try:
            p = infer.load_predictor(name, weights, engine=engine, runs=1, progress=convert_progress)
            x = p.preprocess(Image.fromarray(check_image(p.input_size)))
            p.run_compiled(x, 1)
            ms = statistics.median(p.run_compiled(x, runs)[1])
        except Exception as exc:  # one model's failure must not stop the others
            results[name] = exc
            continue
        results[name] = ms
        models = load_measurements()
        models.setdefault(name, {})[p.engine.id] = {
            "ms": ms, "weights": weights or "random", "runs": runs, "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "engine_label": p.engine.label("en")}
        _save(models)
        del p
    if progress:
        progress("", len(names), len(names))
    return results


def qualifies(c: Candidate, engine: str, *, max_ms: float | None, min_top1: float | None,
              max_mb: float | None) -> bool | None:
    """True/False against the constraints; None when the latency needed to decide is unmeasured."""
    if min_top1 is not None and (c.top1 is None or c.top1 < min_top1):
        return False
    if max_mb is not None and (c.size_mb is None or c.size_mb > max_mb):
        return False
    if max_ms is not None:
        ms = c.latency(engine)
        if ms is None:
            return None
        if ms > max_ms:
            return False
    return True


def pareto_front(points: Iterable[tuple[str, float, float]]) -> list[str]:
    """Names on the accuracy-vs-latency Pareto front of ``(name, latency, accuracy)``.

    A model is on the front when no other is at least as fast and at least as accurate and
    strictly better in one; returned fastest first.
    """
    pts = sorted(points, key=lambda p: (p[1], -p[2]))
    front, best = [], float("-inf")
    for name, _, acc in pts:
        if acc > best:
            front.append(name)
            best = acc
    return front
