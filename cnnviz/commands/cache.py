"""``python -m cnnviz cache status|prefetch|verify|clear|export|import``.

The command-line face of :mod:`cnnviz.cache` (files), :mod:`cnnviz.zoo.pretrained`
(which files each model needs) and :mod:`cnnviz.datasets` (which files each lab dataset
needs), for teachers preparing machines before
class: fill the cache where there is network, carry it as a zip to where there is
none. Never imports TensorFlow. Messages follow ``CNNVIZ_LANG`` (en/es); errors are
:class:`cnnviz.errors.UserFacingError`, which ``cnnviz.cli`` prints as one line
with exit code 1.

Names (``MODEL``): a registry name (``resnet50``), ``labels`` (ImageNet's class index),
a dataset name (``cifar10``, ``mnist``, ``fashion_mnist``: their files are named by the
dataset, as weights are by the model) or ``datasets`` for all three. Without names,
``status``, ``verify``, ``clear``, ``export`` and ``import`` cover every file, datasets
included; ``prefetch`` (and ``prefetch --all``) fetches only weights unless datasets are named,
since CIFAR-10 alone is 170 MB.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from cnnviz import cache, datasets
from cnnviz.zoo import pretrained
from cnnviz.i18n import default_lang, translate


def _tr(key: str, **params: object) -> str:
    return translate(key, default_lang(), **params)


def _names_help() -> str:
    return f"{_tr('cache.cli.help_models')}; {_tr('datasets.cli.help_names')}"


DATASETS_GROUP = "datasets"
"""The name that stands for every downloadable dataset."""


def _split(names: list[str]) -> tuple[list[str] | None, list[str] | None]:
    """``names`` → (model names, dataset names); (None, None) when no names were given (everything)."""
    if not names:
        return None, None
    models: list[str] = []
    sets: list[str] = []
    for name in names:
        key = str(name).strip().lower().replace("-", "_")
        if key == DATASETS_GROUP:
            sets += list(datasets.RECORDS)
        elif key in datasets.RECORDS:
            sets.append(key)
        else:
            models.append(name)
    return models, list(dict.fromkeys(sets))


def register(subparsers, name: str, help_text: str) -> argparse.ArgumentParser:
    """Add the ``cache`` command and its actions to ``subparsers``."""
    parser = subparsers.add_parser(name, help=help_text, description=_tr("cache.cli.help"),
                                   epilog=_tr("datasets.cli.cache_names"))
    actions = parser.add_subparsers(dest="cache_command", metavar="ACTION", required=True)

    status = actions.add_parser("status", help=_tr("cache.cli.help_status"), description=_tr("cache.cli.help_status"))
    status.add_argument("models", nargs="*", metavar="MODEL", help=_names_help())
    status.add_argument("--json", action="store_true", help=_tr("cache.cli.help_json"))
    status.add_argument("--verify", action="store_true", help=_tr("cache.cli.help_verify_flag"))

    prefetch = actions.add_parser("prefetch", help=_tr("cache.cli.help_prefetch"),
                                  description=_tr("cache.cli.help_prefetch"))
    prefetch.add_argument("models", nargs="*", metavar="MODEL", help=_names_help())
    prefetch.add_argument("--all", action="store_true", help=_tr("cache.cli.help_all"))
    prefetch.add_argument("--notop", action="store_true", help=_tr("cache.cli.help_notop"))

    verify = actions.add_parser("verify", help=_tr("cache.cli.help_verify"), description=_tr("cache.cli.help_verify"))
    verify.add_argument("models", nargs="*", metavar="MODEL", help=_names_help())
    verify.add_argument("--json", action="store_true", help=_tr("cache.cli.help_json"))

    clear = actions.add_parser("clear", help=_tr("cache.cli.help_clear"), description=_tr("cache.cli.help_clear"))
    clear.add_argument("models", nargs="*", metavar="MODEL", help=_names_help())

    export = actions.add_parser("export", help=_tr("cache.cli.help_export"), description=_tr("cache.cli.help_export"))
    export.add_argument("file", metavar="FILE.zip", help=_tr("cache.cli.help_zip"))

    imp = actions.add_parser("import", help=_tr("cache.cli.help_import"), description=_tr("cache.cli.help_import"))
    imp.add_argument("file", metavar="FILE.zip", help=_tr("cache.cli.help_zip"))

    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    handlers = {"status": _status, "prefetch": _prefetch, "verify": _verify, "clear": _clear,
                "export": _export, "import": _import}
    return handlers[args.cache_command](args)


# --------------------------------------------------------------------------- output helpers

def _mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.1f} MB"


def _state_text(entry: cache.EntryStatus) -> str:
    text = _tr(f"cache.state.{entry.state}")
    if entry.state == "corrupt" and entry.problem:
        text += f" ({_tr(f'cache.problem.{entry.problem}')})"
    elif entry.state == "cached" and not entry.verified:
        text += f" ({_tr('cache.cli.unverified')})"
    return text


def _print_table(entries: list[cache.EntryStatus]) -> None:
    headers = (_tr("cache.cli.col_model"), _tr("cache.cli.col_state"), _tr("cache.cli.col_size"),
               _tr("cache.cli.col_path"))
    rows = [(e.name if e.include_top is not False else f"{e.name} (notop)", _state_text(e), _mb(e.size), str(e.path))
            for e in entries]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(3)]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])


def _notes() -> None:
    if cache.offline():
        print(_tr("cache.cli.offline_note"))
    mirror = cache.mirror_prefix()
    if mirror:
        print(_tr("cache.cli.mirror_note", mirror=mirror))


class _TerminalProgress:
    """Progress on stderr: a live line on a terminal, start/end lines in a log."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.current: cache.FileRecord | None = None
        self.last = 0.0

    def __call__(self, entry: cache.FileRecord, done: int, total: int | None) -> None:
        if entry is not self.current:
            self.finish()
            self.current = entry
            print(_tr("cache.cli.downloading", label=entry.label, url=entry.fetch_url), file=self.stream, flush=True)
        now = time.monotonic()
        if not self.tty or (now - self.last < 0.1 and done != total):
            return
        self.last = now
        pct = f" {100 * done / total:5.1f}%" if total else ""
        shown = f"{done / 1e6:.1f}" + (f"/{total / 1e6:.1f}" if total else "")
        self.stream.write(f"\r  {shown} MB{pct}   ")
        self.stream.flush()

    def finish(self) -> None:
        if self.current is not None and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self.current = None


