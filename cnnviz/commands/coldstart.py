"""`python -m cnnviz coldstart`: fresh-server time to the Home page vs a hello-world app."""

from __future__ import annotations

import json

from cnnviz.bench.coldstart import measure


def register(subparsers, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--repeats", type=int, default=3, help="cold starts per app (median reported)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args) -> int:
    result = measure(repeats=args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"hello-world Streamlit app : {result['hello_world_s']:.2f} s to first render (median of {args.repeats})")
        print(f"cnnviz Home page          : {result['cnnviz_home_s']:.2f} s to first render")
        print(f"ratio                     : {result['ratio']:.2f}x")
    return 0
