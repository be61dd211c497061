"""``python -m cnnviz info MODEL``: parameters, MACs, size, depth and stages of a zoo model.

The model is built with random weights (structure only: no download, works offline); the text
says where its ImageNet weights come from (a download, the install, or none) and its published top-1.
``--layers`` adds the per-layer table, ``--json`` prints everything as JSON, and
``--summary`` prints Keras' own ``model.summary()`` text.
MACs are multiply-accumulates of the convolution and dense layers (the papers' "FLOPs").
"""

from __future__ import annotations

import argparse
import json
import sys

from cnnviz import inspect, timeline, zoo
from cnnviz.graph import format_shape
from cnnviz.i18n import default_lang, translate


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("model", help="registry name, e.g. resnet50 (see `python -m cnnviz models`)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--layers", action="store_true", help="include the per-layer table")
    p.add_argument("--summary", action="store_true", help="print Keras' model.summary() text too")
    p.add_argument("--input-size", type=int, default=None, metavar="N",
                   help="build for N×N inputs (models that accept another size; usually with --no-top)")
    p.add_argument("--no-top", action="store_true", help="without the classifier head (include_top=False)")
    p.add_argument("--lang", choices=("en", "es"), default=None, help="language of the text output")
    p.set_defaults(func=run)


def _fmt_macs(macs: int | None, na: str) -> str:
    if macs is None:
        return na
    return f"{macs:,} ({macs / 1e9:.3f} G)"


def weights_facts(name: str, lang: str) -> dict:
    """Where the model's ImageNet weights come from and its published top-1 (for text and JSON)."""
    spec = zoo.get_spec(name)
    if spec.installed is not None:
        source = "installed"
    elif spec.has_imagenet_weights:
        source = "download"
    else:
        source = "none"
    pub = timeline.published_top1(spec.name, lang)
    return {"imagenet_weights": source,
            "package": spec.installed.distribution if spec.installed is not None else None,
            "published_top1": pub[0] if pub else None, "published_top1_source": pub[1] if pub else None}


def _facts_lines(facts: dict, lang: str) -> list[str]:
    def tr(key: str, **kw) -> str:
        return translate(f"inspect.cli.{key}", lang, **kw)

    lines = [f"  {tr('weights_' + facts['imagenet_weights'], package=facts['package'] or '')}"]
    if facts["published_top1"] is not None:
        top1 = f"{facts['published_top1']:.1f}"
        lines.append("  " + tr("published", top1=top1, source=facts["published_top1_source"]))
    return lines


def _text(summary, display_name: str, lang: str, layers: bool, facts: dict | None = None) -> str:
    def tr(key: str, **kw) -> str:
        return translate(f"inspect.cli.{key}", lang, **kw)

    na = translate("common.na", lang)
    lines = [
        tr("title", model=display_name, keras_name=summary.name),
        f"  {tr('input')}: {format_shape(summary.input_shape)}    {tr('output')}: {format_shape(summary.output_shape)}",
        f"  {tr('total_params')}: {summary.total_params:,}",
        f"  {tr('trainable_params')}: {summary.trainable_params:,}",
        f"  {tr('non_trainable_params')}: {summary.non_trainable_params:,}",
        f"  {tr('macs')}: {_fmt_macs(summary.macs, na)}",
        f"  {tr('size')}: {summary.size_mb:.2f} MB",
        f"  {tr('depth')}: {summary.depth_weighted} / {summary.depth_all}",
        f"  {tr('fc_share')}: {100 * summary.fc_share:.1f}%",
        *(_facts_lines(facts, lang) if facts else []),
        "",
        tr("stages"),
    ]
    groups = summary.by_stage()
    width = max((len(g.name) for g in groups), default=5)
    for g in groups:
        macs = na if g.macs is None else f"{g.macs / 1e9:8.3f} G"
        lines.append(f"  {g.name.ljust(width)}  {g.params:>13,}  {macs:>11}  {format_shape(g.output_shape)}")
    if layers:
        lines += ["", tr("layers")]
        rows = summary.layers
        name_w = min(60, max((len(r.name) for r in rows), default=4))
        type_w = max((len(r.type) for r in rows), default=4)
        header = (f"  {'#':>4}  {tr('col_name').ljust(name_w)}  {tr('col_type').ljust(type_w)}  "
                  f"{tr('col_output'):<18}  {tr('col_params'):>12}  {tr('col_macs'):>15}  {tr('col_block')}")
        lines.append(header)
        for r in rows:
            macs = na if r.macs is None else f"{r.macs:,}"
            lines.append(f"  {r.index:>4}  {r.name[:name_w].ljust(name_w)}  {r.type.ljust(type_w)}  "
                         f"{format_shape(r.output_shape):<18}  {r.params:>12,}  {macs:>15}  {r.stage}/{r.block}")
    lines += ["", tr("convention")]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    lang = args.lang or default_lang()
    spec = zoo.get_spec(args.model)  # unknown name → UserFacingError before TensorFlow loads
    if args.input_size is not None and args.input_size <= 0:
        raise zoo.InvalidModelOptions("zoo.error.bad_input_shape", model=spec.display_name,
                                      shape=repr((args.input_size, args.input_size, spec.channels)))
    input_shape = None if args.input_size is None else (args.input_size, args.input_size, spec.channels)

    model = zoo.create_model(spec.name, weights=None, include_top=not args.no_top, input_shape=input_shape)
    summary = inspect.summarize(model)
    if args.json:
        data = {"model": spec.name, "display_name": spec.display_name, "include_top": not args.no_top,
                **weights_facts(spec.name, lang), **summary.to_dict(layers=args.layers)}
        if args.summary:
            data["summary_text"] = inspect.summary_text(model)
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if args.summary:
        print(inspect.summary_text(model))
    print(_text(summary, spec.display_name, lang, args.layers, weights_facts(spec.name, lang)))
    return 0
