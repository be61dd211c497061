"""Locust: the lecture-hall student of ``python -m cnnviz loadtest --mode session``, for many machines.

Each Locust user is one student: a real Streamlit session on the Classify page (websocket +
Streamlit's protobufs, :class:`cnnviz.loadtest_session.SessionClient`), who uploads a new photo
of their own through the browser's upload endpoint, waits for the four answers, looks at them
a while, and uploads again. Locust records one ``upload → 4 answers`` request per photo (a
failure carries the page's error: busy, an exception, a timeout).

Install the optional extra, start the server, then::

    pip install -r requirements-loadtest.txt
    locust -f deploy/locustfile.py --host http://localhost:8501 --headless -u 30 -r 30 -t 2m
    # a department: one master and N workers on other machines (Locust's distributed mode)
    locust -f deploy/locustfile.py --master --host http://cnnviz-server:8501
    locust -f deploy/locustfile.py --worker --master-host <master>

The target is the ``--host`` Locust was given, nothing else (an upload URL naming another
server is refused). ``CNNVIZ_LOCUST_PAUSE=MIN,MAX`` sets the seconds between a student's
uploads (default 5,20).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time

from locust import User, between, events, task

from cnnviz import HOMEWORK_MODELS
from cnnviz.loadtest import photo_bytes
from cnnviz.loadtest_session import SessionClient, check_target

_pause = [float(x) for x in os.environ.get("CNNVIZ_LOCUST_PAUSE", "5,20").split(",")]
_students = itertools.count()
_first_photo = random.SystemRandom().randrange(1, 10**6) * 10**7  # new photos every run: no cached answers


class Student(User):
    """One student with the Classify page open (one Streamlit session, its own event loop)."""

    wait_time = between(_pause[0], _pause[1])

    def on_start(self) -> None:
        self.number = next(_students)
        self.uploads = 0
        self.loop = asyncio.new_event_loop()
        # Locust's --host was named explicitly: a server on another machine is allowed.
        self.client = SessionClient(check_target(self.host, allow_remote=True))
        t0 = time.perf_counter()
        try:
            self.loop.run_until_complete(self.client.open())
            self._fire("open Classify", t0, None)
        except Exception as exc:  # noqa: BLE001 - reported to Locust, the student stops
            self._fire("open Classify", t0, exc)
            self.stop()

    def on_stop(self) -> None:
        try:
            self.loop.run_until_complete(self.client.close())
        finally:
            self.loop.close()

    @task
    def upload(self) -> None:
        name = f"locust{self.number}-{self.uploads}.jpg"
        data = photo_bytes(_first_photo + self.number * 1000 + self.uploads)
        self.uploads += 1
        t0 = time.perf_counter()
        result = self.loop.run_until_complete(self.client.upload(name, data, len(HOMEWORK_MODELS)))
        self._fire(f"upload → {len(HOMEWORK_MODELS)} answers", t0,
                   None if result.error is None else RuntimeError(result.error), len(data))

    def _fire(self, name: str, t0: float, error: BaseException | None, length: int = 0) -> None:
        events.request.fire(request_type="streamlit", name=name, response_time=(time.perf_counter() - t0) * 1000,
                            response_length=length, exception=error, context={})
