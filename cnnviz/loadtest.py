"""A load test anyone can run before class: N students at once, latency, errors, memory.

Three ways to drive the load (``python -m cnnviz loadtest``, :func:`run`):

* ``browser`` — N real browser sessions (Playwright + Chromium, as the tests use) against a
  ``streamlit run app.py`` server: every student first opens Classify (timed apart), then each
  uploads a new photo of their own at random moments and times upload → four answers visible,
  until the duration is over. One machine drives about 8–15 such sessions; past that use
  ``http`` against a Ray Serve cluster, or ``sim``.
* ``session`` — N real Streamlit sessions without a browser (:mod:`cnnviz.loadtest_session`):
  the websocket ``/_stcore/stream`` with Streamlit's own protobufs, the browser's upload endpoint,
  the uploader's widget state, upload → the four answers in the forward messages. Everything the
  server does per student, nothing a browser does: one machine drives hundreds. Reports the
  server's CPU-seconds per upload when it runs here.
* ``http`` — N protocol-level clients against a Ray Serve cluster (``CNNVIZ_INFERENCE_URL``):
  each POSTs its photo to the four model routes (what the app does for one upload).
* ``sim`` — the predictor level, in this process: the four predictors behind the same fair
  queues the server uses (:mod:`cnnviz.serving`); each student classifies once (or until the
  duration is over with ``repeat``) at a random moment within ``duration`` seconds.

The report (``--json``): ``students``, ``requests`` (uploads), ``errors``, ``p50_s``, ``p95_s``,
``max_s``, ``throughput_per_min`` (uploads answered per minute, four classifications each),
``classifications_per_min``, ``peak_rss_mb`` (the server's, when it runs on this machine; the
process's own in ``sim``), ``cpu_percent`` (same process), ``queue_wait_mean_s`` /
``queue_wait_max_s`` (``sim``), ``error_messages`` (a few); ``session`` adds ``arrivals``,
``server_cpu_s``, ``server_cpu_s_per_upload`` (/proc), ``inference_s_per_upload`` (the page's
four latency metrics summed: wall time).
"""

from __future__ import annotations

import io
import os
import random
import statistics
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from cnnviz import HOMEWORK_MODELS


@dataclass
class Sample:
    latency_s: float | None
    error: str | None = None
    queue_wait_s: float | None = None
    first: bool = False  # browser, session: a student's first upload (everybody's come at once)
    inference_s: float | None = None  # session: the four latency metrics the page showed, summed


