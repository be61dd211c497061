"""Settings from the environment (``CNNVIZ_*``), parsed in one place.

Each reader takes the variable's name and its default; an unset or blank variable gives the
default, a value that does not parse raises :class:`SettingError`, which names the variable,
the value and what is accepted (in English and Spanish)::

    timeout = env_float("CNNVIZ_BUSY_TIMEOUT", 30.0, low=0)
    offline = env_bool("CNNVIZ_OFFLINE", False)
    engine = env_choice("CNNVIZ_ENGINE", ("auto", "tf", "litert"), "auto")

Light: imports nothing but the standard library, ``cnnviz.i18n`` and ``cnnviz.errors``.
"""

from __future__ import annotations

import math
import os
from typing import Iterable

from cnnviz.errors import UserFacingError
from cnnviz.i18n import translate

TRUE_VALUES = ("1", "true", "yes", "on")
FALSE_VALUES = ("0", "false", "no", "off")


class SettingError(UserFacingError, ValueError):
    """An environment variable with a value cnnviz cannot use.

    Attributes:
        name: the variable (``CNNVIZ_BUSY_TIMEOUT``); value: what it holds.
    """

    def __init__(self, name: str, value: str, *, values: Iterable[str] = (), kind: str | None = None,
                 low: float | None = None, high: float | None = None, low_open: bool = False) -> None:
        self.name, self.value = name, value
        self._values, self._kind = tuple(values), kind
        self._low, self._high, self._low_open = low, high, low_open
        super().__init__("settings.error.bad_value", name=name, value=value)

    def accepted(self, lang: str = "en") -> str:
        """What the variable accepts, in words of ``lang``."""
        if self._values:
            return translate("settings.error.one_of", lang, values=", ".join(self._values))
        kind = translate(f"settings.error.{self._kind or 'number'}", lang)
        if self._low is not None and self._high is not None:
            return translate("settings.error.between", lang, kind=kind, low=_num(self._low), high=_num(self._high))
        if self._low is not None:
            key = "settings.error.above" if self._low_open else "settings.error.at_least"
            return translate(key, lang, kind=kind, low=_num(self._low))
        return kind

    def message(self, lang: str = "en") -> str:
        return translate(self.key, lang, name=self.name, value=self.value, accepted=self.accepted(lang))


def _num(x: float) -> str:
    return f"{x:g}"


def env_raw(name: str) -> str | None:
    """The variable's value, stripped; None when unset or blank."""
    raw = os.environ.get(name, "").strip()
    return raw or None


def _number(name: str, default, parse, kind: str, low, high, low_open):
    raw = env_raw(name)
    if raw is None:
        return default
    bad = SettingError(name, raw, kind=kind, low=low, high=high, low_open=low_open)
    try:
        value = parse(raw)
    except ValueError:
        raise bad from None
    if isinstance(value, float) and not math.isfinite(value):
        raise bad
    if low is not None and (value <= low if low_open else value < low):
        raise bad
    if high is not None and value > high:
        raise bad
    return value


def env_float(name: str, default: float, *, low: float | None = None, high: float | None = None,
              low_open: bool = False) -> float:
    """A finite number; ``low``/``high`` bound it (``low_open``: strictly above ``low``)."""
    return _number(name, default, float, "number", low, high, low_open)


def env_int(name: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
    """A whole number, optionally bounded (``low ≤ value ≤ high``)."""
    return _number(name, default, int, "integer", low, high, False)


def env_bool(name: str, default: bool) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case)."""
    raw = env_raw(name)
    if raw is None:
        return default
    if raw.lower() in TRUE_VALUES:
        return True
    if raw.lower() in FALSE_VALUES:
        return False
    raise SettingError(name, raw, values=TRUE_VALUES + FALSE_VALUES)


def env_choice(name: str, choices: Iterable[str], default: str) -> str:
    """One of ``choices`` (compared in lower case)."""
    choices = tuple(choices)
    raw = env_raw(name)
    if raw is None:
        return default
    if raw.lower() in choices:
        return raw.lower()
    raise SettingError(name, raw, values=choices)


def env_paths(name: str) -> list[str]:
    """A list of paths separated by ``os.pathsep`` (``:`` on Linux); blanks dropped; [] when unset."""
    raw = env_raw(name)
    if raw is None:
        return []
    return [p.strip() for p in raw.split(os.pathsep) if p.strip()]


#: Seconds of expected wait a lecture hall accepts before "the server is busy" (``CNNVIZ_BUSY_WAIT``).
BUSY_WAIT_S = 60.0


def busy_wait_s() -> float:
    """``CNNVIZ_BUSY_WAIT``: the expected wait (seconds) past which a request is told "busy" [60].

    One limit for the whole server: the model queues refuse a request whose expected wait passes
    it, and a predictor's busy lock waits this long by default (``CNNVIZ_BUSY_TIMEOUT`` overrides
    the lock alone), so a class that waits its turn is never refused sooner.
    """
    return env_float("CNNVIZ_BUSY_WAIT", BUSY_WAIT_S, low=1.0)
