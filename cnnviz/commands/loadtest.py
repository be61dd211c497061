"""``python -m cnnviz loadtest``: N students at once against a server, or simulated; capacity figures.

Examples::

    python -m cnnviz loadtest --students 8                       # real browsers vs http://localhost:8501
    python -m cnnviz loadtest --students 200 --simulate --duration 60   # predictor level, this process
    python -m cnnviz loadtest --students 50 --url http://head:8000      # a Ray Serve cluster (HTTP clients)
    python -m cnnviz loadtest --mode session --students 30             # Streamlit sessions, no browser
    python -m cnnviz loadtest --mode session --students 200 --arrivals spread --duration 60

Prints throughput, latency percentiles (upload → four answers), errors, queue waits and the
server's CPU and peak RSS (when it runs on this machine); ``--json`` prints the report object.
"""

from __future__ import annotations

import json
import sys


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, required=True, help="simultaneous students")
    p.add_argument("--url", default=None,
                   help="server to load (default http://localhost:8501); a server on another machine only when named here")
    p.add_argument("--duration", type=float, default=60.0, metavar="S", help="seconds of load (default 60)")
    p.add_argument("--simulate", action="store_true",
                   help="predictor-level simulation in this process (no server): each student classifies once")
    p.add_argument("--mode", choices=("auto", "browser", "session", "http", "sim"), default="auto",
                   help="browser sessions (cnnviz server), session (Streamlit sessions without a browser), "
                        "http clients (Ray Serve), sim; default: detect")
    p.add_argument("--arrivals", choices=("at-once", "spread"), default="at-once",
                   help="session: everybody's first upload within 1 s, or spread over --duration (default at-once)")
    p.add_argument("--uploads", type=int, default=1, metavar="N",
                   help="session: photos each student uploads, --pause apart, within --duration (default 1)")
    p.add_argument("--photo-set", type=int, default=None, metavar="N",
                   help="session: which photos (default: new ones every time; the same N twice = answers from the "
                        "server's result cache, i.e. the server's CPU per upload without inference)")
    p.add_argument("--models", default=None, help="comma-separated models (default: the homework four)")
    p.add_argument("--random-weights", action="store_true", help="sim: random weights even if ImageNet is cached")
    p.add_argument("--pause", default=None, metavar="MIN,MAX",
                   help="browser: seconds a student looks at the answers before the next upload, uniform "
                        "(default 5,20; 0,5 is a stress test)")
    p.add_argument("--screenshot", default=None, help="browser: save the first student's page here")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnviz import HOMEWORK_MODELS, loadtest

    if args.students < 1:
        print("error: --students must be at least 1", file=sys.stderr)
        return 2
    models = [m.strip() for m in args.models.split(",")] if args.models else list(HOMEWORK_MODELS)
    log = (lambda text: print(text, file=sys.stderr, flush=True)) if args.json else (lambda text: print(text, flush=True))
    pause = loadtest.PAUSE_S
    if args.pause:
        try:
            lo, hi = (float(x) for x in args.pause.split(","))
            if not 0 <= lo <= hi:
                raise ValueError
        except ValueError:
            print("error: --pause wants MIN,MAX seconds with 0 <= MIN <= MAX, e.g. 5,20", file=sys.stderr)
            return 2
        pause = (lo, hi)
    mode = "sim" if args.simulate else args.mode
    explicit_url = args.url is not None
    args.url = args.url or "http://localhost:8501"
    if mode == "auto":
        try:
            mode = loadtest.detect_mode(args.url)
        except ConnectionError as exc:
            print(f"error: {exc}; start the server, or use --simulate", file=sys.stderr)
            return 1
    if mode == "sim":
        report = loadtest.simulate(args.students, args.duration, models=models,
                                   weights=None if args.random_weights else "auto", log=log)
    elif mode == "session":
        from cnnviz.loadtest_session import TargetRefused

        try:
            report = loadtest.session_load(args.url, args.students, args.duration, models=models,
                                           arrivals=args.arrivals, uploads=args.uploads,
                                           pause_s=pause if args.pause else None, allow_remote=explicit_url,
                                           photo_set=args.photo_set, log=log)
        except TargetRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    elif mode == "http":
        report = loadtest.http_load(args.url, args.students, args.duration, models=models)
    else:
        report = loadtest.browser_load(args.url, args.students, args.duration, models=models, pause_s=pause,
                                       screenshot=args.screenshot, log=log)
    out = report.to_dict()
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{out['mode']} load on {out['target']}: {out['students']} students, {out['requests']} uploads, "
              f"{out['errors']} errors in {out['wall_s']} s")
        print(f"  upload → {len(models)} answers: p50 {out['p50_s']} s · p95 {out['p95_s']} s · max {out['max_s']} s")
        print(f"  throughput: {out['throughput_per_min']} uploads/min = {out['classifications_per_min']} "
              f"classifications/min")
        if out["queue_wait_mean_s"] is not None:
            print(f"  queue wait: mean {out['queue_wait_mean_s']} s · max {out['queue_wait_max_s']} s")
        if out.get("first_wave_max_s") is not None:
            print(f"  everybody's first upload at once: the last answer after {out['first_wave_max_s']} s; "
                  f"uploads after it: p95 {out['later_p95_s']} s")
        if out.get("open_p50_s") is not None:
            print(f"  page open (before the uploads): p50 {out['open_p50_s']} s · max {out['open_max_s']} s; "
                  f"pause between a student's uploads {out['pause_s'][0]:g}–{out['pause_s'][1]:g} s")
        print(f"  server: peak RSS {out['peak_rss_mb']} MB · CPU {out['cpu_percent']} %")
        if out.get("server_cpu_s_per_upload") is not None:
            print(f"  server CPU per upload: {out['server_cpu_s_per_upload']} s (the page's four latencies, "
                  f"wall time: {out['inference_s_per_upload']} s)")
        for msg in out["error_messages"]:
            print(f"  error: {msg}")
    return 0 if out["errors"] == 0 else 1
