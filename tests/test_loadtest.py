"""The load test (`python -m cnnviz loadtest`) as a CI smoke test: a few simulated students, a
few real browser sessions; the figures themselves go to the bench and the notes, not asserted."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from cnnviz import loadtest

KEYS = {"students", "requests", "errors", "p50_s", "p95_s", "throughput_per_min", "peak_rss_mb"}


def test_simulated_students_all_get_answers(model_factory):
    from cnnviz import infer

    predictor = infer.load_predictor("mobilenetv3small", None, model=model_factory("mobilenetv3small"), runs=1)
    report = loadtest.simulate(6, 1.0, models=["mobilenetv3small"], predictors={"mobilenetv3small": predictor})
    out = report.to_dict()
    assert KEYS <= set(out)
    assert out["students"] == 6 and out["requests"] == 6 and out["errors"] == 0, out["error_messages"]
    assert out["p50_s"] <= out["p95_s"] and out["throughput_per_min"] > 0
    assert out["peak_rss_mb"] > 0 and out["queue_wait_max_s"] is not None


def test_cli_simulate_json():
    cmd = [sys.executable, "-m", "cnnviz", "loadtest", "--students", "3", "--simulate", "--duration", "1",
           "--models", "mobilenetv3small", "--random-weights", "--json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout)
    assert KEYS <= set(data) and data["students"] == 3 and data["requests"] == 3 and data["errors"] == 0


def test_cli_says_when_no_server_answers():
    from conftest import free_port

    out = subprocess.run([sys.executable, "-m", "cnnviz", "loadtest", "--students", "2", "--url",
                          f"http://127.0.0.1:{free_port()}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "nothing answers" in out.stderr and "--simulate" in out.stderr


def test_student_photos_differ():
    a, b = loadtest.photo_bytes(0), loadtest.photo_bytes(1)
    assert a != b and a[:2] == b"\xff\xd8"  # JPEG


@pytest.mark.browser
def test_two_browser_sessions_against_the_server(streamlit_server, artifacts_dir):
    shot = artifacts_dir / "loadtest-student0.png"
    report = loadtest.browser_load(streamlit_server.url, 2, 1.0, timeout_s=400, screenshot=str(shot))
    out = report.to_dict()
    assert out["requests"] == 2 and out["errors"] == 0, out["error_messages"]
    assert out["peak_rss_mb"] and out["peak_rss_mb"] > 100  # the local server's RSS was sampled
    assert shot.exists()


def test_report_splits_the_first_wave_from_the_uploads_after_it():
    report = loadtest.Report("browser", 3, 10.0, ["mobilenetv3small"], pause_s=(5.0, 20.0), wall_s=60.0,
                             open_s=[3.0, 4.0, 5.0])
    report.samples = [loadtest.Sample(9.0, first=True), loadtest.Sample(7.0, first=True),
                      loadtest.Sample(None, "TimeoutError: 300 s", first=True),
                      loadtest.Sample(1.0), loadtest.Sample(2.0), loadtest.Sample(3.0)]
    report.open_errors = ["TimeoutError: page never opened"]
    out = report.to_dict()
    assert out["requests"] == 6 and out["errors"] == 2  # the failed upload and the page that never opened
    assert out["first_wave_max_s"] == 9.0 and out["later_p95_s"] == 2.9
    assert out["open_p50_s"] == 4.0 and out["open_max_s"] == 5.0 and out["pause_s"] == [5.0, 20.0]


def test_cli_refuses_a_bad_pause():
    out = subprocess.run([sys.executable, "-m", "cnnviz", "loadtest", "--students", "2", "--pause", "20,5"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--pause wants MIN,MAX" in out.stderr


# --------------------------------------------------------------------------- session mode: Streamlit sessions, no browser

SESSION_KEYS = KEYS | {"server_cpu_s_per_upload", "inference_s_per_upload", "first_wave_max_s", "open_p50_s",
                       "arrivals"}


@pytest.mark.browser
def test_two_streamlit_sessions_get_their_four_answers(streamlit_server):
    report = loadtest.session_load(streamlit_server.url, 2, 1.0, timeout_s=500)
    out = report.to_dict()
    assert SESSION_KEYS <= set(out)
    assert out["mode"] == "session" and out["students"] == 2
    assert out["requests"] == 2 and out["errors"] == 0, (out["error_messages"], report.open_errors)
    assert out["p50_s"] > 0 and out["first_wave_max_s"] >= out["p50_s"]
    assert out["inference_s_per_upload"] > 0  # the four latency metrics arrived in the forward messages
    assert out["peak_rss_mb"] > 100 and out["server_cpu_s_per_upload"] > 0  # the local server, from /proc


@pytest.mark.browser
def test_a_session_sees_the_pages_own_error(streamlit_server):
    """A photo the page refuses is this upload's error, with the page's own message (not a timeout)."""
    from cnnviz import loadtest_session as sessions

    client = sessions.SessionClient(sessions.check_target(streamlit_server.url), timeout_s=200)

    async def go():
        await client.open()
        try:
            return await client.upload("broken.jpg", b"\xff\xd8 not really a jpeg", 4)
        finally:
            await client.close()

    import asyncio

    result = asyncio.run(go())
    assert result.latency_s is not None and result.error, result
    assert "timeout" not in result.error


@pytest.mark.browser
def test_locust_runs_the_same_student_headless(streamlit_server, tmp_path):
    import importlib.util

    # Never imported here: Locust patches the interpreter with gevent; it runs in its own process.
    if importlib.util.find_spec("locust") is None:
        pytest.skip("Locust is the optional extra: pip install -r requirements-loadtest.txt")
    prefix = tmp_path / "locust"
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "deploy" / "locustfile.py"), "--host", streamlit_server.url,
           "--headless", "-u", "2", "-r", "2", "-t", "25s", "--stop-timeout", "120", "--csv", str(prefix),
           "--only-summary", "--loglevel", "WARNING"]
    env = {**os.environ, "CNNVIZ_LOCUST_PAUSE": "1,2"}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    rows = {r["Name"]: r for r in csv.DictReader((tmp_path / "locust_stats.csv").open())}
    assert rows["open Classify"]["Request Count"] == "2", (rows, out.stderr[-3000:])
    upload = rows["upload → 4 answers"]
    assert int(upload["Request Count"]) >= 2 and upload["Failure Count"] == "0", (upload, out.stderr[-3000:])


def test_the_session_client_talks_to_this_machine_unless_told():
    from cnnviz import loadtest_session as sessions

    assert sessions.check_target("http://127.0.0.1:8501").port == 8501
    assert sessions.check_target("http://localhost:8501").hostname == "localhost"
    assert sessions.check_target("http://[::1]:8501").hostname == "::1"
    with pytest.raises(sessions.TargetRefused, match="--url"):
        sessions.check_target("http://192.0.2.7:8501")
    assert sessions.check_target("http://192.0.2.7:8501", allow_remote=True).hostname == "192.0.2.7"
    for bad in ("ftp://127.0.0.1/", "file:///etc/passwd", "127.0.0.1:8501"):
        with pytest.raises(sessions.TargetRefused):
            sessions.check_target(bad, allow_remote=True)
    base = sessions.check_target("http://127.0.0.1:8501")
    assert sessions.same_server(base, "/_stcore/upload_file/s/f") == "/_stcore/upload_file/s/f"
    assert sessions.same_server(base, "http://127.0.0.1:8501/_stcore/upload_file/s/f") == "/_stcore/upload_file/s/f"
    with pytest.raises(sessions.TargetRefused):  # the server may not send an upload elsewhere
        sessions.same_server(base, "http://198.51.100.1/_stcore/upload_file/s/f")


def test_cli_session_mode_refuses_nothing_but_what_it_was_given():
    from conftest import free_port

    port = free_port()
    out = subprocess.run([sys.executable, "-m", "cnnviz", "loadtest", "--mode", "session", "--students", "1",
                          "--duration", "1", "--url", f"http://127.0.0.1:{port}", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    data = json.loads(out.stdout)  # nothing listens: every student's error is reported, the command ends
    assert out.returncode == 1 and data["errors"] == 1 and "open:" in data["error_messages"][0]


def test_session_report_fields_without_a_server():
    report = loadtest.Report("session", 2, 60.0, ["a", "b"], arrivals="spread", server_cpu_s=3.0, wall_s=30.0)
    report.samples = [loadtest.Sample(2.0, first=True, inference_s=0.5), loadtest.Sample(4.0, first=True, inference_s=0.7),
                      loadtest.Sample(None, "timeout: no answers")]
    out = report.to_dict()
    assert SESSION_KEYS <= set(out)
    assert out["requests"] == 3 and out["errors"] == 1 and out["p50_s"] == 3.0
    assert out["server_cpu_s_per_upload"] == 1.5 and out["inference_s_per_upload"] == 0.6
    assert out["arrivals"] == "spread"
    assert "server_cpu_s_per_upload" not in loadtest.Report("sim", 1, 1.0, ["a"]).to_dict()
