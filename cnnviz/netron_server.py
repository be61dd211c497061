"""Netron (the layer-graph viewer) served from Python, one server per exported model.

A model is exported once to ``<export dir>/netron/<model key>/<name>.keras`` — a folder of
its own, because Netron's ``/data/`` route serves every file next to the one it shows —
and a Netron server (``netron.serve``) is started for that file on a free port, bound to
``127.0.0.1`` unless ``CNNVIZ_NETRON_HOST`` says otherwise (``0.0.0.0`` in a classroom
LAN, so students' laptops can load the graph). Servers live in a module-level registry
and are reused across Streamlit reruns and sessions.

Two facts about the installed Netron this module handles:

* ``netron.serve`` stores the served content on its request-handler *class*, so a second
  server in the same process would make the first one serve the second model. Each server
  gets its own handler subclass pinned to its content (:func:`_pin_content`).
* The bundled viewer page refuses to work once its build date (``<meta name="date">`` in
  ``netron/index.html``) is more than 180 days old; :func:`viewer_status` reports it so
  the page can say how to upgrade. The viewer also asks for cookie consent and, from the
  user's browser, contacts outside services (ipinfo.io, Google Analytics).

No Streamlit and no TensorFlow here (exporting calls ``model.save`` on a model the caller
already built).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import errno
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from cnnviz import fileio
from cnnviz.errors import UserFacingError

DEFAULT_HOST = "127.0.0.1"
VIEWER_MAX_AGE_DAYS = 180
PORT_ATTEMPTS = 8
MAX_SERVERS = 8  # one thread and one port each
MAX_EXPORTS = 16  # model folders kept on disk; the least recently used one not being served goes first
HOLD_SECONDS = 900.0  # a graph looked at within this long is "in use": never stopped to open another
_KEY_RE = re.compile(r"[^a-z0-9_.-]+")
_EXPORT_LOCKS: dict[str, threading.Lock] = {}
_EXPORT_LOCKS_GUARD = threading.Lock()


class NetronError(UserFacingError):
    """Netron cannot show the graph (not installed, cannot start, export failed)."""


@dataclass(frozen=True)
class NetronServer:
    """A running Netron server for one exported model file."""

    key: str
    file: Path
    host: str
    port: int

    @property
    def url(self) -> str:
        """The viewer's URL as bound (``http://127.0.0.1:PORT/``)."""
        return f"http://{_url_host(self.host)}:{self.port}/"

    @property
    def data_url(self) -> str:
        """Where the viewer fetches the model bytes from (Netron's ``/data/`` route)."""
        return f"{self.url}data/{urllib.parse.quote(self.file.name)}"

    def public_url(self, request_host: str | None = None) -> str:
        """The URL a browser should open.

        When bound to all interfaces (``0.0.0.0``/``::``), the host name the browser used to
        reach the app (``request_host``, e.g. the teacher's LAN address) replaces it.
        """
        host = self.host
        if host in ("0.0.0.0", "::", "") and request_host:
            host = request_host.split(":")[0] if not request_host.startswith("[") else request_host.split("]")[0][1:]
        elif host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{_url_host(host)}:{self.port}/"

    def alive(self) -> bool:
        try:
            import netron  # optional: reported when absent

            return bool(netron.status((self.host, self.port)))
        except Exception:
            return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# --------------------------------------------------------------------------- configuration

def bind_host() -> str:
    """``CNNVIZ_NETRON_HOST`` or 127.0.0.1 (loopback: only this computer can open the graph)."""
    host = os.environ.get("CNNVIZ_NETRON_HOST", "").strip()
    return host or DEFAULT_HOST


_PROCESS_DIR: Path | None = None
_CLEANED: set[str] = set()
_STARTED = time.time()


def _clean_at_start(root: Path) -> None:
    """Once per process and folder: remove exports left by an earlier process (they are only copies
    of models the app rebuilds), and, in the temp folder, other processes' folders older than a day."""
    if str(root) in _CLEANED:
        return
    _CLEANED.add(str(root))
    if root.is_dir():
        for child in root.iterdir():
            try:
                if child.stat().st_mtime < _STARTED:
                    shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
            except OSError:
                pass
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob("cnnviz-netron-*"):
        try:
            if old != _PROCESS_DIR and old.is_dir() and time.time() - old.stat().st_mtime > 86400:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass


def export_root() -> Path:
    """Where exported models go: ``CNNVIZ_NETRON_DIR``, else ``<temp>/cnnviz-netron-*/netron``.

    The default folder belongs to this process and is deleted when it exits: the exports
    are random-weight copies of models the app can rebuild at any time, and a 500 MB VGG
    file should not outlive the server that showed it.
    """
    global _PROCESS_DIR
    explicit = os.environ.get("CNNVIZ_NETRON_DIR", "").strip()
    if explicit:
        root = Path(explicit).expanduser() / "netron"
    else:
        with _EXPORT_LOCKS_GUARD:
            if _PROCESS_DIR is None or not _PROCESS_DIR.is_dir():
                _PROCESS_DIR = Path(tempfile.mkdtemp(prefix="cnnviz-netron-"))
                atexit.register(shutil.rmtree, str(_PROCESS_DIR), True)
            root = _PROCESS_DIR / "netron"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NetronError("inspect.netron.error_export_dir", path=str(root), error=str(exc)[:200]) from exc
    if not os.access(root, os.W_OK):
        raise NetronError("inspect.netron.error_export_dir", path=str(root), error="not writable")
    _clean_at_start(root)
    return root


