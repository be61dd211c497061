"""Visualizations: speed of feature maps, Grad-CAM and activation maximization per model.

Three figures per model, with random weights (the computation is identical to the
pretrained model's):

- ``feature_maps_all_layers``: every drawable layer's maps from ONE forward pass of the
  multi-output sub-model (what the page computes once per image; switching layers after
  that costs nothing). ``first_ms`` includes building and tracing the sub-model.
- ``grad_cam``: one Grad-CAM (forward + backward to the target layer) at the zoo's
  target layer; ``first_ms`` includes tracing.
- ``activation_maximization``: ascent steps per second at a mid-depth layer (the sub-model
  ends at that layer, so early layers are faster and the last stage slower).

Rows go under "other benchmarks" (``source=visualize``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from cnnviz import zoo
from cnnviz.bench.base import Context, Section, first_and_median_ms, model_names
from cnnviz.visualize import actmax, gradcam, maps

#: Timed repetitions are capped: a ConvNeXt Grad-CAM takes ~1–2 s on 2 shared cores.
MAX_RUNS = 5


def _mid_layer(model) -> str:
    layers = maps.map_layers(model)
    return layers[len(layers) // 2].name


def benchmark(models: Sequence[str] | None = None, *, runs: int = 3, actmax_steps: int = 10,
              progress: Callable[[str], None] | None = None) -> list[dict]:
    """Measure the visualizations for zoo ``models`` (default: the homework four).

    Args:
        models: registry names.
        runs: timed repetitions after the first call (capped at :data:`MAX_RUNS`).
        actmax_steps: ascent steps timed per model.
        progress: called with a short English line before each measurement.

    Returns:
        One dict per measurement: ``task``, ``model``, ``layer``, ``unit`` and the figures
        (``first_ms``/``median_ms``, or ``steps_per_s``), plus ``runs`` and ``note``.
    """
    names = model_names(models)
    runs = max(1, min(int(runs), MAX_RUNS))
    rows: list[dict] = []
    say = progress or (lambda _msg: None)
    for name in names:
        spec = zoo.get_spec(name)
        say(f"{spec.display_name}: building (random weights)")
        model = zoo.create_model(name, weights=None)
        h, w, c = model.inputs[0].shape[1:]
        pixels = np.random.default_rng(0).uniform(0, 255, (1, h, w, c)).astype(np.float32)
        x = zoo.preprocess_input(name, pixels)[0]

        say(f"{spec.display_name}: feature maps of every layer")
        names_all = [n.name for n in maps.map_layers(model)]
        out: dict = {}

        def all_maps():
            out.update(maps.feature_maps(model, x, names_all))

        first, med = first_and_median_ms(all_maps, runs)
        rows.append({"task": "feature_maps_all_layers", "model": name, "layer": f"{len(names_all)} layers",
                     "first_ms": round(first, 1), "median_ms": round(med, 1), "unit": "ms", "runs": runs,
                     "mb": round(sum(a.nbytes for a in out.values()) / 2**20, 1),
                     "note": "one forward pass, all layers"})

        target = gradcam.zoo_target_layer(model, name)
        say(f"{spec.display_name}: Grad-CAM at {target}")
        first, med = first_and_median_ms(lambda: gradcam.grad_cam(model, x, layer_name=target), runs)
        rows.append({"task": "grad_cam", "model": name, "layer": target, "first_ms": round(first, 1),
                     "median_ms": round(med, 1), "unit": "ms", "runs": runs, "note": "forward + backward"})

        layer = _mid_layer(model)
        say(f"{spec.display_name}: activation maximization at {layer}")
        # The first call traces the step; time the steps of a second, fresh run (new seed).
        actmax.activation_maximization(model, layer, 0, steps=1, preprocessing=spec.preprocessing, seed=1)
        result = actmax.activation_maximization(model, layer, 0, steps=actmax_steps,
                                                preprocessing=spec.preprocessing, seed=2)
        rows.append({"task": "activation_maximization", "model": name, "layer": layer,
                     "steps_per_s": round(result.steps_per_second, 2), "unit": "steps/s",
                     "runs": result.steps_done, "note": f"{h}×{w} input"})
    return rows


def _measure(ctx: Context) -> list[dict]:
    return benchmark(ctx.names, runs=ctx.runs)


SECTION = Section("visualize", _measure)
