"""The timeline's data file and library: complete entries, chronological order, every number
sourced and held to the values below (cross-checked against ../shared/facts.md and the course
material when ../shared is there), texts in both languages, registry names that exist,
validation that rejects bad data, per-model lookups, and Plotly figures that show exactly the data."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from cnnviz import HOMEWORK_MODELS, timeline, zoo
from cnnviz.i18n import LANGS, catalog, has_key, translate
from cnnviz.timeline import METRICS, QUANTITIES, THEMES, TimelineDataError, UnknownArchitectureError

#: The entries the course needs (the spec; the data file is the one list the code reads).
COURSE_IDS = (
    "lenet5", "alexnet", "zfnet", "vgg", "googlenet", "inceptionv3", "resnet", "resnetv2", "densenet",
    "xception", "mobilenetv2", "senet", "mobilenetv3", "efficientnet", "efficientnetv2", "convnext", "vit",
)


@pytest.fixture(scope="module")
def tl():
    return timeline.load()


@pytest.fixture(scope="module")
def raw():
    return json.loads(timeline.DATA_FILE.read_text(encoding="utf-8"))


def all_figures(tl):
    for arch in tl.architectures:
        for variant in arch.variants:
            for fig in variant.figures:
                yield arch, variant, fig


def figure(tl, arch_id, variant, quantity, source, metric=None):
    """The one figure of ``variant`` giving ``quantity`` from ``source`` (and ``metric``)."""
    found = [f for v in tl.get(arch_id).variants if v.name == variant for f in v.figures
             if f.quantity == quantity and f.source == source and metric in (None, f.metric)]
    assert len(found) == 1, f"{arch_id}/{variant}: expected one {quantity} figure from {source}, got {found}"
    return found[0]


# --------------------------------------------------------------------------- the data file

def test_required_entries_unique_and_chronological(tl, raw):
    ids = [a["id"] for a in raw["architectures"]]
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert set(COURSE_IDS) <= set(ids), f"entries the course needs are missing: {set(COURSE_IDS) - set(ids)}"
    years = [a.year for a in tl.architectures]
    assert years == sorted(years), f"entries out of chronological order: {list(zip(ids, years))}"
    assert tl.get("lenet5").year == 1998 and tl.get("convnext").year == 2022
    assert tl.get("vit").year == 2020 and tl.sources[tl.get("vit").paper].venue == "ICLR"


def test_every_entry_is_complete(tl):
    for arch in tl.architectures:
        paper = tl.sources[arch.paper]
        assert paper.kind == "paper" and paper.title and paper.authors and paper.venue, arch.id
        assert paper.url.startswith("https://"), arch.id
        assert 0 <= paper.year - arch.year <= 2, f"{arch.id}: paper {paper.year} vs first shown {arch.year}"
        assert arch.theme in THEMES
        assert arch.headline_variant.name == arch.headline
        assert any(v.figures for v in arch.variants) or arch.competition, f"{arch.id} has no number at all"
        if arch.zoo_models:
            assert arch.explorer_model in arch.zoo_models


@pytest.mark.parametrize("lang", LANGS)
def test_every_entry_has_its_texts(tl, lang):
    for arch in tl.architectures:
        for part in ("innovation", "description"):
            key = f"arch.{arch.id}.{part}"
            assert has_key(key, lang), f"missing {lang} text {key}"
            assert len(translate(key, lang)) > (40 if part == "innovation" else 200), key
    for theme in THEMES:
        assert has_key(f"timeline.theme.{theme}", lang)
    for quantity in QUANTITIES:
        assert has_key(f"timeline.quantity.{quantity}", lang)
    for metric in METRICS:
        assert has_key(f"timeline.metric.{metric}", lang)
    for note in tl.notes:
        text = timeline.note_text(note, lang)
        assert all(s in text for s in note.seeds), f"{note.id}: the note must name the course material it corrects"
    for _, variant, fig in all_figures(tl):
        for key in ([f"timeline.reference.{fig.reference}"] if fig.reference else []) + \
                ([f"timeline.figure_note.{fig.note}"] if fig.note else []):
            assert has_key(key, lang), f"{variant.name}: missing {lang} text {key}"


def test_spanish_texts_are_translated(tl):
    same = [a.id for a in tl.architectures
            if translate(f"arch.{a.id}.description", "es") == translate(f"arch.{a.id}.description", "en")]
    assert same == []
    es = catalog("es")
    assert "Nota sobre el material del curso" in es["timeline.course_note.title"]


def test_every_number_has_a_source_that_exists(tl, raw):
    used = set()
    for arch, variant, fig in all_figures(tl):
        assert fig.source in tl.sources, (arch.id, variant.name, fig)
        assert fig.quantity in METRICS[fig.metric], (arch.id, variant.name, fig)
        assert timeline.loc_label(fig.loc, "en") == "" or fig.loc, fig
        used.add(fig.source)
    comps = [a.competition for a in tl.architectures if a.competition]
    assert comps and all(c.source in tl.sources for c in comps)
    used |= {c.source for c in comps} | {a.paper for a in tl.architectures}
    from cnnviz import zoo  # the zoo cites papers of models the timeline does not show

    used |= {spec.paper_source for spec in zoo.list_specs() if spec.paper_source}
    unused = set(raw["sources"]) - used
    assert unused == set(), f"sources nobody cites: {unused}"
    for src in tl.sources.values():
        for lang in LANGS:
            citation = src.citation(lang)
            assert citation and "None" not in citation, src.id


def test_the_raw_file_gives_every_figure_a_source_and_metric(raw):
    """Straight on the JSON, independent of the loader: no number without source + metric."""
    count = 0
    for arch in raw["architectures"]:
        for variant in arch["variants"]:
            for fig in variant["figures"]:
                assert {"quantity", "value", "source", "metric"} <= set(fig), (arch["id"], fig)
                assert fig["source"] in raw["sources"]
                count += 1
        if "competition" in arch:
            assert arch["competition"]["source"] in raw["sources"]
    assert count >= 80


def test_accuracy_figures_say_what_they_measure(tl):
    """Errors stay errors, Keras numbers come from the Keras table, ViT's extra data is flagged."""
    for arch, variant, fig in all_figures(tl):
        if fig.quantity in ("top1", "top5"):
            assert fig.metric in {"keras_val", "keras_doc", "authors_val", "val_jft300m"}, (variant.name, fig)
        if fig.quantity in ("top1_err", "top5_err"):
            assert fig.metric.startswith(("val_", "mnist", "cifar")), (variant.name, fig)
        if fig.metric == "keras_val":
            assert fig.source == "keras_apps"
        if fig.dataset != "imagenet":
            assert fig.metric.startswith(fig.dataset), fig
    assert figure(tl, "alexnet", "AlexNet", "top1_err", "krizhevsky2012").value == 40.7
    assert not tl.get("alexnet").headline_variant.all("top1")  # never an invented accuracy
    assert all(f.extra_data for f in tl.get("vit").variants[1].all("top1"))


