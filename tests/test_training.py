"""cnnviz.training: background runs, Stop at the next batch, the queue limit, runs on disk
(atomic, reloaded by a fresh process, interrupted ones never listed as finished), full disk."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cnnviz import datasets
from cnnviz.i18n import translate
from cnnviz.training import (
    MARKER,
    RunDiskFullError,
    RunManager,
    TrainingError,
    UnknownRunError,
    default_max_runs,
    list_runs,
    load_run,
    run_dir,
    store,
)

ROOT = Path(__file__).resolve().parents[1]
WAIT = 300  # a no-hang guard, not a timing assertion


@pytest.fixture(scope="module")
def small_data():
    return datasets.load("digits", subset=240, seed=0, size=16)


def tiny_model(seed: int = 0):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, strides=2, activation="relu", name="conv")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="predictions")(x), name="tiny")


def tiny_job(data, *, epochs=2, batch_size=16, callbacks=(), extra=()):
    from cnnviz.training.fit import train_model

    def job(ctx):
        ctx.plan(["tiny"])
        return {"tiny": train_model(ctx, "tiny", tiny_model(), data, epochs=epochs, batch_size=batch_size,
                                    callbacks=callbacks, extra_callbacks=extra)}
    return job


# --------------------------------------------------------------------------- runs

def test_finished_run_is_saved_and_reloaded_by_a_fresh_process(small_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    manager = RunManager()
    run = manager.submit(tiny_job(small_data, epochs=2), kind="test", params={"epochs": 2})
    assert run.wait(WAIT) and run.status == "finished", run.error_detail
    snap = run.snapshot()
    assert snap["progress"]["fraction"] == 1.0 and len(snap["models"]["tiny"]["history"]["loss"]) == 2
    steps = snap["models"]["tiny"]["steps"]
    assert snap["models"]["tiny"]["batches"]["step"] == list(range(2 * steps))  # every batch, in order
    folder = run_dir(run.run_id)
    names = sorted(p.name for p in folder.rglob("*") if p.is_file())
    assert names == sorted(["settings.json", "history.json", "batches.json", "events.json", "result.json",
                            "tiny.keras", "tiny.npy", "tiny.json", "test_set.npz", MARKER])
    x_test, y_test = load_run(run.run_id).test_set()  # the test set, saved once, as the page shows it
    assert x_test.dtype == np.uint8 and x_test.shape[0] == len(small_data.x_test)
    assert (y_test == small_data.y_test).all()
    preds = np.asarray(run.result["tiny"]["test_predictions"])
    assert preds.shape == (len(y_test),) and len(run.result["tiny"]["test_confidence"]) == len(y_test)
    assert (preds == y_test).mean() == pytest.approx(run.result["tiny"]["test_accuracy"])
    code = (
        "import json, sys, numpy as np, keras\n"
        "from cnnviz.training import load_run, list_runs\n"
        f"r = load_run({run.run_id!r})\n"
        "m = keras.models.load_model(r.model_path('tiny'))\n"
        "print(json.dumps({'status': r.status, 'listed': [x.status for x in list_runs()],\n"
        "  'loss': r.history['tiny']['loss'], 'params': m.count_params(),\n"
        "  'cm': int(r.confusion('tiny').sum()), 'test_acc': r.result['tiny']['test_accuracy']}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=WAIT,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == "finished" and got["listed"] == ["finished"]
    assert got["loss"] == pytest.approx(snap["models"]["tiny"]["history"]["loss"])
    assert got["params"] == tiny_model().count_params()
    assert got["cm"] == len(small_data.x_test)
    assert got["test_acc"] == pytest.approx(run.result["tiny"]["test_accuracy"])


class StopAt:
    """A Keras callback that presses Stop when batch ``n`` of the first epoch begins."""

    def __new__(cls, run, n):
        import keras

        class _Stop(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                if batch == n:
                    run.stop()
        return _Stop()


def test_stop_ends_the_run_at_the_next_batch(small_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    manager = RunManager()
    holder = {}

    def job(ctx):
        from cnnviz.training.fit import train_model

        ctx.plan(["tiny", "second"])
        out = {"tiny": train_model(ctx, "tiny", tiny_model(), small_data, epochs=50, batch_size=8,
                                   extra_callbacks=[StopAt(holder["run"], 3)])}
        if not ctx.stop_requested:  # a lab's next model never starts after Stop
            out["second"] = "trained"
        return out

    run = manager.submit(job, kind="test")
    holder["run"] = run
    assert run.wait(WAIT) and run.status == "stopped", run.error_detail
    snap = run.snapshot()
    tiny = snap["models"]["tiny"]
    assert tiny["batches"]["step"] == [0, 1, 2, 3]  # the batch in flight when Stop came, then no more
    assert len(tiny["history"]["loss"]) == 1 and tiny["status"] == "stopped"
    assert "second" not in run.result
    assert [e["kind"] for e in snap["events"]] == ["stopped"]
    record = load_run(run.run_id)
    assert record.status == "stopped" and not record.finished


def test_stop_while_queued_never_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    manager = RunManager(max_concurrent=1)
    release = threading.Event()
    first = manager.submit(lambda ctx: release.wait(WAIT), kind="hold")
    second = manager.submit(lambda ctx: pytest.fail("a stopped queued run must not start"), kind="never")
    assert manager.queue_position(second.run_id) == 1 and second.status == "queued"
    manager.stop(second.run_id)
    # cancelled at once, while the run ahead of it still trains: out of the queue, stopped, on disk too
    assert second.done and second.status == "stopped" and manager.queue() == [] and first.status == "running"
    assert load_run(second.run_id).status == "stopped"
    release.set()
    assert first.wait(WAIT) and second.wait(WAIT)
    assert first.status == "finished" and second.status == "stopped" and second.started is None


def test_two_runs_started_at_once_wait_in_the_queue(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CNNVIZ_MAX_RUNS", raising=False)
    manager = RunManager()
    assert manager.max_concurrent == 1
    active, peak, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(2)

    def job(ctx):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.3)
        with lock:
            active[0] -= 1
        return "ok"

    runs = []

    def user():
        gate.wait()  # two students press Train at the same moment
        runs.append(manager.submit(job, kind="user"))

    threads = [threading.Thread(target=user) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in runs)
    assert statuses in (["queued", "running"], ["finished", "queued"], ["finished", "running"],
                        ["finished", "finished"])
    assert manager.wait_all(WAIT)
    assert [r.status for r in runs] == ["finished", "finished"]
    assert peak[0] == 1 and manager.peak_running == 1
    assert {r["run_id"] for r in manager.list_runs()} == {r.run_id for r in runs}


def test_max_runs_is_configurable(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNVIZ_MAX_RUNS", "2")
    assert default_max_runs() == 2
    manager = RunManager()
    both = threading.Barrier(2, timeout=WAIT)  # passes only if both jobs run at the same time
    runs = [manager.submit(lambda ctx: both.wait(), kind="pair") for _ in range(2)]
    assert manager.wait_all(WAIT)
    assert [r.status for r in runs] == ["finished", "finished"] and manager.peak_running == 2
    # A bad value is named with what it accepts, in the UI language, instead of silently ignored.
    from cnnviz.settings import SettingError

    monkeypatch.setenv("CNNVIZ_MAX_RUNS", "zero")
    with pytest.raises(SettingError) as err:
        default_max_runs()
    assert "CNNVIZ_MAX_RUNS" in str(err.value) and "zero" in str(err.value)
    assert "CNNVIZ_MAX_RUNS" in err.value.message("es")


# --------------------------------------------------------------------------- disk

def test_interrupted_run_dir_is_never_listed_as_finished(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    half = run_dir("20250101-000000-lab-half-aaaaaa")
    store.write_json(half / "settings.json", {"kind": "lab", "created": 1})
    store.write_json(half / "history.json", {"tiny": {"loss": [2.3]}})  # the process died here
    bad = run_dir("20250101-000001-lab-bad-bbbbbb")
    store.write_json(bad / "settings.json", {"kind": "lab", "created": 2})
    (bad / MARKER).write_text('{"status": "finish')  # a torn marker (not written by cnnviz)
    done = run_dir("20250101-000002-lab-done-cccccc")
    store.write_json(done / "settings.json", {"kind": "lab", "created": 3})
    store.write_json(done / MARKER, {"status": "finished"})
    listed = {r.run_id: r.status for r in list_runs()}
    assert listed == {"20250101-000000-lab-half-aaaaaa": "interrupted", "20250101-000001-lab-bad-bbbbbb": "interrupted",
                      "20250101-000002-lab-done-cccccc": "finished"}
    assert [r["status"] for r in RunManager().list_runs()] == ["finished", "interrupted", "interrupted"]
    with pytest.raises(UnknownRunError):
        load_run("nope")
    with pytest.raises(UnknownRunError):
        load_run("../etc")


def test_write_atomic_full_disk_leaves_nothing(tmp_path):
    target = tmp_path / "runs" / "x" / "history.json"

    def writer(f):
        f.write(b"{")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(RunDiskFullError) as info:
        store.write_atomic(target, writer)
    assert "full" in str(info.value) and "lleno" in info.value.message("es")
    assert list(target.parent.iterdir()) == []


def test_full_disk_while_saving_marks_the_run_failed(small_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    real = store.write_json

    def full_after_settings(path, obj):
        if Path(path).name == "settings.json":
            return real(path, obj)
        raise RunDiskFullError("training.error.disk_full", path=str(Path(path).parent))

    monkeypatch.setattr(store, "write_json", full_after_settings)
    manager = RunManager()
    run = manager.submit(lambda ctx: {"x": 1}, kind="full")
    assert run.wait(WAIT)
    assert run.status == "failed" and isinstance(run.error, RunDiskFullError)
    assert "disco está lleno" in run.error.message("es")
    assert load_run(run.run_id).status == "interrupted"  # no marker could be written: never "finished"


def test_job_errors_fail_the_run_not_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    manager = RunManager()

    def boom(ctx):
        raise RuntimeError("kaput")

    def enospc(ctx):
        raise OSError(errno.ENOSPC, "No space left on device")

    a, b = manager.submit(boom, kind="boom"), manager.submit(enospc, kind="nospace")
    assert manager.wait_all(WAIT)
    assert a.status == "failed" and isinstance(a.error, TrainingError) and "kaput" in str(a.error)
    assert b.status == "failed" and isinstance(b.error, RunDiskFullError)
    assert load_run(a.run_id).status == "failed" and "kaput" in load_run(a.run_id).marker["error"]
    # the marker keeps the message's key: after a restart the page says it in the UI language
    stored = load_run(b.run_id).error
    assert stored.key == "training.error.disk_full"
    assert stored.message("es") == b.error.message("es") != b.error.message("en")
    assert load_run(a.run_id).error.message("es").startswith(translate("training.error.crashed", "es", reason="")[:20])
    old = load_run(a.run_id)
    old.marker = {"status": "failed", "error": "written by an older version"}  # no key kept: the text, translated
    assert "written by an older version" in old.error.message("es")


# --------------------------------------------------------------------------- callbacks

def test_callback_options_record_their_events(small_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    # min_delta so large that no epoch "improves": the rate drops after every epoch and training stops early
    options = ({"reduce_lr": {"patience": 0, "min_delta": 100.0, "factor": 0.5}},
               {"early_stopping": {"patience": 2, "min_delta": 100.0}}, "checkpoint", "csv_logger")
    run = RunManager().submit(tiny_job(small_data, epochs=10, callbacks=options), kind="cb")
    assert run.wait(WAIT) and run.status == "finished", run.error_detail
    events = run.snapshot()["events"]
    kinds = [e["kind"] for e in events]
    assert kinds.count("lr_drop") >= 2 and "early_stop" in kinds and "checkpoint" in kinds
    lr = run.snapshot()["models"]["tiny"]["history"]["learning_rate"]
    assert lr[:3] == pytest.approx([1e-3, 1e-3, 5e-4])  # the first epoch always "improves" on +inf
    stop = next(e for e in events if e["kind"] == "early_stop")
    assert stop["epoch"] == 2 and len(run.result["tiny"]["history"]["loss"]) == 3
    assert Path(run.result["tiny"]["files"]["csv"]).read_text().count("\n") == 4  # header + 3 epochs
    assert Path(run.result["tiny"]["files"]["checkpoint"]).is_file()


def test_tensorboard_option_writes_event_files_under_the_run_without_the_tensorboard_package(
        small_data, tmp_path, monkeypatch):
    import zipfile

    from cnnviz.training import tensorboard_logs

    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    run = RunManager().submit(tiny_job(small_data, epochs=3, callbacks=("tensorboard", "reduce_lr")), kind="tb")
    assert run.wait(WAIT) and run.status == "finished", run.error_detail
    root = run_dir(run.run_id) / "tensorboard"
    assert run.result["tiny"]["files"]["tensorboard"] == str(root / "tiny")
    files = tensorboard_logs.event_files(root)
    assert {p.parent.relative_to(root).as_posix() for p in files} == {"tiny/train", "tiny/validation"}
    scalars = tensorboard_logs.read_scalars(root)
    history = run.result["tiny"]["history"]
    for split, prefix in (("tiny/train", ""), ("tiny/validation", "val_")):
        for metric in ("loss", "accuracy"):
            steps, values = zip(*scalars[split][f"epoch_{metric}"])
            assert steps == (0, 1, 2) and values == pytest.approx(history[prefix + metric], rel=1e-5)
    with zipfile.ZipFile(__import__("io").BytesIO(tensorboard_logs.zip_logs(root))) as zf:
        names = zf.namelist()
    assert sorted(names) == sorted(p.relative_to(root.parent).as_posix() for p in root.rglob("*") if p.is_file())
    assert all(n.startswith("tensorboard/tiny/") for n in names) and len(names) >= 2
    assert tensorboard_logs.view_command(root) == f"tensorboard --logdir {root}"
    # it is one of the options every run offers (the page's multiselect and `lab --callbacks` list them)
    from cnnviz.training.options import CALLBACK_OPTIONS

    assert "tensorboard" in CALLBACK_OPTIONS


def test_unknown_callback_option_is_a_clear_error():
    from cnnviz.training.options import parse_callbacks

    with pytest.raises(TrainingError) as info:
        parse_callbacks(["tensorboardd"])
    assert "early_stopping" in str(info.value)
    assert parse_callbacks([{"reduce_lr": {"factor": 0.2}}])["reduce_lr"]["factor"] == 0.2


def test_training_package_is_light():
    code = "import sys, cnnviz.training, cnnviz.labs; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr
