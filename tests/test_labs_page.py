"""The Labs page, driven headlessly (AppTest): settings, a tiny background run that
finishes (curves, table, confusion matrix), reattaching after a rerun, a page switch and a
fresh session (the URL's ``?run=``), the queue and Stop, runs written by an earlier process,
and the trained network opened in Filters & activations.

Runs train for real (TensorFlow, CIFAR v1 on a few dozen digits, one epoch), in the
server-wide RunManager that Streamlit's ``cache_resource`` keeps for the whole module.
"""

from __future__ import annotations

import time

import pytest

from conftest import all_text, app_test

from cnnviz.i18n import translate
from cnnviz.training import store

PAGE = "pages/labs.py"
SLOW = 600       # the first run imports TensorFlow on 2 shared cores
DEADLINE = 600   # seconds a tiny run may take on a loaded machine (a bound, not a timing assertion)


def by_key(elements, key):
    return next(e for e in elements if e.key == key)


def no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


def teacher_app(page, monkeypatch, lang="en", query=None):
    """A session in the teacher's view (what the sidebar's key field sets), with CNNVIZ_TEACHER_KEY set."""
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT

    monkeypatch.setenv("CNNVIZ_TEACHER_KEY", "test-teacher-key")
    at = AppTest.from_file(str(ROOT / page), default_timeout=SLOW)
    at.query_params["lang"] = lang
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.session_state["owner_teacher"] = True
    at.run()
    return at


def tiny_settings(at, *, epochs=1, subset=60, lab="cifar-progression", models=("cifar10_v1",)):
    by_key(at.radio, "labs_lab").set_value(lab).run(timeout=SLOW)
    by_key(at.multiselect, f"labs_models_{lab}").set_value(list(models)).run(timeout=SLOW)
    by_key(at.number_input, f"labs_epochs_{lab}").set_value(epochs).run(timeout=SLOW)
    by_key(at.number_input, f"labs_subset_{lab}_digits").set_value(subset).run(timeout=SLOW)
    no_exception(at)


