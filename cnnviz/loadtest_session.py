"""Session-level load test: students as real Streamlit sessions, without a browser.

Each student does what a browser does on the Classify page, through the same endpoints and
Streamlit's own protobuf messages (``streamlit.proto``):

1. ``GET /_stcore/health`` — the server sets the XSRF cookie (when XSRF protection is on).
2. Websocket ``/_stcore/stream`` (subprotocol ``streamlit``, the XSRF token as the second entry,
   the cookie and an ``Origin`` header): a new session. A ``BackMsg.rerun_script`` with the page's
   URL path (``page_name="classify"``) and query (``lang=en``) runs the page; the ``ForwardMsg``
   deltas name the file uploader's widget id (and its fragment, when it sits in one).
3. An upload: ``BackMsg.file_urls_request`` → ``ForwardMsg.file_urls_response`` (file id and upload
   URL), ``PUT`` of the photo as ``multipart/form-data`` to ``/_stcore/upload_file/<session>/<file_id>``
   with the ``X-Xsrftoken`` header, then a ``rerun_script`` whose widget states hold the
   uploader's ``file_uploader_state_value``.
4. The answers: the forward messages of that run carry the photo's caption (its file name), one
   top-5 block and one latency metric per model; the run's ``script_finished`` closes it. Timed
   from the start of the upload. An exception element or an error alert is this upload's error.

Bounded: every wait has a timeout, each student uploads until ``duration_s`` is over (at most
``max_uploads`` each), then closes its session. The client talks to the one server it was given,
and to a loopback address unless told otherwise (:func:`check_target`); an upload URL the server
names elsewhere is refused.

Nothing here imports Streamlit's runtime: only its generated protobuf classes.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import random
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

#: Seconds one upload may take to bring its four answers before it counts as a timeout.
UPLOAD_TIMEOUT_S = 300.0
#: Seconds to open a session and draw the page before the student counts as not connected.
OPEN_TIMEOUT_S = 120.0
#: The most uploads one student makes in one test (a bound on the loop).
MAX_UPLOADS = 1000
#: Sessions that open at the same moment (a class opens the page over a minute, not in one ms).
OPEN_AT_ONCE = 16
#: Seconds a student looks at the answers before the next photo (uniform).
PAUSE_S = (5.0, 20.0)
XSRF_COOKIE = "_streamlit_xsrf"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
#: An error alert that names a refusal or a failure (English and Spanish pages).
ERROR_WORDS = re.compile(r"busy|ocupado|error|Traceback", re.IGNORECASE)
ALERT_ERROR, ALERT_WARNING = 1, 2  # streamlit.proto.Alert.Format
#: The model's latency metric: "12.3 ms" (the inference time the page shows).
MS_RE = re.compile(r"([0-9]+(?:[.,][0-9]+)?)\s*ms")


class TargetRefused(ValueError):
    """The load test would talk to a server it was not allowed to."""


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_target(url: str, *, allow_remote: bool = False) -> urllib.parse.SplitResult:
    """``url`` parsed, when the load test may use it: http(s), a host, and a loopback address
    unless ``allow_remote`` (the person named the server explicitly, ``--url``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"not an http(s) server URL: {url!r}")
    if not allow_remote and not is_loopback(parts.hostname):
        raise TargetRefused(f"{parts.hostname} is not this machine; name the server with --url to load it")
    return parts


def same_server(base: urllib.parse.SplitResult, url: str) -> str:
    """The path (and query) of ``url`` when it points at ``base``'s server (or is relative); else refused."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme or parts.netloc:
        if (parts.scheme, parts.hostname, parts.port) != (base.scheme, base.hostname, base.port):
            raise TargetRefused(f"the server named another host for an upload: {url!r}")
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    prefix = base.path.rstrip("/")
    if prefix and not path.startswith(prefix + "/"):
        path = prefix + path
    return path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Upload:
    """One upload's outcome."""

    latency_s: float | None
    error: str | None = None
    first: bool = False
    inference_s: float | None = None  # the four latency metrics the page shows, summed


