"""``python -m cnnviz homework``: the fine-tuning and augmentation choices reach the run, the JSON,
the report and the reproduce script; random bases are labelled everywhere; bad choices and missing
weights end with one clear line. One small real run (MobileNetV3Small, random weights, 96 px, the
offline demo dataset, one epoch per phase)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from cnnviz import cli
from cnnviz.i18n import translate


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hw_cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_CACHE_DIR", str(out / "cache"))
        mp.setenv("CNNVIZ_OFFLINE", "1")
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = cli.main(["homework", "demo", "--models", "mobilenetv3small", "--random-weights", "--fe-epochs", "1",
                           "--ft-epochs", "1", "--image-size", "96", "--unfreeze", "20", "--augment", "--json",
                           "--lang", "es", "--report", str(out / "report.html")])
    return {"rc": rc, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "dir": out}


def test_json_carries_the_choices_and_the_label(cli_run):
    assert cli_run["rc"] == 0, cli_run["stderr"]
    data = json.loads(cli_run["stdout"])
    banner = translate("homework.random.banner", "es")
    assert data["results_meaningless"] is True and data["notice"] == banner and data["random_weights"] is True
    assert banner in cli_run["stderr"]
    assert data["settings"]["unfreeze"] == "20" and data["settings"]["augment"] == "flip"
    m = data["models"]["mobilenetv3small"]
    assert m["train_examples"] == 2 * len(data["split"]["train"])  # the mirrored view doubles the examples
    assert m["unfreeze"]["mode"] == "20" and m["unfreeze"]["layers"]
    assert m["trainable_params_ft"] > m["trainable_params_fe"]
    for key in ("fe_val_accuracy", "fe_accuracy", "ft_val_accuracy", "ft_accuracy"):
        assert 0.0 <= m[key] <= 1.0, key
    assert any(c["key"] == "homework.caveat.random" for c in data["verdict"]["caveats"])


def test_report_and_script_say_how_the_run_was_configured(cli_run):
    from cnnviz.homework import report

    folder = cli_run["dir"]
    html = (folder / "report.html").read_text(encoding="utf-8")
    esc = report._esc
    assert esc(translate("homework.random.banner", "es")) in html
    assert esc(translate("homework.report.unfreeze_n", "es", n="20")) in html
    assert esc(translate("homework.report.augment_on", "es", factor=2,
                         views=translate("homework.augment.flip", "es"))) in html
    script = (folder / "reproduce.py").read_text(encoding="utf-8")
    compile(script, "reproduce.py", "exec")
    assert "fine-tuning unfreezes the last 20 layers" in script and "Augmentation: flip" in script
    assert "RANDOM WEIGHTS" in script and "MobileNetV3Small" in script
    assert (folder / "models" / "mobilenetv3small.keras").is_file()
    assert "flip" in (folder / "report.csv").read_text()


def test_bad_unfreeze_is_one_line_before_any_work(capsys):
    assert cli.main(["homework", "demo", "--unfreeze", "last"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "last" in err[0] and "stage" in err[0]


def test_unknown_augmentation_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["homework", "demo", "--augment", "rotate"])
    assert exc.value.code == 2 and "rotate" in capsys.readouterr().err


def test_missing_weights_offline_say_which_and_offer_the_way_out(capsys):
    assert cli.main(["homework", "demo", "--models", "mobilenetv3small", "--fe-epochs", "1", "--lang", "en"]) == 1
    err = capsys.readouterr().err
    assert "MobileNetV3Small" in err and "cache prefetch --notop" in err
    assert translate("homework.cli.weights_hint", "en") in err
