"""Issue 19: a server a class shares. Each student's runs and uploads are theirs (a secret token in
``?me=``), the teacher (``CNNVIZ_TEACHER_KEY``) sees and manages everything, the queue is capped,
a run has a budget, run ids from the URL are checked and user text is shown escaped."""

from __future__ import annotations

import errno
import threading

import pytest

from conftest import all_text, app_test

from cnnviz import datasets, owners
from cnnviz.i18n import translate
from cnnviz.training import Limits, QueueFullError, RunBudgetError, RunManager, UnknownRunError, store

PAGE = "pages/labs.py"
ALICE, BOB = owners.new_token(), owners.new_token()


def stored_run(run_id, token=None, title="callbacks"):
    d = store.run_dir(run_id)
    owner = owners.owner_id(token) if token else None
    store.write_json(d / "settings.json", {"run_id": run_id, "kind": "lab-callbacks", "title": title,
                                           "params": {"dataset": "digits", "epochs": 3}, "created": 1577836800,
                                           "owner": owner})
    history = {"cifar10_v3": {"loss": [2.0, 1.0], "accuracy": [0.3, 0.6]}}
    store.write_json(d / "history.json", history)
    store.write_json(d / "result.json", {"lab_id": "callbacks", "class_names": ["a", "b"],
                                         "settings": {"dataset": "digits", "epochs": 2}, "models": {}})
    store.write_json(d / store.MARKER, {"status": "finished", "finished": 1577836900})
    return run_id


def test_tokens_are_secret_and_only_their_hash_is_kept():
    a, b = owners.new_token(), owners.new_token()
    assert a != b and owners.valid_token(a) and len(a) == 24
    assert owners.owner_id(a) != a and owners.valid_owner(owners.owner_id(a))
    assert not owners.valid_token("x" * 300) and not owners.valid_token("[a](b)" * 4)
    alice = owners.student(a)
    assert alice.may(owners.owner_id(a)) and not alice.may(owners.owner_id(b)) and not alice.may(None)
    assert owners.TEACHER.may(None) and owners.TEACHER.may(owners.owner_id(b))


def test_teacher_key(monkeypatch):
    assert not owners.teacher_key_ok("anything")  # no key set: nobody is the teacher
    monkeypatch.setenv("CNNVIZ_TEACHER_KEY", "s3cret")
    assert owners.teacher_key_ok("s3cret") and not owners.teacher_key_ok("s3cre") and not owners.teacher_key_ok("")


def test_run_ids_only_in_the_generated_shape():
    rid = store.new_run_id("lab-callbacks")
    assert store.valid_run_id(rid)
    for bad in ("x" * 300, "../etc", "[click](http://evil)", "", rid + "0", "20200101-000000-lab-x-zzzzzz"):
        assert not store.valid_run_id(bad)
        with pytest.raises(UnknownRunError) as info:
            store.run_dir(bad)
        assert bad not in str(info.value) or not bad


def test_manager_owner_checks_and_the_hash_on_disk():
    mgr = RunManager(persist=True, limits=Limits(queue_max=30, per_student=2))
    gate = threading.Event()
    a, b = owners.owner_id(ALICE), owners.owner_id(BOB)
    run = mgr.submit(lambda ctx: gate.wait(30), kind="lab-x", owner=a)
    stored = store.read_json(run.path / "settings.json")
    assert stored["owner"] == a and ALICE not in (run.path / "settings.json").read_text()
    bob = owners.student(BOB)
    assert [r["run_id"] for r in mgr.list_runs(bob)] == []
    with pytest.raises(UnknownRunError):
        mgr.get(run.run_id, bob)
    with pytest.raises(UnknownRunError):
        mgr.stop(run.run_id, bob)
    assert mgr.get(run.run_id).status in ("running", "queued")
    assert [r["run_id"] for r in mgr.list_runs(owners.student(ALICE))] == [run.run_id]
    mgr.stop(run.run_id, owners.TEACHER)
    gate.set()
    assert run.wait(30)
    assert mgr.get(run.run_id).status == "stopped"
    assert run.run_id not in mgr._runs  # noqa: SLF001 (a finished run leaves memory; the disk has it)
    assert run.job is None
    mgr.delete(run.run_id, owners.TEACHER)
    with pytest.raises(UnknownRunError):
        mgr.get(run.run_id)
    del b


