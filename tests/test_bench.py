"""cnnviz.bench: the section registry, the thin CLI, and the measuring functions' rows.

No timing assertions: only that each measurement reports the figures it claims.
"""

from __future__ import annotations

import io

import pytest

from cnnviz import HOMEWORK_MODELS, bench
from cnnviz.bench import explorer, inference, machine, page, visualize
from cnnviz.bench.base import Context, Section


def test_sections_are_listed_explicitly_in_order():
    assert bench.section_names() == ["inference", "upload", "memory", "engines", "explorer", "visualize", "page",
                                     "training", "serving", "homework", "intake", "machine"]
    assert len(set(bench.section_names())) == len(bench.SECTIONS)
    assert all(isinstance(s, Section) for s in bench.SECTIONS)
    rows = {s.name for s in bench.SECTIONS if s.rows}
    assert rows == {"explorer", "visualize", "serving"}


def test_page_section_only_for_the_homework_models():
    assert page.SECTION.when(Context(names=list(HOMEWORK_MODELS)))
    assert not page.SECTION.when(Context(names=["mobilenetv3small"]))


def test_upload_and_memory_need_the_inference_predictors():
    ctx = Context(names=["mobilenetv3small"])
    assert not inference.UPLOAD.when(ctx) and not inference.MEMORY.when(ctx)
    ctx.predictors["mobilenetv3small"] = object()
    assert inference.UPLOAD.when(ctx) and inference.MEMORY.when(ctx)


def test_a_new_section_is_one_list_entry(monkeypatch):
    """A dict section and a row section added to SECTIONS run, print and go to JSON."""
    calls = []

    def boom(ctx):
        raise RuntimeError("broken")

    extra = [
        Section("answer", lambda ctx: calls.append("answer") or {"answer": {"value": 42}},
                lambda report: [f"the answer: {report['answer']['value']}"]),
        Section("rows", lambda ctx: [{"model": n, "steps": 3} for n in ctx.names]),
        Section("broken", boom),
        Section("never", lambda ctx: calls.append("never") or {}, lambda r: ["never"], when=lambda ctx: False),
    ]
    monkeypatch.setattr(bench, "SECTIONS", extra)
    lines = []
    report = bench.measure(Context(names=["lenet5"], log=lines.append), skip=())
    assert calls == ["answer"] and lines and lines[0].startswith("device: ")
    assert report["sections"] == ["answer", "rows", "broken"]
    assert report["answer"] == {"value": 42}
    assert report["extras"][0] == {"source": "rows", "model": "lenet5", "steps": 3}
    assert report["extras"][1] == {"source": "broken", "error": "RuntimeError: broken"}
    out = io.StringIO()
    bench.print_report(report, out)
    text = out.getvalue()
    assert "the answer: 42" in text and "never" not in text
    assert "other benchmarks:" in text and "source=rows · model=lenet5 · steps=3" in text
    with pytest.raises(ValueError, match="unknown bench section"):
        bench.measure(Context(names=["lenet5"]), skip=["nope"])


def test_cli_refuses_an_unknown_section(capsys):
    from cnnviz.cli import main

    assert main(["bench", "--models", "lenet5", "--skip", "nope"]) == 2
    assert "unknown section(s) nope" in capsys.readouterr().err


def test_machine_readings():
    assert machine.peak_rss_mb() >= machine.rss_mb() > 0
    assert machine.matmul_peak(runs=1)["gflops_median"] > 0


