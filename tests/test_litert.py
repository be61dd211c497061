"""LiteRT, the second inference engine: its answers vs TensorFlow's, the cache of conversions, the fallbacks.

Conversions are slow (a minute or two per model on a loaded 2-core machine), so each model is
converted at most once per test session, into a session folder (:func:`converted`); tests copy
the files they need into their own empty cache, and replace the converter with a counting fake
where only the cache logic is at stake. MobileNetV3Small serves the cache and fallback tests;
only the agreement test converts all four homework models.

Random weights make an agreement check meaningless (MobileNetV3Small answers exactly 1/1000
for every class), so the models here have their BatchNormalization statistics calibrated on
one batch (:func:`calibrate_bn`): their answers then differ from photo to photo.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import calibrate_bn

from cnnviz import HOMEWORK_MODELS, cache, infer, litert, samples, zoo

SMALL = "mobilenetv3small"
WEIGHTS_SEED = 1


class _Store:
    """Calibrated models and their conversions, made once per session."""

    def __init__(self, root: Path):
        self.root = root
        self.models: dict[str, object] = {}
        self.predictors: dict[str, infer.Predictor] = {}
        self.lock = threading.Lock()

    def model(self, name: str):
        if name not in self.models:
            # Fixed random weights: a random EfficientNetB0 can be ill-conditioned in float32 (one
            # initialisation in four gave logits so large that TensorFlow itself was 2e-2 off the
            # exact answer: no float32 engine can be checked on it). With the seed, every machine
            # builds the same weights; only the CPU's rounding differs (issue 18 note).
            import keras  # heavy: TF

            keras.utils.set_random_seed(WEIGHTS_SEED)
            model = zoo.create_model(name, weights=None)
            calibrate_bn(model, name)
            self.models[name] = model
        return self.models[name]

    def predictor(self, name: str) -> infer.Predictor:
        """The forced-LiteRT predictor of the calibrated model, converted into the session folder."""
        with self.lock:
            if name not in self.predictors:
                before = os.environ.get("CNNVIZ_CACHE_DIR")
                os.environ["CNNVIZ_CACHE_DIR"] = str(self.root)
                try:
                    self.predictors[name] = infer.load_predictor(name, None, model=self.model(name), engine="litert",
                                                                 runs=1)
                finally:
                    os.environ["CNNVIZ_CACHE_DIR"] = before or ""
            return self.predictors[name]

    def files(self, name: str) -> list[Path]:
        self.predictor(name)
        return sorted((self.root / cache.DERIVED / litert.KIND).glob(f"{name}-*"))

    def install(self, name: str) -> list[Path]:
        """Copy ``name``'s conversion into the current test's cache."""
        target = litert.folder()
        target.mkdir(parents=True, exist_ok=True)
        out = []
        for f in self.files(name):
            shutil.copy2(f, target / f.name)
            out.append(target / f.name)
        return out

    def tflite(self, name: str) -> Path:
        return next(f for f in self.files(name) if f.suffix == ".tflite")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """An empty cache per test (conftest's is shared by the session): conversions must not leak."""
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return _Store(tmp_path_factory.mktemp("litert-store"))


class Converter:
    """A fake ``litert.convert_in_subprocess``: counts calls, optionally waits, then copies a real conversion."""

    def __init__(self, source: Path | None, delay: float = 0.0, fail: bool = False):
        self.source, self.delay, self.fail = source, delay, fail
        self.calls: list[litert.Source] = []
        self._lock = threading.Lock()

    def __call__(self, src: litert.Source, out: Path, progress=None, timeout: float = 0, **kinds) -> dict:
        with self._lock:
            self.calls.append(src)
        if progress:
            progress("start", 0.0)
        if self.delay:
            threading.Event().wait(self.delay)
        if self.fail:
            raise litert.ConversionError("conversion of test failed (exit code 1): boom")
        shutil.copyfile(self.source, out)
        return {"seconds": 0.01, "wall_s": 0.01, "bytes": out.stat().st_size}


def _no_conversion(*args, **kwargs):
    raise AssertionError("the converter must not run")


def sample_images():
    return [samples.load_sample(n) for n in samples.list_samples()]


# --------------------------------------------------------------------------- answers

@pytest.mark.slow
@pytest.mark.parametrize("name", HOMEWORK_MODELS)
def test_litert_gives_tensorflows_answers_on_sample_photos(store, name):
    lite = store.predictor(name)
    assert lite.engine.id == "litert" and lite.engine.runtime == "ai-edge-litert"
    check = lite.engine.check
    # The check at conversion: agreed, on an informative (not flat) output, within a tolerance
    # derived from TensorFlow's own float32 error against a float64 run (recorded, never hidden).
    assert check["agree"] and not check["flat"], check
    assert check["error_basis"] == "float64"
    assert check["atol"] == pytest.approx(litert.tolerance(check["tf_error"], check["p_max"]))
    reference = infer.load_predictor(name, None, model=store.model(name), engine="tf", runs=1)
    assert reference.engine.id == "tf"
    tops = set()
    for image in sample_images():
        a, b = reference.predict(image, runs=1), lite.predict(image, runs=1)
        assert (a.engine, b.engine) == ("tf", "litert")
        assert b.engine_label == "LiteRT · XNNPACK · CPU" and a.engine_label == "TensorFlow · CPU"
        # The tolerance follows this photo's computation: TensorFlow's own float32 error on it,
        # against the exact (float64) answer of the same model — it differs by orders of magnitude
        # between models, weights, photos and CPU kinds (EfficientNetB0's extreme random logits).
        exact = litert.exact_output(store.model(name), reference.preprocess(image))
        assert exact is not None, f"{name}: no float64 reference"
        tf_error = litert.gap_error(a.probs, exact)
        atol = litert.tolerance(tf_error, float(np.max(a.probs)))
        ok, reason, _ = litert.agree(a.probs, b.probs, atol=atol)
        assert ok, f"{name}: {reason} (TensorFlow's own error {tf_error:.2e})"
        # The tolerance proves something: far below what a real fault moves (see test_agree_rules).
        assert atol < 1e-2, f"{name}: tolerance {atol:.1e} too loose to mean anything"
        tops.add(tuple(i for _, _, i in a.top5))
    if name != "resnet50":  # ResNet50's random head saturates on one class whatever the photo
        assert len(tops) > 1, "the outputs do not depend on the photo: the check would prove nothing"


def test_predict_batch_matches_predict(store):
    lite = store.predictor(SMALL)
    images = sample_images()[:3]
    batch = lite.predict_batch(images)
    assert [r.engine for r in batch] == ["litert"] * 3
    for image, r in zip(images, batch):
        np.testing.assert_array_equal(r.probs, lite.predict(image, runs=1).probs)
    assert lite.predict_batch([]) == []
    with pytest.raises(infer.NotAnImageError):
        lite.predict_batch([images[0], "cat.jpg"])


def test_resize_once_per_photo_and_size():
    image = samples.load_sample("cat")
    a = infer.model_view(image, (224, 224))
    assert infer.model_view(image, (224, 224)) is a
    assert infer.model_view(image, (240, 240)).size == (240, 240)
    assert infer.model_view(image.copy(), (224, 224)) is not a  # another photo object: computed anew


# --------------------------------------------------------------------------- the cache of conversions

def test_second_load_is_a_cache_hit(store, monkeypatch):
    store.install(SMALL)
    monkeypatch.setattr(litert, "convert_in_subprocess", _no_conversion)
    p = infer.load_predictor(SMALL, None, model=store.model(SMALL), engine="litert", runs=1)
    assert p.engine.id == "litert" and p.engine.converted_s is None
    assert p.engine.check == store.predictor(SMALL).engine.check  # the verdict kept beside the file
    assert p.tf_engine is None  # TensorFlow's function was not even compiled


def test_a_conversion_ahead_of_the_load_shows_progress_and_the_load_finds_it(store, monkeypatch):
    """The Classify page's path: the conversion (and its check) first, with progress, no predictor built;
    then the cached loader's load is a cache hit with the recorded verdict."""
    fake = Converter(store.tflite(SMALL))
    monkeypatch.setattr(litert, "convert_in_subprocess", fake)
    model = store.model(SMALL)
    plan = infer.plan_load(SMALL, None, engine="litert")
    assert plan.engine == "litert" and plan.needs_conversion(model)
    stages = []
    infer.convert_to_litert(plan, model, lambda stage, fraction: stages.append(stage))
    assert stages[:1] == ["start"] and len(fake.calls) == 1
    assert not plan.needs_conversion(model)
    monkeypatch.setattr(litert, "convert_in_subprocess", _no_conversion)
    p = infer.load_predictor(SMALL, None, model=model, engine="litert", runs=1)
    assert p.engine.id == "litert" and p.engine.converted_s is None and p.engine.check["agree"]


def test_changed_weights_convert_again(store, monkeypatch):
    store.install(SMALL)
    fake = Converter(store.tflite(SMALL))
    monkeypatch.setattr(litert, "convert_in_subprocess", fake)
    model = store.model(SMALL)
    original = model.get_weights()
    try:
        changed = [w.copy() for w in original]
        changed[-1] = changed[-1] + 1e-3  # the last bias: another weights file
        model.set_weights(changed)
        p = infer.load_predictor(SMALL, None, model=model, engine="litert", runs=1)
    finally:
        model.set_weights(original)
    assert len(fake.calls) == 1 and fake.calls[0].weights.endswith(".weights.h5")
    assert p.engine.converted_s is not None and p.engine.check is not None
    assert len(list(litert.folder().glob("*.tflite"))) == 1  # the old random-weights file was pruned


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_damaged_conversion_is_rebuilt(store, monkeypatch, damage):
    (tfl,) = [f for f in store.install(SMALL) if f.suffix == ".tflite"]
    data = bytearray(tfl.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # same size, valid header: only the recorded answer can tell
        rng = np.random.default_rng(0)
        for i in rng.integers(len(data) // 2, len(data) - 16, size=4000):
            data[i] ^= 0xFF
    tfl.write_bytes(bytes(data))
    fake = Converter(store.tflite(SMALL))
    monkeypatch.setattr(litert, "convert_in_subprocess", fake)
    p = infer.load_predictor(SMALL, None, model=store.model(SMALL), engine="litert", runs=1)
    assert len(fake.calls) == 1
    assert p.engine.id == "litert" and p.engine.check["agree"]
    assert tfl.read_bytes() == store.tflite(SMALL).read_bytes()


def test_concurrent_first_loads_convert_once(store, monkeypatch):
    fake = Converter(store.tflite(SMALL), delay=1.0)
    monkeypatch.setattr(litert, "convert_in_subprocess", fake)
    model = store.model(SMALL)
    results, errors = [], []

    def load():
        try:
            results.append(infer.load_predictor(SMALL, None, model=model, engine="litert", runs=1))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3
    assert len(fake.calls) == 1
    assert all(p.engine.id == "litert" for p in results)


def test_cache_status_lists_and_clear_removes_conversions(store):
    installed = store.install(SMALL)
    listed = {s.path for s in cache.derived_status("litert")}
    assert set(installed) <= listed
    assert any(row["model"] == SMALL and row["problem"] is None for row in litert.status())
    removed = {r.path for r in cache.clear_derived("litert")}
    assert set(installed) <= removed and not list(litert.folder().glob("*"))


def test_cache_cli_lists_conversions(store, capsys):
    from cnnviz.cli import main

    (tfl,) = [f for f in store.install(SMALL) if f.suffix == ".tflite"]
    assert main(["cache", "status"]) == 0
    assert tfl.name in capsys.readouterr().out


# --------------------------------------------------------------------------- choosing the engine

def test_random_weights_auto_uses_tensorflow_and_says_why(store, monkeypatch):
    monkeypatch.setattr(litert, "convert_in_subprocess", _no_conversion)
    p = infer.load_predictor(SMALL, None, model=store.model(SMALL), runs=1)
    assert p.engine.id == "tf" and p.engine.why_key == "infer.engine.why.random"
    r = p.predict(sample_images()[0])
    assert r.engine == "tf" and "random" in r.engine_note
    assert p.engine.reason("es") != p.engine.reason("en")


def test_auto_uses_litert_for_a_given_model_that_agrees(store, monkeypatch):
    store.install(SMALL)
    monkeypatch.setattr(litert, "convert_in_subprocess", _no_conversion)
    p = infer.load_predictor(SMALL, "imagenet", model=store.model(SMALL), runs=1)
    assert p.engine.id == "litert" and p.engine.requested == "auto" and p.engine.reason() is None
    assert p.predict(sample_images()[0]).to_dict()["engine_label"] == "LiteRT · XNNPACK · CPU"


def test_forced_tf_is_honoured(store, monkeypatch):
    store.install(SMALL)
    monkeypatch.setattr(litert, "convert_in_subprocess", _no_conversion)
    p = infer.load_predictor(SMALL, "imagenet", model=store.model(SMALL), engine="tf", runs=1)
    assert p.engine.id == "tf" and p.engine.requested == "tf" and p.engine.reason() is None


def test_litert_import_failing_uses_tf_lite_then_tensorflow(store, monkeypatch):
    store.install(SMALL)
    monkeypatch.setattr(litert, "convert_in_subprocess", _no_conversion)

    def no_package():
        raise ImportError("No module named 'ai_edge_litert'")

    # The package missing: TensorFlow's own interpreter runs the same file.
    monkeypatch.setattr(litert, "_import_litert", no_package)
    p = infer.load_predictor(SMALL, "imagenet", model=store.model(SMALL), runs=1)
    assert p.engine.id == "litert" and p.engine.runtime == "tf.lite"

    # No runtime at all: TensorFlow answers, and says why.
    def nothing():
        raise litert.LiteRTUnavailable("ai-edge-litert: ImportError: No module named 'ai_edge_litert'")

    monkeypatch.setattr(litert, "runtime", nothing)
    p = infer.load_predictor(SMALL, "imagenet", model=store.model(SMALL), runs=1)
    assert p.engine.id == "tf" and p.engine.why_key == "infer.engine.why.unavailable"
    assert "ai_edge_litert" in p.engine.reason("en") and "LiteRT" in p.engine.reason("es")
    with pytest.raises(infer.EngineUnavailableError) as err:
        infer.load_predictor(SMALL, "imagenet", model=store.model(SMALL), engine="litert", runs=1)
    assert "ai_edge_litert" in str(err.value)


def test_failed_conversion_uses_tensorflow(store, monkeypatch):
    fake = Converter(None, fail=True)
    monkeypatch.setattr(litert, "convert_in_subprocess", fake)
    p = infer.load_predictor(SMALL, "imagenet", model=store.model(SMALL), runs=1)
    assert p.engine.id == "tf" and p.engine.why_key == "infer.engine.why.failed" and "boom" in p.engine.reason()
    assert p.predict(sample_images()[0]).engine == "tf"
    with pytest.raises(infer.EngineUnavailableError):
        infer.load_predictor(SMALL, "imagenet", model=store.model(SMALL), engine="litert", runs=1)


def test_disagreeing_conversion_uses_tensorflow(store, monkeypatch):
    # The "conversion" of another model: LiteRT's answers cannot match this model's.
    fake = Converter(store.tflite(SMALL))
    monkeypatch.setattr(litert, "convert_in_subprocess", fake)
    other = zoo.create_model(SMALL, weights=None)
    weights = store.model(SMALL).get_weights()
    weights[-2] = -weights[-2]  # flip the classifier's kernel: other top classes
    other.set_weights(weights)
    p = infer.load_predictor(SMALL, "imagenet", model=other, runs=1)
    assert len(fake.calls) == 1
    assert p.engine.id == "tf" and p.engine.why_key == "infer.engine.why.disagree", p.engine
    assert p.engine.check["agree"] is False
    # Forced, LiteRT answers anyway and the caveat is kept.
    forced = infer.load_predictor(SMALL, "imagenet", model=other, engine="litert", runs=1)
    assert len(fake.calls) == 1  # the verdict was kept with the file: no second conversion
    assert forced.engine.id == "litert" and forced.engine.why_key == "infer.engine.why.forced_disagree"


def test_invalid_engine_is_refused():
    with pytest.raises(infer.InvalidEngineError) as err:
        infer.load_predictor(SMALL, None, engine="onnx")
    assert "onnx" in str(err.value)


def test_agree_rules():
    p = np.full((1, 10), 0.05)
    p[0, :5] = [0.3, 0.2, 0.1, 0.08, 0.07]
    p[0, 5:] = (1 - p[0, :5].sum()) / 5
    assert litert.agree(p, p + 5e-5, atol=1e-4)[0]
    assert not litert.agree(p, p + 2e-4, atol=1e-4)[0]
    swapped = p.copy()
    swapped[0, [0, 1]] = swapped[0, [1, 0]]
    assert not litert.agree(p, swapped, atol=1e-4)[0]
    assert not litert.agree(p, np.full_like(p, np.nan), atol=1e-4)[0]
    # The tolerance grows with TensorFlow's own error, never below a few float32 ulps, never
    # looser than what a real fault moves.
    assert litert.tolerance(0.0, 0.9) == litert.ULP_FLOOR < 1e-6
    delta = (litert.ERROR_RATIO + 1) * 1e-5
    assert litert.tolerance(1e-5, 0.5) == pytest.approx(0.5 * np.expm1(2 * delta) + litert.ULP_FLOOR)
    assert litert.tolerance(1.0, 0.9) == litert.tolerance(float("inf"), 0.9) == litert.MAX_ATOL
    # The bound holds: gaps that all move by ≤ δ change no probability by more than p_max·(e^{2δ} − 1).
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 1000)
    q = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    z2 = z + rng.uniform(-delta, delta, z.shape)
    q2 = np.exp(z2 - z2.max()) / np.exp(z2 - z2.max()).sum()
    assert np.max(np.abs(q2 - q)) <= q.max() * np.expm1(2 * delta)
    # The gap error: the logit differences' error, blind to a common shift and to classes that cannot matter.
    assert litert.gap_error(q, q) == 0.0 and litert.gap_error(q2, q) <= 2 * delta
    assert litert.gap_error(q2, q) > 0.5 * delta  # the largest of ~1000 uniform samples: near 2δ, not near 0
    shifted = np.exp(z + 7 - (z + 7).max()) / np.exp(z + 7 - (z + 7).max()).sum()
    assert litert.gap_error(shifted, q) < 1e-12
    tiny = q.copy()
    tiny[q < litert.RELEVANT_P] = 0.0  # rounded away where they could not matter
    assert litert.gap_error(tiny, q) < 1e-12
    lost = q.copy()
    lost[np.argsort(q)[-2]] = 0.0  # the second class lost: that is an error, infinitely large
    assert litert.gap_error(lost, q) == float("inf")
    assert litert.is_flat(np.full(1000, 1e-3)) and not litert.is_flat(p[0])


def test_bench_engines_lines():
    from cnnviz.bench import engines

    row = {"model": SMALL, "display_name": "MobileNetV3Small", "weights": "random", "app_engine": "TensorFlow · CPU",
           "app_engine_note": "TensorFlow answers because the weights are random.", "litert_ms": 2.4, "bare_ms": 10.8,
           "app_ms": 11.0, "litert_peak_share": 0.05, "bare_peak_share": 0.011, "app_peak_share": 0.011,
           "converted_in_this_run_s": 71.0, "conversion_wall_s": None, "int8_ms": 3.0, "dynamic_ms": 2.6,
           "int8_speedup": 0.8, "dynamic_speedup": 0.92, "int8_peak_share": 0.02,
           "bytes": {"fp32": 10_000_000, "int8": 2_600_000, "dynamic": 2_700_000},
           "int8_agreement_text": "top-1 same 60/64"}
    report = {"engines": {"runs": 5, "peak_gflops": 100.0, "models": [row],
                          "peak": {"gflops_median": 100.0, "source": "litert-fc",
                                   "candidates": {"numpy-blas": 90.0, "tensorflow": 95.0, "litert-fc": 100.0}},
                          "int8_peak": {"gops_median": 300.0, "source": "litert-fc-int8"},
                          "sums_ms": {"litert": 2.4, "int8": 3.0, "dynamic": 2.6, "bare": 10.8, "app": 11.0},
                          "ratio_app_bare": 11.0 / 10.8,
                          "ratio_litert_bare": 2.4 / 10.8,
                          "server_start": {"mode": "load_predictor (ImageNet)", "process_wall_s": 3.2,
                                           "import_to_warm_s": 2.5, "ok": True, "error": None}}}
    text = "\n".join(engines.lines(report))
    assert "MobileNetV3Small" in text and "LiteRT/bare 0.22" in text and "71 s" in text
    assert "server start → 1 models warm" in text and "weights are random" in text
    # int8: its latency, size, agreement, and a slower int8 is said, not hidden.
    assert "10.0/  2.6/  2.7" in text and "top-1 same 60/64" in text and "int8 is SLOWER" in text
    assert "(litert-fc;" in text and "300.0 GOP/s (litert-fc-int8;" in text


def test_bench_engines_an_int8_rate_never_raises_the_fp32_peak():
    """Dynamic-range LiteRT multiplies int8: a ResNet50 at 574 GOP/s beat every fp32 matmul (206 GFLOP/s)
    and became the "fp32 peak", shrinking every fp32 share to a third. Each path counts against its own kind."""
    from cnnviz.bench import engines

    rows = [{"display_name": "ResNet50", "rates": {"litert": 190.0, "bare": 120.0, "app": 125.0,
                                                    "int8": 630.0, "dynamic": 574.0}}]
    peak, peak8 = engines.add_peak_shares(rows, {"gflops_median": 206.0, "source": "litert-fc"},
                                          {"gops_median": 680.0, "source": "litert-fc-int8"})
    assert peak["gflops_median"] == 206.0 and peak["source"] == "litert-fc"
    assert peak8["gops_median"] == 680.0
    r = rows[0]
    assert r["litert_peak_share"] == pytest.approx(190 / 206) and r["dynamic_peak_share"] == pytest.approx(574 / 680)
    assert r["int8_peak_share"] == pytest.approx(630 / 680)
    # A rate above its own kind's peak raises that peak only (a share never above 100 %).
    rows[0]["rates"]["litert"] = 250.0
    peak, peak8 = engines.add_peak_shares(rows, {"gflops_median": 206.0, "source": "litert-fc"},
                                          {"gops_median": 680.0, "source": "litert-fc-int8"})
    assert peak["gflops_median"] == 250.0 and "above every matmul" in peak["source"] and peak8["gops_median"] == 680.0
    assert rows[0]["litert_peak_share"] == 1.0