def test_a_disk_cap_deletes_the_oldest_runs_that_are_over_never_a_live_one(monkeypatch, tmp_path):
    """CNNVIZ_RUNS_MAX_MB: when a run ends, the oldest runs that are over go until all fit; a run still
    training and the one that just ended stay."""
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))  # its own runs only
    monkeypatch.setenv("CNNVIZ_RUNS_MAX_MB", "2.5")
    blob = b"\0" * 1_000_000
    old = [stored_run(f"2020010{i}-000000-lab-callbacks-d15c0{i}", ALICE) for i in (1, 2, 3)]
    for run_id in old:
        (store.run_dir(run_id) / "model.keras").write_bytes(blob)
    mgr = RunManager(2, persist=True, limits=Limits.from_env())
    assert mgr.limits.runs_max_mb == 2.5
    gate = threading.Event()
    live = mgr.submit(lambda ctx: gate.wait(30), kind="lab-x", owner=owners.owner_id(BOB))

    def job(ctx):
        (ctx.dir / "model.keras").write_bytes(blob)
        return {}

    new = mgr.submit(job, kind="lab-y", owner=owners.owner_id(ALICE))
    assert new.wait(30) and mgr.get(new.run_id).status == "finished"
    # 3 MB over + 1 MB new > 2.5 MB: the two oldest go, the newest old one fits
    assert {r.run_id for r in store.list_runs()} == {old[2], new.run_id, live.run_id}
    gate.set()
    assert live.wait(30)
    # Without a cap (the default) nothing is ever deleted by the server.
    monkeypatch.delenv("CNNVIZ_RUNS_MAX_MB")
    assert Limits.from_env().runs_max_mb == 0 and RunManager(persist=True).enforce_disk_cap() == []


def test_queue_caps_global_and_per_student():
    mgr = RunManager(1, persist=False, limits=Limits(queue_max=3, per_student=2))
    gate = threading.Event()
    a, b, c = (owners.owner_id(owners.new_token()) for _ in range(3))
    mgr.submit(lambda ctx: gate.wait(30), owner=a)              # trains
    mgr.submit(lambda ctx: gate.wait(30), owner=a)              # waits: position 1
    with pytest.raises(QueueFullError) as info:
        mgr.submit(lambda ctx: None, owner=a)
    assert info.value.key == "training.error.queue_student"
    mgr.submit(lambda ctx: None, owner=b)
    third = mgr.submit(lambda ctx: None, owner=c)
    assert mgr.queue_position(third.run_id) == 3
    with pytest.raises(QueueFullError) as info:
        mgr.submit(lambda ctx: None, owner=owners.owner_id(owners.new_token()))
    assert info.value.key == "training.error.queue_full"
    assert "3" in info.value.message("es")
    gate.set()
    assert mgr.wait_all(30)


def test_run_budget_images_and_wall_time():
    mgr = RunManager(1, persist=True, limits=Limits(run_seconds=0.2, run_image_epochs=1000))

    def too_big(ctx):
        ctx.begin_model("m", epochs=100, steps=10, images=50)

    run = mgr.submit(too_big)
    run.wait(30)
    record = mgr.get(run.run_id)
    assert record.status == "failed" and isinstance(run.error, RunBudgetError)
    assert "5000" in record.error.message("en")

    def slow(ctx):
        import time

        ctx.begin_model("m", epochs=1, steps=1000, images=10)
        for i in range(1000):
            if ctx.stop_requested:
                return "stopped"
            time.sleep(0.01)

    run = mgr.submit(slow)
    run.wait(30)
    record = mgr.get(run.run_id)
    assert record.status == "stopped" and record.stop_reason == "time"


