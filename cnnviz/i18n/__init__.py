"""Spanish/English message catalogs.

Catalogs live in ``locales/<lang>/<domain>.json``: flat JSON objects whose keys all
start with ``<domain>.`` (so two files can never define the same key). Every
language must define exactly the same keys: ``tests/test_i18n.py`` enforces it,
and a missing key raises :class:`MissingTranslation` instead of silently falling
back, so a gap is a test failure, never a half-translated page.

This module imports neither Streamlit nor TensorFlow.
"""

from __future__ import annotations

import json
import os
import string
from functools import lru_cache
from pathlib import Path

LANGS: tuple[str, ...] = ("en", "es")
LANG_NAMES = {"en": "English", "es": "Español"}
LOCALES_DIR = Path(__file__).with_name("locales")


def default_lang() -> str:
    """Language used when neither the URL nor the browser says: ``CNNVIZ_LANG`` or English."""
    lang = os.environ.get("CNNVIZ_LANG", "en").strip().lower()[:2]
    return lang if lang in LANGS else "en"


class MissingTranslation(KeyError):
    """A catalog key that does not exist in the requested language."""


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """All messages of ``lang``, merged from its domain files."""
    if lang not in LANGS:
        raise ValueError(f"Unknown language {lang!r}; expected one of {LANGS}. Received: lang={lang!r}")
    merged: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / lang).glob("*.json")):
        domain = path.stem
        data = json.loads(path.read_text(encoding="utf-8"))
        for key, value in data.items():
            if not key.startswith(domain + "."):
                raise ValueError(f"{path}: key {key!r} must start with {domain + '.'!r}")
            if not isinstance(value, str):
                raise ValueError(f"{path}: value of {key!r} must be a string")
            merged[key] = value
    return merged


def has_key(key: str, lang: str = "en") -> bool:
    return key in catalog(lang)


def translate(key: str, lang: str, /, **params: object) -> str:
    """The message ``key`` in ``lang``, with ``{name}`` fields filled from ``params``."""
    try:
        text = catalog(lang)[key]
    except KeyError:
        raise MissingTranslation(f"no {lang!r} message for key {key!r}") from None
    return text.format(**params) if params else text


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a message (used by tests to compare languages)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
