"""The load test (`python -m cnnviz loadtest`) as a CI smoke test: a few simulated students, a
few real browser sessions; the figures themselves go to the bench and the notes, not asserted."""

from __future__ import annotations

import json
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