def test_zoo_models_are_registry_names(tl):
    docs = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = docs[docs.index("Registry names"):docs.index("Homework:")]
    registry = set(re.findall(r"[a-z][a-z0-9_]+", " ".join(re.findall(r"`([^`]+)`", block))))
    assert {"resnet50", "lenet5", "seresnet50", "convnexttiny"} <= registry
    for arch in tl.architectures:
        for name in (*arch.zoo_models, *arch.course_models):
            assert name in registry, f"{arch.id}: {name!r} is not a registry name"
    assert tl.get("vit").zoo_models == ()
    assert tl.get("resnet").zoo_models == ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
    assert tl.get("senet").zoo_models == ("seresnet50",)
    for name in HOMEWORK_MODELS:
        assert tl.find_model(name) is not None, name


def test_timeline_and_zoo_agree(tl):
    """Every model the zoo registers with a timeline id is listed by that entry, and vice versa
    where the zoo already has the model (the registry imports no TensorFlow)."""
    registered = set(zoo.list_models())
    for spec in zoo.list_specs():
        if spec.timeline_id:
            entry = tl.get(spec.timeline_id)
            assert spec.name in (*entry.zoo_models, *entry.course_models), \
                f"zoo maps {spec.name} to {spec.timeline_id!r}; add it to that entry's zoo_models"
    for arch in tl.architectures:
        for name in arch.zoo_models:
            if name in registered:
                assert zoo.get_spec(name).timeline_id == arch.id, (name, arch.id)
        for name in arch.course_models:  # course exercises may or may not point back
            if name in registered:
                assert zoo.get_spec(name).timeline_id in (None, arch.id), (name, arch.id)


def test_measured_counts_match_the_zoo_registry(tl):
    """The zoo re-checks Keras' count_params() in tests/test_zoo_counts.py; the counts shown
    here are the registry's."""
    registered = set(zoo.list_models())
    checked = 0
    for arch, variant, fig in all_figures(tl):
        if fig.source == "cnnviz_measure" and fig.quantity == "params":
            assert variant.zoo_model in registered, variant.name
            assert fig.value == zoo.get_spec(variant.zoo_model).params, variant.name
            checked += 1
    assert checked >= 20