@dataclass
class Report:
    mode: str
    students: int
    duration_s: float
    models: list[str]
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0
    peak_rss_mb: float | None = None
    cpu_percent: float | None = None
    target: str | None = None
    pause_s: tuple[float, float] | None = None  # browser: a student's pause between uploads
    open_s: list[float] = field(default_factory=list)  # browser: page open → ready, per student
    open_errors: list[str] = field(default_factory=list)
    server_cpu_s: float | None = None  # session: the server's CPU-seconds while the uploads ran
    arrivals: str | None = None  # session: "at-once" or "spread"

    def to_dict(self) -> dict[str, Any]:
        ok = sorted(s.latency_s for s in self.samples if s.error is None and s.latency_s is not None)
        errors = [s.error for s in self.samples if s.error is not None] + self.open_errors
        waits = [s.queue_wait_s for s in self.samples if s.queue_wait_s is not None]
        minutes = max(self.wall_s, 1e-9) / 60.0
        return {
            "mode": self.mode,
            "target": self.target,
            "students": self.students,
            "duration_s": self.duration_s,
            "models": self.models,
            "requests": len(self.samples),
            "errors": len(errors),
            "p50_s": _pct(ok, 50),
            "p95_s": _pct(ok, 95),
            "max_s": round(ok[-1], 3) if ok else None,
            "throughput_per_min": round(len(ok) / minutes, 2),
            "classifications_per_min": round(len(ok) * len(self.models) / minutes, 2),
            "wall_s": round(self.wall_s, 2),
            "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1),
            "cpu_percent": None if self.cpu_percent is None else round(self.cpu_percent, 1),
            "queue_wait_mean_s": round(statistics.fmean(waits), 3) if waits else None,
            "queue_wait_max_s": round(max(waits), 3) if waits else None,
            "error_messages": sorted(set(errors))[:5],
            "pause_s": None if self.pause_s is None else list(self.pause_s),
            # browser: everybody's first upload within a few seconds, then the uploads after it
            "first_wave_max_s": _max([s.latency_s for s in self.samples if s.first and s.error is None]),
            "later_p95_s": _pct(sorted(s.latency_s for s in self.samples
                                       if not s.first and s.error is None and s.latency_s is not None), 95),
            "open_p50_s": _pct(sorted(self.open_s), 50),
            "open_max_s": round(max(self.open_s), 3) if self.open_s else None,
            **self._cpu_per_upload(len(ok)),
        }

    def _cpu_per_upload(self, answered: int) -> dict[str, Any]:
        """Session mode: the server's CPU-seconds per answered upload (/proc), beside the inference
        time the page showed (its four latency metrics summed: wall time, not CPU; where the CPU
        goes inside the server is a profiler's job, e.g. py-spy)."""
        if self.mode != "session":
            return {}
        inference = [s.inference_s for s in self.samples if s.error is None and s.inference_s is not None]
        per = None if self.server_cpu_s is None or not answered else self.server_cpu_s / answered
        return {"arrivals": self.arrivals,
                "server_cpu_s": None if self.server_cpu_s is None else round(self.server_cpu_s, 2),
                "server_cpu_s_per_upload": None if per is None else round(per, 3),
                "inference_s_per_upload": round(statistics.fmean(inference), 3) if inference else None}