def test_uploads_are_their_owners(tmp_path):
    a, b = owners.owner_id(ALICE), owners.owner_id(BOB)
    path = datasets.store_upload(b"PK\x05\x06" + b"\0" * 18, "alice_family_photos.zip", owner=a)
    assert datasets.stored_uploads(owners.student(ALICE)) == [path]
    assert datasets.stored_uploads(owners.student(BOB)) == []
    assert not datasets.may_use_upload(path, owners.student(BOB))
    assert datasets.stored_uploads(owners.TEACHER) == [path]
    datasets.store_upload(b"PK\x05\x06" + b"\0" * 18, "mine.zip", owner=b)  # the same bytes: Bob owns it too
    assert datasets.user_label(path, owners.student(BOB)) == "mine.zip"
    assert datasets.user_label(path, owners.student(ALICE)) == "alice_family_photos.zip"


def test_disk_full_while_storing_an_upload_leaves_nothing(monkeypatch):
    import cnnviz.fileio as fileio

    real = fileio.atomic_writer

    def full(path, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio, "write_bytes", lambda *a, **k: full(a[0]))
    import hashlib

    data = b"zipbytes-disk-full"
    with pytest.raises(OSError):
        datasets.store_upload(data, "x.zip", owner=owners.owner_id(ALICE))
    digest = hashlib.sha256(data).hexdigest()
    left = [p.name for p in datasets.uploads_dir().iterdir() if digest in p.name or ".part" in p.name]
    assert left == []
    del real


def test_disk_full_while_caching_dataset_arrays_leaves_no_part_file(monkeypatch):
    import numpy as np

    monkeypatch.setattr(datasets, "parse_mnist_npz", lambda p: {"x_train": np.zeros((2, 2), np.uint8),
                                                               "y_train": np.zeros(2, np.uint8),
                                                               "x_test": np.zeros((1, 2), np.uint8),
                                                               "y_test": np.zeros(1, np.uint8)})
    monkeypatch.setattr(datasets, "_fetch", lambda record, progress=None: record.path)

    def full(out, **arrays):
        out.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    arrays = datasets._raw_arrays("mnist", None)  # noqa: SLF001 (the extraction step itself)
    assert arrays["x_train"].shape == (2, 2)
    folder = datasets.arrays_path("mnist").parent
    assert not folder.is_dir() or not [p.name for p in folder.iterdir() if "mnist" in p.name or ".part" in p.name]


# --------------------------------------------------------------------------- two sessions on the page

def test_a_second_session_neither_lists_nor_opens_the_first_ones_run():
    mine = stored_run("20200102-000000-lab-callbacks-a11ce1", ALICE)
    alice = app_test(PAGE, lang="en", query={"me": ALICE})
    assert not alice.exception
    assert mine in list(alice.dataframe[-1].value[translate("labs_ui.col.run", "en")])
    bob = app_test(PAGE, lang="en", query={"me": BOB, "run": mine})
    assert not bob.exception
    assert any(e.value == translate("labs_ui.run_not_found", "en") for e in bob.error)
    assert mine not in all_text(bob).replace(translate("labs_ui.run_not_found", "en"), "")
    assert not [b for b in bob.get("download_button")]
    # a session with no token at all: a fresh one is made (never Alice's)
    anon = app_test(PAGE, lang="es", query={"run": mine})
    assert anon.query_params["me"] and anon.query_params["me"] != [ALICE]
    assert any(e.value == translate("labs_ui.run_not_found", "es") for e in anon.error)
    # Alice's link (with her token) still opens it after a reload
    again = app_test(PAGE, lang="en", query={"me": ALICE, "run": mine})
    assert not again.error and again.session_state["followed_run"] == mine


def test_the_teacher_sees_every_run_with_its_owner_and_deletes(monkeypatch):
    monkeypatch.setenv("CNNVIZ_TEACHER_KEY", "s3cret")
    a = stored_run("20200102-000000-lab-callbacks-a11ce1", ALICE)
    b = stored_run("20200102-000001-lab-callbacks-b0b001", BOB)
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT

    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    at.query_params["lang"] = "en"
    at.session_state["owner_teacher"] = True  # what the sidebar's key field sets
    at.run()
    assert not at.exception
    listed = at.dataframe[-1].value
    assert set(listed[translate("labs_ui.col.run", "en")]) >= {a, b}
    assert owners.owner_label(owners.owner_id(ALICE)) in set(listed[translate("labs_ui.col.owner", "en")])
    next(s for s in at.selectbox if s.key == "labs_delete_pick").set_value(a).run()
    next(x for x in at.button if x.key == "labs_delete").click().run()
    assert not at.exception
    with pytest.raises(UnknownRunError):
        store.load_run(a)