# --------------------------------------------------------------------------- against facts.md

def _facts_table(text: str, header_start: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_keras_numbers_match_facts(tl, shared_dir):
    facts = (shared_dir / "facts.md").read_text(encoding="utf-8")
    checked = 0
    for model, params, macs in _facts_table(facts, "| model | params |"):
        name = model.split(" (")[0]
        found = tl.find_model(name.lower())
        assert found, f"facts.md lists {name}, the timeline does not"
        arch, _ = found
        assert figure(tl, arch.id, name, "params", "cnnviz_measure").value == int(params.replace(",", ""))
        if macs:
            assert figure(tl, arch.id, name, "macs", "cnnviz_measure").value == pytest.approx(
                float(macs.rstrip(" G")) * 1e9)
        checked += 1
    for model, _size, top1, top5, *_ in _facts_table(facts, "| model | size MB |"):
        arch, variant = tl.find_model(model.lower())
        assert figure(tl, arch.id, model, "top1", "keras_apps").value == float(top1.rstrip("%"))
        keras_top5 = [f for f in variant.all("top5") if f.source == "keras_apps"]
        if top5 == "–":
            assert keras_top5 == []
        else:
            assert keras_top5[0].value == float(top5.rstrip("%"))
        checked += 1
    assert checked >= 18


PAPER_FIGURES = [pytest.param(*p, id=f"{p[1]}-{p[2]}-{p[3]}") for p in [
    ("lenet5", "LeNet-5", "params", "lecun1998", 60_000, '"60,000 trainable free parameters"'),
    ("alexnet", "AlexNet", "params", "krizhevsky2012", 60e6, '"60 million parameters"'),
    ("alexnet", "AlexNet", "params", "alexnet_arith:arith_one_tower", 62_378_344, "62,378,344"),
    ("alexnet", "AlexNet", "params", "alexnet_arith:arith_two_gpu", 60_965_224, "two-GPU grouped version: 60,965,224"),
    ("vgg", "VGG19", "macs", "he2016", 19.6e9, "VGG-19 19.6 G"),
    ("googlenet", "GoogLeNet", "macs", "szegedy2015", 1.5e9, "budget of 1.5 billion multiply-adds"),
    ("resnet", "ResNet18", "macs", "he2016", 1.8e9, "ResNet-18 1.8 G"),
    ("resnet", "ResNet34", "macs", "he2016", 3.6e9, "34: 3.6 G"),
    ("resnet", "ResNet50", "macs", "he2016", 3.8e9, "50: 3.8 G"),
    ("resnet", "ResNet101", "macs", "he2016", 7.6e9, "101: 7.6 G"),
    ("resnet", "ResNet152", "macs", "he2016", 11.3e9, "152: 11.3 G"),
    ("mobilenetv3", "MobileNetV3Small", "top1", "howard2019", 67.4, "V3-Small 1.0: 67.4% top-1"),
    ("mobilenetv3", "MobileNetV3Small", "top1", "keras_mnv3_doc", 68.1, "68.1% top-1"),
    ("mobilenetv3", "MobileNetV3Small", "macs", "keras_mnv3_doc", 66e6, "66M MACs"),
    ("mobilenetv3", "MobileNetV3Large", "top1", "howard2019", 75.2, "V3-Large 1.0: 75.2%"),
    ("efficientnet", "EfficientNetB0", "macs", "tan2019", 0.39e9, "0.39 G FLOPs"),
    ("convnext", "ConvNeXtTiny", "macs", "convnext_readme", 4.5e9, "4.5 G FLOPs"),
    ("convnext", "ConvNeXtTiny", "top1", "convnext_readme", 82.1, "82.1% top-1"),
    ("convnext", "ConvNeXtTiny", "params", "convnext_readme", 28e6, "ConvNeXt-T: 28M params"),
]]


@pytest.mark.parametrize("arch_id, variant, quantity, source, value, facts_text", PAPER_FIGURES)
def test_paper_figures(tl, arch_id, variant, quantity, source, value, facts_text):
    assert figure(tl, arch_id, variant, quantity, *source.split(":")).value == pytest.approx(value)


@pytest.mark.parametrize("facts_text", [p.values[-1] for p in PAPER_FIGURES])
def test_paper_figures_are_in_facts(shared_dir, facts_text):
    """Cross-check: the values above are the ones ../shared/facts.md quotes."""
    assert facts_text in (shared_dir / "facts.md").read_text(encoding="utf-8")


CHALLENGE_RESULTS = [
    ("alexnet", 15.3, 1, "top-5 test error 15.3%"),
    ("googlenet", 6.67, 1, "ILSVRC-2014 winner, top-5 error 6.67%"),
    ("resnet", 3.57, 1, "ILSVRC-2015 winner, top-5 error 3.57%"),
    ("senet", 2.251, 1, "ILSVRC-2017 winner, top-5 error 2.251%"),
    ("vgg", 7.3, 2, "2nd in ILSVRC-2014 classification"),
]


@pytest.mark.parametrize("arch_id, err, rank, facts_text", CHALLENGE_RESULTS)
def test_challenge_results(tl, arch_id, err, rank, facts_text):
    comp = tl.get(arch_id).competition
    assert comp.top5_err == err and comp.rank == rank
    assert tl.get("alexnet").competition.runner_up_err == 26.2


@pytest.mark.parametrize("facts_text", [r[-1] for r in CHALLENGE_RESULTS])
def test_challenge_results_are_in_facts(shared_dir, facts_text):
    """Cross-check: the results above are the ones ../shared/facts.md quotes."""
    assert facts_text in (shared_dir / "facts.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- course corrections

def test_lenet5_parameter_total_from_its_layers(tl):
    """C1 6×(5·5+1); S2 6×2; C3 with its partial table (6 maps see 3 inputs, 9 see 4, 1 sees 6);
    S4 16×2; C5 120×(16·5·5+1); F6 84×(120+1)."""
    c3 = (6 * 3 + 9 * 4 + 1 * 6) * 25 + 16
    total = 6 * 26 + 6 * 2 + c3 + 16 * 2 + 120 * (16 * 25 + 1) + 84 * 121
    assert c3 == 1516 and total == 60_000
    assert figure(tl, "lenet5", "LeNet-5", "params", "lecun1998").value == total


def _conv(k, cin, cout, groups=1):
    return k * k * (cin // groups) * cout + cout


def test_alexnet_parameter_counts_from_its_layers(tl):
    dense = (6 * 6 * 256 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    one_tower = _conv(11, 3, 96) + _conv(5, 96, 256) + _conv(3, 256, 384) + _conv(3, 384, 384) \
        + _conv(3, 384, 256) + dense
    two_gpu = _conv(11, 3, 96) + _conv(5, 96, 256, 2) + _conv(3, 256, 384) + _conv(3, 384, 384, 2) \
        + _conv(3, 384, 256, 2) + dense
    values = {f.metric: f.value for f in tl.get("alexnet").headline_variant.all("params")}
    assert values["arith_one_tower"] == one_tower == 62_378_344
    assert values["arith_two_gpu"] == two_gpu == 60_965_224
    assert tl.note("alexnet_params").values == {"one_tower": one_tower, "two_gpu": two_gpu}
    assert "62,378,344" in timeline.note_text(tl.note("alexnet_params"), "es")


def test_course_notes_agree_with_the_data(tl):
    """What the notes say, held to the data file (the seeds' side is cross-checked below)."""
    shown = tl.get("googlenet").headline_variant.get("params")
    assert shown.value == 5e6 and shown.approx and shown.source == "szegedy2016"
    assert tl.note("googlenet_params").values["table_sum_millions"] == 6.8
    values = tl.note("ilsvrc_top5_table").values
    assert set(values) == {"alexnet", "vgg", "googlenet", "resnet"}
    for arch_id, top5_acc in values.items():  # the course's "top-5 accuracy" is 100 − the challenge error
        assert top5_acc == pytest.approx(100 - tl.get(arch_id).competition.top5_err, abs=0.051), arch_id
    note = tl.note("se_in_mobilenetv2")
    assert {"mobilenetv2", "mobilenetv3"} <= set(note.architectures)
    assert [n.id for n in tl.notes_for("mobilenetv2")] == ["se_in_mobilenetv2", "mobilenetv2_expansion"]


def _seed(shared_dir, number: str) -> str:
    path = next((shared_dir / "seeds").glob(f"{number}_*.txt"))
    return path.read_text(encoding="utf-8")


def test_googlenet_note_matches_the_course_table(tl, shared_dir):
    """Seed 001's per-block 'params' column adds up to the figure the note quotes; seed 002 says ≈ 4 M."""
    table = _seed(shared_dir, "001")
    start = table.index("type\tpatch size")
    column = []
    for line in table[start:].splitlines()[1:]:
        if not line.strip() or line.startswith("Tabla"):
            break
        column += [float(v) for v in re.findall(r"\t([\d.]+)K\t", line)]
    assert len(column) == 12  # conv1, conv2, nine inception blocks, linear
    total_millions = sum(column) / 1000
    assert tl.note("googlenet_params").values["table_sum_millions"] == round(total_millions, 1)
    assert re.search(r"\\approx 4\$\s+millones de parámetros", _seed(shared_dir, "002"))


def test_ilsvrc_note_matches_the_course_table_and_the_data(tl, shared_dir):
    """Seed 002's 'Top-5 accuracy' column is 100 − each team's ILSVRC top-5 test error."""
    seed = _seed(shared_dir, "002")
    seed_names = {"alexnet": "AlexNet", "vgg": "VGG-16", "googlenet": r"GoogLeNet \(Inception\)", "resnet": "ResNet"}
    values = tl.note("ilsvrc_top5_table").values
    assert set(values) == set(seed_names)
    for arch_id, name in seed_names.items():
        match = re.search(rf"^{name}\t\d{{4}}\t([\d.]+) %", seed, re.M)
        assert match, name
        assert values[arch_id] == float(match.group(1))


def test_se_note_matches_the_course_notes(tl, shared_dir):
    seed = _seed(shared_dir, "004")
    mnv2 = seed[seed.index("## MobileNetV2"):]
    assert "squeeze-and-excitation" in mnv2  # the claim the note corrects
    assert "para reducir el número de canales antes de aplicar convoluciones separables" in mnv2


@pytest.mark.slow
def test_keras_models_confirm_the_mobilenet_notes(model_factory):
    """What the notes tell students to check in the explorer holds for the Keras models."""
    mnv2, mnv3 = model_factory("mobilenetv2"), model_factory("mobilenetv3small")
    assert not [layer.name for layer in mnv2.layers if "squeeze_excite" in layer.name]
    assert [layer.name for layer in mnv3.layers if "squeeze_excite" in layer.name]
    block_in = mnv2.get_layer("expanded_conv_project_BN").output.shape[-1]
    assert mnv2.get_layer("block_1_expand").output.shape[-1] == 6 * block_in  # 1×1 expands, not reduces
    assert mnv2.get_layer("block_1_project").output.shape[-1] < mnv2.get_layer("block_1_expand").output.shape[-1]


# --------------------------------------------------------------------------- validation

def _broken(raw, mutate):
    data = copy.deepcopy(raw)
    mutate(data)
    with pytest.raises(TimelineDataError) as info:
        timeline.parse(data, origin="test.json")
    return info.value


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["architectures"][3]["variants"][0]["figures"][0].update(source="nobody2099"), "nobody2099"),
    (lambda d: d["architectures"][3]["variants"][0]["figures"][0].pop("source"), "needs a source"),
    (lambda d: d["architectures"][3]["variants"][0]["figures"][2].update(value=171.3), "percentage"),
    (lambda d: d["architectures"][3]["variants"][0]["figures"][2].update(metric="vibes"), "vibes"),
    (lambda d: d["architectures"][3]["variants"][0]["figures"][2].update(metric="keras_count"), "cannot qualify"),
    (lambda d: d["architectures"][3]["variants"][0]["figures"][0].update(value=-5), "positive number"),
    (lambda d: d["architectures"][3]["variants"][0]["figures"][0].update(loc="page 4"), "page 4"),
    (lambda d: d["architectures"][1].update(year=2019), "chronological order"),
    (lambda d: d["architectures"][1].update(id="lenet5"), "duplicate id"),
    (lambda d: d["architectures"][6]["variants"][2]["figures"][3].update(reference="He et al."), "He et al."),
    (lambda d: d["architectures"][6]["variants"][2]["figures"][3].update(note=7), "note must name a text"),
    (lambda d: d["architectures"][6]["variants"][2]["figures"][4].update(reference="again"), "one figure per quantity"),
    (lambda d: d["architectures"][0].update(theme="vibes"), "theme"),
    (lambda d: d["architectures"][0].update(paper="keras_apps"), "kind 'paper'"),
    (lambda d: d["architectures"][3].update(headline="VGG42"), "VGG42"),
    (lambda d: d["architectures"][3].update(zoo_models=["VGG16"]), "registry names"),
    (lambda d: d["sources"]["he2016"].update(url="http://arxiv.org/abs/1512.03385"), "https://"),
    (lambda d: d["course_notes"][0].update(architectures=["alexnet", "lenet6"]), "lenet6"),
    (lambda d: d.update(schema=2), "schema"),
])
def test_validation_rejects_bad_data(raw, mutate, expected):
    err = _broken(raw, mutate)
    assert expected in str(err), str(err)
    assert "test.json" in err.message("es") and "problema" in err.message("es")


def test_validation_reports_every_problem_at_once(raw):
    def two_problems(d):
        d["architectures"][0]["theme"] = "x"
        d["architectures"][5]["variants"][0]["figures"][0]["source"] = "y"
    err = _broken(raw, two_problems)
    assert len(err.problems) == 2


def test_load_rejects_missing_and_invalid_files(tmp_path):
    with pytest.raises(TimelineDataError, match="cannot read"):
        timeline.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(TimelineDataError, match="not valid JSON"):
        timeline.load(bad)


def test_unknown_architecture_lists_the_choices(tl):
    with pytest.raises(UnknownArchitectureError) as info:
        tl.get("resnet9000")
    err = info.value
    assert isinstance(err, KeyError)
    assert "resnet9000" in str(err) and "convnext" in str(err)
    assert "Elige una de" in err.message("es")


# --------------------------------------------------------------------------- formatting and rows

@pytest.mark.parametrize("value, quantity, text", [
    (60_000, "params", "60,000"), (25_636_712, "params", "25.6\u00a0M"), (138_357_544, "params", "138.4\u00a0M"),
    (5_330_571, "params", "5.33\u00a0M"), (5e6, "params", "5\u00a0M"), (3.8e9, "macs", "3.8\u00a0G"), (3.86e9, "macs", "3.86\u00a0G"),
    (0.39e9, "macs", "390\u00a0M"), (15.47e9, "macs", "15.5\u00a0G"), (56e6, "macs", "56\u00a0M"),
    (74.9, "top1", "74.9%"), (72.0, "top1", "72.0%"), (2.251, "top5_err", "2.251%"), (90, "top5", "90.0%"),
])
def test_format_number(value, quantity, text):
    assert timeline.format_number(value, quantity) == text


def test_format_figure_marks_rounded_sources_and_gives_exact_counts(tl):
    assert timeline.format_figure(tl.get("googlenet").headline_variant.get("params")) == "≈\u00a05\u00a0M"
    resnet50 = tl.get("resnet").headline_variant.get("params")
    assert timeline.format_figure(resnet50, exact=True) == "25.6\u00a0M (25,636,712)"


@pytest.mark.parametrize("lang", LANGS)
def test_card_rows_cite_every_number(tl, lang):
    for arch in tl.architectures:
        rows = timeline.card_rows(tl, arch, lang)
        n_figures = sum(len(v.figures) for v in arch.variants) + (1 if arch.competition else 0)
        sourced = [r for r in rows if r["source"]]
        assert len(sourced) == n_figures, arch.id
        self_described = sum(1 for v in arch.variants for f in v.figures
                             if tl.sources[f.source].kind in ("measurement", "arithmetic"))
        assert sum(1 for r in sourced if not r["url"]) == self_described, arch.id
        assert all(r["url"].startswith("https://") for r in sourced if r["url"])
        for row in rows:
            if not row["source"]:  # the only rows without a source say "n/a"
                assert row["value"] == translate("common.na", lang)
    zfnet = timeline.card_rows(tl, tl.get("zfnet"), lang)
    assert any(r["value"] == translate("common.na", lang) and r["quantity"] == translate("timeline.quantity.params", lang)
               for r in zfnet)


def test_summary_rows_show_errors_as_errors(tl):
    rows = timeline.summary_rows(tl, tl.get("alexnet"), "en")
    assert rows == [{"model": "AlexNet", "params": "≈\u00a060\u00a0M", "top1": "error 40.7%", "top5": "error 18.2%",
                     "macs": "n/a", "sources": "Krizhevsky et al. 2012, abstract; Krizhevsky et al. 2012, Table 2"}]
    resnet = {r["model"]: r for r in timeline.summary_rows(tl, tl.get("resnet"), "es")}
    assert resnet["ResNet50"]["top1"] == "74.9%" and resnet["ResNet50"]["macs"] == "3.8\u00a0G"
    assert resnet["ResNet18"]["params"] == "n/d"
    assert [r["model"] for r in timeline.summary_rows(tl, tl.get("resnetv2"), "en")] == \
        ["ResNet50V2", "ResNet101V2", "ResNet152V2"]  # ResNet-1001 (CIFAR-10 only) is in the full table


def test_extra_data_and_other_datasets_are_labelled(tl):
    vit = {r["model"]: r for r in timeline.summary_rows(tl, tl.get("vit"), "en")}
    assert vit["ViT-L/16"]["top1"] == "87.76% (pre-trained on JFT-300M)"
    assert vit["ViT-B/16"]["top1"] == "n/a"
    lenet = timeline.other_benchmarks(tl, tl.get("lenet5"), "es")
    assert len(lenet) == 2 and "0.95%" in lenet[0] and "MNIST" in lenet[0] and "LeCun et al. 1998" in lenet[0]
    assert "CIFAR-10" in timeline.other_benchmarks(tl, tl.get("resnetv2"), "en")[0]
    assert timeline.other_benchmarks(tl, tl.get("resnet"), "en") == []


def test_homework_summaries(tl):
    rows = {m: timeline.model_summary(tl, m, "en") for m in HOMEWORK_MODELS}
    assert (rows["resnet50"]["params"], rows["resnet50"]["top1"]) == ("25.6\u00a0M", "74.9%")
    assert (rows["efficientnetb0"]["params"], rows["efficientnetb0"]["top1"]) == ("5.33\u00a0M", "77.1%")
    assert (rows["mobilenetv3small"]["params"], rows["mobilenetv3small"]["top1"]) == ("2.55\u00a0M", "67.4%")
    assert (rows["convnexttiny"]["params"], rows["convnexttiny"]["top1"]) == ("28.6\u00a0M", "81.3%")
    assert "Howard et al. 2019, Table 3" in rows["mobilenetv3small"]["sources"]
    assert timeline.model_summary(tl, "cifar10_v1", "en")["params"] == "n/a"


# --------------------------------------------------------------------------- per-model lookups

def test_published_top1_with_sources():
    # The Keras weights' figure first, the paper's alongside.
    top1, source = timeline.published_top1("mobilenetv3small")
    assert top1 == 68.1 and "Keras" in source and "67.4%" in source and "Howard" in source
    assert timeline.published_top1("resnet50") == (74.9, "Keras Applications")
    top1, source = timeline.published_top1("convnexttiny", "es")
    assert top1 == 81.3 and "82.1%" in source and "también publicado" in source
    assert timeline.published_top1("inceptionresnetv2") is None  # no sourced figure: n/a, never invented


#: The published multiply-adds the explorer sets next to its own count: model → (value, source, note).
REFERENCE_MACS = {
    "resnet18": (1.8e9, "he2016", None), "resnet34": (3.6e9, "he2016", None),
    "resnet50": (3.8e9, "he2016", "resnet50_macs"), "resnet101": (7.6e9, "he2016", None),
    "resnet152": (11.3e9, "he2016", None), "vgg19": (19.6e9, "he2016", None),
    "efficientnetb0": (0.39e9, "tan2019", None), "convnexttiny": (4.5e9, "convnext_readme", None),
    "googlenet": (1.5e9, "szegedy2015", None), "mobilenetv3small": (66e6, "keras_mnv3_doc", "mobilenetv3small_macs"),
}


def test_reference_macs_are_sourced_figures(tl):
    marked = {v.zoo_model: f for _, v, f in all_figures(tl) if f.reference}
    assert set(marked) == set(REFERENCE_MACS)
    for name, (value, source, note) in REFERENCE_MACS.items():
        fig = marked[name]
        assert (fig.quantity, fig.value, fig.source, fig.note) == ("macs", pytest.approx(value), source, note), name
    assert marked["googlenet"].metric == "design_budget"  # a budget, not a count
    assert marked["mobilenetv3small"].metric == "keras_doc"  # Keras' table, not the paper's 56 M


@pytest.mark.parametrize("lang", LANGS)
def test_reference_macs_lookup(lang):
    ref = timeline.reference_macs("resnet50", lang)
    assert ref.value == 3.8e9
    assert ref.source == translate("timeline.reference.resnet_table1", lang) and "CVPR 2016" in ref.source
    assert "3.86 G" in ref.note and "4.1 G" in ref.note
    mnv3 = timeline.reference_macs("mobilenetv3small", lang)
    assert mnv3.value == 66e6 and "small_1.0_224" in mnv3.source and "2,554,968" in mnv3.note
    googlenet = timeline.reference_macs("googlenet", lang)
    assert googlenet.value == 1.5e9 and "1.5" in googlenet.source and googlenet.note == ""
    for name in ("vgg16", "efficientnetb1", "inceptionv3", "lenet5", "cifar10_v1", "nosuchmodel"):
        assert timeline.reference_macs(name, lang) is None, name


# --------------------------------------------------------------------------- figures

def _traces(fig, **match):
    return [tr for tr in fig.data if all(getattr(tr, k) == v for k, v in match.items())]


@pytest.mark.parametrize("lang", LANGS)
def test_timeline_figure(tl, lang):
    fig = timeline.timeline_figure(tl, lang, selected="resnet")
    named = [tr for tr in fig.data if tr.showlegend is not False]
    assert [tr.name for tr in named] == [translate(f"timeline.theme.{t}", lang) for t in THEMES]
    ids = [i for tr in named for i in tr.customdata]
    assert sorted(ids) == sorted(tl.ids)
    ring = [tr for tr in fig.data if tr.showlegend is False]
    assert len(ring) == 1 and list(ring[0].customdata) == ["resnet"]
    hover = " ".join(h for tr in named for h in tr.hovertext)
    assert translate("arch.resnet.innovation", lang) in hover.replace("<br>", " ")
    assert "25.6\u00a0M" in hover
    ticks = list(fig.layout.xaxis.ticktext)
    assert "1998" in ticks and "2022" in ticks
    assert any(translate("timeline.chart.transformers", lang) == a.text for a in fig.layout.annotations)
    assert len(_traces(timeline.timeline_figure(tl, lang), showlegend=False)) == 0  # nothing selected, no ring


def test_bubble_figure_draws_exactly_the_sourced_points(tl):
    points = timeline.bubble_points(tl)
    fig = timeline.bubble_figure(tl, "en")
    drawn = [(x, y) for tr in fig.data if tr.x and tr.x[0] is not None for x, y in zip(tr.x, tr.y)]
    assert sorted(drawn) == sorted((p.params.value, p.top1.value) for p in points)
    assert len(points) >= 20
    names = {p.variant.name for p in points}
    assert {"ResNet50", "EfficientNetB0", "MobileNetV3Small", "ConvNeXtTiny", "VGG16"} <= names
    assert "AlexNet" not in names  # only a top-1 *error* is published: never plotted as an accuracy
    assert not any(p.top1.extra_data for p in points)
    assert fig.layout.xaxis.type == "log"
    hollow = [tr for tr in fig.data if tr.marker.symbol == "circle-open" and tr.x and tr.x[0] is not None]
    assert sum(len(tr.x) for tr in hollow) == sum(1 for p in points if p.macs is None)
    size_at = {}
    for tr in fig.data:
        if tr.x and tr.x[0] is not None:
            sizes = tr.marker.size if isinstance(tr.marker.size, (list, tuple)) else [tr.marker.size] * len(tr.x)
            size_at.update({(x, y): s for x, y, s in zip(tr.x, tr.y, sizes)})
    size = {p.variant.name: size_at[(p.params.value, p.top1.value)] for p in points}
    assert size["VGG16"] > size["ResNet50"] > size["EfficientNetB0"] > size["MobileNetV3Small"]  # area ∝ MACs
    with_vit = timeline.bubble_points(tl, include_extra_data=True)
    assert {p.variant.name for p in with_vit} - names == {"ViT-L/16", "ViT-H/14"}
    with_vit_fig = timeline.bubble_figure(tl, "es", include_extra_data=True)
    assert sum(len(tr.x) for tr in with_vit_fig.data if tr.x and tr.x[0] is not None) == len(with_vit)


def test_competition_figure(tl):
    fig = timeline.competition_figure(tl, "es")
    winners = _traces(fig, name=translate("timeline.competition.winners", "es"))[0]
    assert list(winners.x) == [2012, 2014, 2015, 2017]
    assert list(winners.y) == [15.3, 6.67, 3.57, 2.251]
    others = _traces(fig, name=translate("timeline.competition.others", "es"))[0]
    assert sorted(round(x) for x in others.x) == [2013, 2014, 2015]
    non_cnn = _traces(fig, name=translate("timeline.competition.non_cnn", "es"))[0]
    assert list(non_cnn.y) == [26.2]
    assert "ensamble de 7 redes" in " ".join(winners.hovertext)


def test_timeline_module_never_imports_tensorflow_and_plotly_only_to_draw():
    code = textwrap.dedent("""
        import sys
        from cnnviz import timeline
        tl = timeline.load()
        timeline.model_summary(tl, "resnet50", "es"), timeline.reference_macs("resnet50")  # what Home needs
        assert "plotly" not in sys.modules, "the data alone must not load Plotly"
        for lang in ("en", "es"):
            timeline.timeline_figure(tl, lang, selected="vit")
            timeline.bubble_figure(tl, lang, include_extra_data=True)
            timeline.competition_figure(tl, lang)
        assert "plotly" in sys.modules
        print("LOADED:" + ",".join(m for m in ("tensorflow", "keras", "streamlit") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "LOADED:", out.stdout
