"""``python -m cnnviz status``: is the server's warm pool ready (models loaded n/4)?

Two ways to ask:

* ``--url http://host:8501``: ``GET /api/cnnviz/status`` on a running ``streamlit run app.py``
  (works from any machine that reaches the server);
* no ``--url``: the status file the server writes under the cache root
  (``<cache>/serving/status.json``; same machine, same ``CNNVIZ_CACHE_DIR``).

``--wait S`` polls until ready or S seconds pass. Exit status: 0 ready, 3 not ready (yet),
4 no server answered / no status written.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request

from cnnviz.i18n import default_lang, translate

ROUTE = "/api/cnnviz/status"


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("--url", help="server base URL (e.g. http://localhost:8501); default: read the local status file")
    p.add_argument("--wait", type=float, default=0.0, metavar="S", help="poll up to S seconds until ready")
    p.add_argument("--json", action="store_true", help="print the readiness object as JSON")
    p.set_defaults(func=run)


def fetch(url: str | None, timeout: float = 5.0) -> dict | None:
    """The readiness object from ``url`` (None: the local status file), or None if nobody answered."""
    if url is None:
        from cnnviz import serving

        return serving.read_status()
    try:
        with urllib.request.urlopen(url.rstrip("/") + ROUTE, timeout=timeout) as r:
            return json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:  # 503 while loading still carries the object
        try:
            return json.loads(exc.read().decode("utf-8"))
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def run(args) -> int:
    deadline = time.monotonic() + max(0.0, args.wait)
    while True:
        data = fetch(args.url)
        if (data and data.get("ready")) or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    lang = default_lang()
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif data is None:
        from cnnviz import serving

        where = args.url or str(serving.status_path())
        print(translate("serving.status.no_server", lang, path=where))
    else:
        state = translate("serving.status.ready" if data.get("ready") else "serving.status.not_ready", lang)
        print(f"{state}: {data.get('loaded', 0)}/{data.get('total', 0)}")
        for m in data.get("models", []):
            extra = f" ({m['seconds']} s)" if m.get("seconds") is not None else ""
            err = f" · {m['error']}" if m.get("error") else ""
            print(f"  {m['name']:<18} {m.get('weights', ''):<9} {m['state']}{extra}{err}")
    if data is None:
        return 4
    return 0 if data.get("ready") else 3
