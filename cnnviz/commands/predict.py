"""``python -m cnnviz predict IMAGE``: classify one image with one or more zoo models.

Examples::

    python -m cnnviz predict cat.jpg
    python -m cnnviz predict cat.jpg --models resnet50,mobilenetv3small --runs 10
    python -m cnnviz predict cat.jpg --random-weights --json     # offline: pipeline only
    python -m cnnviz predict cat.jpg --engine litert             # LiteRT (XNNPACK) on the CPU
    python -m cnnviz predict cat.jpg --engine litert-int8        # LiteRT int8 (full-integer, calibrated)
"""

from __future__ import annotations

import argparse
import json
import sys

from cnnviz import HOMEWORK_MODELS, cache, device, images, infer, zoo
from cnnviz.infer import DEFAULT_RUNS, MAX_RUNS


def parse_models(text: str) -> list[str]:
    """``"resnet50, MobileNetV3Small"`` → checked registry names (UnknownModelError otherwise)."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise zoo.UnknownModelError(text, [])
    return [zoo.get_spec(n).name for n in names]


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("image", help="image file (JPEG, PNG, WebP, BMP, GIF, TIFF)")
    p.add_argument("--models", default=",".join(HOMEWORK_MODELS),
                   help="comma-separated registry names (default: the homework four)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--random-weights", action="store_true",
                   help="random weights instead of ImageNet ones (works offline; classes are meaningless)")
    p.add_argument("--runs", type=int, default=DEFAULT_RUNS,
                   help=f"timed runs per model, median reported (1..{MAX_RUNS}, default {DEFAULT_RUNS})")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
    p.add_argument("--engine", choices=infer.ENGINES, default="auto",
                   help="auto (default): LiteRT on a CPU where its answers match TensorFlow's, else TensorFlow; "
                        "tf or litert force one (a first LiteRT load converts the model, once); litert-int8: "
                        "full-integer int8 (weights and activations), litert-dynamic: int8 weights only")
    p.set_defaults(func=run)


def run(args) -> int:
    names = parse_models(args.models)
    runs = infer.check_runs(args.runs)
    image = images.load_image(args.image)
    weights = None if args.random_weights else "imagenet"
    where = None if args.engine != "tf" and not args.cpu else device.select_device(force_cpu=args.cpu or None)
    results = []
    for name in names:
        try:
            predictor = infer.load_predictor(name, weights, runs=runs, device=where, engine=args.engine,
                                             progress=_progress(name) if not args.json else None)
        except cache.CacheError as exc:
            print(f"error: {exc}", file=sys.stderr)
            print("hint: add --random-weights to run the pipeline without pretrained weights, or download them "
                  "first with `python -m cnnviz cache prefetch`.", file=sys.stderr)
            return 1
        except infer.EngineUnavailableError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        prediction = predictor.predict(image)
        row = prediction.to_dict()
        row.update(load_ms=round(predictor.load_ms, 1), params=predictor.params,
                   size_mb=round(predictor.size_mb, 2), resize_policy=infer.resize_policy(predictor.input_size),
                   engine_check=predictor.engine.check, model_bytes=predictor.model_bytes)
        results.append(row)
        if not args.json:
            _print_one(row)
    if args.json:
        json.dump({"image": str(args.image), "image_size": list(image.size),
                   "weights": weights or "random", "results": results}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.random_weights:
        print("note: random weights: the classes above are meaningless; the timings are real.")
    return 0


def _progress(name: str):
    def report(stage: str, fraction: float) -> None:
        print(f"converting {name} to LiteRT (first time only): {stage} ({fraction:.0%})", file=sys.stderr, flush=True)

    return report


def _print_one(row: dict) -> None:
    weights = "ImageNet weights" if row["weights"] == "imagenet" else "RANDOM weights (predictions meaningless)"
    h, w = row["input_size"]
    print(f"{row['display_name']}  [{weights}]  input {h}×{w}  {row['params']:,} params")
    for k, top in enumerate(row["top5"], 1):
        print(f"  {k}. {top['label']:<30} {top['prob'] * 100:6.2f}%   (class {top['index']})")
    print(f"  inference {row['inference_ms']:.1f} ms (median of {row['runs']}) on {row['engine_label']} · "
          f"preprocessing {row['preprocess_ms']:.1f} ms · first call {row['first_call_ms']:.0f} ms · "
          f"load {row['load_ms']:.0f} ms")
    if row.get("engine_note"):
        print(f"  engine: {row['engine_note']}")
    check = row.get("engine_check") or {}
    if check.get("quantized"):
        size = f"{row['model_bytes'] / 1e6:.1f} MB on disk; " if row.get("model_bytes") else ""
        print(f"  int8 vs fp32 on the evaluation photos: {size}{check.get('reason')}")
    print()