def safe_key(key: str) -> str:
    """A model key usable as a folder name (``"resnet50-224-top"``)."""
    cleaned = _KEY_RE.sub("-", str(key).lower()).strip("-.")
    if not cleaned:
        raise ValueError(f"model key must contain letters or digits; got key={key!r}")
    return cleaned[:120]


# --------------------------------------------------------------------------- export

def model_file(key: str, name: str | None = None, root: Path | None = None) -> Path:
    """Where the model ``key`` is (or will be) exported."""
    key = safe_key(key)
    filename = safe_key(name or key) + ".keras"
    return (root or export_root()) / key / filename


def export_model(model, key: str, *, root: Path | None = None) -> Path:
    """Save ``model`` once to ``<root>/<key>/<model name>.keras`` and return the path.

    The file is written next to a temporary name and renamed, so a concurrent reader never
    sees half a file; later calls with the same key return the existing file.
    """
    path = model_file(key, getattr(model, "name", None) or key, root)
    with _EXPORT_LOCKS_GUARD:
        lock = _EXPORT_LOCKS.setdefault(str(path), threading.Lock())
    with lock:
        if path.is_file() and path.stat().st_size > 0:
            return path
        try:
            fileio.save_keras(model, path)
        except Exception as exc:
            raise NetronError("inspect.netron.error_export", error=f"{type(exc).__name__}: {exc}"[:300]) from exc
    prune_exports(path.parent.parent, keep=path.parent)
    return path


def prune_exports(root: Path, keep: Path | None = None, limit: int | None = None) -> list[Path]:
    """Keep at most ``limit`` (:data:`MAX_EXPORTS`) model folders under ``root``: remove the least recently
    written ones that no running server shows (and never ``keep``); returns the removed folders."""
    limit = MAX_EXPORTS if limit is None else limit
    with _LOCK:
        served = {s.file.parent for s in _SERVERS.values()}
    try:
        folders = sorted((c for c in root.iterdir() if c.is_dir()), key=lambda c: c.stat().st_mtime)
    except OSError:
        return []
    removed = []
    for folder in folders:
        if len(folders) - len(removed) <= limit:
            break
        if folder.resolve() in {f.resolve() for f in served} or (keep is not None and folder == keep):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


# --------------------------------------------------------------------------- servers

_SERVERS: dict[str, NetronServer] = {}
_LAST_USED: dict[str, float] = {}   # key → when a page last showed (or asked for) that graph
_LOCK = threading.RLock()


def _evict_one() -> None:
    """Stop the least recently used server nobody looked at for :data:`HOLD_SECONDS`; if every one is
    in use, refuse (a classmate's open graph is never stopped to open another)."""
    now = time.time()
    idle = [s for s in _SERVERS.values() if now - _LAST_USED.get(s.key, 0.0) > HOLD_SECONDS]
    if not idle:
        raise NetronError("inspect.netron.error_busy", max=MAX_SERVERS, minutes=f"{HOLD_SECONDS / 60:.0f}")
    stop(min(idle, key=lambda s: _LAST_USED.get(s.key, 0.0)))


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _pin_content(host: str, port: int) -> bool:
    """Give the server at (host, port) its own handler class holding its own content.

    ``netron.serve`` sets ``content`` on its shared handler class; without this, every
    server of the process would serve the most recently started model.
    """
    try:
        from netron import server as ns  # optional: reported when absent

        base = ns._HTTPRequestHandler
        for thread in ns._threads((host, port)):
            handler = type("_CnnvizNetronHandler", (base,), {"content": base.content})
            thread.server.RequestHandlerClass = handler
        return True
    except Exception:  # Netron's internals changed: fall back to one server at a time
        return False


def _quiet_serve(netron, path: Path, host: str, port: int):
    """``netron.serve`` without its ``logging.basicConfig`` side effect on the root logger."""
    root = logging.getLogger()
    guard = None
    if not root.handlers:
        guard = logging.NullHandler()
        root.addHandler(guard)
    logging.getLogger("netron").setLevel(logging.WARNING)
    try:
        return netron.serve(str(path), None, address=(host, port), browse=False)
    finally:
        if guard is not None:
            root.removeHandler(guard)