def test_text_report_of_every_printed_section():
    report = {
        "sections": ["inference", "upload", "memory", "page", "machine"], "runs": 3,
        "models": [{"display_name": "MobileNetV3Small", "weights": "random", "params": 2_554_968, "macs": 56_000_000,
                    "app_ms": 5.0, "bare_ms": 5.0, "predict_ms": 40.0, "ratio_app_bare": 1.0,
                    "ratio_app_bare_min": 1.0, "ratio_predict_app": 8.0, "gflops": 22.4, "peak_share": 0.1,
                    "first_call_ms": 900.0}],
        "matmul_peak": {"gflops": 224.0, "before": {"gflops_median": 220.0}, "after": {"gflops_median": 224.0}},
        "upload_to_results": {"photo": "4032×3024 JPEG, 1.0 MB", "median_total_ms": 300, "median_inference_sum_ms": 20,
                              "median_overhead_ms": 280, "median_decode_ms": 200, "median_preprocess_sum_ms": 60},
        "memory": {"peak_rss_mb": 900, "rss_before_repeat_mb": 800, "rss_after_repeat_mb": 801, "predictions": 60,
                   "growth_mb": 1.0, "growth_second_half_mb": 0.0, "traces_per_model": {"mobilenetv3small": 1}},
        "page": {"warm_median_ms": 400, "warm_median_inference_sum_ms": 20, "warm_median_overhead_ms": 380,
                 "cold_ms": 9000, "uploads": [{"problems": [], "results": 3}]},
        "machine": {"cpus": 2, "device": "CPU", "tensorflow": "2.x"},
        "extras": [{"source": "explorer", "model": "lenet5", "build_s": 0.25}],
    }
    out = io.StringIO()
    bench.print_report(report, out)
    lines = out.getvalue().splitlines()
    text = "\n".join(lines)
    for column in ("model", "weights", "params", "MACs", "app ms", "bare ms", "predict ms", "app/bare", "(min)",
                   "pred/app", "GFLOP/s", "of peak", "1st call"):
        assert column in lines[1], column
    assert lines[2].startswith("MobileNetV3Small") and "0.06G" in lines[2] and "10.0%" in lines[2]
    order = ["app/bare: ratio of medians", "random weights where", "upload → results", "memory: peak RSS 900 MB",
             "Classify page (headless AppTest", "page problem: 3 results", "machine: 2 CPUs, CPU",
             "other benchmarks:", "source=explorer · model=lenet5 · build_s=0.25"]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


def test_explorer_rows():
    (row,) = explorer.benchmark(["cifar10_v1"], repeats=1)
    assert row["model"] == "cifar10_v1" and row["params"] == 15_120 and row["layers"] > 0 and row["macs"] > 0
    assert set(row) == {"model", "layers", "params", "macs", "build_s", "summarize_s", "summary_text_s", "charts_s"}


def test_visualize_rows():
    rows = visualize.benchmark(["mobilenetv3small"], runs=1, actmax_steps=2)
    tasks = {r["task"]: r for r in rows}
    assert set(tasks) == {"feature_maps_all_layers", "grad_cam", "activation_maximization"}
    assert tasks["feature_maps_all_layers"]["median_ms"] > 0 and tasks["grad_cam"]["median_ms"] > 0
    assert tasks["activation_maximization"]["steps_per_s"] > 0
    assert all(r["model"] == "mobilenetv3small" for r in rows)


def test_sample_photo_is_a_12mp_jpeg_and_variants_differ():
    from cnnviz import images

    a, b = inference.sample_photo(), inference.sample_photo(variant=1)
    assert a[:2] == b"\xff\xd8" and a != b
    assert images.decode_image(a).original_size == inference.PHOTO_SIZE


def test_an_int8_engine_is_measured_against_the_int8_peak():
    """`bench --engine litert-int8` printed ResNet50 int8 at 609 GOP/s as "100 % of the fp32 peak"
    (the peak raised to it, "above every matmul"): int8 arithmetic has its own peak."""
    from cnnviz.bench.inference import assign_peak_shares

    rows = [{"display_name": "ResNet50", "engine": "litert-int8", "gflops": 609.0},
            {"display_name": "ConvNeXtTiny", "engine": "tf", "gflops": 100.0}]
    calls = []
    fp32, int8 = assign_peak_shares(rows, {"gflops_median": 200.0, "source": "litert-fc"},
                                    lambda: calls.append(1) or {"gops_median": 680.0, "source": "litert-fc-int8"})
    assert fp32["gflops_median"] == 200.0 and int8["gops_median"] == 680.0 and calls == [1]
    assert rows[0]["peak_kind"] == "int8" and rows[0]["peak_share"] == pytest.approx(609 / 680)
    assert rows[1]["peak_kind"] == "fp32" and rows[1]["peak_share"] == pytest.approx(0.5)
    # Without an int8 row the int8 peak is not even measured.
    calls.clear()
    assign_peak_shares(rows[1:], {"gflops_median": 200.0, "source": "litert-fc"}, lambda: calls.append(1) or {})
    assert calls == []