def wait_status(at, run_id, statuses, deadline=DEADLINE):
    """Rerun the page (as its fragment would) until the run reaches one of ``statuses``."""
    from cnnviz.ui.runs import manager

    end = time.time() + deadline
    seen = []
    while time.time() < end:
        at.run(timeout=SLOW)
        no_exception(at)
        status = manager().get(run_id).status
        seen.append(status)
        if status in statuses:
            return seen
        time.sleep(1.0)
    raise AssertionError(f"run {run_id} stayed {seen[-1:]} (wanted {statuses})")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One tiny run started from the page and followed until it finished: (AppTest, run id)."""
    with pytest.MonkeyPatch.context() as mp:  # the same cache the autouse fixture gives each test
        mp.setenv("CNNVIZ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "models_cache"))
        mp.setenv("CNNVIZ_OFFLINE", "1")
        (tmp_path_factory.getbasetemp() / "models_cache").mkdir(exist_ok=True)
        return _finished_run()


def _finished_run():
    at = app_test(PAGE, lang="en", timeout=SLOW)
    tiny_settings(at)
    by_key(at.button, "labs_train").click().run(timeout=SLOW)
    no_exception(at)
    run_id = at.session_state["followed_run"]
    assert at.query_params["run"] == [run_id] or at.query_params["run"] == run_id
    seen = wait_status(at, run_id, ("finished", "failed", "stopped"))
    assert seen[-1] == "finished", (seen, [e.value for e in at.error])
    at.run(timeout=SLOW)
    return at, run_id


@pytest.mark.parametrize("lang", ["en", "es"])
def test_page_renders_with_lab_texts_and_samples(lang):
    at = app_test(PAGE, lang=lang, query={"lab": "squeeze-excite"}, timeout=SLOW)
    no_exception(at)
    text = all_text(at)
    assert translate("labs_ui.title", lang) in text
    assert translate("labs.squeeze_excite.text", lang)[:40] in text  # the lab's teaching text
    assert translate("labs_ui.digits_standin", lang)[:30] in text
    assert by_key(at.button, "labs_train").label == translate("labs_ui.train", lang)
    assert not by_key(at.button, "labs_train").disabled
    # a few sample images per class, before training: ten classes, one strip each
    assert len(at.image) >= 10


def test_unknown_lab_in_the_url_is_an_error_in_the_ui_language():
    at = app_test(PAGE, lang="es", query={"lab": "nope"}, timeout=SLOW)
    no_exception(at)
    assert any("nope" not in e.value and "cifar-progression" in e.value
               and e.value.startswith(translate("labs_ui.unknown_lab_link", "es", available="")[:20])
               for e in at.error), [e.value for e in at.error]


def test_a_dataset_not_cached_offline_says_how_to_get_it_and_cannot_train():
    at = app_test(PAGE, lang="en", timeout=SLOW)
    by_key(at.selectbox, "labs_dataset").set_value("cifar10").run(timeout=SLOW)
    no_exception(at)
    assert any("not in the cache" in w.value and "cache export" in w.value for w in at.warning)
    assert by_key(at.button, "labs_train").disabled


def test_impossible_settings_are_refused_with_a_message():
    at = app_test(PAGE, lang="en", timeout=SLOW)
    by_key(at.number_input, "labs_subset_cifar-progression_digits").set_value(100000).run(timeout=SLOW)
    no_exception(at)
    assert any("larger than the training data" in e.value for e in at.error)
    assert by_key(at.button, "labs_train").disabled


def test_tiny_run_finishes_with_curves_table_and_confusion_matrix(finished_run):
    at, run_id = finished_run
    no_exception(at)
    text = all_text(at)
    assert translate("labs_ui.confusion", "en") in text
    assert translate("labs_ui.per_class", "en") in text
    assert translate("labs_ui.grid", "en") in text
    table = at.dataframe[0].value
    assert list(table[translate("labs_ui.col.model", "en")]) == ["CIFAR-10 CNN v1"]
    assert table[translate("labs_ui.col.params", "en")].iloc[0] > 0
    charts = at.get("plotly_chart")
    assert len(charts) >= 3  # curves, confusion matrix, per-class accuracy
    record = store.load_run(run_id)
    assert record.status == "finished" and record.model_path("cifar10_v1") is not None
    # the run is listed, as finished, among the runs
    listed = at.dataframe[-1].value
    assert run_id in list(listed[translate("labs_ui.col.run", "en")])


def test_the_run_survives_a_rerun_a_page_switch_and_a_fresh_session(finished_run):
    at, run_id = finished_run
    at.run(timeout=SLOW)
    assert at.session_state["followed_run"] == run_id
    at.switch_page("home.py").run(timeout=SLOW)
    at.switch_page("labs.py").run(timeout=SLOW)
    no_exception(at)
    assert translate("labs_ui.confusion", "en") in all_text(at)
    # a browser reload / shared link: a new session that only has the URL
    fresh = app_test(PAGE, lang="es", query={"run": run_id, "me": at.session_state["owner_token"]}, timeout=SLOW)
    no_exception(fresh)
    assert fresh.session_state["followed_run"] == run_id
    assert translate("labs_ui.confusion", "es") in all_text(fresh)


def test_queue_is_visible_and_stop_ends_runs(finished_run):
    at = app_test(PAGE, lang="en", timeout=SLOW)
    tiny_settings(at, epochs=200, subset=300)
    by_key(at.button, "labs_train").click().run(timeout=SLOW)
    first = at.session_state["followed_run"]
    by_key(at.button, "labs_train").click().run(timeout=SLOW)
    second = at.session_state["followed_run"]
    assert second != first
    no_exception(at)
    assert any("position 1" in i.value for i in at.info), [i.value for i in at.info]  # second waits
    by_key(at.button, "labs_stop").click().run(timeout=SLOW)  # stop the queued one: cancelled at once
    no_exception(at)
    from cnnviz.ui.runs import manager

    assert manager().get(second).status == "stopped" and second not in manager().queue()
    assert store.load_run(second).status == "stopped"
    assert any(h.value.endswith(translate("training.status.stopped", "en")) for h in at.subheader)
    at.session_state["followed_run"] = first
    wait_status(at, first, ("running",), deadline=DEADLINE)

    end = time.time() + DEADLINE
    while not manager().get(first).snapshot()["progress"]["steps_done"] and time.time() < end:
        time.sleep(0.5)
    at.run(timeout=SLOW)
    by_key(at.button, "labs_stop").click().run(timeout=SLOW)
    seen = wait_status(at, first, ("stopped", "finished", "failed"))
    assert seen[-1] == "stopped", seen
    at.run(timeout=SLOW)
    assert translate("labs_ui.stopped_note", "en") in all_text(at)
    record = store.load_run(first)
    assert record.status == "stopped" and len(record.history["cifar10_v1"]["loss"]) < 200
    assert store.load_run(second).status == "stopped" and not store.load_run(second).history  # never trained


def test_runs_written_by_an_earlier_process_are_listed_and_half_written_ones_never_finished(monkeypatch):
    # what an earlier server process left on disk: one finished run, one without its marker
    done_id, half_id = "20200101-000000-lab-callbacks-aaaaaa", "20200101-000001-lab-callbacks-bbbbbb"
    for run_id, finished in ((done_id, True), (half_id, False)):
        d = store.run_dir(run_id)
        store.write_json(d / "settings.json", {"run_id": run_id, "kind": "lab-callbacks", "title": "callbacks",
                                               "params": {"dataset": "digits", "epochs": 3}, "created": 1577836800})
        if finished:
            history = {"cifar10_v3": {"loss": [2.0, 1.0, 0.8], "accuracy": [0.3, 0.6, 0.7],
                                      "val_loss": [1.8, 1.1, 1.2], "val_accuracy": [0.35, 0.6, 0.58]}}
            store.write_json(d / "history.json", history)
            store.write_json(d / "events.json", [{"model": "cifar10_v3", "kind": "lr_drop", "epoch": 2,
                                                  "old": 1e-3, "new": 5e-4}])
            store.write_json(d / "result.json", {
                "lab_id": "callbacks", "dataset": "digits", "class_names": [str(i) for i in range(10)],
                "settings": {"dataset": "digits", "epochs": 3, "seed": 0, "callbacks": ["reduce_lr"],
                             "data_sizes": {"train": 8, "val": 2, "test": 3}},
                "models": {"cifar10_v3": {"params": 1234, "macs": 5678, "best_val_accuracy": 0.6,
                                          "final_train_accuracy": 0.7, "train_val_gap": 0.12,
                                          "test_accuracy": 0.5, "epochs_run": 3, "epoch_seconds_mean": 1.0,
                                          "confusion": [[1] * 10 for _ in range(10)],
                                          "per_class_accuracy": [0.1] * 10, "history": history["cifar10_v3"]}},
                "extras": {}, "seconds": 3.0})
            store.write_json(d / store.MARKER, {"status": "finished", "finished": 1577836900})
    at = teacher_app(PAGE, monkeypatch)  # written without an owner (an earlier version, the CLI): the teacher's
    no_exception(at)
    listed = at.dataframe[-1].value
    ids = list(listed[translate("labs_ui.col.run", "en")])
    statuses = dict(zip(ids, listed[translate("labs_ui.col.status", "en")]))
    assert statuses[done_id] == translate("training.status.finished", "en")
    assert statuses[half_id] == translate("training.status.interrupted", "en")
    by_key(at.selectbox, "labs_open_pick").set_value(done_id).run(timeout=SLOW)
    by_key(at.button, "labs_open").click().run(timeout=SLOW)
    no_exception(at)
    text = all_text(at)
    assert translate("labs_ui.confusion", "en") in text
    assert translate("labs_ui.no_model_file", "en") in text
    assert "learning rate" in str(at.get("plotly_chart")[0].proto.spec)  # the LR drop drawn on the curves
    by_key(at.selectbox, "labs_open_pick").set_value(half_id).run(timeout=SLOW)
    by_key(at.button, "labs_open").click().run(timeout=SLOW)
    assert any(translate("labs_ui.interrupted", "en")[:30] in w.value for w in at.warning)


def test_the_trained_network_opens_in_filters_and_activations(finished_run):
    owner_at, run_id = finished_run
    choice = f"run:{run_id}/cifar10_v1"
    # the student's own page address (her ?me= token): another session is not offered her network
    other = app_test("pages/visualize.py", lang="en", query={"model": choice, "tab": "filters"}, timeout=SLOW)
    assert by_key(other.selectbox, "vis_model").value != choice and choice not in by_key(other.selectbox, "vis_model").options
    at = app_test("pages/visualize.py", lang="en", timeout=SLOW,
                  query={"model": choice, "tab": "filters", "me": owner_at.session_state["owner_token"]})
    no_exception(at)
    assert by_key(at.selectbox, "vis_model").value == choice
    assert not at.error, [e.value for e in at.error]
    assert translate("visualize.filters.random_note", "en") not in all_text(at)
    caps = [cap for img in at.image for cap in img.captions]
    assert any(c.startswith("Filters 0–") for c in caps), caps
    # the page shows the run's own weights, not a fresh random build
    import keras
    import numpy as np

    from cnnviz.ui.models import get_model

    shown = get_model("cifar10_v1", choice)
    saved = keras.models.load_model(store.load_run(run_id).model_path("cifar10_v1"), compile=False)
    assert all(np.array_equal(a, b) for a, b in zip(shown.get_weights(), saved.get_weights()))


def test_a_failed_run_from_an_earlier_process_says_why_in_the_ui_language(monkeypatch):
    run_id = "20200101-000002-lab-mini-resnet-cccccc"
    d = store.run_dir(run_id)
    store.write_json(d / "settings.json", {"run_id": run_id, "kind": "lab-mini-resnet", "title": "mini-resnet",
                                           "params": {"dataset": "digits", "epochs": 3}, "created": 1577836802})
    error = store.TrainingError("training.error.disk_full", path=str(d))
    store.write_json(d / store.MARKER, {"status": "failed", "finished": 1577836900, "error": str(error),
                                        **store.error_fields(error)})
    at = teacher_app(PAGE, monkeypatch, lang="es", query={"run": run_id})
    no_exception(at)
    assert any(e.value == translate("training.error.disk_full", "es", path=str(d)) for e in at.error), \
        [e.value for e in at.error]
