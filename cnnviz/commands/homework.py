"""``python -m cnnviz homework DATASET``: the course's homework (four CNNs by transfer learning).

DATASET is a zip or a folder with one sub-folder per class (or ``demo`` for the offline demo
set). Prints the table and the verdict (``--json``: everything), and writes the report
(``--report out.html``; the CSV, the reproduce script and the fine-tuned models beside it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cnnviz.i18n import default_lang, translate


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("dataset", help="zip or folder (one sub-folder per class), or 'demo'")
    p.add_argument("--models", default=None, help="comma-separated zoo names (default: the homework's four)")
    p.add_argument("--fe-epochs", type=int, default=None, metavar="N", help="feature-extraction epochs (default 10)")
    p.add_argument("--ft-epochs", type=int, default=None, metavar="N", help="fine-tuning epochs (default 10, 0 skips)")
    p.add_argument("--unfreeze", default="block", metavar="block|stage|N",
                   help="what fine-tuning unfreezes: 'block' (default: each base's last block), 'stage' (its last "
                        "stage, the layers at its final resolution) or N (the last N layers)")
    p.add_argument("--augment", nargs="?", const="flip", default=None, choices=("flip", "flip,crop"),
                   help="add fixed mirrored copies of the training images (2x the examples; 'flip,crop' also a small "
                        "random crop, 3x); features stay cached per view. Off by default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--random-weights", action="store_true",
                   help="no ImageNet weights: the pipeline runs, the results are meaningless")
    p.add_argument("--image-size", type=int, default=None, metavar="PX",
                   help="train at PX×PX instead of each model's native size (faster, less accurate)")
    p.add_argument("--report", default=None, metavar="FILE.html", help="write the HTML report (CSV, script, models beside it)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--lang", choices=("en", "es"), default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnviz import homework
    from cnnviz.homework import report, verdict

    lang = args.lang or default_lang()
    unfreeze = homework.parse_unfreeze(args.unfreeze)  # a typo fails now, not after loading the dataset
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else list(homework.HOMEWORK_FOUR)
    ds = homework.load_sample() if args.dataset == "demo" else homework.load_dataset(args.dataset)
    out_dir = Path(args.report).resolve().parent if args.report else None
    log = sys.stderr if args.json else sys.stdout

    def progress(event: dict) -> None:
        if event.get("kind") == "phase":
            print(translate("homework.cli.progress_phase", lang, model=event["model"], phase=event["phase"]),
                  file=log, flush=True)

    if args.random_weights:
        print(translate("homework.random.banner", lang), file=sys.stderr)
    try:
        result = homework.run(ds, models, args.fe_epochs, args.ft_epochs, args.seed, progress,
                              random_weights=args.random_weights, image_size=args.image_size,
                              unfreeze=unfreeze, augment=args.augment,
                              save_dir=out_dir / "models" if out_dir else None)
    except homework.HomeworkWeightsError:
        print(translate("homework.cli.weights_hint", lang), file=sys.stderr)
        raise
    if args.report:
        path = Path(args.report)
        path.write_text(report.render_html(result, lang), encoding="utf-8")
        path.with_suffix(".csv").write_text(report.table_csv(result), encoding="utf-8")
        from cnnviz.homework.script import reproduce_script

        path.with_name("reproduce.py").write_text(reproduce_script(result), encoding="utf-8")
        print(translate("homework.cli.written", lang, path=str(path)), file=log)
    if args.json:
        data = result.to_dict()
        data["results_meaningless"] = bool(result.random_weights)
        if result.random_weights:  # the label travels with the numbers
            data["notice"] = translate("homework.random.banner", lang)
        for m in data["models"].values():  # keep the JSON about results, not curves per batch
            m.pop("test_predictions", None)
        json.dump(data, sys.stdout, indent=1, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
        return 0
    if result.random_weights:
        print(translate("homework.random.banner", lang))
    print(report.table_csv(result).strip())
    print(verdict.text(result.verdict, lang))
    for line in verdict.caveats(result.verdict, lang):
        print(f"  - {line}")
    return 0
