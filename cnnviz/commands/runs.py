"""``python -m cnnviz runs list|prune|delete``: the training runs (and Labs uploads) kept on disk.

``list`` shows every run folder (owner label, status, size); ``prune`` deletes runs that are over
by age (``--older-than DAYS``), count (``--keep N`` newest) and total size (``--max-mb MB``), and
the Labs uploads the same way (``--uploads``); ``--dry-run`` only says what it would delete;
``delete RUN_ID...`` removes named runs. ``--json`` prints the rows as JSON. Runs still queued or
training in a live server are never touched (only folders with their "done" marker, or
interrupted ones older than a day, are candidates).
"""

from __future__ import annotations

import json
import time

from cnnviz import datasets, owners
from cnnviz.i18n import default_lang, translate
from cnnviz.training import store

DAY = 86400.0


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="every run on disk: owner, status, size")
    ls.add_argument("--json", action="store_true")
    pr = sub.add_parser("prune", help="delete runs (and uploads) by age, count and total size")
    pr.add_argument("--older-than", type=float, metavar="DAYS", help="runs created more than DAYS ago")
    pr.add_argument("--keep", type=int, metavar="N", help="keep only the N newest runs")
    pr.add_argument("--max-mb", type=float, metavar="MB", help="delete the oldest until the runs fit in MB")
    pr.add_argument("--uploads", action="store_true", help="prune Labs uploads with the same rules")
    pr.add_argument("--dry-run", action="store_true", help="say what would be deleted, delete nothing")
    pr.add_argument("--json", action="store_true")
    de = sub.add_parser("delete", help="delete the named runs")
    de.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    de.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def row(record: store.RunRecord) -> dict:
    return {"run_id": record.run_id, "status": record.status, "owner": owners.owner_label(record.owner),
            "created": record.created, "bytes": store.folder_bytes(record.path)}


def _upload_records(now: float) -> list[store.RunRecord]:
    """Uploads as records (path, created = file time) so one rule prunes both."""
    out = []
    for path in datasets.stored_uploads():
        out.append(store.RunRecord(run_id=path.name, path=path, status="upload",
                                   stored={"created": path.stat().st_mtime}))
    return out


def run(args) -> int:
    lang = default_lang()
    now = time.time()
    if args.action == "list":
        rows = [row(r) for r in store.list_runs()]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            for r in rows:
                print(f"{r['run_id']:<64} {r['status']:<12} {r['owner']:<15} {r['bytes'] / 1e6:9.1f} MB")
            print(translate("training.cli.total", lang, n=len(rows), mb=f"{sum(r['bytes'] for r in rows) / 1e6:.1f}"))
        return 0
    if args.action == "delete":
        done = []
        for run_id in args.run_ids:
            record = store.load_run(run_id)  # UnknownRunError: one line, exit 1
            store.delete_run(record.run_id)
            done.append(record.run_id)
        print(json.dumps({"deleted": done}) if args.json else translate("training.cli.deleted", lang, n=len(done)))
        return 0
    older = None if args.older_than is None else args.older_than * DAY
    max_bytes = None if args.max_mb is None else int(args.max_mb * 1e6)
    doomed = store.select_prune(store.prunable(store.list_runs(), now), older_than=older, keep=args.keep,
                                max_bytes=max_bytes, now=now)
    uploads = []
    if args.uploads:
        ups = _upload_records(now)
        sizes = {u.run_id: u.path.stat().st_size for u in ups}
        uploads = store.select_prune(ups, older_than=older, keep=args.keep, max_bytes=max_bytes, now=now, sizes=sizes)
    if not args.dry_run:
        for r in doomed:
            store.delete_run(r.run_id)
        for u in uploads:
            datasets.delete_upload(u.path)
    out = {"runs": [r.run_id for r in doomed], "uploads": [u.run_id for u in uploads], "dry_run": bool(args.dry_run)}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        key = "training.cli.would_prune" if args.dry_run else "training.cli.pruned"
        print(translate(key, lang, runs=len(doomed), uploads=len(uploads)))
        for name in out["runs"] + out["uploads"]:
            print("  " + name)
    return 0
