"""Issue 22 on the Homework page under AppTest: the folder upload of class folders (read, released,
refusals listed), what fits said before the upload, the server-folder option only under the
teacher's roots (absent without, refusing a path outside), a FIFO in a shared folder."""

from __future__ import annotations

import os

import pytest
from conftest import all_text, app_test
from test_homework_intake import good_members, png

from cnnviz.homework import intake
from cnnviz.i18n import translate

PAGE = "pages/homework.py"


def no_exception(at) -> None:
    assert [e.value for e in at.exception] == []


def test_folder_upload_of_class_folders_is_read_released_and_listed(monkeypatch):
    monkeypatch.delenv(intake.ROOTS_VAR, raising=False)
    at = app_test(PAGE)
    radio = at.radio(key="homework_source")
    assert list(radio.options) == [translate(f"homework.page.source_{s}", "en") for s in ("directory", "upload", "demo")]
    radio.set_value("directory").run()
    no_exception(at)
    fits = [c.value for c in at.caption if c.value.startswith("What fits")]
    assert fits and "1024 MB" in fits[0] and "20 MB" in fits[0]  # said before anything is uploaded
    up = at.get("file_uploader")[0]
    assert up.accept_directory and up.proto.max_upload_size_mb == 20
    files = [("my_ds/" + k, v, "image/png") for k, v in good_members().items() if v is not None]
    files += [(f"my_ds/Pears/q{i}.png", png((5, 5, 250), seed=70 + i), "image/png") for i in range(5)]
    up.set_value(files).run()
    no_exception(at)
    up = at.get("file_uploader")[0]
    assert up.key.endswith("_1") and not up.value  # a new, empty uploader: Streamlit's copy released
    # pears clashes with Pears: both refused, each file with its reason; apples alone is too few
    assert any(translate("homework.error.too_few_classes", "en", count=1, found="apples", min=2) in e.value
               for e in at.error), [e.value for e in at.error]
    refused = at.dataframe[0].value
    reasons = dict(zip(refused.iloc[:, 0], refused.iloc[:, 1]))
    assert reasons["Pears/q0.png"] == translate("homework.refused.case_class", "en", classes="Pears, pears")
    assert reasons["pears/p0.jpg"] == reasons["Pears/q0.png"]
    assert reasons["readme.md"] == translate("homework.refused.no_class_folder", "en")

    files = [("my_ds/" + k, v, "image/png") for k, v in good_members().items() if v is not None]
    files += [(f"my_ds/plums/u{i}.png", png((5, 5, 250), seed=70 + i), "image/png") for i in range(5)]
    files += [("my_ds/plums/U0.png", png((9, 9, 9), seed=1), "image/png")]
    at.get("file_uploader")[0].set_value(files).run()
    no_exception(at)
    assert at.get("file_uploader")[0].key.endswith("_2")
    assert translate("homework.page.read_from", "en", name="my_ds") in all_text(at)
    assert not at.error
    ds = at.session_state["homework_dataset"]
    assert ds.class_names == ["apples", "pears", "plums"] and ds.counts() == {"apples": 5, "pears": 5, "plums": 5}
    assert {r.path: r.key for r in ds.refused}["plums/u0.png"] == "homework.refused.duplicate_name"


def test_server_folder_only_under_roots_refuses_outside_and_lists_a_fifo(tmp_path, monkeypatch):
    root = tmp_path / "shared"
    for name, data in good_members().items():
        if data is not None and not name.startswith("__MACOSX"):
            (root / "ds" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "ds" / name).write_bytes(data)
    os.mkfifo(root / "ds" / "apples" / "pipe.png")
    (tmp_path / "grades").mkdir()
    (tmp_path / "grades" / "final.xlsx").write_bytes(b"secret")
    monkeypatch.setenv(intake.ROOTS_VAR, str(root))
    at = app_test(PAGE)
    assert "folder" in at.radio(key="homework_source").options or \
        translate("homework.page.source_folder", "en") in at.radio(key="homework_source").options
    at.radio(key="homework_source").set_value("folder").run()
    at.text_input(key="homework_folder").set_value(str(tmp_path / "grades")).run()
    no_exception(at)
    errors = [e.value for e in at.error]
    assert any(translate("homework.error.outside_roots", "en", path=str(tmp_path / "grades"), roots=str(root.resolve()))
               == e for e in errors), errors
    assert "final.xlsx" not in all_text(at)
    at.text_input(key="homework_folder").set_value("../grades").run()
    assert any("../grades" in e.value for e in at.error)
    at.text_input(key="homework_folder").set_value("ds").run()
    no_exception(at)
    reasons = {}
    for df in at.dataframe:
        v = df.value
        if translate("homework.page.col_reason", "en") in v.columns:
            reasons = dict(zip(v.iloc[:, 0], v.iloc[:, 1]))
    assert reasons.get("apples/pipe.png") == translate("homework.refused.not_regular", "en")


@pytest.mark.parametrize("lang", ["es"])
def test_spanish_refusal_of_a_path_outside(tmp_path, monkeypatch, lang):
    (tmp_path / "shared").mkdir()
    monkeypatch.setenv(intake.ROOTS_VAR, str(tmp_path / "shared"))
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    at.query_params["lang"] = lang
    at.session_state["homework_source"] = "folder"
    at.session_state["homework_folder"] = "/etc"
    at.run()
    no_exception(at)
    want = translate("homework.error.outside_roots", lang, path="/etc", roots=str((tmp_path / "shared").resolve()))
    assert any(e.value == want for e in at.error), [e.value for e in at.error]