def serve_file(path: str | os.PathLike, *, key: str | None = None, host: str | None = None,
               port: int | None = None) -> NetronServer:
    """A Netron server showing ``path``: the running one for this file, else a new one.

    Args:
        path: the model file; its folder is what the server exposes under ``/data/``.
        key: registry key (default: the file's resolved path).
        host: bind address (default :func:`bind_host`).
        port: preferred port; if busy (or None) a free one is chosen.

    Raises:
        NetronError: Netron is not installed or no port could be bound.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise NetronError("inspect.netron.error_missing_file", path=str(path))
    key = key or str(path)
    host = host or bind_host()
    try:
        import netron  # optional: reported when absent
    except Exception as exc:  # ImportError, or a broken install
        raise NetronError("inspect.netron.error_import", error=f"{type(exc).__name__}: {exc}"[:200]) from exc
    with _LOCK:
        existing = _SERVERS.get(key)
        if existing is not None and existing.file == path and existing.host == host and existing.alive():
            _LAST_USED[key] = time.time()
            return existing
        if existing is not None:
            stop(existing)
        while len(_SERVERS) >= MAX_SERVERS:  # a class browsing many models: the LRU idle viewer goes
            _evict_one()
        last_error: Exception | None = None
        for attempt in range(PORT_ATTEMPTS):
            try:
                candidate = port if (attempt == 0 and port and _port_free(host, port)) else _free_port(host)
                bound_host, bound_port = _quiet_serve(netron, path, host, candidate)
            except OSError as exc:
                last_error = exc
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue  # taken between the check and the bind: try another port
                break  # e.g. EADDRNOTAVAIL: the host is not an address of this computer
            except Exception as exc:
                last_error = exc
                break
            if not _pin_content(bound_host, bound_port):
                for other in list(_SERVERS.values()):
                    stop(other)
            server = NetronServer(key=key, file=path, host=bound_host, port=int(bound_port))
            _SERVERS[key] = server
            _LAST_USED[key] = time.time()
            return server
        raise NetronError("inspect.netron.error_start", host=host,
                          error=f"{type(last_error).__name__}: {last_error}"[:200] if last_error else "?")


def serve_model(model, key: str, *, host: str | None = None, port: int | None = None) -> NetronServer:
    """Export ``model`` (once) and serve it (once): the explorer's entry point."""
    return serve_file(export_model(model, key), key=safe_key(key), host=host, port=port)


def get(key: str) -> NetronServer | None:
    """The running server registered under ``key`` (a model key or file path), if any; asking for it
    (a page showing the graph) marks it in use for :data:`HOLD_SECONDS`."""
    with _LOCK:
        server = _SERVERS.get(key)
        if server is None:
            try:
                server = _SERVERS.get(safe_key(key))
            except ValueError:
                server = None
        if server is not None:
            _LAST_USED[server.key] = time.time()
    return server if server is not None and server.alive() else None


def stop(server: NetronServer) -> None:
    """Stop one server and forget it."""
    try:
        import netron  # optional: reported when absent

        netron.stop((server.host, server.port))
        # Netron's thread notices within its 0.25 s poll; wait so "stopped" means stopped.
        deadline = time.monotonic() + 2.0
        while netron.status((server.host, server.port)) and time.monotonic() < deadline:
            time.sleep(0.02)
    except Exception:
        pass
    with _LOCK:
        if _SERVERS.get(server.key) == server:
            del _SERVERS[server.key]
            _LAST_USED.pop(server.key, None)


def stop_all() -> None:
    with _LOCK:
        for server in list(_SERVERS.values()):
            stop(server)


def servers() -> list[NetronServer]:
    with _LOCK:
        return list(_SERVERS.values())


# --------------------------------------------------------------------------- viewer age

@dataclass(frozen=True)
class ViewerStatus:
    """The installed Netron and how long its bundled viewer page keeps working."""

    installed: bool
    version: str | None = None
    build_date: _dt.datetime | None = None
    error: str | None = None

    @property
    def expires(self) -> _dt.datetime | None:
        return None if self.build_date is None else self.build_date + _dt.timedelta(days=VIEWER_MAX_AGE_DAYS)

    def age_days(self, now: _dt.datetime | None = None) -> int | None:
        if self.build_date is None:
            return None
        now = now or _dt.datetime.now(_dt.timezone.utc)
        return (now - self.build_date).days

    def expired(self, now: _dt.datetime | None = None) -> bool:
        age = self.age_days(now)
        return age is not None and age > VIEWER_MAX_AGE_DAYS


_DATE_RE = re.compile(r'<meta\s+name="date"\s+content="(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})"')


def viewer_status() -> ViewerStatus:
    """Version and build date of the installed Netron viewer (read from its index.html)."""
    try:
        import netron  # optional: reported when absent
    except Exception as exc:
        return ViewerStatus(installed=False, error=f"{type(exc).__name__}: {exc}"[:200])
    version = getattr(netron, "__version__", None)
    index = Path(netron.__file__).with_name("index.html")
    try:
        match = _DATE_RE.search(index.read_text(encoding="utf-8", errors="replace")[:20000])
    except OSError:
        match = None
    date = None
    if match:
        # browser.js reads this date as UTC (it appends "Z").
        date = _dt.datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}").replace(tzinfo=_dt.timezone.utc)
    return ViewerStatus(installed=True, version=version, build_date=date)
