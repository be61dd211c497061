"""How pages, the CLI and reports write a model's name: :func:`model_label`, the one helper.

Zoo models by their display name ("ResNet50"), or with ``detail=True`` as a picker line
("ResNet · ResNet50 (2015) ★", ★ marking the homework four); the labs' own networks by their
catalog name (``labs_ui.model.<name>``: "With SE"); any other name (a custom model in a notebook)
as itself. No TensorFlow, no Streamlit.
"""

from __future__ import annotations

from cnnviz import zoo
from cnnviz.i18n import has_key, translate


def model_label(name: str, lang: str = "en", *, detail: bool = False) -> str:
    """Model ``name`` for people, in ``lang`` (see the module docstring)."""
    try:
        spec = zoo.get_spec(name)
    except Exception:  # a name outside the zoo: a lab's own network, or itself
        key = f"labs_ui.model.{name}"
        return translate(key, lang) if has_key(key, lang) else name
    if not detail:
        return spec.display_name
    star = " ★" if spec.homework else ""
    year = f" ({spec.year})" if spec.year else ""  # course exercises have no paper year
    return f"{spec.family} · {spec.display_name}{year}{star}"


__all__ = ["model_label"]
