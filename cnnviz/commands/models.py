"""``python -m cnnviz models``: list the model zoo from its metadata (no TensorFlow, no building).

Columns: registry name, display name, family, year, parameters (``count_params()`` of the
default model, from the registry's checked metadata), ImageNet weights available, source
(keras.applications or built from code), homework model.
"""

from __future__ import annotations

import argparse
import json
import sys

from cnnviz.i18n import default_lang, translate


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--family", help="only this family (e.g. ResNet, Classic, Course)")
    p.add_argument("--source", choices=("keras", "code"), help="only keras.applications or from-code models")
    p.add_argument("--pretrained", action="store_true", help="only models with ImageNet weights")
    p.add_argument("--lang", choices=("en", "es"), default=None, help="language of the table headers")
    p.set_defaults(func=run)


def model_rows(family: str | None = None, source: str | None = None, pretrained: bool | None = None) -> list[dict]:
    """One plain dict per registry entry (what ``--json`` prints)."""
    from cnnviz import zoo

    rows = []
    for spec in zoo.list_specs(family=family, source=source, pretrained=pretrained):
        rows.append({
            "name": spec.name,
            "display_name": spec.display_name,
            "family": spec.family,
            "year": spec.year,
            "paper": spec.paper,
            "input_shape": list(spec.input_shape),
            "classes": spec.classes,
            "params": spec.params,
            "pretrained": spec.has_imagenet_weights,
            "source": spec.source,
            "homework": spec.homework,
            "preprocessing": spec.preprocessing,
            "last_conv_layer": spec.last_conv_layer,
            "timeline_id": spec.timeline_id,
            "options": list(spec.options),
        })
    return rows


def _table(rows: list[dict], lang: str) -> str:
    def tr(key: str, **kw) -> str:
        return translate(f"zoo.cli.{key}", lang, **kw)

    yes, no = tr("yes"), tr("no")
    headers = [tr("name"), tr("display_name"), tr("family"), tr("year"), tr("params"), tr("pretrained"),
               tr("source"), tr("homework")]
    body = []
    for r in rows:
        body.append([
            r["name"], r["display_name"], r["family"], "" if r["year"] is None else str(r["year"]),
            "" if r["params"] is None else f"{r['params']:,}",
            yes if r["pretrained"] else no,
            tr("source_keras") if r["source"] == "keras" else tr("source_code"),
            "*" if r["homework"] else "",
        ])
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(headers)]
    right = {4}  # numbers align right

    def fmt(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [fmt(headers), fmt(["-" * w for w in widths]), *(fmt(row) for row in body)]
    lines.append(tr("footer", count=len(rows), pretrained=sum(r["pretrained"] for r in rows)))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.family is not None:
        from cnnviz import zoo

        known = zoo.families()
        if args.family.lower() not in {f.lower() for f in known}:
            raise zoo.InvalidModelOptions("zoo.error.unknown_family", family=args.family, families=", ".join(known))
    rows = model_rows(family=args.family, source=args.source, pretrained=True if args.pretrained else None)
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(_table(rows, args.lang or default_lang()))
    return 0
