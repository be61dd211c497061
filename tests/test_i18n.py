"""Catalog completeness: every key in both languages, same placeholders, and every
key the code uses exists; pages show no literal user-facing strings."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cnnviz.i18n import LANGS, MissingTranslation, catalog, placeholders, translate

ROOT = Path(__file__).resolve().parents[1]
CODE = [p for p in [*ROOT.glob("*.py"), *ROOT.glob("pages/*.py"), *ROOT.glob("cnnviz/**/*.py")]]
KEY_CALL = re.compile(r"""\b(?:t|translate|UserFacingError|_tr|message_key)\(\s*["']([a-z0-9_]+\.[A-Za-z0-9_.]+)["']""")


def test_both_languages_have_the_same_keys():
    en, es = set(catalog("en")), set(catalog("es"))
    assert en - es == set(), f"missing in es: {sorted(en - es)}"
    assert es - en == set(), f"missing in en: {sorted(es - en)}"
    assert len(en) > 10


@pytest.mark.parametrize("lang", LANGS)
def test_no_empty_messages(lang):
    empty = [k for k, v in catalog(lang).items() if not v.strip()]
    assert empty == []


def test_placeholders_match_between_languages():
    en, es = catalog("en"), catalog("es")
    bad = {k: (placeholders(en[k]), placeholders(es[k])) for k in en if placeholders(en[k]) != placeholders(es[k])}
    assert bad == {}


def test_missing_key_raises():
    with pytest.raises(MissingTranslation):
        translate("common.no_such_key", "en")


def test_every_literal_key_used_in_code_exists():
    known = set(catalog("en"))
    missing = {}
    for path in CODE:
        for key in KEY_CALL.findall(path.read_text(encoding="utf-8")):
            if key not in known and not key.endswith("."):
                missing.setdefault(key, []).append(str(path.relative_to(ROOT)))
    assert missing == {}, f"keys used in code but absent from the catalogs: {missing}"


STREAMLIT_TEXT_CALLS = {"title", "header", "subheader", "markdown", "caption", "write", "text", "info", "warning",
                        "error", "success", "button", "radio", "selectbox", "multiselect", "checkbox", "toggle",
                        "slider", "text_input", "number_input", "file_uploader", "camera_input", "expander",
                        "tabs", "metric", "download_button", "page_link", "select_slider", "segmented_control",
                        "pills", "toast", "spinner", "status", "progress", "form_submit_button", "link_button"}


def _literal_strings(node) -> list[str]:
    out = []
    positional = node.args[1:] if node.func.attr in {"page_link", "switch_page"} else node.args  # page id / file
    args = list(positional) + [k.value for k in node.keywords if k.arg in {"label", "body", "help", "placeholder", "text"}]
    for arg in args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and re.search(r"[A-Za-záéíóúñ]{3,}", arg.value):
            out.append(arg.value)
        if isinstance(arg, ast.List):
            out += [e.value for e in arg.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
                    and re.search(r"[A-Za-záéíóúñ]{3,}", e.value)]
    return out


@pytest.mark.parametrize("path", sorted([*ROOT.glob("pages/*.py"), ROOT / "app.py", *ROOT.glob("cnnviz/ui/*.py")]),
                         ids=lambda p: p.name)
def test_no_literal_user_facing_strings(path):
    """Streamlit calls in pages and UI helpers take catalog strings, never literals."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offenders = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STREAMLIT_TEXT_CALLS:
            offenders += [f"line {node.lineno}: {s!r}" for s in _literal_strings(node)]
    assert offenders == [], f"{path.name} shows literal strings: {offenders}"
