"""The library side of runs that the pages used to hold: the acceptance criterion, dataset
availability, the trained-model reference, one read interface for live and stored runs."""

import pytest

from cnnviz import HOMEWORK_MODELS, datasets
from cnnviz.homework import verdict
from cnnviz.training import DONE_STATUSES, Run, RunManager, TrainingError, load_run, store, trained


def test_the_criterion_is_built_from_the_homework_models_and_the_zoo():
    assert verdict.FOUR == tuple(HOMEWORK_MODELS)
    assert set(verdict.ACCURACY_WINNERS) == {"convnexttiny", "efficientnetb0"}
    assert verdict.SPEED_WINNER == "mobilenetv3small" and verdict.BASELINE == "resnet50"
    assert verdict.display("convnexttiny") == "ConvNeXtTiny"
    # By family, for a page that compares any zoo models (Classify).
    assert verdict.wins_speed("mobilenetv2") and not verdict.wins_speed("resnet50")
    assert verdict.wins_accuracy("efficientnetb0") and not verdict.wins_accuracy("mobilenetv3small")
    assert not verdict.wins_accuracy("no-such-model")


def test_dataset_availability():
    assert datasets.availability("digits") == "ready"
    assert datasets.availability("some/folder.zip") == "ready"  # read when the run starts
    assert datasets.availability("cifar10") == "offline"  # tests run with CNNVIZ_OFFLINE=1 and an empty cache


def test_datasets_depends_on_no_feature():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(datasets))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith(("cnnviz.homework", "cnnviz.labs"))}


def test_trained_reference_is_parsed_once():
    ref = trained.parse_ref("run:20200101-000000-lab-x-abc123/cifar10_v1")
    assert ref == ("20200101-000000-lab-x-abc123", "cifar10_v1")
    assert str(ref) == trained.make_ref(*ref) == "run:20200101-000000-lab-x-abc123/cifar10_v1"
    assert trained.split_choice("resnet50") == ("resnet50", None)
    assert trained.split_choice(str(ref)) == ("cifar10_v1", str(ref))
    assert trained.is_ref(str(ref)) and not trained.is_ref("imagenet") and not trained.is_ref(None)
    for bad in ("imagenet", "run:", "run:abc", "run:/m", "run:a/b/c"):
        with pytest.raises(TrainingError):
            trained.parse_ref(bad)
    with pytest.raises(store.UnknownRunError):
        trained.model_path("run:20200101-000000-nope-000000/cifar10_v1")


def _job(ctx):
    ctx.plan(["a"])
    ctx.begin_model("a", epochs=2, steps=3)
    for epoch in range(2):
        for batch in range(3):
            ctx.record_batch("a", epoch, batch, {"loss": 1.0 - 0.1 * batch})
        ctx.record_epoch("a", epoch, {"loss": 0.5, "accuracy": 0.5 + epoch / 10}, 0.01)
    ctx.event("a", "lr_drop", 1, old=0.1, new=0.01)
    ctx.end_model("a")
    return {"settings": {"data_sizes": {"train": 6}}, "models": {"a": {"test_accuracy": 0.5}}}


def test_a_live_run_and_its_stored_record_answer_the_same_interface():
    manager = RunManager()
    run = manager.submit(_job, kind="t", params={"epochs": 2}, title="t")
    assert run.wait(30)
    record = load_run(run.run_id)
    assert isinstance(run, Run) and run.status == record.status == "finished"
    for name in ("status", "plan", "error", "settings", "history", "batches", "events", "result", "steps"):
        assert getattr(run, name) == getattr(record, name), name
    assert run.settings == {"epochs": 2, "data_sizes": {"train": 6}}  # the effective settings, one read
    assert run.steps == {"a": 3} and run.plan == ["a"] and run.events[0]["kind"] == "lr_drop"
    assert run.done and record.done and run.title == record.title == "t"


def test_one_finished_set():
    assert set(DONE_STATUSES) == {"finished", "stopped", "failed", "interrupted"}
    from cnnviz.ui import runs as ui_runs

    assert ui_runs.DONE == DONE_STATUSES