@pytest.mark.parametrize("value", ["x" * 400, "[click me](http://evil.example) ![i](http://evil.example/i.png) **B**"])
def test_long_and_markdown_laden_run_and_lab_values(value):
    at = app_test(PAGE, lang="en", query={"run": value, "lab": value})
    assert not at.exception
    text = all_text(at)
    assert value not in text and "evil.example" not in text
    at.run()  # and on every rerun after
    assert not at.exception


def test_runs_prune_cli_by_age_count_and_size(capsys, tmp_path, monkeypatch):
    import json
    import time

    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))  # only this test's runs

    from cnnviz import cli

    now = time.time()
    ids = []
    for i, age_days in enumerate((40, 20, 5, 1)):
        rid = f"20200101-00000{i}-lab-callbacks-{i:06x}"
        stored_run(rid, ALICE)
        s = store.read_json(store.run_dir(rid) / "settings.json")
        s["created"] = now - age_days * 86400
        store.write_json(store.run_dir(rid) / "settings.json", s)
        ids.append(rid)
    assert cli.main(["runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["run_id"] for r in listed} >= set(ids)
    assert cli.main(["runs", "prune", "--older-than", "30", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] == [ids[0]] and store.load_run(ids[0])
    assert cli.main(["runs", "prune", "--older-than", "30", "--json"]) == 0
    capsys.readouterr()
    with pytest.raises(UnknownRunError):
        store.load_run(ids[0])
    assert cli.main(["runs", "prune", "--keep", "2", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["runs"]) == {ids[1]}
    assert {r["run_id"] for r in listed} == set(ids)
    assert cli.main(["runs", "prune", "--max-mb", "0", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["runs"]) == {ids[2], ids[3]}
    assert store.list_runs() == []
    assert cli.main(["runs", "delete", "20200101-000000-lab-callbacks-ffffff"]) == 1  # one line, exit 1


# --------------------------------------------------------------------------- the Ray Serve app's request checks

class FakeRequest:
    def __init__(self, chunks, length=None):
        self.headers = {} if length is None else {"content-length": str(length)}
        self.chunks = chunks
        self.read = 0

    async def stream(self):
        for c in self.chunks:
            self.read += 1
            yield c


def test_serve_body_size_is_checked_while_reading_and_bad_params_are_400():
    import asyncio

    from cnnviz.images import ImageError
    from cnnviz.serving import ray_app

    req = FakeRequest([b"x" * 10] * 100)
    with pytest.raises(ImageError) as info:
        asyncio.run(ray_app.read_body(req, limit=25))
    assert info.value.key == "images.error.too_large" and req.read == 3  # stopped at the third chunk
    declared = FakeRequest([b"x"] * 5, length=10**9)
    with pytest.raises(ImageError):
        asyncio.run(ray_app.read_body(declared, limit=25))
    assert declared.read == 0
    assert asyncio.run(ray_app.read_body(FakeRequest([b"ab", b"c"]), limit=25)) == b"abc"
    assert ray_app.parse_runs(None) == 1 and ray_app.parse_runs("7") == 7
    for bad in ("abc", "-1", "0", "1e9", "101", "1.5"):
        with pytest.raises(ray_app.BadRequestError):
            ray_app.parse_runs(bad)


def test_runs_prune_cli_prunes_uploads_too(capsys, tmp_path, monkeypatch):
    import json

    from cnnviz import cli

    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    old = datasets.store_upload(b"old-zip", "old.zip", owner=owners.owner_id(ALICE))
    import os

    os.utime(old, (0, 0))
    new = datasets.store_upload(b"new-zip", "new.zip", owner=owners.owner_id(BOB))
    assert cli.main(["runs", "prune", "--older-than", "30", "--uploads", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["uploads"] == [old.name] and not old.exists() and not old.with_suffix(".json").exists()
    assert new.exists()
