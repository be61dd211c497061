"""cnnviz.settings: CNNVIZ_* values parsed in one place; a bad one names the variable and what it accepts."""

from __future__ import annotations

import pytest

from cnnviz import cache, device, settings


def test_unset_or_blank_gives_the_default(monkeypatch):
    monkeypatch.delenv("CNNVIZ_X", raising=False)
    assert settings.env_float("CNNVIZ_X", 2.5) == 2.5
    monkeypatch.setenv("CNNVIZ_X", "  ")
    assert settings.env_int("CNNVIZ_X", 3) == 3 and settings.env_bool("CNNVIZ_X", True) is True
    assert settings.env_choice("CNNVIZ_X", ("a", "b"), "a") == "a"


def test_good_values(monkeypatch):
    monkeypatch.setenv("CNNVIZ_X", " 7 ")
    assert settings.env_int("CNNVIZ_X", 1, low=1) == 7 and settings.env_float("CNNVIZ_X", 1.0, high=7) == 7.0
    for raw, want in (("YES", True), ("on", True), ("0", False), ("Off", False)):
        monkeypatch.setenv("CNNVIZ_X", raw)
        assert settings.env_bool("CNNVIZ_X", not want) is want
    monkeypatch.setenv("CNNVIZ_X", "LiteRT")
    assert settings.env_choice("CNNVIZ_X", ("tf", "litert"), "tf") == "litert"


@pytest.mark.parametrize("call, raw, en, es", [
    (lambda: settings.env_float("CNNVIZ_X", 1.0, low=0), "soon", "a number ≥ 0", "un número ≥ 0"),
    (lambda: settings.env_float("CNNVIZ_X", 1.0, low=0, low_open=True), "0", "a number > 0", "un número > 0"),
    (lambda: settings.env_float("CNNVIZ_X", 1.0), "nan", "a number", "un número"),
    (lambda: settings.env_int("CNNVIZ_X", 1, low=1, high=8), "9", "a whole number from 1 to 8",
     "un número entero de 1 a 8"),
    (lambda: settings.env_bool("CNNVIZ_X", False), "maybe", "1, true, yes, on, 0, false, no, off", "uno de 1,"),
    (lambda: settings.env_choice("CNNVIZ_X", ("tf", "litert"), "tf"), "onnx", "one of tf, litert",
     "uno de tf, litert"),
])
def test_a_bad_value_names_the_variable_and_what_is_accepted(monkeypatch, call, raw, en, es):
    monkeypatch.setenv("CNNVIZ_X", raw)
    with pytest.raises(settings.SettingError) as info:
        call()
    err = info.value
    assert isinstance(err, ValueError) and err.name == "CNNVIZ_X" and err.value == raw
    assert "CNNVIZ_X" in str(err) and raw in str(err) and en in str(err)
    assert "CNNVIZ_X" in err.message("es") and es in err.message("es")


def test_the_library_reads_its_settings_through_it(monkeypatch):
    monkeypatch.setenv("CNNVIZ_DOWNLOAD_TIMEOUT", "fast")
    with pytest.raises(settings.SettingError, match="CNNVIZ_DOWNLOAD_TIMEOUT"):
        cache._timeouts()
    monkeypatch.setenv("CNNVIZ_DOWNLOAD_TIMEOUT", "2")
    assert cache._timeouts() == (2.0, 2.0)
    monkeypatch.setenv("CNNVIZ_OFFLINE", "sometimes")
    with pytest.raises(settings.SettingError, match="CNNVIZ_OFFLINE"):
        cache.offline()
    monkeypatch.setenv("CNNVIZ_FORCE_CPU", "on")
    assert device.force_cpu() is True
