"""``python -m cnnviz lab LAB_ID``: train one of the course's labs here and print its result.

``--list`` lists the labs; ``--json`` prints the result (per model: params, MACs, seconds,
history with loss/accuracy/val_loss/val_accuracy per epoch, best validation accuracy,
train–validation gap, confusion matrix). ``digits`` works offline; the other datasets are
downloaded once into the cache (or come from a mirror). ``--dataset path/to/data.zip`` trains on
your own images (a zip of one folder per class, read like the homework's).
``--callbacks tensorboard`` writes TensorBoard logs and prints the command that opens them.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from cnnviz.i18n import default_lang, translate

DATASETS = ("digits", "cifar10", "mnist", "fashion_mnist")


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("lab", nargs="?", help="lab id (see --list)")
    p.add_argument("--list", action="store_true", help="list the labs and exit")
    p.add_argument("--dataset", default="digits", metavar="NAME_OR_ZIP",
                   help=f"data to train on: {', '.join(DATASETS)} (default: digits, offline), or the path of a zip "
                        "of one folder per class (your own images)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model (default: the lab's)")
    p.add_argument("--subset", type=int, default=None, help="training images (default: the lab's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--models", default=None, help="comma-separated subset of the lab's models")
    p.add_argument("--val-split", type=float, default=None, dest="val_split",
                   help="share of the drawn images kept for validation (default: the lab's, 0.2)")
    p.add_argument("--callbacks", default=None,
                   help="comma-separated: early_stopping,reduce_lr,checkpoint,csv_logger,tensorboard "
                        "(default: the lab's)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--lang", choices=("en", "es"), default=None, help="language of the text output")
    p.set_defaults(func=run)


def _clean(obj):
    """JSON without NaN (strict parsers refuse it): NaN → null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def run(args) -> int:
    from cnnviz import labs

    lang = args.lang or default_lang()
    if args.list or not args.lab:
        rows = [{"id": lab_id, "title": translate(labs.get_lab(lab_id).title_key, lang),
                 "models": labs.get_lab(lab_id).model_names, "epochs": labs.get_lab(lab_id).epochs}
                for lab_id in labs.list_labs()]
        if args.json:
            print(json.dumps(rows, indent=1, ensure_ascii=False))
        else:
            for row in rows:
                print(f"{row['id']:24s} {row['title']}  ({', '.join(row['models'])}; {row['epochs']} epochs)")
        return 0 if args.list else 2
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    callbacks = tuple(c.strip() for c in args.callbacks.split(",") if c.strip()) if args.callbacks else ()
    labs.check_settings(args.lab, dataset=args.dataset, epochs=args.epochs, subset=args.subset, seed=args.seed,
                        callbacks=callbacks, val_split=args.val_split)  # fail fast, before TensorFlow loads

    def progress(event: dict) -> None:
        if args.json or event["kind"] != "epoch":
            return
        logs = event["logs"]
        print(translate("labs.cli.epoch", lang, model=event["model"], epoch=event["epoch"],
                        loss=logs.get("loss", float("nan")), acc=logs.get("accuracy", float("nan")),
                        val_acc=logs.get("val_accuracy", float("nan")), seconds=event["seconds"]),
              file=sys.stderr, flush=True)

    result = labs.run_lab(args.lab, dataset=args.dataset, epochs=args.epochs, subset=args.subset, seed=args.seed,
                          callbacks=callbacks, on_progress=progress, models=models, val_split=args.val_split)
    if args.json:
        print(json.dumps(_clean(result.to_dict()), indent=1, ensure_ascii=False))
        return 0
    s = result.settings
    sizes = s["data_sizes"]
    print(translate("labs.cli.header", lang, lab=result.lab_id, dataset=s.get("source_name") or result.dataset,
                    epochs=s["epochs"],
                    train=sizes["train"], val=sizes["val"], test=sizes["test"], seed=s["seed"]))
    print(translate(result.dataset_description, lang))
    print(translate("labs.cli.table_header", lang))
    for row in result.table():
        macs = "-" if row["macs"] is None else f"{row['macs'] / 1e6:.1f} M"
        print(f"{row['model']} | {row['params']:,} | {macs} | {row['best_val_accuracy']:.3f} | "
              f"{row['train_val_gap']:+.3f} | {row['epoch_seconds_mean']:.1f} | {row['test_accuracy']:.3f}")
    if result.stopped:
        print(translate("labs.cli.stopped", lang))
    logs = [m["files"]["tensorboard"] for m in result.models.values() if (m.get("files") or {}).get("tensorboard")]
    if logs:
        from cnnviz.training import tensorboard_logs

        root = Path(logs[0]).parent
        print(translate("labs.cli.tensorboard", lang, command=tensorboard_logs.view_command(root)))
        if not tensorboard_logs.viewer_installed():
            print(translate("labs.cli.tensorboard_install", lang))
    return 0
