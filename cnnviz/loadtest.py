"""A load test anyone can run before class: N students at once, latency, errors, memory.

Three ways to drive the load (``python -m cnnviz loadtest``, :func:`run`):

* ``browser`` — N real browser sessions (Playwright + Chromium, as the tests use) against a
  ``streamlit run app.py`` server: each opens Classify, waits a random moment, uploads its own
  photo and times upload → four answers visible; then reloads and does it again until the
  duration is over. One machine drives about 8–15 such sessions; past that use ``http``
  against a Ray Serve cluster, or ``sim``.
* ``http`` — N protocol-level clients against a Ray Serve cluster (``CNNVIZ_INFERENCE_URL``):
  each POSTs its photo to the four model routes (what the app does for one upload).
* ``sim`` — the predictor level, in this process: the four predictors behind the same fair
  queues the server uses (:mod:`cnnviz.serving`); each student classifies once (or until the
  duration is over with ``repeat``) at a random moment within ``duration`` seconds.

The report (``--json``): ``students``, ``requests`` (uploads), ``errors``, ``p50_s``, ``p95_s``,
``max_s``, ``throughput_per_min`` (uploads answered per minute, four classifications each),
``classifications_per_min``, ``peak_rss_mb`` (the server's, when it runs on this machine; the
process's own in ``sim``), ``cpu_percent`` (same process), ``queue_wait_mean_s`` /
``queue_wait_max_s`` (``sim``), ``error_messages`` (a few).
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

    def to_dict(self) -> dict[str, Any]:
        ok = sorted(s.latency_s for s in self.samples if s.error is None and s.latency_s is not None)
        errors = [s.error for s in self.samples if s.error is not None]
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
        }


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

    def cpu_percent(self) -> float | None:
        ticks = _cpu_ticks(self.pid) if self.pid else None
        if ticks is None or self._ticks0 is None:
            return None
        seconds = (ticks - self._ticks0) / os.sysconf("SC_CLK_TCK")
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
    from cnnviz.serve import InferenceClient

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
                    client.predict(name, photos[i % len(photos)])
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


# --------------------------------------------------------------------------- browser: real sessions

RESULTS_JS = ("() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"]').length >= {n}"
              " && document.querySelectorAll('[data-testid=\"stMetric\"]').length >= {n}"
              " && (() => {{ const a = document.querySelector('[data-testid=\"stApp\"]');"
              " const s = a && a.getAttribute('data-test-script-state'); return s && s !== 'running'; }})()")
ERROR_JS = ("() => Array.from(document.querySelectorAll('[data-testid=\"stException\"], [data-testid=\"stAlert\"]'))"
            ".map(e => e.innerText).filter(t => /busy|ocupado|Traceback|Error/.test(t)).join(' | ')")
READY_JS = ("() => !!document.querySelector('[data-testid=\"stSidebar\"] [data-testid=\"stRadio\"]')"
            " && !!document.querySelector('[data-testid=\"stFileUploader\"] input[type=\"file\"]')")


def browser_load(url: str, students: int, duration_s: float = 60.0, *, models: Sequence[str] = HOMEWORK_MODELS,
                 chromium: str | None = None, timeout_s: float = 300.0, seed: int = 0, screenshot: str | None = None,
                 log=None) -> Report:
    """``students`` real Chromium sessions against a cnnviz server's Classify page."""
    import asyncio

    from playwright.async_api import async_playwright

    report = Report("browser", students, duration_s, list(models), target=url)
    rng = random.Random(seed)
    photos = [photo_bytes(i) for i in range(students * 4)]
    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]

    async def session(browser, i: int, t_end: float) -> None:
        context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
        page = await context.new_page()
        page.set_default_timeout(timeout_s * 1000)
        k = 0
        try:
            while True:
                await page.goto(f"{url.rstrip('/')}/classify?lang=en")
                await page.wait_for_function(READY_JS)
                await asyncio.sleep(rng.uniform(0, min(5.0, duration_s / 4)))
                data = photos[(i * 4 + k) % len(photos)]
                t0 = time.monotonic()
                await page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
                    {"name": f"student{i}-{k}.jpg", "mimeType": "image/jpeg", "buffer": data})
                try:
                    await page.wait_for_function(RESULTS_JS.format(n=len(models)))
                    problem = await page.evaluate(ERROR_JS)
                    sample = Sample(time.monotonic() - t0, problem or None)
                except Exception as exc:  # noqa: BLE001 - a timeout is an error for this student
                    sample = Sample(None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
                report.samples.append(sample)
                if log:
                    log(f"student {i}: {sample.latency_s if sample.latency_s is not None else sample.error}")
                if screenshot and i == 0 and k == 0:
                    await page.screenshot(path=screenshot, full_page=True)
                k += 1
                if time.monotonic() >= t_end:
                    return
        finally:
            await context.close()

    async def main() -> None:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium or find_chromium(), headless=True, args=args)
            t_end = time.monotonic() + duration_s
            await asyncio.gather(*(session(browser, i, t_end) for i in range(students)))
            await browser.close()

    pid = _local_pid(url)
    t_begin = time.monotonic()
    failure: list[BaseException] = []

    def in_own_loop() -> None:  # a caller may already run an event loop (sync Playwright does)
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    with Sampler(pid) as sampler:
        runner = threading.Thread(target=in_own_loop, name="cnnviz-loadtest-browsers")
        runner.start()
        runner.join()
    if failure:
        raise failure[0]
    report.wall_s = time.monotonic() - t_begin
    report.peak_rss_mb, report.cpu_percent = sampler.peak, sampler.cpu_percent()
    return report


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


__all__ = ["Report", "browser_load", "detect_mode", "http_load", "photo_bytes", "pid_listening_on", "simulate",
           "student_photo"]
