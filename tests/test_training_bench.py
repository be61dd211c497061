"""cnnviz.bench.training: registered as a section, and its rows carry the figures it claims.

A tiny run (one lab model, 2 batches, 1 round, a given peak); no timing assertions.
"""

from __future__ import annotations

import io
import math

from cnnviz import bench
from cnnviz.bench import training


def test_training_section_is_registered_with_a_printer():
    assert "training" in bench.section_names()
    section = next(s for s in bench.SECTIONS if s.name == "training")
    assert section is training.SECTION and not section.rows and section.lines is not None
    assert bench.section_names().index("training") < bench.section_names().index("machine")


def test_tiny_run_rows_have_the_right_keys():
    log = []
    result = training.benchmark(models=["cifar10_v1"], rounds=1, steps=2, peak_gflops=100.0, log=log.append)
    assert result["labs"] == ["cifar-progression"] and result["rounds"] == 1 and result["steps"] == 2
    assert result["matmul_gflops"] == 100.0 and result["batch_size"] == [32]
    (row,) = result["models"]
    assert tuple(row) == training.ROW_KEYS
    assert row["lab"] == "cifar-progression" and row["model"] == "cifar10_v1" and row["images"] == 64
    assert row["params"] > 0 and row["macs"] > 0
    assert row["app_ips"] > 0 and row["plain_ips"] > 0
    assert math.isclose(row["app_over_plain"], row["plain_ips"] / row["app_ips"])
    assert math.isclose(row["train_gflops"], 6 * row["macs"] * row["app_ips"] / 1e9)  # 3 × (2·MACs) per image
    assert math.isclose(row["peak_share"], row["train_gflops"] / 100.0)
    assert log and "cifar10_v1" in log[0]
    # the section's printer shows the row
    out = io.StringIO()
    bench.print_report({"sections": ["training"], "training": result}, out)
    text = out.getvalue()
    assert "labs training" in text and "cifar10_v1" in text and "app/plain" in text