def _max(values: Sequence[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(max(values), 3) if values else None


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    k = (len(values) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 3)


# --------------------------------------------------------------------------- photos

def student_photo(i: int, size: int = 640):
    """Student ``i``'s photo: a sample photo, cropped and tinted differently for every ``i``
    (distinct content, so no two uploads share a cached answer)."""
    from PIL import Image, ImageEnhance

    from cnnviz import samples

    names = samples.list_samples()
    img = samples.load_sample(names[i % len(names)], max_side=size).convert("RGB")
    rng = random.Random(i)
    w, h = img.size
    dx, dy = rng.randint(0, max(1, w // 8)), rng.randint(0, max(1, h // 8))
    img = img.crop((dx, dy, w - rng.randint(0, max(1, w // 8)), h - rng.randint(0, max(1, h // 8))))
    img = ImageEnhance.Color(img).enhance(0.6 + rng.random() * 0.8)
    return img.resize((size, int(size * img.size[1] / img.size[0])), Image.Resampling.BILINEAR)


def photo_bytes(i: int) -> bytes:
    buf = io.BytesIO()
    student_photo(i).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


# --------------------------------------------------------------------------- process memory / CPU

def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def pid_listening_on(port: int) -> int | None:
    """The process that listens on TCP ``port`` on this machine (Linux /proc), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


class Sampler:
    """Samples a process's RSS every ``every_s`` seconds; reports its peak and CPU share."""

    def __init__(self, pid: int | None, every_s: float = 0.5) -> None:
        self.pid, self.every_s = pid, every_s
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()
        self._ticks0 = _cpu_ticks(pid) if pid else None

    def __enter__(self) -> "Sampler":
        if self.pid:
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _rss_mb(self.pid)
            if rss is not None:
                self.peak = rss if self.peak is None else max(self.peak, rss)
            self._stop.wait(self.every_s)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        if self.pid:
            rss = _rss_mb(self.pid)
            if rss is not None:
                self.peak = rss if self.peak is None else max(self.peak, rss)

    def restart(self) -> None:
        """Count CPU from now on (e.g. once every session is open and the uploads begin)."""
        self._t0 = time.monotonic()
        self._ticks0 = _cpu_ticks(self.pid) if self.pid else None

    def cpu_seconds(self) -> float | None:
        """CPU-seconds (user + system) the process used since the start (or :meth:`restart`)."""
        ticks = _cpu_ticks(self.pid) if self.pid else None
        if ticks is None or self._ticks0 is None:
            return None
        return (ticks - self._ticks0) / os.sysconf("SC_CLK_TCK")

    def cpu_percent(self) -> float | None:
        seconds = self.cpu_seconds()
        if seconds is None:
            return None
        return 100.0 * seconds / max(time.monotonic() - self._t0, 1e-9)


# --------------------------------------------------------------------------- sim: the predictor level

def simulate(students: int, duration_s: float = 60.0, *, models: Sequence[str] = HOMEWORK_MODELS,
             weights: str | None | dict = "auto", repeat: bool = False, predictors: dict | None = None,
             seed: int = 0, log=None) -> Report:
    """``students`` each classify one photo with every model at a random moment in ``duration_s``.

    The predictors (built here unless given) sit behind :mod:`cnnviz.serving`'s queues exactly as
    in the server; each student waits for the four answers in turn, as the Classify page does.
    """
    from cnnviz import infer, serving

    if predictors is None:
        if weights == "auto":
            weights = serving.default_weights(models)
        predictors = {}
        for name in models:
            w = weights.get(name) if isinstance(weights, dict) else weights
            if log:
                log(f"loading {name} ({w or 'random'} weights)")
            predictors[name] = infer.load_predictor(name, w, runs=1)
    registry = serving.QueueRegistry(serving.ServingConfig.from_env())
    queues = [registry.queue_for(predictors[n]) for n in models]
    photos = [student_photo(i, size=320) for i in range(min(students, 64))]
    report = Report("sim", students, duration_s, list(models), target="in-process")
    rng = random.Random(seed)
    starts = [rng.uniform(0, duration_s) for _ in range(students)]
    lock = threading.Lock()
    t_begin = time.monotonic()
    end = t_begin + duration_s

    def student(i: int) -> None:
        time.sleep(starts[i])
        while True:
            t0 = time.monotonic()
            waited = 0.0
            try:
                for q in queues:
                    ticket = q.submit(photos[i % len(photos)], session=f"student{i}")
                    ticket.result()
                    waited += ticket.waited_s
                sample = Sample(time.monotonic() - t0, queue_wait_s=waited)
            except Exception as exc:  # noqa: BLE001 - counted, reported
                sample = Sample(None, f"{type(exc).__name__}: {exc}")
            with lock:
                report.samples.append(sample)
            if not repeat or time.monotonic() >= end:
                return
            time.sleep(rng.uniform(0, 2.0))

    _run_students(report, student, os.getpid(), t_begin)
    for q in queues:
        q.close()
    return report


# --------------------------------------------------------------------------- http: a Ray Serve cluster

def http_load(url: str, students: int, duration_s: float = 30.0, *, models: Sequence[str] = HOMEWORK_MODELS,
              seed: int = 0) -> Report:
    """Protocol-level students against a Ray Serve cluster: each upload = one POST per model."""
    from cnnviz.serving.remote import InferenceClient

    client = InferenceClient(url)
    photos = [student_photo(i, size=320) for i in range(min(students, 64))]
    report = Report("http", students, duration_s, list(models), target=url)
    rng = random.Random(seed)
    lock = threading.Lock()
    t_begin = time.monotonic()
    end = t_begin + duration_s

    def student(i: int) -> None:
        time.sleep(rng.uniform(0, min(duration_s, 5.0)))
        while True:
            t0 = time.monotonic()
            try:
                for name in models:
                    client.classify(name, photos[i % len(photos)])
                sample = Sample(time.monotonic() - t0)
            except Exception as exc:  # noqa: BLE001
                sample = Sample(None, f"{type(exc).__name__}: {exc}")
            with lock:
                report.samples.append(sample)
            if time.monotonic() >= end:
                return
            time.sleep(rng.uniform(0, 2.0))

    _run_students(report, student, _local_pid(url), t_begin)
    return report


def _run_students(report: "Report", student, pid: int | None, t_begin: float) -> None:
    """One thread per student until all are done, the server process (``pid``) sampled meanwhile:
    fills the report's wall time, peak RSS and CPU share."""
    with Sampler(pid) as sampler:
        threads = [threading.Thread(target=student, args=(i,), daemon=True) for i in range(report.students)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        report.wall_s = time.monotonic() - t_begin
    report.peak_rss_mb, report.cpu_percent = sampler.peak, sampler.cpu_percent()


def _local_pid(url: str) -> int | None:
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in {"localhost", "127.0.0.1", "::1", "0.0.0.0"}:
        return None
    return pid_listening_on(parts.port or 80)


# --------------------------------------------------------------------------- session: Streamlit sessions, no browser

def session_load(url: str, students: int, duration_s: float = 60.0, *, models: Sequence[str] = HOMEWORK_MODELS,
                 arrivals: str = "at-once", uploads: int = 1, pause_s: tuple[float, float] | None = None,
                 allow_remote: bool = False, timeout_s: float = 300.0, seed: int = 0, photo_set: int | None = None,
                 log=None) -> Report:
    """``students`` real Streamlit sessions (websocket + protobuf, no browser) on the Classify page.

    Every student opens a session and draws the page first (``open_p50_s``); then each uploads
    its own photo through the browser's upload endpoint and waits for the four answers in the
    forward messages (:mod:`cnnviz.loadtest_session`). ``arrivals``: ``at-once`` (everybody's first
    upload within one second) or ``spread`` (uniform over ``duration_s``). Each student uploads
    ``uploads`` photos (a random ``pause_s`` between them, never past ``duration_s``). When the
    server runs on this machine: its CPU-seconds while the uploads ran (per upload) and its peak
    RSS, from /proc, beside the inference time the page reported.

    ``photo_set``: which photos (default a new random set each time, so no answer comes from the
    server's result cache). The same ``photo_set`` twice: the second run's answers all come from
    that cache, so its CPU per upload is everything the server does per upload except inference.

    Raises:
        cnnviz.loadtest_session.TargetRefused: ``url`` is not a loopback server and not ``allow_remote``.
    """
    from cnnviz import loadtest_session as sessions

    if arrivals not in ("at-once", "spread"):
        raise ValueError(f"arrivals must be 'at-once' or 'spread', not {arrivals!r}")
    base = sessions.check_target(url, allow_remote=allow_remote)
    pause_s = PAUSE_S if pause_s is None else pause_s
    report = Report("session", students, duration_s, list(models), target=url, arrivals=arrivals,
                    pause_s=tuple(pause_s) if uploads > 1 else None)
    photos: dict[int, bytes] = {}
    first = (random.SystemRandom().randrange(1, 10**6) if photo_set is None else photo_set) * 10**7

    def photo(k: int) -> bytes:  # student i's k-th photo is k = i * 1000 + k
        if k not in photos:
            photos[k] = photo_bytes(first + k)
        return photos[k]

    for i in range(students):  # made before the clock starts: the load generator's own CPU is not the server's
        photo(i * 1000)
    starts = sessions.spread_starts(students, duration_s, at_once=arrivals == "at-once", seed=seed)
    with Sampler(_local_pid(url)) as sampler:
        hall = sessions.Hall(base, students, duration_s, len(models), photo, starts.__getitem__, tuple(pause_s),
                             once=uploads <= 1, timeout_s=timeout_s, max_uploads=max(1, min(uploads, sessions.MAX_UPLOADS)),
                             rng=random.Random(seed), log=log, on_begin=sampler.restart)
        sessions.run_hall(hall)
        report.server_cpu_s = sampler.cpu_seconds()
    report.wall_s = time.monotonic() - hall.t_begin
    report.samples = [Sample(u.latency_s, u.error, first=u.first, inference_s=u.inference_s) for u in hall.uploads]
    report.open_s, report.open_errors = hall.open_s, hall.open_errors
    report.peak_rss_mb, report.cpu_percent = sampler.peak, sampler.cpu_percent()
    return report


# --------------------------------------------------------------------------- browser: real sessions

#: Four answers for the photo named ``name`` are on screen: the image caption names it (the page
#: writes it during the run that classifies that photo), every column has its top-5 bars and
#: its timing, and the script run is over (so no stale element from the previous photo is left).
RESULTS_JS = ("([name, n]) => {"
              " const a = document.querySelector('[data-testid=\"stApp\"]');"
              " const s = a && a.getAttribute('data-test-script-state');"
              " if (!s || s === 'running') return false;"
              " const caps = Array.from(document.querySelectorAll('[data-testid=\"stCaptionContainer\"]'));"
              " return caps.some(c => c.innerText.startsWith(name + ' ·'))"
              " && document.querySelectorAll('.cnnviz-top5').length >= n"
              " && document.querySelectorAll('[data-testid=\"stMetric\"]').length >= n; }")
ERROR_JS = ("() => Array.from(document.querySelectorAll('[data-testid=\"stException\"], [data-testid=\"stAlert\"]'))"
            ".map(e => e.innerText).filter(t => /busy|ocupado|Traceback|Error/.test(t)).join(' | ')")
READY_JS = ("() => !!document.querySelector('[data-testid=\"stSidebar\"] [data-testid=\"stRadio\"]')"
            " && !!document.querySelector('[data-testid=\"stFileUploader\"] input[type=\"file\"]')")


#: How often a waiting session looks for its answers. Not Playwright's default (every animation
#: frame): that keeps each waiting page drawing 60 frames a second, and eight of them took more
#: than one of this machine's two cores away from the server and the pages being measured.
POLL_MS = 50
#: Seconds a student looks at the four answers before uploading the next photo (uniform).
PAUSE_S = (5.0, 20.0)
#: The first uploads all come within this many seconds of each other.
FIRST_WAVE_S = 5.0


def browser_load(url: str, students: int, duration_s: float = 60.0, *, models: Sequence[str] = HOMEWORK_MODELS,
                 pause_s: tuple[float, float] = PAUSE_S, chromium: str | None = None, timeout_s: float = 300.0,
                 seed: int = 0, screenshot: str | None = None, log=None) -> Report:
    """``students`` real Chromium sessions against a cnnviz server's Classify page.

    First every student opens Classify (as a class does when the teacher says "open the page";
    timed apart: ``open_p50_s`` / ``open_max_s``). Then, for ``duration_s``: everybody uploads a
    first photo within the same few seconds (the teacher said "now"), and after each answer
    looks at it for a random ``pause_s`` (uniform, seconds) before uploading the next one, on the
    page they have open. ``p50_s`` / ``p95_s``: upload → four answers visible. A new photo every
    time, never the same twice, so no answer comes from a cache. ``pause_s=(0, 5)`` is a stress
    test: students who do nothing but upload.
    """
    report = Report("browser", students, duration_s, list(models), target=url, pause_s=tuple(pause_s))
    room = _BrowserClassroom(report, url, students, duration_s, len(models), tuple(pause_s), timeout_s,
                             random.Random(seed), screenshot, log)
    with Sampler(_local_pid(url)) as sampler:
        from cnnviz import loadtest_session as sessions  # heavy: Streamlit's protobufs (light CLI paths stay light)

        sessions.run_in_own_loop(room.run(chromium or find_chromium()), "cnnviz-loadtest-browsers")
    report.wall_s = time.monotonic() - room.t_begin
    report.peak_rss_mb, report.cpu_percent = sampler.peak, sampler.cpu_percent()
    return report


BROWSER_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync")


@dataclass
class _BrowserClassroom:
    """The students of :func:`browser_load`: open the page, then upload photos until the time is up."""

    report: Report
    url: str
    students: int
    duration_s: float
    n_models: int
    pause_s: tuple[float, float]
    timeout_s: float
    rng: random.Random
    screenshot: str | None
    log: Any
    t_begin: float = field(default_factory=time.monotonic)

    async def run(self, chromium: str | None) -> None:
        """Every student opens Classify, then all upload for ``duration_s`` (timed from when all are open)."""
        import asyncio

        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, headless=True, args=list(BROWSER_ARGS))
            opened = await asyncio.gather(*(self.open_page(browser) for _ in range(self.students)))
            if self.log:
                self.log(f"{sum(o is not None for o in opened)} of {self.students} sessions open; "
                         f"uploading for {self.duration_s:g} s")
            self.t_begin = time.monotonic()
            t_end = self.t_begin + self.duration_s
            await asyncio.gather(*(self.uploads(i, *o, t_end) for i, o in enumerate(opened) if o is not None))
            await browser.close()

    async def open_page(self, browser):
        """One student's Classify page, ready; None (and an open error) when it never opens."""
        context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
        page = await context.new_page()
        page.set_default_timeout(self.timeout_s * 1000)
        t0 = time.monotonic()
        try:
            await page.goto(f"{self.url.rstrip('/')}/classify?lang=en")
            await page.wait_for_function(READY_JS, polling=POLL_MS)
        except Exception as exc:  # noqa: BLE001 - a page that never opens is this student's error
            self.report.open_errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            await context.close()
            return None
        self.report.open_s.append(time.monotonic() - t0)
        return context, page

    async def uploads(self, i: int, context, page, t_end: float) -> None:
        """Student ``i`` uploads a new photo, waits for the four answers, looks a while, again; until ``t_end``."""
        import asyncio

        k = 0
        try:
            await asyncio.sleep(self.rng.uniform(0, min(FIRST_WAVE_S, self.duration_s / 4)))
            while True:
                sample = await self.upload_one(page, i, k)
                self.report.samples.append(sample)
                if self.log:
                    self.log(f"student {i}: {sample.latency_s if sample.latency_s is not None else sample.error}")
                if self.screenshot and i == 0 and k == 0:
                    await page.screenshot(path=self.screenshot, full_page=True)
                k += 1
                if sample.latency_s is None:
                    return
                await asyncio.sleep(self.rng.uniform(*self.pause_s))
                if time.monotonic() >= t_end:
                    return
        finally:
            await context.close()

    async def upload_one(self, page, i: int, k: int) -> Sample:
        """Student ``i``'s ``k``-th photo (no two uploads alike): upload → the answers visible, timed."""
        name = f"student{i}-{k}.jpg"
        data = photo_bytes(i * 1000 + k)
        t0 = time.monotonic()
        try:
            await page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
                {"name": name, "mimeType": "image/jpeg", "buffer": data})
            await page.wait_for_function(RESULTS_JS, arg=[name, self.n_models], polling=POLL_MS)
            problem = await page.evaluate(ERROR_JS)
            return Sample(time.monotonic() - t0, problem or None, first=k == 0)
        except Exception as exc:  # noqa: BLE001 - a timeout is an error for this student
            return Sample(None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}", first=k == 0)


def find_chromium() -> str | None:
    """A Chromium executable: ``CNNVIZ_CHROMIUM``, else the system's (Debian's ``chromium``...);
    None lets Playwright use its own browser, if one is installed."""
    import shutil

    explicit = os.environ.get("CNNVIZ_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None  # Playwright's own browser, if installed


def detect_mode(url: str) -> str:
    """``browser`` for a cnnviz (Streamlit) server, ``http`` for a Ray Serve proxy."""
    import urllib.request

    base = url.rstrip("/")
    for route, mode in (("/_stcore/health", "browser"), ("/-/healthz", "http")):
        try:
            with urllib.request.urlopen(base + route, timeout=5) as r:
                if r.status == 200:
                    return mode
        except OSError:
            continue
    raise ConnectionError(f"nothing answers at {url} (neither a cnnviz server nor a Ray Serve proxy)")


__all__ = ["Report", "browser_load", "detect_mode", "http_load", "photo_bytes", "pid_listening_on", "session_load",
           "simulate", "student_photo"]