# --------------------------------------------------------------------------- actions

def _status(args: argparse.Namespace) -> int:
    models, sets = _split(args.models)
    entries = pretrained.status(models, verify=args.verify) if models != [] else []
    entries += cache.status(datasets.records(sets), verify=args.verify) if sets != [] else []
    if not args.models:
        entries += cache.derived_status()
    if args.json:
        payload = {"cache_dir": str(cache.cache_dir()), "offline": cache.offline(), "mirror": cache.mirror_prefix(),
                   "entries": [e.to_dict() for e in entries]}
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    _print_table(entries)
    cached = [e for e in entries if e.state == "cached"]
    print(_tr("cache.cli.summary", cached=len(cached), total=len(entries), path=cache.cache_dir(),
              size_mb=f"{sum(e.size or 0 for e in cached) / 1e6:.1f}"))
    _notes()
    return 0


def _prefetch(args: argparse.Namespace) -> int:
    names, sets = _split(args.models)
    if args.all:
        names = pretrained.pretrained_models()
    progress = _TerminalProgress()
    try:
        paths = pretrained.prefetch(names, progress, include_top=None if args.notop else True,
                                    labels=True if args.all else None) if names != [] else []
        paths += cache.prefetch(datasets.records(sets), progress) if sets else []
    finally:
        progress.finish()
    ready = pretrained.status(names, include_top=None if args.notop else True) if names != [] else []
    for entry in ready + (cache.status(datasets.records(sets)) if sets else []):
        if entry.state == "cached":
            print(_tr("cache.cli.ready", label=entry.name if entry.include_top is not False
                      else f"{entry.name} (notop)", path=entry.path))
    print(_tr("cache.cli.prefetched", count=len(paths), path=cache.cache_dir()))
    return 0


def _verify(args: argparse.Namespace) -> int:
    models, sets = _split(args.models)
    entries = pretrained.verify(models) if models != [] else []
    entries += cache.verify(datasets.records(sets)) if sets != [] else []
    if args.json:
        json.dump({"cache_dir": str(cache.cache_dir()), "entries": [e.to_dict() for e in entries]}, sys.stdout,
                  indent=2)
        print()
    elif not entries:
        print(_tr("cache.cli.verify_empty", path=cache.cache_dir()))
        return 0
    else:
        _print_table(entries)
    bad = [e for e in entries if e.state == "corrupt"]
    if bad:
        raise cache.CacheError("cache.error.verify_failed", count=len(bad),
                               files=", ".join(e.file_name for e in bad),
                               names=" ".join(sorted({e.name for e in bad})))
    if not args.json:
        print(_tr("cache.cli.verified_ok", count=len(entries)))
    return 0


def _clear(args: argparse.Namespace) -> int:
    models, sets = _split(args.models)
    removed = pretrained.clear(models) if models != [] else []
    removed += datasets.clear(sets) if sets != [] else []  # the files and their parsed arrays
    if not args.models:
        removed += cache.clear_derived()
    print(_tr("cache.cli.cleared", count=len(removed), size_mb=f"{sum(r.size for r in removed) / 1e6:.1f}",
              path=cache.cache_dir()))
    return 0


def _export(args: argparse.Namespace) -> int:
    entries = cache.export_zip(args.file, _all_records())
    print(_tr("cache.cli.exported", count=len(entries), size_mb=f"{sum(e.size or 0 for e in entries) / 1e6:.1f}",
              zip=args.file))
    return 0


def _import(args: argparse.Namespace) -> int:
    entries = cache.import_zip(args.file, _all_records())
    _print_table(entries)
    print(_tr("cache.cli.imported", count=len(entries), path=cache.cache_dir()))
    return 0


def _all_records() -> list[cache.FileRecord]:
    """Every file a cache zip may carry: the weights, the class index and the datasets."""
    return [*pretrained.all_records(), *datasets.records()]
