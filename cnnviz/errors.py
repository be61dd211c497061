"""User-facing errors: typed, translatable, actionable.

Every error a person may see carries an i18n catalog key and its parameters, so
pages show it in the user's language while ``str(error)`` stays readable English
for logs, scripts and the CLI.
"""

from __future__ import annotations

from cnnviz.i18n import translate


class UserFacingError(Exception):
    """An error whose message a student or teacher can act on.

    Args:
        key: i18n catalog key of the message (e.g. ``"images.error.empty"``).
        **params: values interpolated into the message (``{name}`` fields).
    """

    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "en") -> str:
        """The message in ``lang`` ("en" or "es")."""
        return translate(self.key, lang, **self.params)
