"""The fair queue and micro-batching (cnnviz.serving.queue): shared predictors under many threads, fair
queues with their place and wait, the hard "busy" limit, batching, the result cache.

Queue mechanics use a fake predictor that the test can hold (so nothing depends on timing);
correctness under threads and batching uses a real random-weights MobileNetV3Small whose
BatchNormalization statistics are randomised so that different images get different answers.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import calibrate_bn
from PIL import Image

from cnnviz.serving import queue as serving
from cnnviz.serving.queue import ModelQueue, ServerBusyError, ServingConfig, TooManyPendingError


# --------------------------------------------------------------------------- helpers

class HeldPredictor:
    """A fake predictor whose answers wait until the test releases them; records its calls."""

    display_name = "Fake"
    name = "fake"
    device = SimpleNamespace(is_gpu=False)

    def __init__(self):
        self.gate = threading.Event()
        self.calls: list[int] = []  # batch size of every call
        self.started = threading.Event()

    def _answer(self, image):
        if image == "bad":
            raise ValueError("bad image")
        return ("answer", image)

    def predict(self, image, runs=1):
        self.started.set()
        self.gate.wait(30)
        self.calls.append(1)
        return self._answer(image)


class HeldBatchPredictor(HeldPredictor):
    """The same, with ``predict_batch`` (what the queue calls for a batch)."""

    def predict_batch(self, images):
        self.started.set()
        self.gate.wait(30)
        self.calls.append(len(images))
        if "bad" in images:
            raise ValueError("bad image in batch")
        return [self._answer(i) for i in images]


def config(**kw) -> ServingConfig:
    base = dict(queue_limit=8, session_pending=4, wait_timeout_s=60, batch="off", max_batch=8, batch_window_s=0.0)
    base.update(kw)
    return ServingConfig(**base)


def wait_until(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def photos(n: int, size: int = 160) -> list[Image.Image]:
    """``n`` different RGB images (smooth colour fields with noise)."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        yy, xx = np.mgrid[0:size, 0:size] / size
        base = np.stack([np.sin(xx * (i + 1) * 3), np.cos(yy * (i + 2) * 2), xx * yy], axis=-1)
        arr = (base - base.min()) / (np.ptp(base) + 1e-9) * 200 + rng.uniform(0, 55, (size, size, 3))
        out.append(Image.fromarray(arr.astype(np.uint8), "RGB"))
    return out


@pytest.fixture(scope="module")
def predictor():
    """A random-weights MobileNetV3Small predictor whose answers depend on the image."""
    from cnnviz import infer, zoo

    model = zoo.create_model("mobilenetv3small", weights=None)
    calibrate_bn(model, "mobilenetv3small")
    return infer.load_predictor("mobilenetv3small", None, model=model, runs=1)


# --------------------------------------------------------------------------- real predictor

