"""The homework studio's budget: four models, both phases, 5 classes × 50 images at 224 px.

The issue's target is ≤ 10 minutes on a 2-core CPU. The dataset is built in memory (five
classes of coloured textures, 50 images each, 256 px photos-to-be), so the section needs no
files; the bases use ImageNet weights when cached (and ``--random-weights`` is not given),
random ones otherwise — the timing is the same either way, the accuracies are not and are
not reported as meaningful. Runs only with ``CNNVIZ_BENCH_HOMEWORK=1``
(it takes minutes); reported under ``homework``:
per model and phase seconds, and the total.
"""

from __future__ import annotations

import io
import time
import zipfile

from cnnviz import settings
from cnnviz.bench.base import Context, Section, model_names

CLASSES, PER_CLASS, SIDE = 5, 50, 256


def dataset_zip(classes: int = CLASSES, per_class: int = PER_CLASS, side: int = SIDE) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for c in range(classes):
            color = rng.integers(30, 230, 3)
            freq = 2 + 3 * c
            yy, xx = np.mgrid[0:side, 0:side] / side
            for i in range(per_class):
                wave = np.sin(2 * np.pi * freq * (xx * np.cos(i) + yy * np.sin(i)))[..., None]
                a = np.clip(color + 60 * wave + rng.normal(0, 25, (side, side, 3)), 0, 255).astype(np.uint8)
                out = io.BytesIO()
                Image.fromarray(a).save(out, "JPEG", quality=90)
                zf.writestr(f"class{c}/{i:03d}.jpg", out.getvalue())
    return buf.getvalue()


def measure(ctx: Context) -> dict:
    from cnnviz import homework
    from cnnviz.zoo import pretrained

    names = model_names(ctx.names)
    ds = homework.load_dataset(dataset_zip(), name="bench-5x50")
    cached = all(e.state == "cached" for e in pretrained.status(names, include_top=False))
    random = ctx.random_weights or not cached

    t0 = time.perf_counter()

    def progress(event: dict) -> None:  # elapsed time on each line: a cut-short run still tells where time went
        if event.get("kind") == "phase":
            ctx.log(f"homework: {time.perf_counter() - t0:7.1f} s  {event['model']} {event['phase']}")

    result = homework.run(ds, names, seed=0, on_progress=progress, random_weights=random, inference_runs=ctx.runs)
    total = time.perf_counter() - t0
    models = {n: {"times": m.get("times", {}), "train_seconds": m.get("train_seconds"),
                  "inference_ms": m.get("inference_ms"), "fe_epochs_run": m.get("fe_epochs_run"),
                  "ft_epochs_run": m.get("ft_epochs_run"), "ft_cached": m.get("ft_cached")}
              for n, m in result.models.items()}
    return {"homework": {"images": len(ds.items), "classes": ds.num_classes, "random_weights": random,
                         "total_s": round(total, 1), "target_s": 600, "models": models,
                         "settings": result.settings}}


def lines(report: dict) -> list[str]:
    h = report.get("homework")
    if not h:
        return []
    phases = ("build_s", "fe_features_s", "fe_train_s", "ft_cache_s", "ft_train_s", "inference_s")
    out = [f"Homework: {len(h['models'])} models × 2 phases, {h['classes']} classes × "
           f"{h['images'] // max(1, h['classes'])} images, total {h['total_s']:.0f} s (target ≤ {h['target_s']} s)"
           + (" [random weights]" if h["random_weights"] else "")
           + (" [mixed precision]" if (h.get("settings") or {}).get("mixed_precision") else ""),
           "  " + f"{'model':<18}" + "".join(f"{p[:-2]:>14}" for p in phases) + f"{'epochs fe/ft':>14}"]
    for name, m in h["models"].items():
        t = m["times"]
        out.append("  " + f"{name:<18}" + "".join(f"{t.get(p, 0):>14.1f}" for p in phases)
                   + f"{str(m.get('fe_epochs_run')) + '/' + str(m.get('ft_epochs_run')):>14}")
    return out


SECTION = Section("homework", measure, lines, when=lambda ctx: settings.env_bool("CNNVIZ_BENCH_HOMEWORK", False))
