"""``python -m cnnviz``: command-line access to what the pages show.

Each subcommand lives in ``cnnviz/commands/<name>.py`` and exposes
``register(subparsers)``; its module is imported only when that command runs,
so ``python -m cnnviz cache status`` never pays for TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("cnnviz.commands.info", "parameters, MACs and layer table of a zoo model"),
    "cache": ("cnnviz.commands.cache", "pretrained-weights cache: status, prefetch, verify, clear, export, import"),
    "predict": ("cnnviz.commands.predict", "classify an image with one or more models"),
    "bench": ("cnnviz.commands.bench", "latency, throughput and memory figures on this machine"),
    "models": ("cnnviz.commands.models", "list the model zoo"),
    "coldstart": ("cnnviz.commands.coldstart", "fresh-server time to the Home page vs a hello-world app"),
    "homework": ("cnnviz.commands.homework", "the homework: four CNNs by transfer learning on your dataset, with a report"),
    "lab": ("cnnviz.commands.lab", "train one of the course's labs (CIFAR-10 v1-v5, skip vs plain...) here"),
    "status": ("cnnviz.commands.status", "is the server ready: homework models loaded (n/4)"),
    "runs": ("cnnviz.commands.runs", "training runs and Labs uploads on disk: list, prune (age, count, size), delete"),
    "loadtest": ("cnnviz.commands.loadtest", "N students at once against a server (or simulated): latency, errors"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cnnviz", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if command is not None and name == command:
            importlib.import_module(module).register(sub, name, help_text)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if command is None or not hasattr(args, "func"):
        parser.print_help()
        return 0 if not argv else 2
    from cnnviz.errors import UserFacingError
    from cnnviz.i18n import default_lang

    try:
        return int(args.func(args) or 0)
    except UserFacingError as exc:  # one actionable line, no traceback, in CNNVIZ_LANG
        print(f"error: {exc.message(default_lang())}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `python -m cnnviz cache status | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