def test_many_threads_share_one_predictor_and_get_their_own_answers(predictor):
    images = photos(6)
    reference = [predictor.predict(img, runs=1) for img in images]
    # The check means something only if the answers differ from image to image: by far more than
    # the 1e-6 the answers are compared with below, so a mixed-up answer cannot pass.
    gaps = [float(np.max(np.abs(a.probs - b.probs))) for i, a in enumerate(reference) for b in reference[i + 1:]]
    assert min(gaps) > 1e-5, min(gaps)

    queue = ModelQueue(predictor, config(queue_limit=64, session_pending=64))
    jobs = [(i % len(images), k) for k in range(3) for i in range(len(images))]  # 18 requests
    results: dict[int, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def student(j: int, img_index: int) -> None:
        try:
            start.wait()
            results[j] = (img_index, queue.submit_and_wait(images[img_index], session=f"s{j}"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=student, args=(j, i)) for j, (i, _) in enumerate(jobs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert not errors, errors  # no busy error under the limit, no crash
    assert len(results) == len(jobs)
    for img_index, pred in results.values():
        ref = reference[img_index]
        assert [c for _, _, c in pred.top5] == [c for _, _, c in ref.top5]
        np.testing.assert_allclose(pred.probs, ref.probs, rtol=0, atol=1e-6)
    assert queue.stats()["served"] == len(jobs)
    queue.close()


def test_a_batch_gives_the_same_outputs_as_single_calls(predictor):
    images = photos(4)
    singles = [predictor.predict(img, runs=1) for img in images]
    batched = serving.predict_many(predictor, images)  # predict_batch when the predictor has it
    assert len(batched) == len(images)
    for b, s in zip(batched, singles):
        assert [c for _, _, c in b.top5] == [c for _, _, c in s.top5]
        np.testing.assert_allclose(b.probs, s.probs, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- queue mechanics

def test_queue_reports_place_and_expected_wait():
    fake = HeldPredictor()
    queue = ModelQueue(fake, config())
    first = queue.submit("a", session="s1")
    fake.started.wait(10)  # the worker holds "a"
    second = queue.submit("b", session="s2")
    third = queue.submit("c", session="s3")
    assert first.position() == 0
    assert second.position() == 1
    assert third.position() == 2
    assert third.expected_wait_s() > second.expected_wait_s() > 0
    fake.gate.set()
    assert [t.result() for t in (first, second, third)] == [("answer", "a"), ("answer", "b"), ("answer", "c")]
    assert third.position() == 0 and third.expected_wait_s() == 0.0
    queue.close()


def test_busy_only_past_the_hard_limit():
    fake = HeldPredictor()
    queue = ModelQueue(fake, config(queue_limit=5, session_pending=5))
    held = queue.submit("held")
    fake.started.wait(10)
    waiting = [queue.submit(f"img{i}", session=f"s{i}") for i in range(5)]  # exactly the limit: accepted
    with pytest.raises(ServerBusyError) as info:
        queue.submit("one too many", session="late")
    message = str(info.value)
    assert message.startswith("The server is busy") and "try again in" in message
    assert info.value.retry_after_s >= 1
    assert "inténtalo de nuevo en" in info.value.message("es")
    fake.gate.set()
    assert held.result() == ("answer", "held")
    assert [t.result() for t in waiting] == [("answer", f"img{i}") for i in range(5)]
    assert queue.stats()["rejected"] == 1
    queue.close()


def test_one_session_cannot_crowd_the_queue():
    fake = HeldPredictor()
    queue = ModelQueue(fake, config(queue_limit=50, session_pending=2))
    queue.submit("held", session="other")
    fake.started.wait(10)
    mine = [queue.submit(f"m{i}", session="me") for i in range(2)]
    with pytest.raises(TooManyPendingError):
        queue.submit("m3", session="me")
    queue.submit("x", session="someone else")  # others still get in
    fake.gate.set()
    assert [t.result() for t in mine] == [("answer", "m0"), ("answer", "m1")]
    queue.close()


def test_waiting_requests_run_as_one_batch_and_a_bad_one_fails_alone():
    fake = HeldBatchPredictor()
    queue = ModelQueue(fake, config(batch="on", max_batch=8, batch_window_s=0.0))
    assert queue.batching
    first = queue.submit("first")
    fake.started.wait(10)
    tickets = [queue.submit(f"p{i}", session=f"s{i}") for i in range(5)]
    fake.gate.set()
    assert first.result() == ("answer", "first")
    assert [t.result() for t in tickets] == [("answer", f"p{i}") for i in range(5)]
    assert fake.calls[:2] == [1, 5]  # the five that waited together ran as one batch
    assert all(t.batch_size == 5 for t in tickets)

    # A bad image in a batch: its batch-mates still get their answers, it gets its own error.
    fake.gate.clear()
    fake.started.clear()
    blocker = queue.submit("block")
    fake.started.wait(10)
    bad_round = [queue.submit(x, session=x) for x in ("ok1", "bad", "ok2")]
    fake.gate.set()
    assert blocker.result() == ("answer", "block")
    assert bad_round[0].result() == ("answer", "ok1")
    with pytest.raises(ValueError, match="bad image"):
        bad_round[1].result()
    assert bad_round[2].result() == ("answer", "ok2")
    queue.close()


def test_batching_auto_is_off_on_cpu_and_env_settings_are_read(monkeypatch):
    fake = HeldBatchPredictor()
    assert not ServingConfig(batch="auto").batching_for(fake)
    assert ServingConfig(batch="on").batching_for(fake)
    assert not ServingConfig(batch="on").batching_for(HeldPredictor())
    monkeypatch.setenv("CNNVIZ_BATCH", "on")
    monkeypatch.setenv("CNNVIZ_BATCH_WINDOW_MS", "12")
    monkeypatch.setenv("CNNVIZ_QUEUE_LIMIT", "3")
    cfg = ServingConfig.from_env()
    assert (cfg.batch, cfg.batch_window_s, cfg.queue_limit) == ("on", 0.012, 3)


def test_result_cache_is_bounded():
    cache = serving.ResultCache(3)
    for i in range(10):
        cache.put(("digest", i), i)
    assert len(cache) == 3
    assert cache.get(("digest", 0)) is None and cache.get(("digest", 9)) == 9


# --------------------------------------------------------------------------- the class-sized busy rule

class SlowPredictor:
    """Takes at least ``seconds`` per image (a lower bound: the expected wait is never below it)."""

    display_name = "Slow"
    name = "slow"
    device = SimpleNamespace(is_gpu=False)

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.gate = threading.Event()
        self.gate.set()

    def predict(self, image, runs=1):
        time.sleep(self.seconds)
        self.gate.wait(30)
        return ("answer", image)


def test_busy_rule_is_the_expected_wait_against_a_limit():
    assert not serving.too_long(None, 60.0)  # speed not measured yet: nobody is refused on a guess
    assert not serving.too_long(59.9, 60.0) and not serving.too_long(60.0, 60.0)
    assert serving.too_long(60.1, 60.0)


def test_a_class_that_waits_is_not_refused_until_the_expected_wait_passes_the_limit():
    slow = SlowPredictor(0.2)
    queue = ModelQueue(slow, config(queue_limit=100, session_pending=100, busy_wait_s=3.0))
    queue.submit("first").result()  # the model's speed is now measured (>= 0.2 s per image)
    slow.gate.clear()  # hold the worker on the next one
    accepted, refused = [queue.submit("held")], None
    for i in range(40):  # 40 × >= 0.2 s passes 3 s long before the hard limit of 100
        try:
            accepted.append(queue.submit(f"img{i}", session=f"s{i}"))
        except ServerBusyError as exc:
            refused = exc
            break
    assert refused is not None and refused.limit_s == 3.0
    assert 3 <= len(accepted) <= 16  # the first students waited (their place shown), not refused
    assert accepted[-1].expected_wait_s() <= 3.0 + 0.2 * 2
    assert "would wait more than 3 s" in str(refused) and "esperaría más de 3 s" in refused.message("es")
    slow.gate.set()
    assert [t.result()[1] for t in accepted[1:]] == [f"img{i}" for i in range(len(accepted) - 1)]
    queue.close()


def test_busy_wait_is_one_setting_and_the_predictor_lock_follows_it(monkeypatch, predictor):
    from cnnviz import infer, settings

    monkeypatch.delenv("CNNVIZ_BUSY_TIMEOUT", raising=False)
    monkeypatch.delenv("CNNVIZ_BUSY_WAIT", raising=False)
    assert ServingConfig.from_env().busy_wait_s == settings.busy_wait_s() == 60.0
    model = predictor.model
    assert infer.load_predictor("mobilenetv3small", None, model=model, runs=1).busy_timeout == 60.0
    monkeypatch.setenv("CNNVIZ_BUSY_WAIT", "90")
    assert ServingConfig.from_env().busy_wait_s == 90.0
    assert infer.load_predictor("mobilenetv3small", None, model=model, runs=1).busy_timeout == 90.0
    monkeypatch.setenv("CNNVIZ_BUSY_TIMEOUT", "5")  # the lock's own setting still wins for the lock
    assert infer.load_predictor("mobilenetv3small", None, model=model, runs=1).busy_timeout == 5.0
    monkeypatch.setenv("CNNVIZ_BUSY_WAIT", "soon")
    with pytest.raises(settings.SettingError, match="CNNVIZ_BUSY_WAIT"):
        ServingConfig.from_env()
