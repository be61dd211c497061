"""``python -m cnnviz bench``: latency, throughput and memory of the app's inference on this machine.

For each model it prints the parameters and MACs, then the median latency of three ways
of running the same model on the same preprocessed image, measured interleaved in the
same loop so that the noise of a shared machine hits all three alike:

* ``app``: the app's path, ``Predictor``'s compiled function (what the page reports);
* ``bare``: a bare ``tf.function(lambda x: model(x, training=False))``;
* ``predict``: Keras' ``model.predict`` (what most tutorials use).

``app/bare`` should stay ≤ 1.10. Achieved GFLOP/s = 2·MACs / app latency, compared with
this machine's fp32 peak measured in the same run (a 2048×2048 matmul). Memory: peak RSS
with every model loaded and warm, and the RSS growth over repeated predictions (should be
~0). "Upload → results" times what the page does for a new photo: decode a 12 MP JPEG,
then one prediction per model, next to the sum of the four inference latencies.

Weights: ImageNet when cached, random otherwise (the amount of computation is the same;
the output says which). The measurements live in cnnviz.bench, one module per section.
"""

from __future__ import annotations

import argparse
import os
import sys

from cnnviz import HOMEWORK_MODELS, bench, infer
from cnnviz.commands.predict import parse_models

_EXTRAS = ("explorer", "visualize", "serving")


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("--models", default=",".join(HOMEWORK_MODELS),
                   help="comma-separated registry names (default: the homework four)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--runs", type=int, default=20, help="interleaved timed runs per path (default 20)")
    p.add_argument("--repeat", type=int, default=30,
                   help="predictions per model for the memory-growth check (default 30)")
    p.add_argument("--random-weights", action="store_true", help="random weights even when ImageNet ones are cached")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
    p.add_argument("--engine", choices=infer.ENGINES, default=None,
                   help="what engine='auto' leans to, as the server setting CNNVIZ_ENGINE (default: that "
                        "variable, else auto). litert measures LiteRT with random weights too: the path "
                        "ImageNet weights take on a CPU")
    p.add_argument("--no-page", action="store_true",
                   help="skip the page measurement (the Classify page run headlessly, upload → results)")
    p.add_argument("--no-extras", action="store_true",
                   help=f"skip the {', '.join(_EXTRAS)} benchmarks")
    p.add_argument("--skip", default="", metavar="SECTION[,...]",
                   help=f"sections to skip, among: {', '.join(bench.section_names())}")
    p.set_defaults(func=run)


def run(args) -> int:
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    unknown = skip - set(bench.section_names())
    if unknown:
        print(f"error: unknown section(s) {', '.join(sorted(unknown))}; "
              f"known: {', '.join(bench.section_names())}", file=sys.stderr)
        return 2
    ctx = bench.Context(
        names=parse_models(args.models), runs=infer.check_runs(args.runs), repeat=max(1, int(args.repeat)),
        random_weights=args.random_weights, force_cpu=args.cpu,
        log=lambda text: print(text, file=sys.stderr if args.json else sys.stdout, flush=True),
    )
    if args.engine:
        os.environ[infer.ENGINE_ENV] = args.engine  # the page section's server reads it too
    if args.no_page:
        skip.add("page")
    if args.no_extras:
        skip.update(_EXTRAS)
    report = bench.measure(ctx, skip=skip)
    if args.json:
        bench.print_json(report)
    else:
        bench.print_report(report)
    return 0