@dataclass
class PageRun:
    """What one script run of the page sent: the texts and widgets the client looks for."""

    texts: list[str] = field(default_factory=list)
    top5: int = 0
    metrics: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    uploader_id: str | None = None
    uploader_fragment: str = ""
    finished: bool = False

    def describe(self) -> str:
        return (f"this run so far: {len(self.texts)} texts, {self.top5} top-5 blocks, {len(self.metrics)} metrics, "
                f"uploader {'seen' if self.uploader_id else 'not seen'}")

    def has_caption(self, name: str) -> bool:
        return any(text.startswith(name) for text in self.texts)


class SessionClient:
    """One student's Streamlit session over the websocket (see the module docstring)."""

    def __init__(self, base: urllib.parse.SplitResult, *, page: str = "classify", query: str = "lang=en",
                 timeout_s: float = UPLOAD_TIMEOUT_S) -> None:
        self.base, self.page, self.query, self.timeout_s = base, page, query, timeout_s
        self.ws = None
        self.session_id: str | None = None
        self.page_hash = ""
        self.xsrf: str | None = None
        self.run = PageRun()
        self._request_id = 0
        self._file_urls: dict[int, Any] = {}

    # ------------------------------------------------------------- HTTP

    def _http(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn_cls = http.client.HTTPSConnection if self.base.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(self.base.hostname, self.base.port or (443 if self.base.scheme == "https" else 80),
                        timeout=self.timeout_s)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheader("Set-Cookie") or "", data
        finally:
            conn.close()

    def _path(self, route: str) -> str:
        return self.base.path.rstrip("/") + route

    def fetch_xsrf(self) -> None:
        """``GET /_stcore/health``: the XSRF cookie, when the server sets one."""
        status, cookie, _ = self._http("GET", self._path("/_stcore/health"))
        if status != 200:
            raise ConnectionError(f"/_stcore/health answered {status}")
        m = re.search(rf"{XSRF_COOKIE}=([^;]+)", cookie)
        self.xsrf = m.group(1) if m else None

    def _cookie_headers(self) -> dict[str, str]:
        return {"Cookie": f"{XSRF_COOKIE}={self.xsrf}", "X-Xsrftoken": self.xsrf} if self.xsrf else {}

    def put_file(self, upload_url: str, name: str, data: bytes, mime: str = "image/jpeg") -> None:
        """The browser's upload: one multipart ``PUT`` with the XSRF header."""
        boundary = "----cnnviz" + secrets.token_hex(12)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Origin": self._origin(), **self._cookie_headers()}
        status, _, text = self._http("PUT", same_server(self.base, upload_url), body, headers)
        if status not in (200, 204):
            raise ConnectionError(f"upload answered {status}: {text[:200].decode(errors='replace')}")

    def _origin(self) -> str:
        return f"{self.base.scheme}://{self.base.netloc}"

    # ------------------------------------------------------------- websocket

    async def open(self) -> None:
        """A new session, and the page drawn once (its uploader found)."""
        from websockets.asyncio.client import connect  # a dependency of Streamlit itself

        await asyncio.to_thread(self.fetch_xsrf)
        scheme = "wss" if self.base.scheme == "https" else "ws"
        uri = f"{scheme}://{self.base.netloc}{self._path('/_stcore/stream')}"
        protocols = ["streamlit", self.xsrf] if self.xsrf else ["streamlit"]
        headers = {"Cookie": f"{XSRF_COOKIE}={self.xsrf}"} if self.xsrf else {}
        self.ws = await asyncio.wait_for(
            connect(uri, subprotocols=protocols, additional_headers=headers, origin=self._origin(),
                    max_size=None, ping_interval=None, open_timeout=self.timeout_s), self.timeout_s)
        await self.rerun()
        await self.wait_run(lambda run: run.uploader_id is not None, OPEN_TIMEOUT_S)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(self, back) -> None:
        await self.ws.send(back.SerializeToString())

    async def rerun(self, widgets: Sequence[Any] = (), fragment_id: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        back = BackMsg()
        state = back.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        state.page_name = "" if self.page_hash else self.page
        if fragment_id:
            state.fragment_id = fragment_id
        for w in widgets:
            state.widget_states.widgets.append(w)
        self.run = PageRun()
        await self.send(back)

    def handle(self, msg) -> None:
        """Take what a forward message says into the session's state and the current run."""
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            ns = msg.new_session
            if ns.initialize.session_id:
                self.session_id = ns.initialize.session_id
        elif kind == "navigation" and msg.navigation.page_script_hash:
            self.page_hash = msg.navigation.page_script_hash  # the page st.navigation runs (not app.py's)
        elif kind == "file_urls_response":
            self._file_urls[msg.file_urls_response.response_id] = msg.file_urls_response
        elif kind == "script_finished":
            self.run.finished = True
        elif kind == "page_not_found":
            self.run.errors.append(f"page not found: {msg.page_not_found.page_name}")
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element, msg.delta.fragment_id)

    def _element(self, el, fragment_id: str) -> None:
        which = el.WhichOneof("type")
        run = self.run
        if which == "markdown":
            body = el.markdown.body
            run.texts.append(body)
            run.top5 += body.count("cnnviz-top5")
        elif which == "imgs":
            run.texts.extend(img.caption for img in el.imgs.imgs if img.caption)
        elif which == "metric":
            run.metrics.append(el.metric.body)
        elif which == "file_uploader":
            run.uploader_id, run.uploader_fragment = el.file_uploader.id, fragment_id
        elif which == "exception":
            run.errors.append(f"{el.exception.type}: {el.exception.message}")
        elif which == "alert" and (el.alert.format == ALERT_ERROR
                                   or (el.alert.format == ALERT_WARNING and ERROR_WORDS.search(el.alert.body))):
            run.errors.append(el.alert.body)  # every st.error; a warning only when it says busy or error

    async def receive(self, timeout_s: float) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        data = await asyncio.wait_for(self.ws.recv(), timeout_s)
        if isinstance(data, str):
            return
        msg = ForwardMsg()
        msg.ParseFromString(data)
        self.handle(msg)

    async def wait_run(self, done: Callable[[PageRun], bool], timeout_s: float) -> None:
        """Read forward messages until the current run has finished and ``done(run)`` holds."""
        deadline = time.monotonic() + timeout_s
        while not (self.run.finished and done(self.run)):
            if self.run.finished and self.run.errors:
                return
            left = deadline - time.monotonic()
            if self.run.finished:
                self.run.finished = False  # an early end (a rerun on top): wait for the next
            try:
                if left <= 0:
                    raise TimeoutError
                await self.receive(left)
            except (TimeoutError, asyncio.TimeoutError):
                raise TimeoutError(f"no answers within {timeout_s:g} s ({self.run.describe()})") from None

    async def file_urls(self, name: str, timeout_s: float):
        from streamlit.proto.BackMsg_pb2 import BackMsg

        self._request_id += 1
        rid = self._request_id
        back = BackMsg()
        back.file_urls_request.request_id = str(rid)
        back.file_urls_request.file_names.append(name)
        back.file_urls_request.session_id = self.session_id or ""
        await self.send(back)
        deadline = time.monotonic() + timeout_s
        while str(rid) not in self._file_urls and rid not in self._file_urls:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the server gave no upload URL")
            await self.receive(left)
        response = self._file_urls.pop(str(rid), None) or self._file_urls.pop(rid)
        return response.file_urls[0]

    async def upload(self, name: str, data: bytes, n_models: int) -> Upload:
        """Upload ``data`` as ``name`` and wait for the ``n_models`` answers; timed."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        uploader, fragment = self.run.uploader_id, self.run.uploader_fragment
        if uploader is None:
            return Upload(None, "the page has no file uploader")
        t0 = time.monotonic()
        try:
            urls = await self.file_urls(name, self.timeout_s)
            await asyncio.to_thread(self.put_file, urls.upload_url, name, data)
            state = WidgetState(id=uploader)
            info = state.file_uploader_state_value.uploaded_file_info.add()
            info.file_id, info.name, info.size = urls.file_id, name, len(data)
            info.file_urls.CopyFrom(urls)
            await self.rerun([state], fragment)
            left = self.timeout_s - (time.monotonic() - t0)
            await self.wait_run(lambda run: run.has_caption(name) and run.top5 >= n_models
                                and len(run.metrics) >= n_models, left)
        except (TimeoutError, asyncio.TimeoutError) as exc:
            return Upload(None, f"timeout: {exc}")
        except Exception as exc:  # noqa: BLE001 - a failed upload is this student's error, reported
            return Upload(None, f"{type(exc).__name__}: {exc}")
        latency = time.monotonic() - t0
        if self.run.errors:
            return Upload(latency, " | ".join(self.run.errors)[:300])
        ms = [float(m.group(1).replace(",", ".")) for m in map(MS_RE.search, self.run.metrics) if m]
        return Upload(latency, inference_s=sum(ms) / 1000.0 if ms else None)


# --------------------------------------------------------------------------- the class

@dataclass
class Hall:
    """The students of :func:`run_students`: each opens a session, then uploads until the time is up."""

    base: urllib.parse.SplitResult
    students: int
    duration_s: float
    n_models: int
    photo: Callable[[int], bytes]
    start_s: Callable[[int], float]
    pause_s: tuple[float, float]
    once: bool
    timeout_s: float
    max_uploads: int
    rng: random.Random
    log: Any = None
    on_begin: Callable[[], None] | None = None  # called once every session is open (the timing starts)
    uploads: list[Upload] = field(default_factory=list)
    open_s: list[float] = field(default_factory=list)
    open_errors: list[str] = field(default_factory=list)
    t_begin: float = 0.0

    async def open_one(self, gate: asyncio.Semaphore) -> SessionClient | None:
        """One student's session with the page drawn; None (and an open error) when it never opens."""
        async with gate:
            client = SessionClient(self.base, timeout_s=self.timeout_s)
            t0 = time.monotonic()
            try:
                await client.open()
            except Exception as exc:  # noqa: BLE001 - a session that never opens is this student's error
                self.open_errors.append(f"open: {type(exc).__name__}: {exc}")
                await client.close()
                return None
            self.open_s.append(time.monotonic() - t0)
            return client

    async def student(self, i: int, client: SessionClient) -> None:
        try:
            await asyncio.sleep(max(0.0, self.t_begin + self.start_s(i) - time.monotonic()))
            for k in range(self.max_uploads):
                result = await client.upload(f"student{i}-{k}.jpg", self.photo(i * 1000 + k), self.n_models)
                result.first = k == 0
                self.uploads.append(result)
                if self.log:
                    self.log(f"student {i}: {result.latency_s if result.error is None else result.error}")
                if result.latency_s is None or self.once:
                    return
                await asyncio.sleep(self.rng.uniform(*self.pause_s))
                if time.monotonic() >= self.t_begin + self.duration_s:
                    return
        finally:
            await client.close()

    async def run(self) -> None:
        """Every student opens the page (at most ``OPEN_AT_ONCE`` at a time), then the uploads begin."""
        gate = asyncio.Semaphore(OPEN_AT_ONCE)
        clients = await asyncio.gather(*(self.open_one(gate) for _ in range(self.students)))
        if self.log:
            self.log(f"{sum(c is not None for c in clients)} of {self.students} sessions open; uploading")
        self.t_begin = time.monotonic()
        if self.on_begin:
            self.on_begin()
        await asyncio.gather(*(self.student(i, c) for i, c in enumerate(clients) if c is not None))


def run_in_own_loop(coro, name: str = "cnnviz-loadtest") -> None:
    """Run ``coro`` in a fresh event loop on its own thread (the caller may already run one: sync
    Playwright and Locust's gevent do); its exception is re-raised here."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    runner = threading.Thread(target=target, name=name)
    runner.start()
    runner.join()
    if failure:
        raise failure[0]


def run_hall(hall: Hall) -> None:
    """Run ``hall`` in a fresh event loop on its own thread (the caller may already run one)."""
    run_in_own_loop(hall.run(), "cnnviz-loadtest-sessions")


def spread_starts(students: int, duration_s: float, *, at_once: bool, seed: int = 0) -> list[float]:
    """When each student's first upload comes: all within a second (``at_once``), else uniform in ``duration_s``."""
    rng = random.Random(seed)
    window = min(1.0, duration_s) if at_once else duration_s
    return [rng.uniform(0, window) for _ in range(students)]


__all__ = ["Hall", "PageRun", "SessionClient", "TargetRefused", "Upload", "check_target", "is_loopback",
           "run_hall", "run_in_own_loop", "same_server", "spread_starts"]
