"""cnnviz.charts: the explorer's Plotly figures carry the summary's numbers, in both languages."""

from __future__ import annotations

import pytest

from cnnviz import charts
from cnnviz import inspect as ci
from cnnviz.i18n import translate


@pytest.fixture(scope="module")
def resnet(model_factory):
    return ci.summarize(model_factory("resnet50"))


@pytest.fixture(scope="module")
def homework(model_factory):
    from cnnviz import HOMEWORK_MODELS

    return {name: ci.summarize(model_factory(name)) for name in HOMEWORK_MODELS}


def test_params_per_layer_bars_add_up_and_are_coloured_by_type(resnet):
    fig = charts.params_per_layer(resnet)
    assert sum(sum(trace.y) for trace in fig.data) == resnet.total_params
    assert {trace.name for trace in fig.data} == {"Conv2D", "BatchNormalization", "Dense"}
    conv = next(trace for trace in fig.data if trace.name == "Conv2D")
    assert conv.marker.color == charts.TYPE_COLORS["Conv2D"]
    assert "ResNet50" in fig.layout.title.text or "resnet50" in fig.layout.title.text
    assert charts.params_per_layer(resnet, log_y=True).layout.yaxis.type == "log"


def test_by_stage_and_block_sum_to_totals(resnet):
    fig = charts.by_group(resnet, level="stage")
    params, macs = fig.data
    assert list(params.x) == ["conv1", "conv2", "conv3", "conv4", "conv5", "head"]
    assert sum(params.y) * 1e6 == pytest.approx(resnet.total_params)
    assert sum(macs.y) * 1e9 == pytest.approx(resnet.macs)
    blocks = charts.by_group(resnet, level="block")
    assert len(blocks.data[0].x) == len(resnet.by_block()) == 19
    with pytest.raises(ValueError, match="level"):
        charts.by_group(resnet, level="layer")


def test_treemap_nests_stage_block_layer(resnet):
    fig = charts.treemap(resnet)
    tm = fig.data[0]
    roots = [v for v, p in zip(tm.values, tm.parents) if p == ""]
    assert sum(roots) == resnet.total_params
    ids = set(tm.ids)
    assert all(p == "" or p in ids for p in tm.parents)  # every parent exists
    leaf = list(tm.labels).index("conv3_block2_2_conv")
    assert tm.parents[leaf] == "b:conv3/conv3_block2"
    macs = charts.treemap(resnet, value="macs").data[0]
    assert sum(v for v, p in zip(macs.values, macs.parents) if p == "") == resnet.macs


def test_cumulative_ends_at_the_total(resnet, homework):
    fig = charts.cumulative_params(resnet)
    assert fig.data[0].y[-1] * 1e6 == pytest.approx(resnet.total_params)
    assert fig.data[0].x[-1] == resnet.depth_weighted
    many = charts.cumulative_params(homework)
    assert len(many.data) == 4 and all(trace.x[-1] == pytest.approx(100) for trace in many.data)


def test_resolution_goes_down_and_channels_up(resnet):
    fig = charts.resolution_channels(resnet)
    sizes, channels = fig.data[0].y, fig.data[1].y
    assert sizes[0] == 224 and sizes[-1] == 7  # the input, then conv5's 7×7
    assert channels[0] == 3 and max(channels) == 2048
    # Resolution only goes down in ResNet50 (paddings, which add 1–3 pixels, are left out).
    assert all(a >= b for a, b in zip(sizes, sizes[1:]))
    assert sorted(set(sizes), reverse=True) == [224, 112, 56, 28, 14, 7]
    # Block outputs only: the staircase goes up without the bottlenecks' 256 → 64 → 256 zigzag.
    assert all(a <= b for a, b in zip(channels, channels[1:]))
    assert len(sizes) == 1 + len([g for g in resnet.by_block() if g.name != "head"])


def test_fc_share_donut_and_bars(resnet, homework):
    donut = charts.fc_share(resnet).data[0]
    assert sum(donut.values) == resnet.total_params
    assert donut.values[0] == resnet.fc_params == 2_049_000
    bars = charts.fc_share(homework).data[0]
    assert list(bars.x) == list(homework) and len(bars.y) == 4


def test_compare_totals(homework):
    fig = charts.compare_totals(homework)
    params, macs = fig.data
    assert params.y[0] == pytest.approx(25.636712)
    assert macs.y[3] == pytest.approx(homework["convnexttiny"].macs / 1e9)


def test_labels_follow_the_language(resnet):
    es = charts.by_group(resnet, level="stage", lang="es")
    assert es.layout.title.text == translate("inspect.chart.by_stage_title", "es", model=resnet.name)
    assert translate("inspect.chart.params_m", "es") in [a.text for a in es.layout.annotations]
    assert charts.resolution_channels(resnet, lang="es").layout.title.text.startswith("Baja la resolución")


def test_all_figures_and_html_export(resnet):
    figs = charts.all_figures(resnet)
    assert set(figs) == {"params_per_layer", "by_stage", "by_block", "treemap", "cumulative", "resolution",
                         "fc_share"}
    html = charts.to_html(figs["params_per_layer"])
    assert html.lstrip().lower().startswith("<!doctype html>") and "plotly" in html and "conv5_block3_3_conv" in html


def test_png_export(resnet):
    """Needs Kaleido and a Chrome; where they are missing the page hides the PNG button."""
    if not charts.png_export_available():
        assert charts.find_chrome() is None or not _kaleido_importable()
        pytest.skip("no Chrome for Kaleido on this machine (the page hides the PNG button)")
    png = charts.to_png(charts.fc_share(resnet), width=500, height=400)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def _kaleido_importable() -> bool:
    try:
        import kaleido  # noqa: F401
    except Exception:
        return False
    return True
